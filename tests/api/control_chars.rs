//! Control characters in user text (JSON strings and keys at any depth, query parameters,
//! path ids) are a 400 `bad_request` naming the field, never a 500 from PostgreSQL.

use crate::helpers::{spawn_app, unique_us_number, Reply, TestApp};
use reqwest::StatusCode;
use serde_json::json;

fn assert_refused(r: &Reply, field: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.body);
    assert_eq!(r.error_type(), "bad_request", "{}", r.body);
    let message = r.body["error_message"].as_str().unwrap();
    assert!(message.contains(&format!("`{field}`")), "{message}");
    assert!(message.contains("control characters"), "{message}");
}

async fn organization(app: &TestApp) -> String {
    let r = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn nul_and_control_characters_in_json_bodies_are_400_naming_the_field() {
    let app = spawn_app().await;
    let org = organization(&app).await;
    let cases = [
        (
            "/v1/b2b/organizations",
            json!({"organization_name": "Ac\u{0}me", "organization_slug": "acme-2"}),
            "organization_name",
        ),
        (
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme-3",
                   "trusted_metadata": {"plan": {"tiers": ["gold", "x\u{0}"]}}}),
            "trusted_metadata.plan.tiers[1]",
        ),
        (
            "/v1/users",
            json!({"name": {"first_name": "\u{1b}[31mAda"}}),
            "name.first_name",
        ),
        (
            "/v1/users",
            json!({"untrusted_metadata": {"note": "a\u{7f}"}}),
            "untrusted_metadata.note",
        ),
        (
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "org\u{0}", "member_id": "member-test-x"}),
            "organization_id",
        ),
        (
            &format!("/v1/b2b/organizations/{org}/members"),
            json!({"email_address": "bo@example.com", "name": "B\u{0}o"}),
            "name",
        ),
        (
            "/v1/otps/sms/login_or_create",
            json!({"phone_number": unique_us_number(), "locale": "e\u{0}n"}),
            "locale",
        ),
        // Fields the endpoint ignores are checked too: one rule for the whole body.
        (
            "/v1/otps/sms/login_or_create",
            json!({"phone_number": unique_us_number(), "session_token": "\u{85}"}),
            "session_token",
        ),
    ];
    for (path, body, field) in cases {
        assert_refused(&app.post(path, body).await, field);
    }
    let r = app
        .post("/v1/users", json!({"trusted_metadata": {"k\u{0}ey": 1}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("invalid key in `trusted_metadata`"));
    // Nothing was stored by any of them.
    assert_eq!(app.count("select count(*) from users").await, 0);
    assert_eq!(app.count("select count(*) from organizations").await, 1);
}

#[tokio::test]
async fn tabs_and_line_breaks_stay_legal_in_free_text() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/users",
            json!({"name": {"first_name": "Ada\tB"}, "trusted_metadata": {"note": "two\r\nlines"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["user"]["trusted_metadata"]["note"], "two\r\nlines");
}

#[tokio::test]
async fn control_characters_in_path_ids_and_query_strings_are_400_naming_the_parameter() {
    let app = spawn_app().await;
    let org = organization(&app).await;
    let cases = [
        (
            "/v1/b2b/organizations/ac%00me".to_owned(),
            "organization_id",
        ),
        ("/v1/users/crm%00-1".to_owned(), "user_id"),
        (
            format!("/v1/b2b/organizations/{org}/member?member_id=m%00x"),
            "member_id",
        ),
        (
            format!("/v1/b2b/organizations/{org}/member?email_address=a%1B@b.co"),
            "email_address",
        ),
        ("/v1/sandbox/messages?to=%2B1%00".to_owned(), "to"),
    ];
    for (path, field) in cases {
        assert_refused(&app.get(&path).await, field);
    }
    let r = app
        .delete(&format!(
            "/v1/b2b/organizations/{org}/members/mfa_phone_numbers/x%00y"
        ))
        .await;
    assert_refused(&r, "member_id");
}
