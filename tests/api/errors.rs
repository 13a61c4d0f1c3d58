use crate::helpers::{spawn_app, unique_us_number, Reply};
use reqwest::StatusCode;
use serde_json::json;

fn assert_stytch_shape(r: &Reply, status: StatusCode, error_type: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["status_code"], status.as_u16());
    assert_eq!(r.body["error_type"], error_type, "{:?}", r.body);
    assert!(!r.body["error_message"].as_str().unwrap().is_empty());
    assert_eq!(
        r.body["error_url"],
        format!("https://stytch.com/docs/api/errors/{}", status.as_u16()).as_str()
    );
    let id = r.body["request_id"].as_str().unwrap();
    assert!(id.starts_with("request-id-"), "{id}");
    assert_eq!(r.headers["x-request-id"].to_str().unwrap(), id);
}

#[tokio::test]
async fn bad_credentials_are_401_unauthorized_credentials() {
    let app = spawn_app().await;
    let url = format!("{}/v1/otps/sms/login_or_create", app.address);
    let body = json!({"phone_number": unique_us_number()});
    let attempts = [
        app.client.post(&url).json(&body),
        app.client
            .post(&url)
            .basic_auth(&app.project_id, Some("secret-test-wrong"))
            .json(&body),
        app.client
            .post(&url)
            .basic_auth("project-test-nope", Some(&app.secret))
            .json(&body),
        app.client
            .post(&url)
            .header("Authorization", "Bearer x")
            .json(&body),
        app.client
            .post(&url)
            .header("Authorization", "Basic !!!")
            .json(&body),
    ];
    for req in attempts {
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let r = Reply {
            status,
            headers,
            body: res.json().await.unwrap(),
        };
        assert_stytch_shape(&r, StatusCode::UNAUTHORIZED, "unauthorized_credentials");
    }
    assert_eq!(app.count("select count(*) from users").await, 0);
}

#[tokio::test]
async fn a_rotated_secret_works_alongside_the_old_one_until_revoked() {
    let app = spawn_app().await;
    let hasher = otpd::domain::secret::SecretHasher::new(&secrecy::SecretString::from(
        crate::helpers::PEPPER,
    ));
    let pid = otpd::domain::ids::ProjectId::parse(&app.project_id).unwrap();
    let second = otpd::otp::projects::create_secret(&app.pool, &hasher, &pid)
        .await
        .unwrap();
    use secrecy::ExposeSecret;
    let get = |secret: String| {
        let c = app.client.clone();
        let url = format!("{}/v1/sandbox/messages", app.address);
        let pid = app.project_id.clone();
        async move {
            c.get(url)
                .basic_auth(pid, Some(secret))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(app.secret.clone()).await, StatusCode::OK);
    assert_eq!(
        get(second.secret.expose_secret().to_owned()).await,
        StatusCode::OK
    );
    let first_id: String = sqlx::query_scalar("select id from project_secrets where id <> $1")
        .bind(second.id.as_str())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let first_id = otpd::domain::ids::SecretId::parse(&first_id).unwrap();
    assert!(
        otpd::store::projects::revoke_secret(&app.pool, &pid, &first_id)
            .await
            .unwrap()
    );
    assert_eq!(get(app.secret.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(second.secret.expose_secret().to_owned()).await,
        StatusCode::OK
    );
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select secret_hash from project_secrets")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for h in stored {
        assert_eq!(h.len(), 32);
        assert!(
            !String::from_utf8_lossy(&h).contains("secret-test-"),
            "only a keyed hash is stored"
        );
    }
}

#[tokio::test]
async fn malformed_requests_get_a_400_that_names_the_problem() {
    let app = spawn_app().await;
    let path = "/v1/otps/sms/login_or_create";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "application/json",
            b"{not json".to_vec(),
            "invalid request body",
        ),
        (
            "text/plain",
            br#"{"phone_number":"+12015550123"}"#.to_vec(),
            "Content-Type",
        ),
        ("application/json", b"".to_vec(), "JSON object"),
        ("application/json", b"[]".to_vec(), "invalid request body"),
        (
            "application/json",
            br#"{"phone_number": 5}"#.to_vec(),
            "phone_number",
        ),
        (
            "application/json",
            br#"{"phone_number":"+12015550123","expiration_minutes":"5"}"#.to_vec(),
            "expiration_minutes",
        ),
        (
            "application/json",
            br#"{"phone_number":"+12015550123","expiration_minutes":2.5}"#.to_vec(),
            "expiration_minutes",
        ),
        ("application/json", br#"{}"#.to_vec(), "phone_number"),
        ("application/json", vec![b' '; 70 * 1024], "64 KiB"),
    ];
    for (ct, body, mention) in cases {
        let r = app.post_raw(path, ct, body.clone()).await;
        assert_stytch_shape(&r, StatusCode::BAD_REQUEST, "bad_request");
        let msg = r.body["error_message"].as_str().unwrap();
        assert!(
            msg.contains(mention),
            "{msg:?} should mention {mention:?} (body {:?})",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
    }
    let r = app
        .post("/v1/otps/authenticate", json!({"code": "123456"}))
        .await;
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("method_id"));
    let r = app.get("/v1/users/user-test-xyz").await;
    assert_stytch_shape(&r, StatusCode::BAD_REQUEST, "invalid_user_id");
    let r = app.delete("/v1/users/phone_numbers/not-a-phone-id").await;
    assert_stytch_shape(&r, StatusCode::BAD_REQUEST, "invalid_phone_id");
    let r = app.get("/v1/sandbox/messages?limit=abc").await;
    assert_stytch_shape(&r, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn unknown_fields_are_ignored_as_the_sdks_send_extras() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/otps/sms/login_or_create",
            json!({"phone_number": unique_us_number(), "attributes": {"ip_address": "1.2.3.4", "user_agent": "x"},
                   "session_token": null, "locale": "pt-BR", "enable_autofill": true, "future_field": [1, 2]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn unknown_routes_are_stytch_shaped_404s_and_a_caller_request_id_is_echoed() {
    let app = spawn_app().await;
    let r = app.get("/v1/nope").await;
    assert_stytch_shape(&r, StatusCode::NOT_FOUND, "route_not_found");
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("X-Request-Id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc.123");
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("X-Request-Id", "bad id\twith tabs")
        .send()
        .await
        .unwrap();
    assert!(res.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("request-id-test-"));
}

#[tokio::test]
async fn hostile_inputs_never_produce_a_server_error() {
    let app = spawn_app().await;
    let long = "9".repeat(10_000);
    let nasty = [
        json!({"phone_number": long}),
        json!({"phone_number": "+1\u{0000}2015550123"}),
        json!({"phone_number": "+١٢٠١٥٥٥٠١٢٣"}),
        json!({"phone_number": "+12015550123", "locale": long}),
        json!({"phone_number": "+12015550123", "expiration_minutes": 1e300}),
        json!({"phone_number": "+12015550123", "expiration_minutes": i64::MAX}),
        json!({"phone_number": "+12015550123", "user_id": "'; drop table users; --"}),
        json!({"phone_number": "+12015550123", "user_id": long}),
        json!({"phone_number": ["+12015550123"]}),
        json!({"phone_number": {"a": 1}}),
    ];
    for body in nasty {
        for path in [
            "/v1/otps/sms/send",
            "/v1/otps/whatsapp/login_or_create",
            "/v1/users",
        ] {
            let r = app.post(path, body.clone()).await;
            assert!(
                r.status.is_client_error() || r.status.is_success(),
                "{path} {body}: {} {:?}",
                r.status,
                r.body
            );
            assert!(r.body["request_id"].is_string());
        }
    }
    for body in [
        json!({"method_id": long, "code": "123456"}),
        json!({"method_id": "x", "code": long}),
        json!({"method_id": 1, "code": 2}),
    ] {
        let r = app.post("/v1/otps/authenticate", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let r = app.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK, "the server is still up");
}
