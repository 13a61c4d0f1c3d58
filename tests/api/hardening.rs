//! Issue 23's guards and bounds: the JWKS cache and the per-client guard on unauthenticated
//! routes, bodies with trailing bytes, nameless query parameters, bounded session attributes
//! and JWTs, a dripped webhook body, and 429 documented wherever it can be answered.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use otpd::domain::project::ProjectSettings;

/// Calls of statements that read the signing keys, in this test's database.
async fn key_reads(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(calls), 0)::bigint from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and query ~ 'from signing_keys'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn jwks_answers_come_from_memory_for_a_few_seconds_for_real_and_unknown_projects() {
    let app = spawn_app().await;
    sqlx::query("create extension if not exists pg_stat_statements")
        .execute(&app.pool)
        .await
        .unwrap();
    let unknown = "project-test-00000000-0000-4000-8000-000000000000";
    let before = key_reads(&app).await;
    for project in [unknown, app.project_id.as_str()] {
        for path in ["/v1/sessions/jwks/", "/v1/b2b/sessions/jwks/"] {
            for _ in 0..10 {
                let r = reqwest::get(format!("{}{path}{project}", app.address))
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        }
    }
    let reads = key_reads(&app).await - before;
    assert!(
        reads <= 2,
        "40 JWKS requests for 2 projects read the keys {reads} times"
    );
}

#[tokio::test]
async fn a_new_signing_key_is_published_at_once_by_the_replica_that_made_it() {
    let app = spawn_app().await;
    let jwks = || async {
        reqwest::get(format!(
            "{}/v1/sessions/jwks/{}",
            app.address, app.project_id
        ))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
    };
    assert_eq!(jwks().await["keys"], json!([]));
    let r = app.login_or_create("+10000000000").await;
    let a = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": r.body["phone_id"], "code": "000000",
                   "session_duration_minutes": 5}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(jwks().await["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unauthenticated_routes_that_do_work_are_behind_the_per_client_guard() {
    let app = spawn_app_with(
        |c| {
            c.limits.peer_per_second = 1;
            c.limits.peer_burst = 2;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    for path in [
        format!("/v1/sessions/jwks/{}", app.project_id),
        format!("/v1/b2b/sessions/jwks/{}", app.project_id),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let r = reqwest::get(format!("{}{path}", app.address))
                .await
                .unwrap();
            statuses.push(r.status());
        }
        assert!(
            statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
            "{path}: {statuses:?}"
        );
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = app
            .client
            .post(format!("{}/webhooks/twilio/status", app.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("MessageSid=SM1&MessageStatus=delivered")
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "webhook: {statuses:?}"
    );
}

#[tokio::test]
async fn a_nul_after_the_end_of_a_json_body_is_400_not_500() {
    let app = spawn_app().await;
    for raw in [
        "{\"name\": {\"first_name\": \"a\\u0000b\"}} x",
        "{\"trusted_metadata\": {\"k\": \"\\u0000\"}}\u{0}",
        "{\"name\": {\"first_name\": \"ok\"}}{}",
    ] {
        let r = app.post_raw("/v1/users", "application/json", raw).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{raw:?}: {:?}",
            r.body
        );
    }
    assert_eq!(app.count("select count(*) from users").await, 0);
}

#[tokio::test]
async fn a_query_parameter_without_a_name_is_refused() {
    let app = spawn_app().await;
    for query in ["?=x", "?limit=1&=x", "?=%00"] {
        let r = app.get(&format!("/v1/sandbox/messages{query}")).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{query}: {:?}",
            r.body
        );
    }
    // An empty pair is nothing.
    let to = crate::helpers::unique_us_number().replace('+', "%2B");
    let r = app
        .get(&format!("/v1/sandbox/messages?to={to}&limit=1&"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn a_session_jwt_with_the_largest_claims_and_user_agent_stays_within_the_apis_limit() {
    let app = spawn_app().await;
    let r = app.login_or_create("+10000000000").await;
    let start = |ua: String, claims: Value| {
        let app = &app;
        let phone_id = r.body["phone_id"].clone();
        async move {
            app.post(
                "/v1/otps/authenticate",
                json!({"method_id": phone_id, "code": "000000",
                       "session_duration_minutes": 5,
                       "session_custom_claims": claims,
                       "attributes": {"user_agent": ua}}),
            )
            .await
        }
    };
    let long = start("u".repeat(513), json!({})).await;
    assert_eq!(
        (long.status, long.error_type()),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{:?}",
        long.body
    );
    assert!(long.body["error_message"]
        .as_str()
        .unwrap()
        .contains("user_agent"));

    // Claims at their 4 KB cap (the compact JSON), of characters that escape the most.
    let claims = json!({ "k": "é".repeat(2040) });
    assert!(serde_json::to_string(&claims).unwrap().len() <= 4096);
    let ok = start("u".repeat(512), claims).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let jwt = ok.body["session_jwt"].as_str().unwrap();
    assert!(jwt.len() <= 16_384, "{} characters", jwt.len());
    let s = app
        .post("/v1/sessions/authenticate", json!({"session_jwt": jwt}))
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
}

#[tokio::test]
async fn a_dripped_webhook_body_is_given_up_on() {
    let app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(
        b"POST /webhooks/twilio/status HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nMessageSid=SM",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = conn.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer in 30 s to a body that never completes"
    );
    let head = String::from_utf8_lossy(&answer);
    assert!(
        head.starts_with("HTTP/1.1 400") || head.starts_with("HTTP/1.1 408") || answer.is_empty(),
        "{head}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn every_guarded_operation_documents_429() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str()) {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if op.get("responses").is_some() && op["responses"].get("429").is_none() {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "no 429 documented on {missing:?}");
}

#[tokio::test]
async fn session_claims_cannot_grow_past_4_kb_through_updates() {
    let app = spawn_app().await;
    let r = app.login_or_create("+10000000000").await;
    let a = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": r.body["phone_id"], "code": "000000",
                   "session_duration_minutes": 60,
                   "session_custom_claims": {"a": "x".repeat(3000)}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let token = a.body["session_token"].as_str().unwrap();
    let grow = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": token, "session_custom_claims": {"b": "y".repeat(3000)}}),
        )
        .await;
    assert_eq!(
        (grow.status, grow.error_type()),
        (StatusCode::BAD_REQUEST, "invalid_session_custom_claims"),
        "{:?}",
        grow.body
    );
    // Nothing of the refused update stayed; replacing within the cap still works.
    let s = app
        .post("/v1/sessions/authenticate", json!({"session_token": token}))
        .await;
    assert_eq!(
        s.body["session"]["custom_claims"],
        json!({"a": "x".repeat(3000)})
    );
    let swap = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": token,
                   "session_custom_claims": {"a": null, "b": "y".repeat(3000)}}),
        )
        .await;
    assert_eq!(swap.status, StatusCode::OK, "{:?}", swap.body);
    assert_eq!(
        swap.body["session"]["custom_claims"],
        json!({"b": "y".repeat(3000)})
    );
}
