//! The OpenAPI document: served equal to the committed `openapi.json`, lists every route the
//! API contract names, and describes what the real endpoints answer.

use std::path::PathBuf;

use crate::helpers::{spawn_app, unique_us_number, Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

async fn served(app: &TestApp) -> (StatusCode, String, String) {
    let res = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, res.text().await.unwrap())
}

/// `OTPD_UPDATE_OPENAPI=1` rewrites the committed file instead of failing (or run
/// `cargo run -q -- openapi > openapi.json`).
#[tokio::test]
async fn the_served_document_is_the_committed_openapi_json() {
    let app = spawn_app().await;
    let (status, content_type, text) = served(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(text.ends_with("}\n"), "pretty JSON with a trailing newline");
    if std::env::var_os("OTPD_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &text).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap();
    assert!(
        committed == text,
        "openapi.json is stale: regenerate it with `cargo run -q -- openapi > openapi.json`"
    );
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let out = crate::cli::otpd().arg("openapi").output().unwrap();
    crate::cli::assert_success(&out);
    let committed = std::fs::read_to_string(committed_path()).unwrap();
    assert!(String::from_utf8(out.stdout).unwrap() == committed);
}

/// Every route in DESIGN.md §2 and the operational contract, with its method.
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/users"),
    ("get", "/v1/users/{user_id}"),
    ("delete", "/v1/users/{user_id}"),
    ("delete", "/v1/users/phone_numbers/{phone_id}"),
    ("post", "/v1/otps/sms/send"),
    ("post", "/v1/otps/sms/login_or_create"),
    ("post", "/v1/otps/whatsapp/send"),
    ("post", "/v1/otps/whatsapp/login_or_create"),
    ("post", "/v1/otps/authenticate"),
    ("post", "/v1/b2b/organizations"),
    ("get", "/v1/b2b/organizations/{organization_id}"),
    ("post", "/v1/b2b/organizations/{organization_id}/members"),
    ("get", "/v1/b2b/organizations/{organization_id}/member"),
    (
        "put",
        "/v1/b2b/organizations/{organization_id}/members/{member_id}",
    ),
    (
        "delete",
        "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}",
    ),
    ("post", "/v1/b2b/otps/sms/send"),
    ("post", "/v1/b2b/otps/sms/authenticate"),
    ("get", "/v1/sandbox/messages"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/webhooks/twilio/status"),
];

#[tokio::test]
async fn every_contract_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&served(&app).await.2).unwrap();
    for (method, path) in CONTRACT_ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
        if path.starts_with("/v1/") {
            assert_eq!(op["security"], json!([{"basic": []}]), "{method} {path}");
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} documents its 401"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["basic"]["scheme"],
        "basic"
    );
    let mut operation_ids = std::collections::BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
        }
    }
    // The other direction: each documented operation reaches a handler (any answer but the
    // fallback's `route_not_found` or a 405).
    let placeholder = |p: &str| {
        p.replace(
            "{user_id}",
            "user-test-00000000-0000-4000-8000-000000000000",
        )
        .replace(
            "{phone_id}",
            "phone-number-test-00000000-0000-4000-8000-000000000000",
        )
        .replace("{organization_id}", "no-such-org")
        .replace("{member_id}", "no-such-member")
    };
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let url = format!("{}{}", app.address, placeholder(path));
            let req = app
                .client
                .request(method.to_uppercase().parse().unwrap(), url)
                .basic_auth(&app.project_id, Some(&app.secret));
            let req = if method == "get" || method == "delete" {
                req
            } else {
                req.json(&json!({}))
            };
            let res = req.send().await.unwrap();
            let status = res.status();
            // `/metrics` is text; everything else answers JSON.
            let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap_or_default();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(body["error_type"], "route_not_found", "{method} {path}");
        }
    }
    assert!(operations >= CONTRACT_ROUTES.len());
}

/// Follows `$ref`s into `components.schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling {r}");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Checks `value` against a schema: types, required properties, nested objects and items.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(parts) = schema["allOf"].as_array() {
        for p in parts {
            conforms(doc, p, value, at)?;
        }
    }
    match &schema["type"] {
        Value::String(t) if !type_matches(t, value) => {
            return Err(format!("{at}: expected {t}, got {value}"))
        }
        Value::Array(ts) if !ts.iter().any(|t| type_matches(t.as_str().unwrap(), value)) => {
            return Err(format!("{at}: expected one of {ts:?}, got {value}"))
        }
        _ => {}
    }
    if let Some(required) = schema["required"].as_array() {
        for r in required {
            let r = r.as_str().unwrap();
            if value.get(r).is_none() {
                return Err(format!("{at}: required `{r}` is missing"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, s) in props {
            if let Some(v) = obj.get(k) {
                conforms(doc, s, v, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The reply's status is documented for the operation and its body fits that schema.
fn check(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let status = reply.status.as_u16().to_string();
    let response = &doc["paths"][path][method]["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not documented: {}",
        reply.body
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} {status} has no schema");
    if let Err(e) = conforms(doc, schema, &reply.body, "$") {
        panic!("{method} {path} {status}: {e}\n{}", reply.body);
    }
}

#[tokio::test]
async fn real_responses_fit_their_documented_schemas() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&served(&app).await.2).unwrap();

    for path in ["/healthz", "/readyz"] {
        check(&doc, "get", path, &app.get(path).await);
    }

    // Consumer.
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/users",
            json!({"email": "ada@example.com", "name": {"first_name": "Ada"}, "external_id": "crm-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    check(&doc, "post", "/v1/users", &r);
    let user_id = r.body["user_id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": phone, "user_id": user_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "post", "/v1/otps/sms/send", &r);
    let r = app
        .post(
            "/v1/otps/whatsapp/login_or_create",
            json!({"phone_number": phone}),
        )
        .await;
    check(&doc, "post", "/v1/otps/whatsapp/login_or_create", &r);
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    check(
        &doc,
        "get",
        "/v1/sandbox/messages",
        &app.get(&format!(
            "/v1/sandbox/messages?to={}",
            phone.replace('+', "%2B")
        ))
        .await,
    );
    let wrong = crate::helpers::wrong_code(&code);
    check(
        &doc,
        "post",
        "/v1/otps/authenticate",
        &app.authenticate(&phone_id, &wrong).await,
    );
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    check(&doc, "post", "/v1/otps/authenticate", &ok);
    let used = app.authenticate(&phone_id, &code).await;
    assert_eq!(used.status, StatusCode::UNAUTHORIZED);
    check(&doc, "post", "/v1/otps/authenticate", &used);
    let r = app
        .post("/v1/otps/sms/send", json!({"phone_number": "not a number"}))
        .await;
    check(&doc, "post", "/v1/otps/sms/send", &r);
    check(
        &doc,
        "get",
        "/v1/users/{user_id}",
        &app.get(&format!("/v1/users/{user_id}")).await,
    );
    check(
        &doc,
        "delete",
        "/v1/users/phone_numbers/{phone_id}",
        &app.delete(&format!("/v1/users/phone_numbers/{phone_id}"))
            .await,
    );
    check(
        &doc,
        "delete",
        "/v1/users/{user_id}",
        &app.delete(&format!("/v1/users/{user_id}")).await,
    );
    check(
        &doc,
        "get",
        "/v1/users/{user_id}",
        &app.get(&format!("/v1/users/{user_id}")).await,
    );

    // B2B.
    let r = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "post", "/v1/b2b/organizations", &r);
    let org_id = r.body["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        &doc,
        "get",
        "/v1/b2b/organizations/{organization_id}",
        &app.get(&format!("/v1/b2b/organizations/{org_id}")).await,
    );
    let mfa_phone = unique_us_number();
    let r = app
        .post(
            &format!("/v1/b2b/organizations/{org_id}/members"),
            json!({"email_address": "bo@example.com", "name": "Bo", "mfa_phone_number": mfa_phone}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(
        &doc,
        "post",
        "/v1/b2b/organizations/{organization_id}/members",
        &r,
    );
    let member_id = r.body["member_id"].as_str().unwrap().to_owned();
    check(
        &doc,
        "get",
        "/v1/b2b/organizations/{organization_id}/member",
        &app.get(&format!(
            "/v1/b2b/organizations/{org_id}/member?member_id={member_id}"
        ))
        .await,
    );
    let r = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": org_id, "member_id": member_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "post", "/v1/b2b/otps/sms/send", &r);
    let code = app.last_code(&mfa_phone).await;
    let profile = app.trusted_profile(false).await;
    let r = app
        .post(
            "/v1/b2b/sessions/attest",
            json!({"profile_id": profile, "organization_id": org_id,
                   "token": crate::helpers::test_issuer().token("bo@example.com")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "post", "/v1/b2b/sessions/attest", &r);
    let r = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            json!({"organization_id": org_id, "member_id": member_id, "code": code,
                   "set_mfa_enrollment": "enroll", "session_token": r.body["session_token"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check(&doc, "post", "/v1/b2b/otps/sms/authenticate", &r);
    let res = app
        .client
        .put(format!(
            "{}/v1/b2b/organizations/{org_id}/members/{member_id}",
            app.address
        ))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"name": "Bo B", "external_id": "m-1"}))
        .send()
        .await
        .unwrap();
    let put = Reply {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    };
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    check(
        &doc,
        "put",
        "/v1/b2b/organizations/{organization_id}/members/{member_id}",
        &put,
    );
    check(
        &doc,
        "delete",
        "/v1/b2b/organizations/{organization_id}/members/mfa_phone_numbers/{member_id}",
        &app.delete(&format!(
            "/v1/b2b/organizations/{org_id}/members/mfa_phone_numbers/{member_id}"
        ))
        .await,
    );

    // Provider webhooks take no Basic auth but refuse an unsigned callback.
    let res = app
        .client
        .post(format!("{}/webhooks/twilio/status", app.address))
        .form(&[
            ("MessageSid", "SM00000000000000000000000000000000"),
            ("MessageStatus", "delivered"),
        ])
        .send()
        .await
        .unwrap();
    let unsigned = Reply {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    };
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    check(&doc, "post", "/webhooks/twilio/status", &unsigned);

    // Credentials are checked before anything else, on every /v1 route.
    let res = app
        .client
        .get(format!("{}/v1/users/{user_id}", app.address))
        .basic_auth(&app.project_id, Some("secret-test-wrong"))
        .send()
        .await
        .unwrap();
    let unauthorized = Reply {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.json().await.unwrap(),
    };
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    check(&doc, "get", "/v1/users/{user_id}", &unauthorized);
}

/// An undeclared method on a documented path is 405 with `Allow` naming the documented
/// methods, in Stytch's error shape; an unknown path stays 404.
#[tokio::test]
async fn an_undeclared_method_on_a_documented_path_is_405_with_allow() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&served(&app).await.2).unwrap();
    let concrete = |p: &str| {
        p.replace("{user_id}", "someone")
            .replace("{phone_id}", "phone-number-test-x")
            .replace("{organization_id}", "org")
            .replace("{member_id}", "m")
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            if documented.iter().any(|m| m == method) {
                continue;
            }
            // `/v1/users/phone_numbers/{id}` also matches `/v1/users/{user_id}`'s shape; its
            // Allow is the union, which the router really serves.
            let url = format!("{}{}", app.address, concrete(path));
            let res = app
                .client
                .request(method.parse().unwrap(), &url)
                .basic_auth(&app.project_id, Some(&app.secret))
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow = res.headers()["allow"].to_str().unwrap().to_owned();
            for m in &documented {
                assert!(allow.split(", ").any(|a| a == m), "{path}: {allow}");
            }
            assert!(!allow.split(", ").any(|a| a == method), "{path}: {allow}");
            let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status_code"], 405);
            assert_eq!(body["error_type"], "method_not_allowed");
            assert_eq!(body["request_id"], id.as_str());
            assert_eq!(body["error_url"], "https://stytch.com/docs/api/errors/405");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
    let res = app
        .client
        .patch(format!("{}/v1/users", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    let res = app
        .client
        .get(format!("{}/v1/no/such/route", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("allow").is_none());
}
