//! Hashing runs on its own bounded pool: the API stays responsive under a burst of sends,
//! and a full queue sheds load with a Stytch-shaped 503 instead of queueing without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::helpers::{spawn_app_with, unique_us_number, unlimited};
use futures_util::future::join_all;
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;

#[tokio::test]
async fn health_checks_answer_while_a_burst_of_sends_is_hashing() {
    // Production-strength argon2 on a single hashing thread makes the burst take a while.
    let app = spawn_app_with(
        |c| {
            c.hashing.m_cost_kib = 19456;
            c.hashing.t_cost = 2;
            c.hashing.threads = 1;
            // Queue them all: the subject is the health check, not shedding.
            c.hashing.max_wait_ms = 0;
        },
        // 24 new numbers at once are a burst to the new-number rate gate; off here.
        unlimited(),
        false,
    )
    .await;
    let finished = Arc::new(AtomicUsize::new(0));
    let sends = (0..24).map(|_| {
        let finished = finished.clone();
        let app = &app;
        async move {
            let r = app.login_or_create(&unique_us_number()).await;
            finished.fetch_add(1, Ordering::SeqCst);
            r.status
        }
    });
    let probe = async {
        // Give the burst a head start so the hashing queue is full of work.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let res = app
            .client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        (res.status(), finished.load(Ordering::SeqCst))
    };
    let (statuses, (health, done_when_answered)) = tokio::join!(join_all(sends), probe);
    println!("healthz answered after {done_when_answered} of 24 sends had finished");
    assert_eq!(health, StatusCode::OK);
    assert!(
        done_when_answered < 24,
        "healthz waited for the whole burst"
    );
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_full_hashing_queue_sheds_sends_with_503_and_retry_after() {
    let app = spawn_app_with(
        |c| {
            c.hashing.m_cost_kib = 19456;
            c.hashing.t_cost = 2;
            c.hashing.threads = 1;
            c.hashing.queue = 1;
        },
        // 30 new numbers at once: more than the pending-sends floor, which isn't the subject.
        unlimited(),
        false,
    )
    .await;
    let phones: Vec<String> = (0..30).map(|_| unique_us_number()).collect();
    let replies = join_all(phones.iter().map(|p| app.login_or_create(p))).await;
    let ok: Vec<&String> = phones
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.status == StatusCode::OK)
        .map(|(p, _)| p)
        .collect();
    let shed: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    println!(
        "queue of 1: {} sent, {} shed with 503",
        ok.len(),
        shed.len()
    );
    assert_eq!(ok.len() + shed.len(), 30, "only 200 or 503");
    assert!(!shed.is_empty(), "a burst of 30 must overflow a queue of 1");
    assert!(!ok.is_empty());
    for r in &shed {
        assert_eq!(r.error_type(), "server_unavailable");
        assert_eq!(r.headers["retry-after"], "1");
    }
    // Every accepted send delivered a code; no shed send left a code behind.
    assert_eq!(
        app.count("select count(*) from passcodes").await,
        ok.len() as i64
    );
    for p in ok {
        app.last_code(p).await;
    }
}

#[tokio::test]
async fn a_send_shed_for_overload_leaves_no_trace_and_goes_through_when_retried() {
    // Any job ahead means a wait of a whole hash (19 MiB, t=2): more than 1 ms.
    let app = shedding_app(19456, 2, 1000).await;
    let phones: Vec<String> = (0..30).map(|_| unique_us_number()).collect();
    let replies = join_all(phones.iter().map(|p| app.login_or_create(p))).await;
    let mut shed = Vec::new();
    let mut sent = 0;
    for (phone, r) in phones.iter().zip(&replies) {
        match r.status {
            StatusCode::OK => sent += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.headers["retry-after"], "1");
                shed.push(phone);
            }
            other => panic!("{other}: {:?}", r.body),
        }
    }
    println!(
        "30 sends at once, 1 ms bound: {sent} sent, {} shed",
        shed.len()
    );
    assert!(!shed.is_empty() && sent > 0);
    for phone in &shed {
        let traces = app
            .count(&format!(
                "select (select count(*) from phone_numbers where phone_number = '{phone}')
                      + (select count(*) from limit_gcra where key = 'n:{phone}')"
            ))
            .await;
        assert_eq!(
            traces, 0,
            "{phone}: a shed send left a user or a charged limit"
        );
    }
    // Once the burst is over each shed number goes through at once, charged exactly once.
    for phone in &shed {
        let r = app.login_or_create(phone).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let charged = app
            .count(&format!(
                "select coalesce(sum(day_hits), 0)::bigint from limit_gcra where key = 'n:{phone}'"
            ))
            .await;
        assert_eq!(charged, 1);
    }
}

/// Top-level statements this test database has run, by kind: the project's API secret check,
/// the fake provider's outbox write as a statement of its own (none since it is written with
/// the code), and everything else (the request path proper).
async fn statements(app: &crate::helpers::TestApp) -> (i64, i64, i64) {
    let row: (i64, i64, i64) = sqlx::query_as(
        "select coalesce(sum(calls) filter (where query ~ 'project_secrets'), 0)::bigint,
                coalesce(sum(calls) filter (where query ~* '^\\s*insert into sandbox_outbox'), 0)::bigint,
                coalesce(sum(calls) filter (where query !~ 'project_secrets'
                                              and query !~* '^\\s*insert into sandbox_outbox'), 0)::bigint
         from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and query !~ 'pg_stat_statements|pg_database'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    row
}

#[tokio::test]
async fn a_send_and_an_authenticate_are_two_round_trips_each_after_the_secret_check() {
    let app = crate::helpers::spawn_app().await;
    sqlx::query("create extension if not exists pg_stat_statements")
        .execute(&app.pool)
        .await
        .unwrap();
    const N: i64 = 5;
    let phones: Vec<String> = (0..N).map(|_| unique_us_number()).collect();

    let before = statements(&app).await;
    let mut sent = Vec::new();
    for phone in &phones {
        let r = app.login_or_create(phone).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["user_created"], true);
        sent.push(r.body["phone_id"].as_str().unwrap().to_owned());
    }
    let after_sends = statements(&app).await;
    // Reading the codes back runs statements of its own: measure the authenticates after it.
    let mut codes = Vec::new();
    for phone in &phones {
        codes.push(app.last_code(phone).await);
    }
    let before_auth = statements(&app).await;
    for (phone_id, code) in sent.iter().zip(&codes) {
        let r = app.authenticate(phone_id, code).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["user"]["phone_numbers"][0]["verified"], true);
    }
    let after_auth = statements(&app).await;

    let per_op = |a: (i64, i64, i64), b: (i64, i64, i64)| {
        ((b.0 - a.0) / N, (b.1 - a.1) / N, (b.2 - a.2) / N)
    };
    let send = per_op(before, after_sends);
    let auth = per_op(before_auth, after_auth);
    println!(
        "statements per send to a new number: {} secret check, {} request path, {} fake outbox; \
         per authenticate: {} secret check, {} request path",
        send.0, send.2, send.1, auth.0, auth.2
    );
    // The outbox row is written with the code: no statement (and no commit) of its own.
    assert_eq!(
        send,
        (1, 0, 2),
        "(secret check, outbox, request path) per send"
    );
    assert_eq!(
        auth,
        (1, 0, 2),
        "(secret check, outbox, request path) per authenticate"
    );
}

#[tokio::test]
async fn a_shed_request_costs_no_credentials_lookup_and_is_answered_after_the_pause() {
    // A slow hash (64 MiB, t=3), so the pool stays busy while the burst arrives.
    let app = shedding_app(65536, 3, 300).await;
    sqlx::query("create extension if not exists pg_stat_statements")
        .execute(&app.pool)
        .await
        .unwrap();
    let first = unique_us_number();
    let blocker = app.login_or_create(&first);
    let burst = async {
        // The blocker has its place and is hashing by now.
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        let before = statements(&app).await;
        let replies = join_all((0..12).map(|_| async {
            let started = std::time::Instant::now();
            let r = app.login_or_create(&unique_us_number()).await;
            (r.status, started.elapsed())
        }))
        .await;
        (replies, statements(&app).await.0 - before.0)
    };
    let (blocked, (replies, lookups)) = tokio::join!(blocker, burst);
    assert_eq!(blocked.status, StatusCode::OK, "{:?}", blocked.body);
    println!(
        "12 sends while the pool is busy: {} shed, {lookups} credential lookups",
        replies
            .iter()
            .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
            .count()
    );
    for (status, took) in &replies {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(took.as_millis() >= 300, "a 503 came after {took:?}");
    }
    assert_eq!(lookups, 0, "shed requests looked their secret up");
}

/// An app whose one hashing thread sheds any request with a job ahead of it (`max_wait_ms` 1),
/// at the given argon2 cost and shed pause, after one send so the pool has timed a hash. The
/// pending-sends budget is off: bursts of new numbers are the point, not its subject.
async fn shedding_app(m_cost_kib: u32, t_cost: u32, shed_pause_ms: u64) -> crate::helpers::TestApp {
    let mut settings = ProjectSettings::default();
    settings.limits.pending_floor = 0;
    let app = spawn_app_with(
        |c| {
            c.hashing.m_cost_kib = m_cost_kib;
            c.hashing.t_cost = t_cost;
            c.hashing.threads = 1;
            c.hashing.max_wait_ms = 1;
            c.hashing.shed_pause_ms = shed_pause_ms;
        },
        settings,
        false,
    )
    .await;
    assert_eq!(
        app.login_or_create(&unique_us_number()).await.status,
        StatusCode::OK
    );
    app
}
