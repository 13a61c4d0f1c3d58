use crate::helpers::{spawn_app, spawn_app_with, unique_us_number, wrong_code, TestApp};
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;

async fn sent(app: &TestApp) -> (String, String, String) {
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let code = app.last_code(&phone).await;
    (phone, r.body["phone_id"].as_str().unwrap().to_owned(), code)
}

#[tokio::test]
async fn a_correct_code_authenticates_once_and_verifies_the_phone() {
    let app = spawn_app().await;
    let (_, phone_id, code) = sent(&app).await;
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let b = &ok.body;
    assert_eq!(b["method_id"], phone_id.as_str());
    assert_eq!(b["session_token"], "");
    assert_eq!(b["session_jwt"], "");
    assert!(b["session"].is_null());
    assert_eq!(b["reset_sessions"], false);
    assert_eq!(b["user"]["phone_numbers"][0]["verified"], true);
    assert_eq!(b["user_id"], b["user"]["user_id"]);

    let again = app.authenticate(&phone_id, &code).await;
    assert_eq!(
        (again.status, again.error_type()),
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code")
    );
}

#[tokio::test]
async fn a_wrong_code_is_not_found_and_the_right_one_still_works() {
    let app = spawn_app().await;
    let (_, phone_id, code) = sent(&app).await;
    let wrong = app.authenticate(&phone_id, &wrong_code(&code)).await;
    assert_eq!(
        (wrong.status, wrong.error_type()),
        (StatusCode::NOT_FOUND, "otp_code_not_found")
    );
    assert_eq!(
        app.authenticate(&phone_id, &code).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn five_wrong_attempts_exhaust_a_code_even_for_the_right_answer() {
    let app = spawn_app().await;
    let (_, phone_id, code) = sent(&app).await;
    for _ in 0..5 {
        assert_eq!(
            app.authenticate(&phone_id, &wrong_code(&code))
                .await
                .error_type(),
            "otp_code_not_found"
        );
    }
    let r = app.authenticate(&phone_id, &code).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code")
    );
    assert_eq!(app.count("select attempts::int8 from passcodes").await, 5);
}

#[tokio::test]
async fn the_attempt_limit_is_configurable() {
    let app = spawn_app_with(
        |c| c.otp.max_attempts = 2,
        ProjectSettings::default(),
        false,
    )
    .await;
    let (_, phone_id, code) = sent(&app).await;
    for _ in 0..2 {
        app.authenticate(&phone_id, &wrong_code(&code)).await;
    }
    assert_eq!(
        app.authenticate(&phone_id, &code).await.error_type(),
        "unable_to_auth_otp_code"
    );
}

#[tokio::test]
async fn a_newer_code_supersedes_the_older_one() {
    let app = spawn_app().await;
    let (phone, phone_id, old) = sent(&app).await;
    app.login_or_create(&phone).await;
    let new = app.last_code(&phone).await;
    if old == new {
        return; // one in a million: nothing to tell apart
    }
    let r = app.authenticate(&phone_id, &old).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code")
    );
    assert_eq!(
        app.authenticate(&phone_id, &new).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    let (_, phone_id, code) = sent(&app).await;
    sqlx::query("update passcodes set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.authenticate(&phone_id, &code).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code")
    );
}

#[tokio::test]
async fn malformed_codes_and_method_ids_are_bad_requests() {
    let app = spawn_app().await;
    let (_, phone_id, _) = sent(&app).await;
    for code in ["12345", "1234567", "abcdef", " 12345", ""] {
        let r = app.authenticate(&phone_id, code).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "invalid_code"),
            "{code:?}"
        );
    }
    let r = app.authenticate("phone-number-test-nope", "123456").await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "invalid_method_id")
    );
    let r = app
        .authenticate(
            "phone-number-test-00000000-0000-4000-8000-000000000000",
            "123456",
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "otp_code_not_found")
    );
    assert_eq!(
        app.count("select attempts::int8 from passcodes").await,
        0,
        "malformed input is not an attempt"
    );
}

#[tokio::test]
async fn a_code_sent_to_one_project_cannot_be_used_from_another() {
    let app = spawn_app().await;
    let (_, phone_id, code) = sent(&app).await;
    let other = app.other_project("Other").await;
    let res = other.authenticate(&phone_id, &code).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{:?}", res.body);
    assert_eq!(
        app.authenticate(&phone_id, &code).await.status,
        StatusCode::OK
    );
}
