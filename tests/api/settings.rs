//! Stored project settings never fail open: keys this build doesn't know leave the known ones
//! in force, and a row it can't read refuses the project instead of serving with defaults.

use crate::helpers::{spawn_app, unique_us_number, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn store_settings(app: &TestApp, settings: Value) {
    sqlx::query("update projects set settings = $2 where id = $1")
        .bind(&app.project_id)
        .bind(settings)
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_unknown_to_this_build_do_not_reset_the_known_ones() {
    let app = spawn_app().await;
    // As a newer build would write them, read by this one after a rollback.
    store_settings(
        &app,
        json!({
            "sms_countries": ["FR"],
            "shiny_new_setting": {"on": true},
            "limits": {"number_burst": 1, "limit_from_the_future": 3}
        }),
    )
    .await;
    let us = app.login_or_create(&unique_us_number()).await;
    assert_eq!(us.status, StatusCode::BAD_REQUEST, "{:?}", us.body);
    assert_eq!(us.error_type(), "invalid_phone_number_country_code");
    let fr = "+33612345678";
    assert_eq!(app.login_or_create(fr).await.status, StatusCode::OK);
    let again = app.login_or_create(fr).await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "number_burst=1 still holds: {:?}",
        again.body
    );
}

#[tokio::test]
async fn a_settings_row_this_build_cannot_read_refuses_sends_instead_of_using_defaults() {
    let app = spawn_app().await;
    // A typo'd shape: a string where a list belongs.
    store_settings(
        &app,
        json!({"sms_countries": "FR", "limits": {"block_voip": "yes"}}),
    )
    .await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", r.body);
    assert_eq!(r.error_type(), "internal_server_error");
    assert!(
        r.body["error_message"]
            .as_str()
            .unwrap()
            .contains("settings cannot be read"),
        "{:?}",
        r.body
    );
    assert_eq!(
        app.count("select count(*) from sandbox_outbox").await,
        0,
        "nothing was sent"
    );
    // Credentials are checked first: a wrong secret is still a 401, not a hint about the row.
    let wrong = app
        .client
        .post(format!("{}/v1/otps/sms/send", app.address))
        .basic_auth(&app.project_id, Some("secret-test-wrong"))
        .json(&json!({"phone_number": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn project_update_keeps_keys_it_does_not_know_and_refuses_a_row_it_cannot_read() {
    let app = spawn_app().await;
    store_settings(
        &app,
        json!({"sms_countries": ["FR"], "future": 1, "limits": {"number_burst": 2, "future_limit": 7}}),
    )
    .await;
    let update = |brand: &str| {
        crate::cli::otpd()
            .env("DATABASE_URL", &app.db.url)
            .env("OTPD_HASHING__PEPPER", crate::helpers::PEPPER)
            .args(["project", "update", &app.project_id, "--brand", brand])
            .output()
            .unwrap()
    };
    let out = update("ShopCo");
    crate::cli::assert_success(&out);
    let stored: Value = sqlx::query_scalar("select settings from projects where id = $1")
        .bind(&app.project_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored["brand"], "ShopCo");
    assert_eq!(stored["sms_countries"], json!(["FR"]));
    assert_eq!(stored["future"], 1, "{stored}");
    assert_eq!(stored["limits"]["future_limit"], 7, "{stored}");
    assert_eq!(stored["limits"]["number_burst"], 2, "{stored}");

    let broken = json!({"sms_countries": "FR"});
    store_settings(&app, broken.clone()).await;
    let out = update("Other");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let stored: Value = sqlx::query_scalar("select settings from projects where id = $1")
        .bind(&app.project_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        stored, broken,
        "left for the operator to repair, not reset to defaults"
    );
}
