//! Stytch fidelity: sandbox rules, MFA phone rules, the 5-minute attach window, organization
//! update and error names, observed over HTTP.

use crate::helpers::{spawn_app, spawn_app_with, unique_us_number, TestApp};
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SANDBOX: &str = "+10000000000";

async fn ok(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, body).await;
    assert!(r.status.is_success(), "{path}: {:?}", r.body);
    r.body
}

#[tokio::test]
async fn the_sandbox_number_needs_no_prior_user_in_test_projects_and_is_refused_in_live_ones() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/users", json!({"phone_number": SANDBOX}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let uid = created.body["user_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.delete(&format!("/v1/users/{uid}")).await.status,
        StatusCode::OK
    );
    for path in ["/v1/otps/sms/send", "/v1/otps/whatsapp/send"] {
        let sent = ok(&app, path, json!({"phone_number": SANDBOX})).await;
        let auth = app
            .authenticate(sent["phone_id"].as_str().unwrap(), "000000")
            .await;
        assert_eq!(auth.status, StatusCode::OK, "{path}: {:?}", auth.body);
    }
    assert_eq!(app.count("select count(*) from users").await, 1);

    let live = spawn_app_with(|_| {}, ProjectSettings::default(), true).await;
    for (path, status) in [
        ("/v1/users", StatusCode::BAD_REQUEST),
        ("/v1/otps/sms/send", StatusCode::BAD_REQUEST),
        ("/v1/otps/whatsapp/send", StatusCode::BAD_REQUEST),
    ] {
        let r = live.post(path, json!({"phone_number": SANDBOX})).await;
        assert_eq!(
            (r.status, r.error_type()),
            (status, "invalid_phone_number"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_number_attached_by_send_and_not_verified_in_five_minutes_is_detached() {
    let app = spawn_app().await;
    let owner = ok(&app, "/v1/users", json!({"email": "owner@example.com"})).await;
    let uid = owner["user_id"].as_str().unwrap();
    let number = unique_us_number();
    let sent = ok(
        &app,
        "/v1/otps/sms/send",
        json!({"phone_number": number, "user_id": uid}),
    )
    .await;
    assert_eq!(sent["user_id"], uid);
    // Inside the window the number is the attaching user's, for that user's own flow.
    let again = ok(
        &app,
        "/v1/otps/sms/send",
        json!({"phone_number": number, "user_id": uid}),
    )
    .await;
    assert_eq!(
        (again["user_id"].as_str(), again["phone_id"].as_str()),
        (Some(uid), sent["phone_id"].as_str())
    );

    sqlx::query("update phone_numbers set attach_expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let got = app.get(&format!("/v1/users/{uid}")).await;
    assert_eq!(got.body["phone_numbers"], json!([]), "{:?}", got.body);
    let code = app.last_code(&number).await;
    let stale = app
        .authenticate(sent["phone_id"].as_str().unwrap(), &code)
        .await;
    assert_eq!(stale.error_type(), "otp_code_not_found");
    let fresh = ok(
        &app,
        "/v1/otps/sms/login_or_create",
        json!({"phone_number": number}),
    )
    .await;
    assert_eq!(fresh["user_created"], true);
    assert_ne!(fresh["user_id"].as_str(), Some(uid));
}

async fn org_with_member(app: &TestApp, slug: &str) -> (String, String) {
    let o = ok(
        app,
        "/v1/b2b/organizations",
        json!({"organization_name": "Acme", "organization_slug": slug}),
    )
    .await;
    let oid = o["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = ok(
        app,
        &format!("/v1/b2b/organizations/{oid}/members"),
        json!({"email_address": format!("a@{slug}.io")}),
    )
    .await;
    (oid, m["member_id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn mfa_phone_numbers_follow_stytchs_rules() {
    let app = spawn_app().await;
    let (oid, mid) = org_with_member(&app, "acme").await;
    let (first, other) = (unique_us_number(), unique_us_number());
    let send = |n: Option<&str>| {
        let mut b = json!({"organization_id": oid, "member_id": mid});
        if let Some(n) = n {
            b["mfa_phone_number"] = json!(n);
        }
        b
    };
    ok(&app, "/v1/b2b/otps/sms/send", send(Some(&first))).await;
    // Unverified, yet another number is refused: Stytch requires the numbers to match.
    let r = app.post("/v1/b2b/otps/sms/send", send(Some(&other))).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .starts_with("mfa_phone_number"));
    let code = app.last_code(&first).await;
    let proof = app.mfa_proof(&oid, "a@acme.io").await;
    ok(
        &app,
        "/v1/b2b/otps/sms/authenticate",
        crate::helpers::with(
            json!({"organization_id": oid, "member_id": mid, "code": code}),
            &proof,
        ),
    )
    .await;
    // A verified number isn't replaced by update either, until it is deleted.
    let path = format!("/v1/b2b/organizations/{oid}/members/{mid}");
    let put = app
        .client
        .put(format!("{}{path}", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"mfa_phone_number": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    let got = app
        .get(&format!(
            "/v1/b2b/organizations/{oid}/member?member_id={mid}"
        ))
        .await;
    assert_eq!(got.body["member"]["mfa_phone_number"], first.as_str());
    assert_eq!(got.body["member"]["mfa_phone_number_verified"], true);
    app.delete(&format!(
        "/v1/b2b/organizations/{oid}/members/mfa_phone_numbers/{mid}"
    ))
    .await;
    ok(&app, "/v1/b2b/otps/sms/send", send(Some(&other))).await;
    // Numbers are unique per organization.
    let m2 = ok(
        &app,
        &format!("/v1/b2b/organizations/{oid}/members"),
        json!({"email_address": "b@acme.io"}),
    )
    .await;
    let r = app
        .post("/v1/b2b/otps/sms/send", json!({"organization_id": oid, "member_id": m2["member_id"], "mfa_phone_number": other}))
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "duplicate_member_phone_number")
    );
    let r = app
        .post(
            &format!("/v1/b2b/organizations/{oid}/members"),
            json!({"email_address": "c@acme.io", "mfa_phone_number": other}),
        )
        .await;
    assert_eq!(r.error_type(), "duplicate_member_phone_number");
}

#[tokio::test]
async fn organizations_update_stores_every_field_and_restricted_mfa_methods_refuse_sms() {
    let app = spawn_app().await;
    let (oid, mid) = org_with_member(&app, "acme").await;
    ok(&app, "/v1/b2b/organizations", json!({"organization_name": "B", "organization_slug": "taken", "organization_external_id": "ext-b"})).await;
    let put = |body: Value| {
        let req = app
            .client
            .put(format!("{}/v1/b2b/organizations/{oid}", app.address))
            .basic_auth(&app.project_id, Some(&app.secret))
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = put(json!({
        "organization_name": "Acme 2", "organization_slug": "acme-2", "organization_external_id": "ext-a",
        "organization_logo_url": "https://example.com/logo.png", "trusted_metadata": {"plan": "pro"},
        "mfa_policy": "REQUIRED_FOR_ALL", "email_allowed_domains": ["Acme.io"], "mfa_methods": "RESTRICTED",
        "allowed_mfa_methods": ["totp"], "email_invites": "RESTRICTED"
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    let got = app.get("/v1/b2b/organizations/ext-a").await.body["organization"].clone();
    for (k, v) in [
        ("organization_name", json!("Acme 2")),
        ("organization_slug", json!("acme-2")),
        (
            "organization_logo_url",
            json!("https://example.com/logo.png"),
        ),
        ("trusted_metadata", json!({"plan": "pro"})),
        ("mfa_policy", json!("REQUIRED_FOR_ALL")),
        ("email_allowed_domains", json!(["acme.io"])),
        ("mfa_methods", json!("RESTRICTED")),
        ("allowed_mfa_methods", json!(["totp"])),
        ("email_invites", json!("RESTRICTED")),
    ] {
        assert_eq!(got[k], v, "{k}");
    }
    let r = app
        .post("/v1/b2b/otps/sms/send", json!({"organization_id": oid, "member_id": mid, "mfa_phone_number": unique_us_number()}))
        .await;
    assert_eq!(
        r.error_type(),
        "operation_restricted_by_organization_mfa_methods"
    );
    for (body, error_type) in [
        (
            json!({"organization_slug": "taken"}),
            "organization_slug_already_used",
        ),
        (
            json!({"organization_external_id": "ext-b"}),
            "organization_external_id_already_used",
        ),
        (
            json!({"organization_slug": "no spaces"}),
            "invalid_organization_slug",
        ),
        (
            json!({"sso_default_connection_id": "saml-connection-1"}),
            "bad_request",
        ),
        (json!({"mfa_policy": "SOMETIMES"}), "bad_request"),
    ] {
        let (status, b) = put(body.clone()).await;
        assert_eq!(
            (status, b["error_type"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error_type)),
            "{body}"
        );
    }
}

#[test]
fn docs_api_lists_every_error_type_otpd_emits() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    for kind in otpd::http::errors::ErrorKind::ALL {
        let name = kind.table().1;
        assert!(
            doc.lines().any(|l| l.starts_with(&format!("| `{name}` |"))),
            "docs/api.md has no error-table row for `{name}`"
        );
    }
}
