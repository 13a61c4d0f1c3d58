//! `sessions.attest` with trusted auth token profiles: what a token must be to be accepted,
//! once, and what it becomes (consumer side; the B2B side is in b2b.rs and sessions.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::helpers::{spawn_app, test_issuer, TestApp, TEST_AUDIENCE, TEST_ISSUER};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn attest(app: &TestApp, profile: &str, token: &str, extra: Value) -> crate::helpers::Reply {
    app.post(
        "/v1/sessions/attest",
        crate::helpers::with(json!({"profile_id": profile, "token": token}), &extra),
    )
    .await
}

fn claims(email: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "email": email,
           "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 300})
}

#[tokio::test]
async fn consumer_attest_finds_the_user_by_email_and_starts_a_session_only_when_asked() {
    let app = spawn_app().await;
    let u = app
        .post("/v1/users", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{:?}", u.body);
    let user_id = u.body["user_id"].as_str().unwrap();
    let profile = app.trusted_profile(false).await;
    assert!(profile.starts_with("trusted-auth-token-profile-test-"));
    let issuer = test_issuer();
    // No duration, no session presented: the user, and no session (Stytch's rule).
    let r = attest(&app, &profile, &issuer.token("Ada@Example.com"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], user_id);
    assert!(r.body["session"].is_null());
    assert_eq!(r.body["session_token"], "");
    let r = attest(
        &app,
        &profile,
        &issuer.token("ada@example.com"),
        json!({"session_duration_minutes": 30}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let f = &r.body["session"]["authentication_factors"][0];
    assert_eq!(f["type"], "trusted_auth_token");
    assert_eq!(f["delivery_method"], "trusted_token_exchange");
    let a = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": r.body["session_token"]}),
        )
        .await;
    assert_eq!(a.body["user"]["user_id"], user_id);
    // An unknown email is no user unless the profile provisions (Stytch's default: it doesn't).
    let r = attest(&app, &profile, &issuer.token("new@example.com"), json!({})).await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "user_not_found")
    );
    let jit = app.trusted_profile(true).await;
    let r = attest(&app, &jit, &issuer.token("new@example.com"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["emails"][0]["email"], "new@example.com");
    let r = attest(
        &app,
        "trusted-auth-token-profile-test-00000000-0000-4000-8000-000000000000",
        &issuer.token("ada@example.com"),
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, r.error_type()),
        (
            StatusCode::NOT_FOUND,
            "trusted_auth_token_profile_not_found"
        )
    );
}

#[tokio::test]
async fn attest_refuses_a_wrong_issuer_audience_lifetime_signature_or_claim_and_a_replay() {
    let app = spawn_app().await;
    app.post("/v1/users", json!({"email": "bo@example.com"}))
        .await;
    let profile = app.trusted_profile(false).await;
    let issuer = test_issuer();
    let now = chrono::Utc::now().timestamp();
    let edit = |k: &str, v: Value| {
        let mut c = claims("bo@example.com");
        c[k] = v;
        issuer.sign(&c, None)
    };
    let mut without_email = claims("bo@example.com");
    without_email.as_object_mut().unwrap().remove("email");
    let mut without_jti = claims("bo@example.com");
    without_jti.as_object_mut().unwrap().remove("jti");
    // Signed by another key: the same claims, re-signed with a key the profile doesn't have.
    let other_key = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let k = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        jsonwebtoken::EncodingKey::from_rsa_der(k.to_pkcs1_der().unwrap().as_bytes())
    };
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims("bo@example.com"),
        &other_key,
    )
    .unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims("bo@example.com"),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let cases = [
        (
            edit("iss", json!("https://evil.test")),
            "jwt_invalid_issuer",
        ),
        (edit("aud", json!("someone-else")), "jwt_invalid_audience"),
        (edit("exp", json!(now - 3600)), "jwt_invalid_claims"),
        (edit("nbf", json!(now + 3600)), "jwt_invalid_claims"),
        (issuer.sign(&without_email, None), "jwt_invalid_claims"),
        (issuer.sign(&without_jti, None), "jwt_invalid_claims"),
        (forged, "invalid_token"),
        (hs256, "invalid_token"),
        ("not.a.jwt".to_owned(), "invalid_token"),
    ];
    for (token, kind) in cases {
        let r = attest(
            &app,
            &profile,
            &token,
            json!({"session_duration_minutes": 5}),
        )
        .await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::UNAUTHORIZED, kind),
            "{:?}",
            r.body
        );
    }
    assert_eq!(app.count("select count(*) from sessions").await, 0);
    // A token is accepted once; of concurrent uses, one wins.
    let token = issuer.token("bo@example.com");
    let replies = join_all((0..8).map(|_| {
        attest(
            &app,
            &profile,
            &token,
            json!({"session_duration_minutes": 5}),
        )
    }))
    .await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    println!("concurrent attests of one token: {ok} succeeded of 8");
    assert_eq!(ok, 1);
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.error_type() == "invalid_token"));
    assert_eq!(app.count("select count(*) from sessions").await, 1);
}

/// A loopback JWKS endpoint: serves `body` to every GET and counts the requests.
async fn jwks_server(body: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn a_jwks_url_profile_verifies_with_the_fetched_keys_and_caches_them() {
    let app = spawn_app().await;
    app.post("/v1/users", json!({"email": "cy@example.com"}))
        .await;
    let issuer = test_issuer();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                                "n": issuer.n, "e": issuer.e}]});
    let (url, hits) = jwks_server(jwks.to_string()).await;
    let project = otpd::domain::ids::ProjectId::parse(&app.project_id).unwrap();
    let profile = otpd::otp::trusted_tokens::create_profile(
        &app.pool,
        &project,
        otpd::otp::trusted_tokens::NewProfileInput {
            issuer: TEST_ISSUER.into(),
            audience: TEST_AUDIENCE.into(),
            keys: otpd::otp::trusted_tokens::KeySource::JwksUrl(url),
            email_claim: "email".into(),
            token_id_claim: "jti".into(),
            jit_provisioning: false,
        },
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let r = attest(
            &app,
            profile.as_str(),
            &issuer.sign(&claims("cy@example.com"), Some("k1")),
            json!({}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the JWKS is cached");
    // A kid the set doesn't have: refused, and the set is not refetched within the minute.
    let r = attest(
        &app,
        profile.as_str(),
        &issuer.sign(&claims("cy@example.com"), Some("k2")),
        json!({}),
    )
    .await;
    assert_eq!(r.error_type(), "invalid_token");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retention_purges_aged_intermediate_sessions_and_spent_token_ids() {
    let app = spawn_app().await;
    app.post(
        "/v1/b2b/organizations",
        json!({"organization_name": "Ret", "organization_slug": "ret", "mfa_policy": "REQUIRED_FOR_ALL"}),
    )
    .await;
    for who in ["old", "new"] {
        app.post(
            "/v1/b2b/organizations/ret/members",
            json!({"email_address": format!("{who}@ret.io")}),
        )
        .await;
        let r = app.attest_member("ret", &format!("{who}@ret.io")).await;
        assert!(
            r.body["intermediate_session_token"].is_string(),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        app.count("select count(*) from intermediate_sessions")
            .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from trusted_token_uses").await,
        2
    );
    sqlx::query(
        "update intermediate_sessions set expires_at = now() - interval '25 hours'
         where member_id = (select id from members where email_address = 'old@ret.io')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "update trusted_token_uses set expires_at = now() - interval '1 hour'
         where ctid = (select ctid from trusted_token_uses limit 1)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let purged = otpd::retention::run_once(&app.pool, &otpd::config::RetentionConfig::default())
        .await
        .unwrap();
    assert_eq!(purged.sessions, 2);
    assert_eq!(
        app.count("select count(*) from intermediate_sessions")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from trusted_token_uses").await,
        1
    );
}
