//! `POST /webhooks/twilio/status`: only correctly signed callbacks change anything; statuses
//! move forward only; retried callbacks are no-ops. Signatures come from our signer (checked
//! against Twilio's published vector in a unit test) and from the `twilio` npm package.

use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::{unique_us_number, TestApp};
use crate::providers::{twilio_app, twilio_created, StandIn, AUTH_TOKEN, PUBLIC_URL, SID};
use otpd::providers::twilio::signature;

const PATH: &str = "/webhooks/twilio/status";

fn params(status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut p = vec![
        (
            "AccountSid".to_owned(),
            crate::providers::ACCOUNT_SID.to_owned(),
        ),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("From".into(), "+15005550006".into()),
        ("MessageSid".into(), SID.into()),
        ("MessageStatus".into(), status.into()),
        ("SmsSid".into(), SID.into()),
        ("SmsStatus".into(), status.into()),
        ("To".into(), "+14155552671".into()),
    ];
    if let Some(code) = error_code {
        p.push(("ErrorCode".into(), code.into()));
    }
    p
}

fn sign(p: &[(String, String)]) -> String {
    signature(
        &SecretString::from(AUTH_TOKEN),
        &format!("{PUBLIC_URL}{PATH}"),
        p,
    )
}

async fn callback(app: &TestApp, p: &[(String, String)], sig: Option<&str>) -> StatusCode {
    let mut req = app
        .client
        .post(format!("{}{PATH}", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(p).unwrap());
    if let Some(sig) = sig {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.unwrap().status()
}

async fn state(app: &TestApp) -> (String, Option<String>) {
    sqlx::query_as("select status, error_code from messages where provider_message_id = $1")
        .bind(SID)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// An app whose one sent message has Twilio sid `SID`, status `queued`.
async fn app_with_a_sent_message() -> (TestApp, StandIn) {
    let twilio = StandIn::start(vec![twilio_created("queued", None)]).await;
    let app = twilio_app(&twilio.url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(state(&app).await.0, "queued");
    (app, twilio)
}

#[tokio::test]
async fn signed_callbacks_move_the_status_forward_only_and_once() {
    let (app, _twilio) = app_with_a_sent_message().await;
    for status in ["sent", "delivered"] {
        let p = params(status, None);
        assert_eq!(
            callback(&app, &p, Some(&sign(&p))).await,
            StatusCode::NO_CONTENT
        );
        assert_eq!(state(&app).await.0, status);
    }
    // Late or out of order: a `sent` after `delivered` changes nothing.
    let late = params("sent", None);
    assert_eq!(
        callback(&app, &late, Some(&sign(&late))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(state(&app).await.0, "delivered");
    // Twilio retrying the same callback is a no-op, recorded once.
    let again = params("delivered", None);
    assert_eq!(
        callback(&app, &again, Some(&sign(&again))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.count("select count(*) from delivery_receipts").await,
        2,
        "sent + delivered, each once"
    );
}

#[tokio::test]
async fn an_undelivered_callback_records_the_error_code() {
    let (app, _twilio) = app_with_a_sent_message().await;
    let p = params("undelivered", Some("30003"));
    assert_eq!(
        callback(&app, &p, Some(&sign(&p))).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        state(&app).await,
        ("undelivered".into(), Some("30003".into()))
    );
}

#[tokio::test]
async fn missing_or_bad_signatures_are_refused_with_403() {
    let (app, _twilio) = app_with_a_sent_message().await;
    let p = params("delivered", None);
    let good = sign(&p);
    assert_eq!(callback(&app, &p, None).await, StatusCode::FORBIDDEN);
    assert_eq!(callback(&app, &p, Some("")).await, StatusCode::FORBIDDEN);
    assert_eq!(
        callback(&app, &p, Some("bm9wZQ==")).await,
        StatusCode::FORBIDDEN
    );
    // Signed with another token.
    let other = signature(
        &SecretString::from("another-token"),
        &format!("{PUBLIC_URL}{PATH}"),
        &p,
    );
    assert_eq!(
        callback(&app, &p, Some(&other)).await,
        StatusCode::FORBIDDEN
    );
    // Signed for another URL.
    let elsewhere = signature(
        &SecretString::from(AUTH_TOKEN),
        "https://evil.example.com/webhooks/twilio/status",
        &p,
    );
    assert_eq!(
        callback(&app, &p, Some(&elsewhere)).await,
        StatusCode::FORBIDDEN
    );
    // A parameter changed after signing.
    let mut tampered = p.clone();
    tampered[4].1 = "failed".into();
    assert_eq!(
        callback(&app, &tampered, Some(&good)).await,
        StatusCode::FORBIDDEN
    );
    // An extra parameter added after signing.
    let mut extra = p.clone();
    extra.push(("Foo".into(), "bar".into()));
    assert_eq!(
        callback(&app, &extra, Some(&good)).await,
        StatusCode::FORBIDDEN
    );

    assert_eq!(state(&app).await.0, "queued", "nothing was applied");
    assert_eq!(app.count("select count(*) from delivery_receipts").await, 0);
    // The refusal is Stytch-shaped.
    let res = app
        .client
        .post(format!("{}{PATH}", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("MessageSid=x")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error_type"], "invalid_signature");
}

/// The `twilio` npm package (6.2.0) signs the callback; we must accept exactly that.
#[tokio::test]
async fn signatures_from_the_twilio_sdk_are_accepted() {
    let Ok(node_path) = std::env::var("OTPD_PROVIDER_NODE_PATH") else {
        eprintln!("SKIPPED: OTPD_PROVIDER_NODE_PATH not set (scripts/test sets it)");
        return;
    };
    let (app, _twilio) = app_with_a_sent_message().await;
    let p = params("delivered", None);
    let map: serde_json::Map<String, serde_json::Value> = p
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let url = format!("{PUBLIC_URL}{PATH}");
    let script =
        "const t = require('twilio'); const [tok, url, params] = JSON.parse(process.argv[1]);
        const sig = t.getExpectedTwilioSignature(tok, url, params);
        if (!t.validateRequest(tok, sig, url, params)) process.exit(3);
        process.stdout.write(sig);";
    let out = tokio::process::Command::new("node")
        .env("NODE_PATH", &node_path)
        .args([
            "-e",
            script,
            &serde_json::json!([AUTH_TOKEN, url, map]).to_string(),
        ])
        .output()
        .await
        .expect("run node");
    crate::cli::assert_success(&out);
    let sdk_sig = String::from_utf8(out.stdout).unwrap();
    assert_eq!(sdk_sig, sign(&p), "our signer agrees with Twilio's SDK");
    assert_eq!(
        callback(&app, &p, Some(&sdk_sig)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(state(&app).await.0, "delivered");
}

#[tokio::test]
async fn a_receipt_that_arrives_before_its_message_is_recorded_is_applied_when_it_is() {
    use crate::providers::Step;
    use std::time::Duration;
    // Twilio has the message (and calls back) while its answer to us is still on the way.
    let twilio = StandIn::start(vec![Step::Slow(
        Duration::from_millis(700),
        Box::new(twilio_created("queued", None)),
    )])
    .await;
    let app = twilio_app(&twilio.url).await;
    let phone = unique_us_number();
    let send = app.login_or_create(&phone);
    let early = async {
        while twilio.count() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let p = params("delivered", None);
        let status = callback(&app, &p, Some(&sign(&p))).await;
        let recorded = app
            .count("select count(*) from messages where provider_message_id is not null")
            .await;
        (status, recorded)
    };
    let (r, (status, recorded_then)) = tokio::join!(send, early);
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(recorded_then, 0, "the callback came first");
    assert_eq!(state(&app).await.0, "delivered");
}
