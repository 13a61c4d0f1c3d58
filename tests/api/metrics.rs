//! `/metrics`: every contract family after a full flow, low-cardinality labels, promtool-valid
//! text, and the separate `admin_listen` address.

use crate::helpers::{spawn_app, spawn_app_with, unique_us_number, wrong_code, TestApp};
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;

async fn scrape(app: &TestApp, base: &str) -> String {
    let res = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.unwrap()
}

/// The value of one exact series line (`name{labels}`), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

const FAMILIES: [&str; 17] = [
    "otpd_sends_total",
    "otpd_authentications_total",
    "otpd_refusals_total",
    "otpd_provider_requests_total",
    "otpd_provider_errors_total",
    "otpd_provider_request_duration_seconds",
    "otpd_provider_circuit_open",
    "otpd_delivery_receipts_total",
    "otpd_http_requests_total",
    "otpd_http_request_duration_seconds",
    "otpd_hashing_queue_depth",
    "otpd_hashing_duration_seconds",
    "otpd_hashing_shed_total",
    "otpd_db_pool_connections",
    "otpd_db_pool_max_connections",
    "otpd_retention_deleted_total",
    "otpd_build_info",
];

/// Families recorded by code on this branch (the provider ones are recorded by the router,
/// receipts by webhooks; they appear once those record something).
const ALWAYS_PRESENT: [&str; 13] = [
    "otpd_sends_total",
    "otpd_authentications_total",
    "otpd_refusals_total",
    "otpd_provider_circuit_open",
    "otpd_http_requests_total",
    "otpd_http_request_duration_seconds",
    "otpd_hashing_queue_depth",
    "otpd_hashing_duration_seconds",
    "otpd_hashing_shed_total",
    "otpd_db_pool_connections",
    "otpd_db_pool_max_connections",
    "otpd_retention_deleted_total",
    "otpd_build_info",
];

#[tokio::test]
async fn a_scrape_after_a_full_flow_counts_it_with_low_cardinality_labels_and_passes_promtool() {
    let app = spawn_app().await;
    // Record the families the lead wires elsewhere, so promtool also sees them populated.
    otpd::metrics::provider_request("fake", "ok", None, std::time::Duration::from_millis(3));
    otpd::metrics::provider_request(
        "fake",
        "retryable",
        Some("http_503"),
        std::time::Duration::from_millis(40),
    );
    otpd::metrics::delivery_receipt("fake", "delivered");
    let before = scrape(&app, &app.address).await;

    let phone = unique_us_number();
    let sent = app.login_or_create(&phone).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let phone_id = sent.body["phone_id"].as_str().unwrap().to_owned();
    let user_id = sent.body["user_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    assert_eq!(
        app.authenticate(&phone_id, &wrong_code(&code)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.authenticate(&phone_id, &code).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/v1/users/{user_id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/no/such/route").await.status,
        StatusCode::NOT_FOUND
    );

    let after = scrape(&app, &app.address).await;
    for family in FAMILIES {
        assert!(
            after.contains(&format!("# HELP {family} "))
                && after.contains(&format!("# TYPE {family} ")),
            "{family} lacks HELP/TYPE:\n{after}"
        );
    }
    for family in ALWAYS_PRESENT {
        assert!(
            after.contains(&format!("\n{family}")),
            "{family} has no series"
        );
    }
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(
        delta(r#"otpd_sends_total{channel="sms",country="US",outcome="sent",provider="fake"}"#)
            >= 1.0,
        "{after}"
    );
    assert!(delta(r#"otpd_authentications_total{outcome="success"}"#) >= 1.0);
    assert!(delta(r#"otpd_authentications_total{outcome="wrong_code"}"#) >= 1.0);
    assert!(
        delta(r#"otpd_http_requests_total{method="GET",route="/v1/users/{user_id}",status="200"}"#)
            >= 1.0
    );
    assert!(
        delta(
            r#"otpd_http_requests_total{method="POST",route="/v1/otps/authenticate",status="404"}"#
        ) >= 1.0
    );
    assert!(
        delta(r#"otpd_http_requests_total{method="GET",route="unmatched",status="404"}"#) >= 1.0
    );
    assert!(
        delta(
            r#"otpd_http_request_duration_seconds_count{method="POST",route="/v1/otps/sms/login_or_create"}"#
        ) >= 1.0
    );
    assert!(delta("otpd_hashing_duration_seconds_count") >= 3.0);
    assert!(after.contains(r#"otpd_refusals_total{reason="prefix_velocity"}"#));
    assert!(after.contains(r#"otpd_authentications_total{outcome="rate_limited"}"#));
    assert_eq!(
        sample(&after, "otpd_db_pool_max_connections"),
        20.0,
        "the configured maximum"
    );
    assert!(after.contains(&format!(
        "otpd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    // Never a number, an id or a code in a label.
    for pii in [
        phone.as_str(),
        &phone[1..],
        &phone_id,
        &user_id,
        &app.project_id,
        "/v1/no/such/route",
    ] {
        assert!(!after.contains(pii), "scrape leaks {pii}");
    }
    assert!(
        !after.contains(&format!("\"{code}\"")),
        "scrape leaks the code"
    );

    match std::env::var("OTPD_PROMTOOL") {
        Ok(promtool) => {
            let mut child = std::process::Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(after.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "promtool check metrics failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) => eprintln!("OTPD_PROMTOOL unset: promtool check skipped (scripts/test sets it)"),
    }
}

#[tokio::test]
async fn with_admin_listen_metrics_move_off_the_api_listener() {
    let app = spawn_app_with(
        |c| c.admin_listen = Some("127.0.0.1:0".into()),
        ProjectSettings::default(),
        false,
    )
    .await;
    let admin = app.admin_address.clone().expect("admin listener");
    let text = scrape(&app, &admin).await;
    assert!(text.contains("# TYPE otpd_build_info gauge"), "{text}");
    assert!(text.contains("otpd_db_pool_max_connections 20"), "{text}");
    let on_api = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(on_api.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn authentication_outcomes_say_expired_exhausted_and_not_found() {
    let app = spawn_app().await;
    let before = scrape(&app, &app.address).await;
    let count = |text: &str, outcome: &str| {
        sample(
            text,
            &format!("otpd_authentications_total{{outcome=\"{outcome}\"}}"),
        )
    };

    // Exhausted: five wrong guesses use the code up; the sixth finds it unusable.
    let phone = unique_us_number();
    let sent = app.login_or_create(&phone).await;
    let phone_id = sent.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    for _ in 0..6 {
        app.authenticate(&phone_id, &wrong_code(&code)).await;
    }
    // Expired: the newest code's expiry is moved into the past.
    let phone2 = unique_us_number();
    let sent2 = app.login_or_create(&phone2).await;
    let phone_id2 = sent2.body["phone_id"].as_str().unwrap().to_owned();
    let code2 = app.last_code(&phone2).await;
    sqlx::query(
        "update passcodes set expires_at = now() - interval '1 second' where method_id = $1",
    )
    .bind(&phone_id2)
    .execute(&app.pool)
    .await
    .unwrap();
    app.authenticate(&phone_id2, &code2).await;
    // Not found: a phone id that doesn't exist.
    app.authenticate(
        "phone-number-test-00000000-0000-4000-8000-000000000000",
        "123456",
    )
    .await;

    let after = scrape(&app, &app.address).await;
    for (outcome, at_least) in [
        ("wrong_code", 5.0),
        ("exhausted", 1.0),
        ("expired", 1.0),
        ("not_found", 1.0),
    ] {
        let delta = count(&after, outcome) - count(&before, outcome);
        assert!(delta >= at_least, "{outcome}: {delta}");
    }
}

/// Every `method` label value in a scrape.
fn method_labels(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("otpd_http_"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn requests_with_invented_methods_add_no_metric_series() {
    let app = spawn_app().await;
    let unique = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    let invented: Vec<String> = (0..500).map(|i| format!("X{unique}{i}")).collect();
    for method in &invented {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app
            .client
            .request(m, format!("{}/", app.address))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{method}: {}", res.status());
    }
    let text = scrape(&app, &app.address).await;
    for method in &invented {
        assert!(!text.contains(method.as_str()), "{method} became a label");
    }
    // Other tests in this binary share the registry; whatever they did, the label is closed.
    let closed = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
    ];
    for label in method_labels(&text) {
        assert!(closed.contains(&label.as_str()), "method label {label}");
    }
    assert!(
        sample(
            &text,
            r#"otpd_http_requests_total{method="other",route="unmatched",status="404"}"#
        ) >= 500.0,
        "{text}"
    );
}
