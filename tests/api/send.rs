use crate::helpers::{first_six_digits, spawn_app, spawn_app_with, unique_us_number};
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn login_or_create_makes_a_user_once_and_delivers_a_six_digit_code() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let first = app.login_or_create(&phone).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["user_created"], true);
    assert!(first.body["phone_id"]
        .as_str()
        .unwrap()
        .starts_with("phone-number-test-"));
    let second = app.login_or_create(&phone).await;
    assert_eq!(second.body["user_created"], false);
    assert_eq!(second.body["user_id"], first.body["user_id"]);
    assert_eq!(second.body["phone_id"], first.body["phone_id"]);

    let msg = app.last_message(&phone).await;
    assert_eq!(msg["to"], phone.as_str());
    assert_eq!(msg["channel"], "sms");
    let body = msg["body"].as_str().unwrap();
    let code = first_six_digits(body).unwrap();
    assert!(body.contains("Acme"), "brand in {body:?}");
    assert!(body.contains("2 minutes"), "validity in {body:?}");
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 2);
    // Only the argon2id hash is stored, never the code.
    let hashes: Vec<String> = sqlx::query_scalar("select code_hash from passcodes")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2);
    for h in hashes {
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(!h.contains(&code));
    }
}

#[tokio::test]
async fn send_needs_a_number_that_belongs_to_a_user() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": unique_us_number()}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "phone_number_not_found")
    );
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);

    let phone = unique_us_number();
    let created = app.post("/v1/users", json!({"phone_number": phone})).await;
    let r = app
        .post("/v1/otps/sms/send", json!({"phone_number": phone}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], created.body["user_id"]);
    assert_eq!(r.body["phone_id"], created.body["phone_id"]);
    assert!(r.body.get("user_created").is_none());
}

#[tokio::test]
async fn send_with_a_user_id_attaches_a_new_number_unverified() {
    let app = spawn_app().await;
    let user = app.post("/v1/users", json!({"email": "x@y.io"})).await;
    let uid = user.body["user_id"].as_str().unwrap();
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/otps/whatsapp/send",
            json!({"phone_number": phone, "user_id": uid}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], uid);
    assert_eq!(app.last_message(&phone).await["channel"], "whatsapp");
    let g = app.get(&format!("/v1/users/{uid}")).await;
    assert_eq!(g.body["phone_numbers"][0]["phone_number"], phone.as_str());
    assert_eq!(g.body["phone_numbers"][0]["verified"], false);

    let missing = app
        .post("/v1/otps/sms/send", json!({"phone_number": phone, "user_id": "user-test-00000000-0000-4000-8000-000000000000"}))
        .await;
    assert_eq!(
        (missing.status, missing.error_type()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let other = app.post("/v1/users", json!({"email": "z@y.io"})).await;
    let taken = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": phone, "user_id": other.body["user_id"]}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.error_type()),
        (StatusCode::BAD_REQUEST, "duplicate_phone_number")
    );
}

#[tokio::test]
async fn expiration_minutes_defaults_to_two_and_must_be_between_one_and_ten() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    for bad in [0, 11, -5] {
        let r = app
            .post(
                "/v1/otps/sms/login_or_create",
                json!({"phone_number": phone, "expiration_minutes": bad}),
            )
            .await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "invalid_expiration"),
            "{bad}"
        );
    }
    let r = app
        .post(
            "/v1/otps/sms/login_or_create",
            json!({"phone_number": phone, "expiration_minutes": 10}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(app.last_message(&phone).await["body"]
        .as_str()
        .unwrap()
        .contains("10 minutes"));
    let secs: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from passcodes",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((599.0..=601.0).contains(&secs), "{secs}");
    app.login_or_create(&phone).await;
    let secs: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from passcodes order by seq desc limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((119.0..=121.0).contains(&secs), "{secs}");
}

#[tokio::test]
async fn invalid_numbers_and_disallowed_countries_are_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    for bad in [
        "+1234",
        "12015550123",
        "+1 201 555 0123",
        "+99912345678",
        "",
        "+447911123456789",
    ] {
        let r = app.login_or_create(bad).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "invalid_phone_number"),
            "{bad:?}"
        );
    }
    // A valid UK mobile is outside the default US,CA allowlist.
    let r = app.login_or_create("+447400123456").await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "invalid_phone_number_country_code")
    );
    assert_eq!(app.count("select count(*) from users").await, 0);
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
}

#[tokio::test]
async fn a_project_allowlist_opens_other_countries() {
    let mut settings = ProjectSettings::default();
    settings.set_sms_countries("US,GB").unwrap();
    let app = spawn_app_with(|_| {}, settings, false).await;
    assert_eq!(
        app.login_or_create("+447400123456").await.status,
        StatusCode::OK
    );
    let ca = app.login_or_create("+16132345678").await;
    assert_eq!(ca.error_type(), "invalid_phone_number_country_code");
}

#[tokio::test]
async fn the_sandbox_number_sends_nothing_and_accepts_000000_in_test_projects() {
    let app = spawn_app().await;
    let r = app.login_or_create("+10000000000").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let phone_id = r.body["phone_id"].as_str().unwrap();
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
    assert_eq!(app.count("select count(*) from passcodes").await, 0);
    let wrong = app.authenticate(phone_id, "123456").await;
    assert_eq!(wrong.error_type(), "otp_code_not_found");
    let ok = app.authenticate(phone_id, "000000").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["user"]["phone_numbers"][0]["verified"], true);
}

#[tokio::test]
async fn live_projects_treat_the_sandbox_number_as_invalid() {
    let app = spawn_app_with(|_| {}, ProjectSettings::default(), true).await;
    let r = app.login_or_create("+10000000000").await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "invalid_phone_number")
    );
    assert!(r.body["request_id"]
        .as_str()
        .unwrap()
        .starts_with("request-id-live-"));
    let ok = app.login_or_create(&unique_us_number()).await;
    assert!(ok.body["user_id"]
        .as_str()
        .unwrap()
        .starts_with("user-live-"));
}

#[tokio::test]
async fn login_or_create_as_pending_makes_a_pending_user_until_it_authenticates() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/otps/sms/login_or_create",
            json!({"phone_number": phone, "create_user_as_pending": true}),
        )
        .await;
    let uid = r.body["user_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/users/{uid}")).await.body["status"],
        "pending"
    );
    let code = app.last_code(&phone).await;
    let ok = app
        .authenticate(r.body["phone_id"].as_str().unwrap(), &code)
        .await;
    assert_eq!(ok.body["user"]["status"], "active");
}

#[tokio::test]
async fn a_sent_code_whose_first_write_fails_is_stored_by_the_retry_and_verifies() {
    let app = crate::helpers::spawn_app().await;
    // The first write of a code and its message record fails, as in a database hiccup after
    // the provider's answer; a sequence keeps count across the rolled-back attempt.
    sqlx::raw_sql(
        "create sequence hiccup;
         create function hiccup() returns trigger language plpgsql as $$
         begin
             if nextval('hiccup') = 1 then raise exception 'hiccup'; end if;
             return new;
         end $$;
         create trigger hiccup before insert on messages for each row execute function hiccup();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let phone = crate::helpers::unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.count("select count(*) from messages").await, 1);
    assert_eq!(app.count("select count(*) from passcodes").await, 1);
    let code = app.last_code(&phone).await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn a_sent_code_that_cannot_be_stored_fails_the_send_and_leaves_no_half_record() {
    let app = crate::helpers::spawn_app().await;
    // Every new message record is refused (existing rows untouched): the code's write, which
    // is the same statement, fails with it each time.
    sqlx::query("alter table messages add constraint refuse_records check (false) not valid")
        .execute(&app.pool)
        .await
        .unwrap();
    let phone = crate::helpers::unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", r.body);
    assert_eq!(r.body["error_type"], "internal_server_error");
    // No code or record was kept: the caller's retry sends a new code. The fake provider's
    // delivery (its outbox row) is written in that same statement, so it is not kept either;
    // a real provider would have the message out.
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
    assert_eq!(app.count("select count(*) from passcodes").await, 0);
    assert_eq!(app.count("select count(*) from messages").await, 0);
}

/// Issue 23: someone who knows a person's number attaches it to their own account with
/// `send(user_id)`; the person then signs up with `login_or_create` within the 5 minutes.
#[tokio::test]
async fn a_number_attached_but_unverified_does_not_capture_its_holders_sign_up() {
    let app = spawn_app().await;
    let attacker = app
        .post("/v1/users", json!({"email": "mallory@example.com"}))
        .await;
    let attacker_id = attacker.body["user_id"].as_str().unwrap().to_owned();
    let victim = unique_us_number();
    let attached = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": victim, "user_id": attacker_id}),
        )
        .await;
    assert_eq!(attached.status, StatusCode::OK, "{:?}", attached.body);

    // To anyone but the attacher the number has no user yet: `send` without a user id
    // doesn't find it...
    let plain = app
        .post("/v1/otps/sms/send", json!({"phone_number": victim}))
        .await;
    assert_eq!(
        plain.error_type(),
        "phone_number_not_found",
        "{:?}",
        plain.body
    );
    // ...and the holder's sign-up makes the holder's own user.
    let signup = app.login_or_create(&victim).await;
    assert_eq!(signup.status, StatusCode::OK, "{:?}", signup.body);
    assert_ne!(signup.body["user_id"], attacker_id.as_str());
    assert_eq!(signup.body["user_created"], true);
    let code = app.last_code(&victim).await;
    let done = app
        .authenticate(signup.body["phone_id"].as_str().unwrap(), &code)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["user_id"], signup.body["user_id"]);

    // The holder's code never verifies the number onto the attacker's account.
    let stolen = app
        .authenticate(attached.body["phone_id"].as_str().unwrap(), &code)
        .await;
    assert_ne!(stolen.status, StatusCode::OK, "{:?}", stolen.body);
    let a = app.get(&format!("/v1/users/{attacker_id}")).await;
    assert_eq!(a.body["phone_numbers"], json!([]), "{:?}", a.body);
    let h = app
        .get(&format!(
            "/v1/users/{}",
            signup.body["user_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(h.body["phone_numbers"][0]["phone_number"], victim.as_str());
    assert_eq!(h.body["phone_numbers"][0]["verified"], true);
}

#[tokio::test]
async fn the_attacher_still_verifies_a_number_it_attached_within_the_window() {
    let app = spawn_app().await;
    let user = app
        .post("/v1/users", json!({"email": "ada@example.com"}))
        .await;
    let uid = user.body["user_id"].as_str().unwrap();
    let phone = unique_us_number();
    let sent = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": phone, "user_id": uid}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let code = app.last_code(&phone).await;
    let done = app
        .authenticate(sent.body["phone_id"].as_str().unwrap(), &code)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["user_id"], uid);
    // Verified, the number is the user's for everyone.
    let again = app.login_or_create(&phone).await;
    assert_eq!(again.body["user_id"], uid);
}
