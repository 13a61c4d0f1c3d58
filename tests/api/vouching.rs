//! Numbers a backend vouched for (docs/abuse.md, "Numbers a backend vouched for"): numbers put on users and members
//! with the project secret, and imported ones, are judged as known by the abuse rules while
//! new numbers are paused; a browser's numbers are not; and vouching captures nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cli::{otpd_cli, temp_dir};
use crate::helpers::{spawn_app_with, unique_us_number, Reply, TestApp};
use otpd::domain::project::ProjectSettings;

const APP: &str = "http://localhost:3000";

/// A project whose new-number allowance is tiny: two unanswered new numbers, one more per
/// new number answered, every send judged at once (no typing time).
async fn tight_app() -> TestApp {
    let mut s = ProjectSettings::default();
    s.limits.pending_floor = 2;
    s.limits.pending_per_auth = 1;
    s.limits.pending_typing_seconds = 0;
    spawn_app_with(|_| {}, s, false).await
}

fn assert_paused(r: &Reply) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(
        r.error_type(),
        "too_few_tokens_authenticated",
        "{:?}",
        r.body
    );
}

/// Strangers' sign-ups until new numbers are paused: exactly the floor goes out.
async fn pause_new_numbers(app: &TestApp) {
    for _ in 0..2 {
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    assert_paused(&app.login_or_create(&unique_us_number()).await);
}

/// How many messages the fake provider delivered to `to`.
async fn delivered(app: &TestApp, to: &str) -> usize {
    let r = app
        .get(&format!(
            "/v1/sandbox/messages?to={}&limit=100",
            to.replace('+', "%2B")
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["messages"].as_array().unwrap().len()
}

fn abuse_state(app: &TestApp) -> Value {
    serde_json::from_str(&otpd_cli(
        app,
        &["project", "abuse", "show", &app.project_id],
    ))
    .unwrap()
}

async fn user_with_email(app: &TestApp, email: &str) -> String {
    let r = app.post("/v1/users", json!({ "email": email })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["user_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn numbers_a_backend_put_on_users_and_members_are_sent_to_while_new_numbers_are_paused() {
    let app = tight_app().await;
    pause_new_numbers(&app).await;

    // users.create with a phone number, then a plain send to it.
    let created = unique_us_number();
    let r = app
        .post("/v1/users", json!({ "phone_number": created }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post("/v1/otps/sms/send", json!({ "phone_number": created }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "users.create vouches: {:?}",
        r.body
    );
    assert_eq!(delivered(&app, &created).await, 1);

    // send with a user id attaches and vouches in one call.
    let user = user_with_email(&app, "attach@example.com").await;
    let attached = unique_us_number();
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({ "phone_number": attached, "user_id": user }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "send(user_id) vouches: {:?}",
        r.body
    );
    assert_eq!(r.body["user_id"], user.as_str());
    assert_eq!(delivered(&app, &attached).await, 1);
    // WhatsApp is the same admission.
    let by_whatsapp = unique_us_number();
    let r = app
        .post(
            "/v1/otps/whatsapp/send",
            json!({ "phone_number": by_whatsapp, "user_id": user }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // B2B: a member created with an MFA number, and one given a number by members.update.
    let r = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let org = r.body["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member_number = unique_us_number();
    let r = app
        .post(
            &format!("/v1/b2b/organizations/{org}/members"),
            json!({"email_address": "m1@acme.example", "mfa_phone_number": member_number}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let m1 = r.body["member"]["member_id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v1/b2b/organizations/{org}/members"),
            json!({"email_address": "m2@acme.example"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let m2 = r.body["member"]["member_id"].as_str().unwrap().to_owned();
    let updated_number = unique_us_number();
    let r = app
        .client
        .put(format!(
            "{}/v1/b2b/organizations/{org}/members/{m2}",
            app.address
        ))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({ "mfa_phone_number": updated_number }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (member, number) in [(&m1, &member_number), (&m2, &updated_number)] {
        let r = app
            .post(
                "/v1/b2b/otps/sms/send",
                json!({"organization_id": org, "member_id": member}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "a member's vouched number: {:?}",
            r.body
        );
        assert_eq!(delivered(&app, number).await, 1);
    }

    // None of that lifted the pause for strangers.
    assert_paused(&app.login_or_create(&unique_us_number()).await);
    let state = abuse_state(&app);
    assert_eq!(state["pending_sends"]["overdue"], 2, "{state}");
    assert_eq!(
        state["new_numbers_paused"]["reason"], "pending_sends",
        "{state}"
    );
    println!(
        "vouched while paused: users.create, send(user_id) by SMS and WhatsApp, members.create, \
         members.update all sent; strangers still refused; pending {state}"
    );
}

#[tokio::test]
async fn a_number_only_looked_up_or_sent_to_by_a_browser_stays_a_stranger() {
    let app = tight_app().await;
    let token = app.public_token(&[APP]).await;

    // A signed-in browser: its user's own number came from users.create (vouched).
    let own = unique_us_number();
    let r = app.post("/v1/users", json!({ "phone_number": own })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post("/v1/otps/sms/send", json!({ "phone_number": own }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let method = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&own).await;
    let r = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": method, "code": code, "session_duration_minutes": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let session = r.body["session_token"].as_str().unwrap().to_owned();

    pause_new_numbers(&app).await;

    // Looked up by the backend: still a stranger.
    let looked_up = unique_us_number();
    let r = app
        .post(
            "/v1/users/search",
            json!({"query": {"operator": "AND", "operands": [
                {"filter_name": "phone_number", "filter_value": [looked_up]}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_paused(&app.login_or_create(&looked_up).await);

    // The browser: a sign-up and a number added to the signed-in user are strangers' sends.
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/login_or_create",
            (&token, None),
            Some(APP),
            Some(json!({ "phone_number": unique_us_number() })),
        )
        .await;
    assert_paused(&r);
    let added = unique_us_number();
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/send/secondary",
            (&token, Some(&session)),
            Some(APP),
            Some(json!({ "phone_number": added })),
        )
        .await;
    assert_paused(&r);
    // ...and stays one for the backend's plain sends afterwards.
    assert_paused(&app.login_or_create(&added).await);
    assert_eq!(delivered(&app, &added).await, 0);
    assert_eq!(delivered(&app, &looked_up).await, 0);

    // The signed-in user's own (vouched) number is not collateral.
    let r = app
        .post("/v1/otps/sms/send", json!({ "phone_number": own }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn vouching_lets_no_backend_capture_a_number_and_its_first_code_is_no_conversion() {
    let app = tight_app().await;
    pause_new_numbers(&app).await;
    let before = abuse_state(&app);
    assert_eq!(before["pending_sends"]["allowance"], 2, "{before}");

    // A backend attaches the number to user A (as an attacker holding the secret of a
    // project would, or a careless "add a phone" form): sent, since it's vouched...
    let a = user_with_email(&app, "a@example.com").await;
    let number = unique_us_number();
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({ "phone_number": number, "user_id": a }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // ...but the number's holder signs up with it and gets a user of their own.
    let r = app.login_or_create(&number).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_created"], true, "{:?}", r.body);
    let holder = r.body["user_id"].as_str().unwrap().to_owned();
    assert_ne!(holder, a);
    let method = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&number).await;
    let r = app.authenticate(&method, &code).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], holder.as_str());
    assert_eq!(
        r.body["user"]["phone_numbers"][0]["phone_number"],
        number.as_str()
    );
    assert_eq!(r.body["user"]["phone_numbers"][0]["verified"], true);

    // A has no number, and a send to it as A's is refused: it is the holder's.
    let r = app.get(&format!("/v1/users/{a}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["phone_numbers"], json!([]), "{:?}", r.body);
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({ "phone_number": number, "user_id": a }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.error_type(), "duplicate_phone_number");

    // Its first authentication was a known number's, not a new one's: the allowance for
    // strangers didn't grow and they are still paused.
    let after = abuse_state(&app);
    assert_eq!(after["pending_sends"]["allowance"], 2, "{after}");
    assert_eq!(after["pending_sends"]["overdue"], 2, "{after}");
    assert_paused(&app.login_or_create(&unique_us_number()).await);
}

#[tokio::test]
async fn an_imported_unverified_number_is_sent_to_while_new_numbers_are_paused() {
    let app = tight_app().await;
    let env = "test";
    let user_id = format!("user-{env}-{}", uuid::Uuid::new_v4());
    let phone_id = format!("phone-number-{env}-{}", uuid::Uuid::new_v4());
    let number = unique_us_number();
    let dir = temp_dir();
    let file = dir.join("export.jsonl");
    std::fs::write(
        &file,
        json!({
            "type": "user", "user_id": user_id, "status": "active",
            "name": {"first_name": "Ada", "middle_name": "", "last_name": "L"},
            "phone_numbers": [{"phone_id": phone_id, "phone_number": number, "verified": false}],
            "emails": [], "trusted_metadata": {}, "untrusted_metadata": {},
            "created_at": "2024-03-01T10:00:00Z"
        })
        .to_string()
            + "\n",
    )
    .unwrap();
    let out = otpd_cli(
        &app,
        &[
            "import",
            "stytch",
            "--project",
            &app.project_id,
            "--from-file",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("imported 1"), "{out}");

    pause_new_numbers(&app).await;
    let r = app.login_or_create(&number).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an imported number is known: {:?}",
        r.body
    );
    assert_eq!(r.body["user_id"], user_id.as_str());
    assert_eq!(r.body["user_created"], false);
    assert_eq!(delivered(&app, &number).await, 1);
    // Known to the limits only: the phone is still unverified until its code is typed.
    let r = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(
        r.body["phone_numbers"][0]["verified"], false,
        "{:?}",
        r.body
    );
}
