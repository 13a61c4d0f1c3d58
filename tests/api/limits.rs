//! Abuse protection over HTTP: replica-exact per-number limits, the wrong-guess budget,
//! prefix velocity, the conversion breaker, budgets, client guards, and refusals that store
//! nothing and don't reveal whether a number has a user.

use futures_util::future::join_all;
use otpd::domain::limits::LimitSettings;
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use serde_json::json;

use crate::cli::otpd_cli;
use crate::helpers::{spawn_app_with, unique_us_number, wrong_code, Reply, TestApp};

fn settings(f: impl FnOnce(&mut LimitSettings)) -> ProjectSettings {
    let mut s = ProjectSettings::default();
    f(&mut s.limits);
    s
}

async fn app_with(f: impl FnOnce(&mut LimitSettings)) -> TestApp {
    spawn_app_with(|_| {}, settings(f), false).await
}

fn retry_after(r: &Reply) -> u64 {
    r.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {:?}", r.body))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds")
}

fn assert_refused(r: &Reply, error_type: &str, max_wait: u64) -> u64 {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.error_type(), error_type, "{:?}", r.body);
    assert!(r.body["request_id"]
        .as_str()
        .unwrap()
        .starts_with("request-id-"));
    let wait = retry_after(r);
    assert!(
        (1..=max_wait).contains(&wait),
        "Retry-After {wait} not in 1..={max_wait}"
    );
    wait
}

async fn send_to(app: &TestApp, phone: &str) -> Reply {
    app.login_or_create(phone).await
}

/// Fires `n` concurrent login_or_create calls for one number, alternating between the given
/// replicas, and returns how many were sent; every other one must be a 429 whose Retry-After
/// is at most `max_wait` seconds.
async fn concurrent_sends(replicas: &[&TestApp], phone: &str, n: usize, max_wait: u64) -> usize {
    let replies = join_all((0..n).map(|i| send_to(replicas[i % replicas.len()], phone))).await;
    for r in &replies {
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::TOO_MANY_REQUESTS,
            "{:?}",
            r.body
        );
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_refused(r, "too_many_requests", max_wait);
        }
    }
    replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count()
}

#[tokio::test]
async fn the_per_number_limit_admits_the_same_count_on_one_replica_and_on_two() {
    let a = app_with(|_| {}).await;
    let b = a.replica(|_| {}).await;
    let one = concurrent_sends(&[&a], &unique_us_number(), 24, 120).await;
    let two = concurrent_sends(&[&a, &b], &unique_us_number(), 24, 120).await;
    println!("24 concurrent sends to one number: {one} admitted on 1 replica, {two} on 2 replicas");
    assert_eq!(one, 5, "the default burst is 5");
    assert_eq!(two, one);
    // Only the admitted sends reached the provider.
    assert_eq!(a.count("select count(*) from sandbox_outbox").await, 10);
}

/// The daily cap with the per-number rate off: the number's one row is still charged under
/// its lock, so concurrent sends on two replicas admit exactly the cap.
#[tokio::test]
async fn the_daily_cap_alone_admits_exactly_the_cap_across_two_replicas() {
    let a = app_with(|l| {
        l.number_burst = 0;
        l.number_daily_cap = 7;
    })
    .await;
    let b = a.replica(|_| {}).await;
    let phone = unique_us_number();
    let sent = concurrent_sends(&[&a, &b], &phone, 24, 86_400).await;
    // What refused the rest is the daily cap.
    let refused = send_to(&b, &phone).await;
    assert_refused(&refused, "too_many_requests", 86_400);
    assert!(refused.body["error_message"]
        .as_str()
        .unwrap()
        .contains("daily"));
    println!("24 concurrent sends on 2 replicas, daily cap 7, no rate limit: {sent} sent");
    assert_eq!(sent, 7);
    assert_eq!(
        a.count(&format!(
            "select day_hits::bigint from limit_gcra where key = 'n:{phone}'"
        ))
        .await,
        7
    );
}

#[tokio::test]
async fn after_the_burst_one_send_per_interval_and_a_daily_cap() {
    let app = app_with(|l| {
        l.number_burst = 2;
        l.number_interval_seconds = 1;
        l.number_daily_cap = 3;
    })
    .await;
    let phone = unique_us_number();
    for _ in 0..2 {
        assert_eq!(send_to(&app, &phone).await.status, StatusCode::OK);
    }
    let r = send_to(&app, &phone).await;
    assert_refused(&r, "too_many_requests", 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(send_to(&app, &phone).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = send_to(&app, &phone).await;
    let wait = assert_refused(&r, "too_many_requests", 86_400);
    assert!(r.body["error_message"].as_str().unwrap().contains("daily"));
    println!("daily cap reached: Retry-After {wait}s (until the next UTC day)");
}

#[tokio::test]
async fn wrong_guesses_are_budgeted_across_codes_with_a_bounded_cooldown() {
    let app = app_with(|l| l.guess_budget_per_hour = 3).await;
    let phone = unique_us_number();
    let sent = send_to(&app, &phone).await;
    let method = sent.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    for _ in 0..3 {
        let r = app.authenticate(&method, &wrong_code(&code)).await;
        assert_eq!(r.error_type(), "otp_code_not_found");
    }
    // The budget is spent: even the right code waits, and a new code doesn't reset it.
    let r = app.authenticate(&method, &code).await;
    let wait = assert_refused(&r, "too_many_requests", 1200);
    send_to(&app, &phone).await;
    let fresh = app.last_code(&phone).await;
    assert_refused(
        &app.authenticate(&method, &fresh).await,
        "too_many_requests",
        1200,
    );
    println!("guess budget spent: next guess allowed in {wait}s (3600/3 at most)");
    // After the cooldown (simulated by ageing the bucket), the newest code works.
    sqlx::query("update limit_gcra set tat = now() where key like 'g:%'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.authenticate(&method, &fresh).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_correct_code_gives_its_guess_back() {
    let app = app_with(|l| l.guess_budget_per_hour = 2).await;
    let phone = unique_us_number();
    for _ in 0..4 {
        let sent = send_to(&app, &phone).await;
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        let code = app.last_code(&phone).await;
        let ok = app
            .authenticate(sent.body["phone_id"].as_str().unwrap(), &code)
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    }
}

#[tokio::test]
async fn prefix_velocity_stops_sequential_numbers_in_one_block() {
    let app = app_with(|_| {}).await;
    let mut admitted = 0;
    let mut last = None;
    for i in 0..15 {
        let r = send_to(&app, &format!("+1201555{:04}", 2000 + i)).await;
        if r.status == StatusCode::OK {
            admitted += 1;
        } else {
            last = Some(r);
        }
    }
    assert_eq!(
        admitted, 10,
        "the default is 10 sends per block per 10 minutes"
    );
    let r = last.unwrap();
    let wait = assert_refused(&r, "too_many_requests", 600);
    assert!(r.body["error_message"].as_str().unwrap().contains("range"));
    println!("prefix velocity: 10 of 15 admitted, then Retry-After {wait}s");
    // Another block is untouched.
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_conversion_breaker_pauses_a_country_and_recovers() {
    let app = app_with(|l| {
        l.conversion_min_sends = 5;
        l.conversion_min_percent = 40;
        l.conversion_grace_seconds = 0;
    })
    .await;
    let mut phones = Vec::new();
    for _ in 0..5 {
        let phone = unique_us_number();
        let r = send_to(&app, &phone).await;
        assert_eq!(r.status, StatusCode::OK);
        phones.push((phone, r.body["phone_id"].as_str().unwrap().to_owned()));
    }
    // 5 sends, none authenticated: sends to the US pause, with Stytch's own error type.
    let r = send_to(&app, &unique_us_number()).await;
    assert_refused(&r, "too_few_tokens_authenticated", 60);
    // Canada is another country: unaffected.
    assert_eq!(send_to(&app, "+16132345678").await.status, StatusCode::OK);
    // Two of the five people type their codes: 40% converted, so the breaker closes.
    for (phone, method) in &phones[..2] {
        let code = app.last_code(phone).await;
        assert_eq!(app.authenticate(method, &code).await.status, StatusCode::OK);
    }
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn daily_budgets_per_country_and_per_project() {
    let app = app_with(|l| {
        l.country_daily_budget = 2;
        l.project_daily_budget = 3;
    })
    .await;
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );
    let r = send_to(&app, &unique_us_number()).await;
    assert_refused(&r, "too_many_requests", 86_400);
    assert!(r.body["error_message"].as_str().unwrap().contains("budget"));
    assert_eq!(send_to(&app, "+16132345678").await.status, StatusCode::OK);
    let r = send_to(&app, "+16132345679").await;
    assert_refused(&r, "too_many_requests", 86_400);
}

#[tokio::test]
async fn refusals_store_nothing_and_look_the_same_with_or_without_a_user() {
    let mut s = ProjectSettings::default();
    s.set_sms_countries("US,CA,NG").unwrap();
    let app = spawn_app_with(|_| {}, s, false).await;
    let cases = [
        ("+18762101234", "invalid_phone_number_country_code"), // Jamaica: not allowed
        ("+2348031234567", "invalid_phone_number_country_code"), // Nigeria: denied though allowed
        ("+19002345678", "unsupported_phone_number_type"),     // US premium rate
        ("+18002345678", "unsupported_phone_number_type"),     // US toll free
    ];
    for (phone, error_type) in cases {
        for path in ["/v1/otps/sms/login_or_create", "/v1/otps/whatsapp/send"] {
            let r = app.post(path, json!({ "phone_number": phone })).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{phone}: {:?}", r.body);
            assert_eq!(r.error_type(), error_type, "{phone}");
        }
    }
    assert_eq!(app.count("select count(*) from users").await, 0);
    assert_eq!(app.count("select count(*) from passcodes").await, 0);
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);

    // A user with a number, and a number without one: once the number's limit is spent,
    // `send` answers the same 429 for both.
    let known = unique_us_number();
    let unknown = unique_us_number();
    let created = app
        .post("/v1/users", json!({ "phone_number": known }))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    for phone in [&known, &unknown] {
        let mut last = None;
        for _ in 0..6 {
            last = Some(
                app.post("/v1/otps/sms/send", json!({ "phone_number": phone }))
                    .await,
            );
        }
        let r = last.unwrap();
        assert_eq!(r.error_type(), "too_many_requests", "{:?}", r.body);
    }
}

#[tokio::test]
async fn a_project_can_conceal_numbers_without_a_user() {
    let open = app_with(|_| {}).await;
    let r = open
        .post(
            "/v1/otps/sms/send",
            json!({ "phone_number": unique_us_number() }),
        )
        .await;
    assert_eq!(r.error_type(), "phone_number_not_found");

    let closed = app_with(|l| l.conceal_unknown_numbers = true).await;
    let phone = unique_us_number();
    let r = closed
        .post("/v1/otps/sms/send", json!({ "phone_number": phone }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["user_id"]
        .as_str()
        .unwrap()
        .starts_with("user-test-"));
    assert!(r.body["phone_id"]
        .as_str()
        .unwrap()
        .starts_with("phone-number-test-"));
    assert_eq!(closed.count("select count(*) from sandbox_outbox").await, 0);
    assert_eq!(closed.count("select count(*) from users").await, 0);
}

#[tokio::test]
async fn end_user_ips_and_projects_have_in_process_guards() {
    let app = spawn_app_with(
        |c| {
            c.limits.end_user_per_minute = 2;
            c.limits.end_user_burst = 2;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let send = |ip: Option<&str>| {
        let mut body = json!({ "phone_number": unique_us_number() });
        if let Some(ip) = ip {
            body["attributes"] = json!({ "ip_address": ip, "user_agent": "test" });
        }
        app.post("/v1/otps/sms/login_or_create", body)
    };
    assert_eq!(send(Some("203.0.113.7")).await.status, StatusCode::OK);
    assert_eq!(send(Some("203.0.113.7")).await.status, StatusCode::OK);
    assert_refused(&send(Some("203.0.113.7")).await, "too_many_requests", 60);
    assert_eq!(send(Some("2001:db8::1")).await.status, StatusCode::OK);
    // Without attributes the caller is the backend, which isn't an end user.
    for _ in 0..3 {
        assert_eq!(send(None).await.status, StatusCode::OK);
    }
    let r = send(Some("not-an-ip")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("ip_address"));

    let flood = spawn_app_with(
        |c| {
            c.limits.project_per_second = 1;
            c.limits.project_burst = 3;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let replies = join_all(
        (0..6).map(|_| flood.get("/v1/users/user-test-00000000-0000-0000-0000-000000000000")),
    )
    .await;
    let limited = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        limited >= 2,
        "6 quick requests against a burst of 3: {limited} limited"
    );
    for r in replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    {
        assert_refused(r, "too_many_requests", 1);
    }
}

#[tokio::test]
async fn b2b_sends_meet_the_same_rules() {
    let app = app_with(|l| l.number_burst = 1).await;
    let org = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme"}),
        )
        .await;
    assert_eq!(org.status, StatusCode::OK, "{:?}", org.body);
    let m = app
        .post(
            "/v1/b2b/organizations/acme/members",
            json!({"email_address": "a@acme.test", "mfa_phone_number": "+19002345678"}),
        )
        .await;
    let mid = m.body["member"]["member_id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "acme", "member_id": mid}),
        )
        .await;
    assert_eq!(
        r.error_type(),
        "unsupported_phone_number_type",
        "{:?}",
        r.body
    );
    // Another number needs the refused one removed first (Stytch's rule).
    app.delete(&format!(
        "/v1/b2b/organizations/acme/members/mfa_phone_numbers/{mid}"
    ))
    .await;
    let phone = unique_us_number();
    let body = json!({"organization_id": "acme", "member_id": mid, "mfa_phone_number": phone});
    assert_eq!(
        app.post("/v1/b2b/otps/sms/send", body.clone()).await.status,
        StatusCode::OK
    );
    assert_refused(
        &app.post("/v1/b2b/otps/sms/send", body).await,
        "too_many_requests",
        120,
    );
}

#[tokio::test]
async fn operators_tune_limits_and_reset_a_breaker_from_the_cli() {
    let app = app_with(|l| {
        l.conversion_min_sends = 3;
        l.conversion_grace_seconds = 0;
    })
    .await;
    let cli = |args: &[&str]| {
        crate::cli::otpd()
            .env("DATABASE_URL", &app.db.url)
            .env("OTPD_HASHING__PEPPER", crate::helpers::PEPPER)
            .args(args)
            .output()
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(
            send_to(&app, &unique_us_number()).await.status,
            StatusCode::OK
        );
    }
    assert_refused(
        &send_to(&app, &unique_us_number()).await,
        "too_few_tokens_authenticated",
        60,
    );
    let out = cli(&[
        "project",
        "reset-breaker",
        &app.project_id,
        "--country",
        "us",
    ]);
    crate::cli::assert_success(&out);
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );

    let bad = cli(&["project", "update", &app.project_id, "--limit", "nope=1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown limit"));
    let out = cli(&[
        "project",
        "update",
        &app.project_id,
        "--limit",
        "number_burst=1",
        "--limit",
        "block_voip=true",
    ]);
    crate::cli::assert_success(&out);
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(saved["limits"]["number_burst"], 1);
    // The running service applies the new setting on the next request.
    let phone = unique_us_number();
    assert_eq!(send_to(&app, &phone).await.status, StatusCode::OK);
    assert_refused(&send_to(&app, &phone).await, "too_many_requests", 120);
}

#[tokio::test]
async fn the_client_behind_a_trusted_proxy_is_read_from_every_forwarded_for_line() {
    let app = crate::helpers::spawn_app_with(
        |c| {
            c.limits.trusted_proxies = "127.0.0.1".into();
            c.limits.peer_per_second = 1;
            c.limits.peer_burst = 1;
        },
        crate::helpers::unlimited(),
        false,
    )
    .await;
    let get = |lines: &'static [&'static str]| {
        let mut req = app
            .client
            .get(format!(
                "{}/v1/users/user-test-00000000-0000-4000-8000-000000000000",
                app.address
            ))
            .basic_auth(&app.project_id, Some(&app.secret));
        for line in lines {
            req = req.header("X-Forwarded-For", *line);
        }
        req.send()
    };
    // The client forged the first line; the proxy appended the real address as a second one.
    let first = get(&["203.0.113.1", "198.51.100.7"]).await.unwrap();
    assert_eq!(
        first.status(),
        StatusCode::NOT_FOUND,
        "allowed through to the handler"
    );
    let same_client = get(&["198.51.100.7"]).await.unwrap();
    assert_eq!(
        same_client.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the proxy's line identified the client the first time too"
    );
    let other_client = get(&["203.0.113.1"]).await.unwrap();
    assert_eq!(other_client.status(), StatusCode::NOT_FOUND);
}

fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test]
async fn a_concealed_send_takes_as_long_as_a_real_one() {
    use crate::providers::{twilio_created, use_twilio, StandIn, Step};
    use std::time::{Duration, Instant};
    // A provider round trip much longer than a hash, as in production.
    let twilio = StandIn::start(vec![Step::Slow(
        Duration::from_millis(300),
        Box::new(twilio_created("queued", None)),
    )])
    .await;
    let url = twilio.url.clone();
    let mut s = crate::helpers::unlimited();
    s.limits.conceal_unknown_numbers = true;
    let app = spawn_app_with(move |c| use_twilio(c, &url), s, false).await;
    let known: Vec<String> = (0..9).map(|_| unique_us_number()).collect();
    for phone in &known {
        assert_eq!(app.login_or_create(phone).await.status, StatusCode::OK);
    }
    let (mut real, mut concealed) = (Vec::new(), Vec::new());
    for phone in &known {
        let t = Instant::now();
        let r = app
            .post("/v1/otps/sms/send", json!({ "phone_number": phone }))
            .await;
        real.push(t.elapsed());
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let t = Instant::now();
        let r = app
            .post(
                "/v1/otps/sms/send",
                json!({ "phone_number": unique_us_number() }),
            )
            .await;
        concealed.push(t.elapsed());
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let (real, concealed) = (median(real), median(concealed));
    eprintln!("median send: real {real:?}, concealed {concealed:?}");
    // Without imitation the concealed send is one hash (~10 ms) against ~300 ms.
    let ratio = concealed.as_secs_f64() / real.as_secs_f64();
    assert!(
        (0.7..=1.4).contains(&ratio),
        "real {real:?} vs concealed {concealed:?}"
    );
}

/// Sends to new numbers until one is refused; returns the admitted numbers with their
/// method ids, and the refusal.
async fn send_new_until_refused(app: &TestApp, max: usize) -> (Vec<(String, String)>, Reply) {
    let mut sent = Vec::new();
    for _ in 0..max {
        let phone = unique_us_number();
        let r = send_to(app, &phone).await;
        if r.status != StatusCode::OK {
            return (sent, r);
        }
        sent.push((phone, r.body["phone_id"].as_str().unwrap().to_owned()));
    }
    panic!("{max} new numbers sent without a pause");
}

#[tokio::test]
async fn unanswered_sends_to_new_numbers_pause_them_but_not_verified_numbers() {
    // Every send is judged at once (no typing time), as the rule works after it.
    let app = app_with(|l| {
        l.pending_floor = 3;
        l.pending_per_auth = 1;
        l.pending_typing_seconds = 0;
    })
    .await;
    let cli = |args: &[&str]| otpd_cli(&app, args);
    // A returning user: signed in once, so the number is verified in the project.
    let known = unique_us_number();
    let r = send_to(&app, &known).await;
    let known_method = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&known).await;
    assert_eq!(
        app.authenticate(&known_method, &code).await.status,
        StatusCode::OK
    );

    // Floor 3 plus 1 per answered new number (the returning user's first sign-in): 4.
    let (pending, r) = send_new_until_refused(&app, 10).await;
    assert_eq!(pending.len(), 4);
    let wait = assert_refused(&r, "too_few_tokens_authenticated", 120);
    assert!(r.body["error_message"].as_str().unwrap().contains("new"));
    println!("pending sends: 4 new numbers unanswered, then paused, Retry-After {wait}s");
    let state: serde_json::Value =
        serde_json::from_str(&cli(&["project", "abuse", "show", &app.project_id])).unwrap();
    assert_eq!(state["pending_sends"]["overdue"], 4, "{state}");
    assert_eq!(state["pending_sends"]["allowance"], 4, "{state}");
    assert_eq!(
        state["new_numbers_paused"]["reason"], "pending_sends",
        "{state}"
    );
    assert_eq!(state["new_numbers_paused"]["for_seconds"], 120, "{state}");

    // The returning user is not collateral: another code, authenticated.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    assert_eq!(send_to(&app, &known).await.status, StatusCode::OK);
    let code = app.last_code(&known).await;
    assert_eq!(
        app.authenticate(&known_method, &code).await.status,
        StatusCode::OK
    );
    // ...and its login didn't raise the allowance: new numbers are still paused.
    let r = send_to(&app, &unique_us_number()).await;
    assert_refused(&r, "too_few_tokens_authenticated", 120);

    // One of the pending people types the code: one fewer unanswered and one more allowed.
    let (phone, method) = &pending[0];
    let code = app.last_code(phone).await;
    assert_eq!(app.authenticate(method, &code).await.status, StatusCode::OK);
    let (resumed, r) = send_new_until_refused(&app, 10).await;
    assert_eq!(resumed.len(), 2);
    assert_refused(&r, "too_few_tokens_authenticated", 120);

    // An operator lifts the pause.
    let out = cli(&["project", "abuse", "reset", &app.project_id]);
    assert!(out.contains("pending new-number sends cleared"), "{out}");
    let state: serde_json::Value =
        serde_json::from_str(&cli(&["project", "abuse", "show", &app.project_id])).unwrap();
    assert!(state.get("new_numbers_paused").is_none(), "{state}");
    assert_eq!(
        send_to(&app, &unique_us_number()).await.status,
        StatusCode::OK
    );
}

/// What an attacker holding the API secret sees of one number in a concealing project: the
/// ids of two sends, then the answers to seven wrong codes against the phone id.
async fn observed(app: &TestApp, phone: &str) -> (bool, Vec<(StatusCode, String)>) {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = app
            .post("/v1/otps/sms/send", json!({ "phone_number": phone }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let user_id = r.body["user_id"].as_str().unwrap().to_owned();
        let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
        assert!(user_id.starts_with("user-test-"), "{user_id}");
        assert!(phone_id.starts_with("phone-number-test-"), "{phone_id}");
        assert!(
            otpd::domain::ids::PhoneId::parse(&phone_id).is_ok()
                && otpd::domain::ids::UserId::parse(&user_id).is_ok()
        );
        ids.push((user_id, phone_id));
    }
    let stable = ids[0] == ids[1];
    let mut answers = Vec::new();
    for _ in 0..7 {
        let r = app.authenticate(&ids[1].1, "123456").await;
        answers.push((r.status, r.error_type().to_owned()));
    }
    (stable, answers)
}

#[tokio::test]
async fn a_concealed_number_looks_like_a_real_one_to_an_attacker() {
    let app = app_with(|l| l.conceal_unknown_numbers = true).await;
    let real = unique_us_number();
    let r = app.login_or_create(&real).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let unknown = unique_us_number();

    let (real_stable, real_answers) = observed(&app, &real).await;
    let (unknown_stable, unknown_answers) = observed(&app, &unknown).await;
    assert!(real_stable, "a real number answers the same ids each send");
    assert!(
        unknown_stable,
        "a concealed number must answer the same ids each send too"
    );
    // 404 otp_code_not_found while attempts last, then 401 unable_to_auth_otp_code.
    assert_eq!(
        real_answers[0],
        (StatusCode::NOT_FOUND, "otp_code_not_found".into())
    );
    assert_eq!(
        real_answers[6],
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code".into())
    );
    assert_eq!(real_answers, unknown_answers);

    // Another project (another key) gives the same number other ids; nothing is stored for
    // the concealed number but its decoy code.
    let other = app_with(|l| l.conceal_unknown_numbers = true).await;
    let r = other
        .post("/v1/otps/sms/send", json!({ "phone_number": unknown }))
        .await;
    let first = app
        .post("/v1/otps/sms/send", json!({ "phone_number": unknown }))
        .await;
    assert_ne!(r.body["phone_id"], first.body["phone_id"]);
    assert_eq!(
        app.count("select count(*) from users").await,
        1,
        "only the real number's user"
    );
}

#[tokio::test]
async fn new_numbers_over_the_rate_pause_exactly_across_replicas_but_returning_users_pass() {
    // A burst of 5, then 1 a second; the first send over it pauses new numbers for 30 s.
    let app = app_with(|l| {
        l.pending_rate_per_second = 1;
        l.pending_burst = 5;
        l.pending_pause_seconds = 30;
    })
    .await;
    let other = app.replica(|_| {}).await;
    let known = unique_us_number();
    let r = send_to(&app, &known).await;
    let known_method = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&known).await;
    assert_eq!(
        app.authenticate(&known_method, &code).await.status,
        StatusCode::OK
    );
    // The sign-in above was a new number: reset so the burst starts from a full bucket.
    otpd_cli(&app, &["project", "abuse", "reset", &app.project_id]);

    // 24 concurrent sends to 24 new numbers, alternating between the two replicas.
    let replies = join_all((0..24).map(|i| {
        let replica = if i % 2 == 0 { &app } else { &other };
        async move { send_to(replica, &unique_us_number()).await }
    }))
    .await;
    let sent = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_refused(r, "too_few_tokens_authenticated", 30);
        assert!(r.body["error_message"].as_str().unwrap().contains("faster"));
    }
    println!("24 concurrent sends to new numbers over two replicas: {sent} admitted (burst 5)");
    assert_eq!(sent, 5);

    // Paused: one more new number is refused however slowly it comes...
    let r = send_to(&other, &unique_us_number()).await;
    assert_refused(&r, "too_few_tokens_authenticated", 30);
    // ...while the returning user logs in.
    assert_eq!(send_to(&other, &known).await.status, StatusCode::OK);
    let state: serde_json::Value = serde_json::from_str(&otpd_cli(
        &app,
        &["project", "abuse", "show", &app.project_id],
    ))
    .unwrap();
    assert_eq!(
        state["new_numbers_paused"]["reason"], "new_number_rate",
        "{state}"
    );
    let left = state["new_numbers_paused"]["for_seconds"].as_u64().unwrap();
    assert!((1..=30).contains(&left), "{state}");
    assert_eq!(state["pending_sends"]["young"], 5, "{state}");
}

#[tokio::test]
async fn first_answers_entered_at_once_on_two_replicas_are_all_counted() {
    // Room for 30 new numbers (gate and budget well above them); then all 30 people type
    // their codes at the same instant, half on each replica. Each first answer adds to the
    // project's answered-new-numbers and the country's conversions; none may be lost or
    // counted twice, whichever counter row it lands in.
    let app = app_with(|l| {
        l.pending_rate_per_second = 100;
        l.pending_burst = 100;
        l.pending_floor = 100;
    })
    .await;
    let other = app.replica(|_| {}).await;
    let mut people = Vec::new();
    for _ in 0..30 {
        let phone = unique_us_number();
        let r = send_to(&app, &phone).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let method = r.body["phone_id"].as_str().unwrap().to_owned();
        let code = app.last_code(&phone).await;
        people.push((method, code));
    }
    let replies = join_all(people.iter().enumerate().map(|(i, (method, code))| {
        let replica = if i % 2 == 0 { &app } else { &other };
        async move { replica.authenticate(method, code).await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let state: serde_json::Value = serde_json::from_str(&otpd_cli(
        &app,
        &["project", "abuse", "show", &app.project_id],
    ))
    .unwrap();
    assert_eq!(state["pending_sends"]["answered"], 30, "{state}");
    let us = state["countries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["country"] == "US")
        .unwrap_or_else(|| panic!("{state}"));
    assert_eq!(us["authenticated"], 30, "{state}");
}
