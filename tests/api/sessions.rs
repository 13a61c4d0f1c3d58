//! Sessions: consumer sessions from `otps.authenticate`, member sessions from B2B
//! authenticate, the sessions APIs, JWTs verified against the published JWKS, key rotation.

use std::collections::HashSet;

use crate::helpers::{spawn_app, spawn_app_with, unique_us_number, TestApp, PEPPER};
use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use otpd::domain::ids::ProjectId;
use otpd::domain::project::ProjectSettings;
use otpd::otp::sessions::{rotate_key, SessionKeys};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};

const SANDBOX_PHONE: &str = "+10000000000";

/// Login, the code, and authenticate with `extra` fields; returns the authenticate body.
async fn signed_in(app: &TestApp, phone: &str, extra: Value) -> Value {
    let r = app.login_or_create(phone).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = if phone == SANDBOX_PHONE {
        "000000".to_owned()
    } else {
        app.last_code(phone).await
    };
    let mut body = json!({"method_id": phone_id, "code": code});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let a = app.post("/v1/otps/authenticate", body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body
}

/// The JWKS as any HTTP client fetches it: no credentials.
async fn jwks(app: &TestApp, path: &str) -> Value {
    let r = reqwest::get(format!("{}{path}{}", app.address, app.project_id))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Verifies a JWT as an SDK does: the key by `kid` from the JWKS, RS256, audience, issuer
/// and expiry.
fn verify_locally(jwt: &str, keys: &Value, project_id: &str) -> Value {
    let kid = jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS {keys}"));
    assert_eq!(key["alg"], "RS256");
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[project_id]);
    v.set_issuer(&[format!("stytch.com/{project_id}")]);
    v.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(jwt, &dk, &v).unwrap().claims
}

#[tokio::test]
async fn a_session_duration_starts_a_session_whose_token_and_jwt_authenticate() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let b = signed_in(
        &app,
        &phone,
        json!({"session_duration_minutes": 60, "session_custom_claims": {"plan": "pro"},
               "attributes": {"ip_address": "203.0.113.9", "user_agent": "ua/1"}}),
    )
    .await;
    let token = b["session_token"].as_str().unwrap();
    let jwt = b["session_jwt"].as_str().unwrap();
    assert_eq!(token.len(), 44);
    let s = &b["session"];
    let session_id = s["session_id"].as_str().unwrap();
    assert!(session_id.starts_with("session-test-"), "{s}");
    assert_eq!(s["user_id"], b["user_id"]);
    assert_eq!(s["custom_claims"], json!({"plan": "pro"}));
    assert_eq!(s["roles"], json!(["stytch_user"]));
    assert_eq!(s["attributes"]["ip_address"], "203.0.113.9");
    let factor = &s["authentication_factors"][0];
    assert_eq!(
        (factor["type"].as_str(), factor["delivery_method"].as_str()),
        (Some("otp"), Some("sms"))
    );
    assert_eq!(
        factor["phone_number_factor"]["phone_number"],
        phone.as_str()
    );
    let started = chrono::DateTime::parse_from_rfc3339(s["started_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (expires - started - chrono::Duration::minutes(60))
            .num_seconds()
            .abs()
            <= 2
    );

    // The JWT verifies with only the public JWKS, and carries Stytch's claims.
    let keys = jwks(&app, "/v1/sessions/jwks/").await;
    let claims = verify_locally(jwt, &keys, &app.project_id);
    assert_eq!(claims["sub"], b["user_id"]);
    assert_eq!(claims["plan"], "pro");
    assert_eq!(claims["https://stytch.com/session"]["id"], session_id);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        keys["keys"],
        jwks(&app, "/v1/b2b/sessions/jwks/").await["keys"]
    );

    // The token and the JWT both authenticate the same session.
    for body in [json!({"session_token": token}), json!({"session_jwt": jwt})] {
        let r = app.post("/v1/sessions/authenticate", body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {:?}", r.body);
        assert_eq!(r.body["session"]["session_id"], session_id);
        assert_eq!(r.body["user"]["user_id"], b["user_id"]);
        verify_locally(
            r.body["session_jwt"].as_str().unwrap(),
            &keys,
            &app.project_id,
        );
    }
    let listed = app
        .get(&format!(
            "/v1/sessions?user_id={}",
            b["user_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed.body["sessions"][0]["session_id"], session_id);

    // Only a keyed hash of the token is stored.
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from sessions where id = $1")
        .bind(session_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!stored
        .windows(8)
        .any(|w| token.as_bytes().windows(8).any(|t| t == w)));
    let leaks = app
        .count(&format!(
            "select count(*) from sessions where (id || attributes::text || custom_claims::text || factors::text) like '%{token}%'"
        ))
        .await;
    assert_eq!(leaks, 0);
}

#[tokio::test]
async fn without_session_fields_no_session_is_made() {
    let app = spawn_app().await;
    let b = signed_in(&app, &unique_us_number(), json!({})).await;
    assert_eq!(
        (b["session_token"].as_str(), b["session_jwt"].as_str()),
        (Some(""), Some(""))
    );
    assert!(b["session"].is_null());
    assert_eq!(app.count("select count(*) from sessions").await, 0);
}

#[tokio::test]
async fn revoked_and_expired_sessions_are_session_not_found() {
    let app = spawn_app().await;
    let a = signed_in(
        &app,
        &unique_us_number(),
        json!({"session_duration_minutes": 5}),
    )
    .await;
    let b = signed_in(
        &app,
        &unique_us_number(),
        json!({"session_duration_minutes": 5}),
    )
    .await;

    let r = app
        .post(
            "/v1/sessions/revoke",
            json!({"session_jwt": a["session_jwt"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for body in [
        json!({"session_token": a["session_token"]}),
        json!({"session_jwt": a["session_jwt"]}),
    ] {
        let r = app.post("/v1/sessions/authenticate", body).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::NOT_FOUND, "session_not_found")
        );
    }
    let again = app
        .post(
            "/v1/sessions/revoke",
            json!({"session_id": a["session"]["session_id"]}),
        )
        .await;
    assert_eq!(again.error_type(), "session_not_found");

    sqlx::query("update sessions set expires_at = now() - interval '1 second' where id = $1")
        .bind(b["session"]["session_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": b["session_token"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );

    let unknown = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": "x".repeat(44)}),
        )
        .await;
    assert_eq!(unknown.error_type(), "session_not_found");
    let forged = format!("{}x", a["session_jwt"].as_str().unwrap());
    let r = app
        .post("/v1/sessions/authenticate", json!({"session_jwt": forged}))
        .await;
    assert_eq!(r.error_type(), "session_not_found");
    let both = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": b["session_token"], "session_jwt": b["session_jwt"]}),
        )
        .await;
    assert_eq!(
        (both.status, both.error_type()),
        (StatusCode::BAD_REQUEST, "too_many_session_arguments")
    );
}

#[tokio::test]
async fn authenticate_with_a_session_adds_the_factor_and_extends_it() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let first = signed_in(&app, &phone, json!({"session_duration_minutes": 5})).await;
    let token = first["session_token"].as_str().unwrap();
    let second = signed_in(
        &app,
        &phone,
        json!({"session_token": token, "session_duration_minutes": 120,
               "session_custom_claims": {"step": 2}}),
    )
    .await;
    assert_eq!(
        second["session"]["session_id"],
        first["session"]["session_id"]
    );
    assert_eq!(second["session_token"], token);
    assert_eq!(second["session"]["custom_claims"], json!({"step": 2}));
    assert_eq!(
        second["session"]["authentication_factors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(second["session"]["expires_at"].as_str().unwrap())
            .unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::minutes(110));
    assert_eq!(app.count("select count(*) from sessions").await, 1);

    // Another user's passcode can't add a factor to this session.
    let other = unique_us_number();
    let r = app.login_or_create(&other).await;
    let code = app.last_code(&other).await;
    let r = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": r.body["phone_id"], "code": code, "session_token": token}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
    let still = app
        .post("/v1/sessions/authenticate", json!({"session_token": token}))
        .await;
    assert_eq!(
        still.body["session"]["authentication_factors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn reserved_custom_claims_and_bad_durations_are_refused_before_the_code_is_spent() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    for (extra, error) in [
        (
            json!({"session_duration_minutes": 60, "session_custom_claims": {"sub": "admin"}}),
            "invalid_session_custom_claims",
        ),
        (
            json!({"session_duration_minutes": 60, "session_custom_claims": {"https://stytch.com/session": {}}}),
            "invalid_session_custom_claims",
        ),
        (
            json!({"session_duration_minutes": 4}),
            "invalid_session_duration",
        ),
        (
            json!({"session_duration_minutes": 527041}),
            "invalid_session_duration",
        ),
        (
            json!({"session_token": "a", "session_jwt": "b"}),
            "too_many_session_arguments",
        ),
        (
            json!({"session_token": "no-such-session-token"}),
            "session_not_found",
        ),
    ] {
        let mut body = json!({"method_id": phone_id, "code": code});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        let r = app.post("/v1/otps/authenticate", body).await;
        assert_eq!(r.error_type(), error, "{extra}");
    }
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "the code was not spent: {:?}",
        ok.body
    );
}

#[tokio::test]
async fn a_send_with_a_session_adds_the_number_to_the_signed_in_user_and_never_to_another() {
    let app = spawn_app().await;
    let alice = signed_in(
        &app,
        &unique_us_number(),
        json!({"session_duration_minutes": 30}),
    )
    .await;
    let bob_phone = unique_us_number();
    signed_in(&app, &bob_phone, json!({})).await;

    let new_phone = unique_us_number();
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": new_phone, "session_token": alice["session_token"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user_id"], alice["user_id"]);
    let code = app.last_code(&new_phone).await;
    let done = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": r.body["phone_id"], "code": code,
                   "session_jwt": alice["session_jwt"]}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(
        done.body["session"]["session_id"],
        alice["session"]["session_id"]
    );
    assert_eq!(
        done.body["session"]["authentication_factors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let numbers: HashSet<String> = done.body["user"]["phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phone_number"].as_str().unwrap().to_owned())
        .collect();
    assert!(numbers.contains(&new_phone), "{numbers:?}");

    // Bob's number: refused, and nothing is sent to it.
    let before = app.last_message(&bob_phone).await;
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": bob_phone, "session_jwt": alice["session_jwt"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::BAD_REQUEST, "duplicate_phone_number")
    );
    assert_eq!(app.last_message(&bob_phone).await, before);

    // A revoked session attaches nothing.
    app.post(
        "/v1/sessions/revoke",
        json!({"session_token": alice["session_token"]}),
    )
    .await;
    let r = app
        .post(
            "/v1/otps/sms/send",
            json!({"phone_number": unique_us_number(), "session_token": alice["session_token"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
}

#[tokio::test]
async fn concurrent_first_sessions_of_a_project_share_exactly_one_signing_key() {
    let app = spawn_app().await;
    let r = app.login_or_create(SANDBOX_PHONE).await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let replica = app.replica(|_| {}).await;
    let calls = (0..8).map(|i| {
        let target = if i % 2 == 0 { &app } else { &replica };
        let phone_id = phone_id.clone();
        async move {
            target
                .post(
                    "/v1/otps/authenticate",
                    json!({"method_id": phone_id, "code": "000000", "session_duration_minutes": 5}),
                )
                .await
        }
    });
    let replies = join_all(calls).await;
    let kids: HashSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            jsonwebtoken::decode_header(r.body["session_jwt"].as_str().unwrap())
                .unwrap()
                .kid
                .unwrap()
        })
        .collect();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(app.count("select count(*) from signing_keys").await, 1);
    assert_eq!(
        jwks(&app, "/v1/sessions/jwks/").await["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The private key is stored sealed, never as DER or PEM.
    let sealed: Vec<u8> = sqlx::query_scalar("select private_sealed from signing_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!sealed.starts_with(&[0x30, 0x82]) && !sealed.starts_with(b"-----"));
}

#[tokio::test]
async fn a_rotated_key_signs_new_jwts_and_the_old_one_keeps_verifying() {
    let app = spawn_app().await;
    let old = signed_in(&app, SANDBOX_PHONE, json!({"session_duration_minutes": 30})).await;
    let old_jwt = old["session_jwt"].as_str().unwrap();
    let old_kid = jsonwebtoken::decode_header(old_jwt).unwrap().kid.unwrap();

    let keys = SessionKeys::new(&SecretString::from(PEPPER)).unwrap();
    let project = ProjectId::parse(&app.project_id).unwrap();
    let new_kid = rotate_key(&app.pool, &keys, &project).await.unwrap();
    assert_ne!(new_kid.as_str(), old_kid);

    let published = jwks(&app, "/v1/sessions/jwks/").await;
    let kids: HashSet<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, HashSet::from([old_kid.as_str(), new_kid.as_str()]));
    verify_locally(old_jwt, &published, &app.project_id);
    let r = app
        .post("/v1/sessions/authenticate", json!({"session_jwt": old_jwt}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // A replica without a cached key signs with the new one.
    let fresh = app.replica(|_| {}).await;
    let r = fresh
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": old["session_token"]}),
        )
        .await;
    let kid = jsonwebtoken::decode_header(r.body["session_jwt"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(kid, new_kid.as_str());
}

#[tokio::test]
async fn the_sandbox_session_token_authenticates_in_test_projects_only() {
    let token = "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY";
    let test = spawn_app().await;
    let r = test
        .post("/v1/sessions/authenticate", json!({"session_token": token}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["session"]["session_id"]
        .as_str()
        .unwrap()
        .starts_with("session-test-"));
    let not_found = test
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": "59cnLELtq5cFVS6uYK9f-pAWzBkhqZl8AvLhbhOvKNWw"}),
        )
        .await;
    assert_eq!(not_found.error_type(), "session_not_found");

    let live = spawn_app_with(|_| {}, ProjectSettings::default(), true).await;
    let r = live
        .post("/v1/sessions/authenticate", json!({"session_token": token}))
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
}

#[tokio::test]
async fn an_intermediate_session_and_an_sms_code_start_a_member_session_the_b2b_api_accepts() {
    let app = spawn_app().await;
    let o = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme", "mfa_policy": "REQUIRED_FOR_ALL"}),
        )
        .await;
    let org_id = o.body["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let phone = unique_us_number();
    let m = app
        .post(
            &format!("/v1/b2b/organizations/{org_id}/members"),
            json!({"email_address": "a@acme.test", "mfa_phone_number": phone}),
        )
        .await;
    let member_id = m.body["member_id"].as_str().unwrap().to_owned();
    // The primary factor: attest answers an intermediate session, no member session.
    let att = app.attest_member(&org_id, "a@acme.test").await;
    assert_eq!(att.status, StatusCode::OK, "{:?}", att.body);
    assert_eq!(att.body["member_authenticated"], false);
    assert!(att.body["member_session"].is_null());
    assert_eq!(att.body["session_token"], "");
    let ist = att.body["intermediate_session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(ist.len(), 44);
    let s = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": org_id, "member_id": member_id, "intermediate_session_token": ist}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let code = app.last_code(&phone).await;
    let a = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            json!({"organization_id": org_id, "member_id": member_id, "code": code, "intermediate_session_token": ist}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let types: Vec<&str> = a.body["member_session"]["authentication_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["trusted_auth_token", "otp"],
        "both factors are on the session"
    );
    let ms = &a.body["member_session"];
    assert!(ms["member_session_id"]
        .as_str()
        .unwrap()
        .starts_with("member-session-test-"));
    assert_eq!(ms["organization_slug"], "acme");
    let started = chrono::DateTime::parse_from_rfc3339(ms["started_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(ms["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (expires - started - chrono::Duration::minutes(60))
            .num_seconds()
            .abs()
            <= 2
    );

    let keys = jwks(&app, "/v1/b2b/sessions/jwks/").await;
    let claims = verify_locally(
        a.body["session_jwt"].as_str().unwrap(),
        &keys,
        &app.project_id,
    );
    assert_eq!(claims["sub"], member_id.as_str());
    assert_eq!(claims["https://stytch.com/organization"]["slug"], "acme");

    let r = app
        .post(
            "/v1/b2b/sessions/authenticate",
            json!({"session_token": a.body["session_token"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["member_session"]["member_session_id"],
        ms["member_session_id"]
    );
    assert_eq!(r.body["member"]["member_id"], member_id.as_str());
    // A member session is not a consumer session.
    let r = app
        .post(
            "/v1/sessions/authenticate",
            json!({"session_token": a.body["session_token"]}),
        )
        .await;
    assert_eq!(r.error_type(), "session_not_found");
    let listed = app
        .get(&format!(
            "/v1/b2b/sessions?organization_id={org_id}&member_id={member_id}"
        ))
        .await;
    assert_eq!(listed.body["member_sessions"].as_array().unwrap().len(), 1);

    let r = app
        .post("/v1/b2b/sessions/revoke", json!({"member_id": member_id}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(
            "/v1/b2b/sessions/authenticate",
            json!({"session_jwt": a.body["session_jwt"]}),
        )
        .await;
    assert_eq!(r.error_type(), "session_not_found");
}

#[tokio::test]
async fn retention_purges_sessions_a_day_after_they_end() {
    let app = spawn_app().await;
    let a = signed_in(
        &app,
        &unique_us_number(),
        json!({"session_duration_minutes": 5}),
    )
    .await;
    let b = signed_in(
        &app,
        &unique_us_number(),
        json!({"session_duration_minutes": 5}),
    )
    .await;
    sqlx::query("update sessions set expires_at = now() - interval '25 hours' where id = $1")
        .bind(a["session"]["session_id"].as_str().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let purged = otpd::retention::run_once(&app.pool, &otpd::config::RetentionConfig::default())
        .await
        .unwrap();
    assert_eq!(purged.sessions, 1);
    let left: Vec<String> = sqlx::query_scalar("select id from sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        vec![b["session"]["session_id"].as_str().unwrap().to_owned()]
    );
}

#[tokio::test]
async fn session_events_are_counted_by_outcome() {
    let app = spawn_app().await;
    let scrape = || async {
        reqwest::get(format!("{}/metrics", app.address))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let created = r#"otpd_sessions_total{event="created",kind="consumer",outcome="success"}"#;
    let missing =
        r#"otpd_sessions_total{event="authenticated",kind="consumer",outcome="not_found"}"#;
    let before = scrape().await;
    signed_in(&app, SANDBOX_PHONE, json!({"session_duration_minutes": 5})).await;
    app.post(
        "/v1/sessions/authenticate",
        json!({"session_token": "y".repeat(44)}),
    )
    .await;
    let after = scrape().await;
    assert!(value(&after, created) >= value(&before, created) + 1.0);
    assert!(value(&after, missing) >= value(&before, missing) + 1.0);
}
