//! The frontend surface (`/sdk/v1`) as Stytch's frontend SDKs call it: public tokens,
//! `{"data": …}` bodies, credentialed CORS, sessions from the Basic password. The real SDK in
//! a real browser is `browser.rs`; this is the wire, request by request.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app_unlimited, spawn_app_with, unique_us_number, unlimited};

const APP: &str = "http://localhost:3000";

#[tokio::test]
async fn a_browser_signs_up_adds_a_second_number_and_signs_out_over_the_frontend_surface() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let phone = unique_us_number();

    let boot = app
        .sdk(
            Method::GET,
            &format!("/projects/bootstrap/{token}"),
            (&token, None),
            Some(APP),
            None,
        )
        .await;
    assert_eq!(boot.status, StatusCode::OK, "{:?}", boot.body);
    assert_eq!(boot.body["data"]["captcha_settings"]["enabled"], false);
    assert!(boot.body["data"]["password_config"].is_null());
    assert_eq!(boot.headers["access-control-allow-origin"], APP);
    assert_eq!(boot.headers["access-control-allow-credentials"], "true");

    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/login_or_create",
            (&token, None),
            Some(APP),
            Some(json!({
                "phone_number": phone, "expiration_minutes": 5, "locale": "en",
                "enable_autofill": true, "autofill_session_duration_minutes": 5
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["status_code"], 200);
    assert_eq!(data["user_created"], true);
    assert_eq!(data["method_id"], data["phone_id"]);
    let method_id = data["method_id"].as_str().unwrap().to_owned();
    // WebOTP binds the code to the page's own origin: the line names the calling host.
    let body = app.last_message(&phone).await["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.last_code(&phone).await;
    assert_eq!(
        body.lines().last(),
        Some(format!("@localhost #{code}").as_str())
    );

    let wrong = app
        .sdk(
            Method::POST,
            "/otps/authenticate",
            (&token, None),
            Some(APP),
            Some(
                json!({ "token": crate::helpers::wrong_code(&code), "method_id": method_id,
                         "session_duration_minutes": 60 }),
            ),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_eq!(wrong.error_type(), "otp_code_not_found");
    assert!(wrong.body.get("data").is_none(), "errors stay top level");
    assert_eq!(wrong.headers["access-control-allow-origin"], APP);

    let r = app
        .sdk(
            Method::POST,
            "/otps/authenticate",
            (&token, None),
            Some(APP),
            Some(json!({ "token": code, "method_id": method_id, "session_duration_minutes": 60 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = &r.body["data"];
    let session_token = data["session_token"].as_str().unwrap().to_owned();
    assert!(!session_token.is_empty());
    assert!(data["session_jwt"].as_str().unwrap().len() > 20);
    assert!(data["session"]["expires_at"].as_str().is_some());
    let user_id = data["user"]["user_id"].as_str().unwrap().to_owned();
    assert_eq!(data["user_id"], user_id.as_str());

    // The SDK's refresh: Basic public_token:session_token.
    let r = app
        .sdk(
            Method::POST,
            "/sessions/authenticate",
            (&token, Some(&session_token)),
            Some(APP),
            Some(json!({ "session_duration_minutes": 60 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"]["user"]["user_id"], user_id.as_str());

    let me = app
        .sdk(
            Method::GET,
            "/users/me",
            (&token, Some(&session_token)),
            Some(APP),
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    assert_eq!(me.body["data"]["user_id"], user_id.as_str());

    // Signed in, the SDK sends to /secondary: the number joins this user once verified.
    let second = unique_us_number();
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/send/secondary",
            (&token, Some(&session_token)),
            Some(APP),
            Some(json!({ "phone_number": second })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"]["user_id"], user_id.as_str());
    let second_id = r.body["data"]["method_id"].as_str().unwrap().to_owned();
    let r = app
        .sdk(
            Method::POST,
            "/otps/authenticate",
            (&token, Some(&session_token)),
            Some(APP),
            Some(
                json!({ "token": app.last_code(&second).await, "method_id": second_id,
                         "session_duration_minutes": 60 }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["data"]["session_token"],
        session_token.as_str(),
        "the factor joins the browser's session"
    );
    let phones = r.body["data"]["user"]["phone_numbers"].as_array().unwrap();
    assert_eq!(phones.len(), 2, "{phones:?}");
    assert!(phones.iter().all(|p| p["verified"] == true));

    // revoke sends no body at all, still as application/json.
    let res = app
        .client
        .post(format!("{}/sdk/v1/sessions/revoke", app.address))
        .basic_auth(&token, Some(&session_token))
        .header("Content-Type", "application/json")
        .header("Origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"]["status_code"], 200);

    let r = app
        .sdk(
            Method::POST,
            "/sessions/authenticate",
            (&token, Some(&session_token)),
            Some(APP),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.error_type(), "unauthorized_credentials");
}

#[tokio::test]
async fn with_nobody_signed_in_start_up_gets_the_unrecoverable_401() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    for password in [None, Some("not-a-session-token"), Some("")] {
        let r = app
            .sdk(
                Method::POST,
                "/sessions/authenticate",
                (&token, password),
                Some(APP),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{password:?}: {:?}",
            r.body
        );
        assert_eq!(r.error_type(), "unauthorized_credentials");
        assert_eq!(r.headers["access-control-allow-origin"], APP);
    }
    for path in ["/users/me"] {
        let r = app
            .sdk(Method::GET, path, (&token, None), Some(APP), None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // /secondary needs a live session: a stale one is the same unrecoverable 401.
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/send/secondary",
            (&token, Some("stale-session-token")),
            Some(APP),
            Some(json!({ "phone_number": unique_us_number() })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.error_type(), "unauthorized_credentials");
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
}

#[tokio::test]
async fn preflights_grant_only_origins_a_live_token_allows_and_never_a_wildcard() {
    let app = spawn_app_unlimited().await;
    let _token = app.public_token(&[APP, "https://app.example.com"]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                Method::OPTIONS,
                format!("{}/sdk/v1/otps/sms/send/primary", app.address),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type,x-sdk-client,x-sdk-parent-host",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    for needed in [
        "authorization",
        "content-type",
        "x-sdk-client",
        "x-sdk-parent-host",
    ] {
        assert!(allowed.contains(needed), "{allowed}");
    }
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h.contains_key("access-control-max-age"));

    for origin in ["https://evil.example", "http://app.example.com", "null"] {
        let no = preflight(origin).await.unwrap();
        assert_eq!(no.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(
            !no.headers().contains_key("access-control-allow-origin"),
            "{origin}"
        );
        let body: serde_json::Value = no.json().await.unwrap();
        assert_eq!(body["error_type"], "origin_not_allowed");
    }
}

#[tokio::test]
async fn an_origin_the_token_does_not_allow_is_refused_before_anything_is_sent() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    // Allowed by another project's token: still not this token's.
    let _other = app.public_token(&["https://other.example"]).await;
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/login_or_create",
            (&token, None),
            Some("https://other.example"),
            Some(json!({ "phone_number": unique_us_number() })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.error_type(), "origin_not_allowed");
    assert!(!r.headers.contains_key("access-control-allow-origin"));
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
    assert_eq!(app.count("select count(*) from users").await, 0);
}

#[tokio::test]
async fn a_revoked_or_unknown_public_token_is_401_and_the_secret_is_no_public_token() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let id = otpd::domain::ids::ProjectId::parse(&app.project_id).unwrap();
    otpd::otp::public_tokens::revoke(&app.pool, &id, &token)
        .await
        .unwrap();
    let unknown = format!("public-token-test-{}", uuid::Uuid::new_v4());
    for t in [
        token.as_str(),
        unknown.as_str(),
        app.project_id.as_str(),
        "garbage",
    ] {
        let r = app
            .sdk(
                Method::POST,
                "/otps/sms/login_or_create",
                (t, None),
                Some(APP),
                Some(json!({ "phone_number": unique_us_number() })),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{t}: {:?}", r.body);
        assert_eq!(r.error_type(), "unauthorized_credentials");
    }
    // The project's secret doesn't open the frontend surface either.
    let res = app
        .client
        .post(format!("{}/sdk/v1/otps/sms/login_or_create", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({ "phone_number": unique_us_number() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
}

#[tokio::test]
async fn a_browser_cannot_attach_a_number_to_another_user_or_send_to_a_stranger() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let victim = app.login_or_create(&unique_us_number()).await;
    let victim_id = victim.body["user_id"].as_str().unwrap().to_owned();
    // `user_id` / `session_token` in the body are backend fields: ignored here, so /primary
    // to a number nobody has is "not found", never an attachment.
    let stranger = unique_us_number();
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/send/primary",
            (&token, None),
            Some(APP),
            Some(json!({ "phone_number": stranger, "user_id": victim_id })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(r.error_type(), "phone_number_not_found");
    let user = app.get(&format!("/v1/users/{victim_id}")).await;
    assert_eq!(user.body["phone_numbers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_seed_snippet_sends_to_an_existing_user_with_five_minute_codes() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let phone = unique_us_number();
    let created = app.login_or_create(&phone).await;
    let phone_id = created.body["phone_id"].as_str().unwrap().to_owned();
    // useStytch().otps.sms.send(phone, { expiration_minutes: 5 })
    let r = app
        .sdk(
            Method::POST,
            "/otps/sms/send/primary",
            (&token, None),
            Some(APP),
            Some(json!({ "expiration_minutes": 5, "phone_number": phone })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"]["method_id"], phone_id.as_str());
    let minutes = app
        .count(&format!(
            "select round(extract(epoch from expires_at - created_at) / 60)::bigint
             from passcodes where method_id = '{phone_id}' order by created_at desc limit 1"
        ))
        .await;
    assert_eq!(minutes, 5);
}

#[tokio::test]
async fn telemetry_is_counted_and_dropped_and_bounded() {
    let app = spawn_app_unlimited().await;
    let _token = app.public_token(&[APP]).await;
    let post = |body: String| {
        app.client
            .post(format!("{}/sdk/v1/events", app.address))
            .header("Content-Type", "application/json")
            .header("Origin", APP)
            .body(body)
            .send()
    };
    let event = json!({"telemetry": {"event_id": "e"}, "event": {"event_name": "sdk_instance_instantiated"}});
    let ok = post(json!([event]).to_string()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["access-control-allow-origin"], APP);
    let too_many = post(serde_json::Value::Array(vec![event.clone(); 51]).to_string())
        .await
        .unwrap();
    assert_eq!(too_many.status(), StatusCode::BAD_REQUEST);
    let not_array = post("{}".into()).await.unwrap();
    assert_eq!(not_array.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_end_user_limit_keys_on_the_browser_behind_a_trusted_proxy() {
    let app = spawn_app_with(
        |c| {
            c.limits.end_user_per_minute = 2;
            c.limits.end_user_burst = 2;
            c.limits.trusted_proxies = "127.0.0.1/32".into();
        },
        unlimited(),
        false,
    )
    .await;
    let token = app.public_token(&[APP]).await;
    let send = |ip: &'static str| {
        app.client
            .post(format!("{}/sdk/v1/otps/sms/login_or_create", app.address))
            .basic_auth(&token, Some(&token))
            .header("Content-Type", "application/json")
            .header("Origin", APP)
            .header("X-Forwarded-For", ip)
            .body(json!({ "phone_number": unique_us_number() }).to_string())
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send("203.0.113.7").await.unwrap().status());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Another person behind the same proxy has a budget of their own.
    assert_eq!(send("198.51.100.9").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_stytch_errors_with_cors() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let r = app
        .sdk(
            Method::POST,
            "/magic_links/email/send",
            (&token, None),
            Some(APP),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_type(), "route_not_found");
    assert_eq!(r.headers["access-control-allow-origin"], APP);
    let r = app
        .sdk(
            Method::GET,
            "/otps/authenticate",
            (&token, None),
            Some(APP),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{:?}", r.body);
}

#[tokio::test]
async fn public_tokens_are_created_listed_and_revoked_from_the_command_line() {
    use crate::cli::otpd;
    let db = crate::helpers::TestDb::create().await;
    let config = |cmd: &mut std::process::Command| {
        cmd.env("DATABASE_URL", &db.url)
            .env("OTPD_HASHING__PEPPER", crate::helpers::PEPPER);
    };
    let mut create = otpd();
    config(&mut create);
    let (project, _) = crate::cli::create_project(create, "Shop");
    let run = |args: &[&str]| {
        let mut c = otpd();
        config(&mut c);
        c.args(["project", "public-token"])
            .args(args)
            .output()
            .unwrap()
    };

    let out = run(&[
        "create",
        &project,
        "--origin",
        "https://App.Example.com/",
        "--origin",
        "http://localhost:3000",
        "--json",
    ]);
    crate::cli::assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let token = serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap()["public_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("public-token-test-"), "{token}");

    // A given value is kept (a team moving from Stytch); a clash and bad input are clear errors.
    let given = format!("public-token-test-{}", uuid::Uuid::new_v4());
    let out = run(&[
        "create",
        &project,
        "--origin",
        "https://app.example.com",
        "--token",
        &given,
    ]);
    crate::cli::assert_success(&out);
    for (args, says) in [
        (
            vec![
                "create",
                &project,
                "--origin",
                "https://app.example.com",
                "--token",
                &given,
            ],
            "already exists",
        ),
        (
            vec![
                "create",
                &project,
                "--origin",
                "https://app.example.com/login",
            ],
            "not an origin",
        ),
        (
            vec![
                "create",
                &project,
                "--origin",
                "https://a.example",
                "--token",
                "public-token-live-00000000-0000-4000-8000-000000000000",
            ],
            "live token",
        ),
        (vec!["create", &project], "--origin"),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }

    let out = run(&["list", &project, "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tokens = list["public_tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens[0]["origins"],
        json!(["http://localhost:3000", "https://app.example.com"])
    );

    // Revoked tokens are refused on the next request.
    let server = otpd::startup::Application::build(&crate::helpers::test_config(&db))
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    let client = reqwest::Client::new();
    let phone = unique_us_number();
    let send = |t: String| {
        let (client, address, phone) = (&client, &address, phone.clone());
        async move {
            client
                .post(format!("{address}/sdk/v1/otps/sms/login_or_create"))
                .basic_auth(&t, Some(&t))
                .header("Origin", "https://app.example.com")
                .json(&json!({ "phone_number": phone }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(send(token.clone()).await, StatusCode::OK);
    let out = run(&["revoke", &project, &token]);
    crate::cli::assert_success(&out);
    assert_eq!(send(token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(send(given.clone()).await, StatusCode::OK);
    let out = run(&["revoke", &project, &token]);
    assert!(!out.status.success(), "a second revoke names no live token");
}

#[tokio::test]
async fn an_autofilled_authenticate_gets_the_session_length_its_send_asked_for() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let minutes_of = |r: &crate::helpers::Reply| {
        let s = &r.body["data"]["session"];
        let start =
            chrono::DateTime::parse_from_rfc3339(s["started_at"].as_str().unwrap()).unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(s["expires_at"].as_str().unwrap()).unwrap();
        (end - start).num_minutes()
    };
    for (send, want) in [
        (
            json!({ "enable_autofill": true, "autofill_session_duration_minutes": 15 }),
            15,
        ),
        // Without enable_autofill the field has nothing to apply to.
        (json!({ "autofill_session_duration_minutes": 15 }), 60),
        (json!({ "enable_autofill": true }), 60),
    ] {
        let phone = unique_us_number();
        let mut body = send.clone();
        body["phone_number"] = json!(phone);
        let r = app
            .sdk(
                Method::POST,
                "/otps/sms/login_or_create",
                (&token, None),
                Some(APP),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let method_id = r.body["data"]["method_id"].as_str().unwrap().to_owned();
        let r = app
            .sdk(
                Method::POST,
                "/otps/authenticate",
                (&token, None),
                Some(APP),
                Some(json!({ "token": app.last_code(&phone).await, "method_id": method_id })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(minutes_of(&r), want, "{send}");
    }
    let bad = app
        .sdk(
            Method::POST,
            "/otps/sms/login_or_create",
            (&token, None),
            Some(APP),
            Some(
                json!({ "phone_number": unique_us_number(), "enable_autofill": true,
                         "autofill_session_duration_minutes": 2 }),
            ),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_type(), "invalid_session_duration");
}

/// An organization (MFA required when `mfa`) with one member holding `phone`.
async fn b2b_member(app: &crate::helpers::TestApp, mfa: bool, phone: &str) -> (String, String) {
    let slug = format!("org-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let policy = if mfa { "REQUIRED_FOR_ALL" } else { "OPTIONAL" };
    let o = app
        .post(
            "/v1/b2b/organizations",
            json!({ "organization_name": "Acme", "organization_slug": slug, "mfa_policy": policy }),
        )
        .await;
    assert_eq!(o.status, StatusCode::OK, "{:?}", o.body);
    let org = o.body["organization"]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = app
        .post(
            &format!("/v1/b2b/organizations/{org}/members"),
            json!({ "email_address": "ada@acme.example", "mfa_phone_number": phone }),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{:?}", m.body);
    (
        org,
        m.body["member"]["member_id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn b2b_sms_over_the_frontend_surface_is_a_second_factor_only() {
    let app = spawn_app_unlimited().await;
    let token = app.public_token(&[APP]).await;
    let phone = unique_us_number();
    let (org, member) = b2b_member(&app, true, &phone).await;

    // The public token alone texts no member, not even one without an MFA factor yet (the
    // backend API allows that send), and a code alone signs nobody in.
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/send",
            (&token, None),
            Some(APP),
            Some(json!({ "organization_id": org, "member_id": member })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.error_type(), "no_session_arguments");
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
    let sent = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({ "organization_id": org, "member_id": member }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let code = app.last_code(&phone).await;
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/authenticate",
            (&token, None),
            Some(APP),
            Some(
                json!({ "organization_id": org, "member_id": member, "code": code,
                         "session_duration_minutes": 60 }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.error_type(), "no_session_arguments");
    assert_eq!(app.count("select count(*) from sessions").await, 0);

    // A backend attests the person (primary factor elsewhere); MFA is required, so it gets
    // an intermediate session, which the SDK copies from its cookie into the body.
    let proof = app.mfa_proof(&org, "ada@acme.example").await;
    let ist = proof["intermediate_session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.last_code(&phone).await;
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/authenticate",
            (&token, None),
            Some(APP),
            Some(
                json!({ "organization_id": org, "member_id": member, "code": code,
                         "session_duration_minutes": 60, "intermediate_session_token": ist }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["member_session"]["member_id"], member.as_str());
    assert_eq!(data["organization"]["organization_id"], org.as_str());
    let session = data["session_token"].as_str().unwrap().to_owned();
    assert!(!data["session_jwt"].as_str().unwrap().is_empty());

    // Now the member has a verified factor: the public token alone can't send to them...
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/send",
            (&token, None),
            Some(APP),
            Some(json!({ "organization_id": org, "member_id": member })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.error_type(), "no_session_arguments");

    // ...but their own session steps up again (send, then authenticate with the cookie).
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/send",
            (&token, Some(&session)),
            Some(APP),
            Some(json!({ "organization_id": org, "member_id": member })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .sdk(
            Method::POST,
            "/b2b/otps/sms/authenticate",
            (&token, Some(&session)),
            Some(APP),
            Some(json!({ "organization_id": org, "member_id": member,
                         "code": app.last_code(&phone).await, "session_duration_minutes": 60 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"]["session_token"], session.as_str());

    let r = app
        .sdk(
            Method::POST,
            "/b2b/sessions/authenticate",
            (&token, Some(&session)),
            Some(APP),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["data"]["member_session"]["member_id"],
        member.as_str()
    );
    assert_eq!(r.body["data"]["member"]["member_id"], member.as_str());

    // A consumer session token is no member session, and the other way round.
    let r = app
        .sdk(
            Method::GET,
            "/users/me",
            (&token, Some(&session)),
            Some(APP),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);

    let res = app
        .client
        .post(format!("{}/sdk/v1/b2b/sessions/revoke", app.address))
        .basic_auth(&token, Some(&session))
        .header("Content-Type", "application/json")
        .header("Origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let r = app
        .sdk(
            Method::POST,
            "/b2b/sessions/authenticate",
            (&token, Some(&session)),
            Some(APP),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.error_type(), "unauthorized_credentials");
}

#[tokio::test]
async fn the_backend_apis_abuse_rules_hold_on_the_frontend_surface_at_default_settings() {
    // Default project settings: per-number burst, country allowlist (US, CA), premium lines.
    let app = spawn_app_with(
        |_| {},
        otpd::domain::project::ProjectSettings::default(),
        false,
    )
    .await;
    let token = app.public_token(&[APP]).await;
    let send = |phone: String| {
        app.sdk(
            Method::POST,
            "/otps/sms/login_or_create",
            (&token, None),
            Some(APP),
            Some(json!({ "phone_number": phone })),
        )
    };
    let phone = unique_us_number();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(send(phone.clone()).await);
    }
    let sent = statuses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        sent,
        5,
        "the per-number burst: {:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let refused = statuses.last().unwrap();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_type(), "too_many_requests");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(refused.headers["access-control-allow-origin"], APP);

    // A country the project doesn't allow, and a premium-rate line.
    let r = send("+447911123456".into()).await;
    assert_eq!(
        r.error_type(),
        "invalid_phone_number_country_code",
        "{:?}",
        r.body
    );
    let r = send("+19005550123".into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(
        app.count("select count(*) from sandbox_outbox").await,
        5,
        "nothing but the five admitted sends left"
    );
}
