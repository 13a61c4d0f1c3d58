//! Real providers over loopback: scripted Twilio/Vonage stand-ins (raw TCP, so they can also
//! stall or drop connections), Prism validating our Twilio requests against Twilio's own
//! OpenAPI description, and the Stytch errors a user sees for each provider answer.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use otpd::config::{Config, Failover, ProviderKind};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{spawn_app_with, unique_us_number, TestApp};
use otpd::domain::project::ProjectSettings;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-test-auth-token-0123456789";
pub const FROM: &str = "+15005550006";
pub const PUBLIC_URL: &str = "https://otpd.example.com";
pub const SID: &str = "SM0123456789abcdef0123456789abcdef";

// ------------------------------------------------------------------ stand-in ----

/// What the stand-in does with one request.
#[derive(Clone, Debug)]
pub enum Step {
    Reply {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Wait, then do the inner step.
    Slow(Duration, Box<Step>),
    /// Read the request, then close the connection without answering.
    Drop,
}

pub fn reply(status: u16, body: Value) -> Step {
    Step::Reply {
        status,
        body: body.to_string(),
        headers: vec![],
    }
}

pub fn twilio_error(status: u16, code: u32) -> Step {
    reply(
        status,
        json!({"code": code, "message": format!("error {code}"),
               "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

/// A 201 shaped like the spec's `createWoService` example.
pub fn twilio_created(status: &str, error_code: Option<u32>) -> Step {
    reply(
        201,
        json!({
            "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": "x",
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "date_sent": null, "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api", "error_code": error_code, "error_message": null,
            "from": FROM, "messaging_service_sid": null, "num_media": "0", "num_segments": "1",
            "price": null, "price_unit": "USD", "sid": SID, "status": status,
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{SID}/Media.json")},
            "to": "+14155552671",
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{SID}.json")
        }),
    )
}

pub fn vonage_reply(status: &str) -> Step {
    reply(
        200,
        json!({"message-count": "1", "messages": [{
            "to": "14155552671", "message-id": "0A0000000123ABCD1", "status": status,
            "error-text": if status == "0" { Value::Null } else { json!("refused") },
            "remaining-balance": "3.14", "message-price": "0.03", "network": "12345"}]}),
    )
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: Instant,
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).expect("form body")
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn keys(&self) -> Vec<String> {
        self.form().into_iter().map(|(k, _)| k).collect()
    }
}

/// A loopback HTTP/1.1 server that answers each request with the next scripted step (the
/// last one repeats) and records what it received.
pub struct StandIn {
    pub url: String,
    script: Arc<Mutex<Vec<Step>>>,
    served: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl StandIn {
    pub async fn start(script: Vec<Step>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(script));
        let served = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, n, l) = (script.clone(), served.clone(), log.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (s, n, l) = (s.clone(), n.clone(), l.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, s, n, l).await;
                });
            }
        });
        StandIn {
            url,
            script,
            served,
            log,
        }
    }

    /// Replaces the script and restarts it from its first step.
    pub fn script(&self, steps: Vec<Step>) {
        *self.script.lock().unwrap() = steps;
        self.served.store(0, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the stand-in received a request")
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Mutex<Vec<Step>>>,
    served: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    log.lock().unwrap().push(Recorded {
        at: Instant::now(),
        request_line,
        headers,
        body,
    });
    let index = served.fetch_add(1, Ordering::SeqCst);
    let mut step = {
        let s = script.lock().unwrap();
        s.get(index)
            .or_else(|| s.last())
            .cloned()
            .expect("a script")
    };
    loop {
        match step {
            Step::Slow(d, inner) => {
                tokio::time::sleep(d).await;
                step = *inner;
            }
            Step::Drop => return Ok(()),
            Step::Reply {
                status,
                body,
                headers,
            } => {
                let mut out = format!(
                    "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                stream.write_all(out.as_bytes()).await?;
                stream.shutdown().await?;
                return Ok(());
            }
        }
    }
}

// ------------------------------------------------------------------- config ----

pub fn use_twilio(c: &mut Config, base_url: &str) {
    c.public_url = Some(PUBLIC_URL.into());
    c.provider.kind = ProviderKind::Twilio;
    c.provider.backoff_ms = 10;
    let t = &mut c.provider.twilio;
    t.account_sid = Some(ACCOUNT_SID.into());
    t.auth_token = Some(SecretString::from(AUTH_TOKEN));
    t.from = Some(FROM.into());
    t.base_url = base_url.into();
}

pub fn use_vonage(c: &mut Config, base_url: &str) {
    let v = &mut c.provider.vonage;
    v.api_key = Some("vonage-key".into());
    v.api_secret = Some(SecretString::from("vonage-secret"));
    v.from = Some("Acme".into());
    v.base_url = base_url.into();
}

pub async fn twilio_app(base_url: &str) -> TestApp {
    let url = base_url.to_owned();
    spawn_app_with(
        move |c| use_twilio(c, &url),
        ProjectSettings::default(),
        false,
    )
    .await
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn message_row(app: &TestApp) -> (String, Option<String>, String) {
    sqlx::query_as("select provider, provider_message_id, status from messages order by created_at desc limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

// -------------------------------------------------------------------- tests ----

#[tokio::test]
async fn twilio_request_is_wire_exact_and_the_sid_is_recorded() {
    let twilio = StandIn::start(vec![twilio_created("queued", None)]).await;
    let app = twilio_app(&twilio.url).await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let req = twilio.last();
    assert_eq!(
        req.request_line,
        format!("POST /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json HTTP/1.1")
    );
    assert_eq!(
        req.header("authorization"),
        Some(basic(ACCOUNT_SID, AUTH_TOKEN).as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.keys(),
        ["To", "From", "Body", "StatusCallback", "ValidityPeriod"]
    );
    // `+` must be %2B on the wire: a bare `+` decodes as a space.
    assert!(
        req.body.contains(&format!("To=%2B{}", &phone[1..])),
        "{}",
        req.body
    );
    assert!(req.body.contains("From=%2B15005550006"), "{}", req.body);
    assert_eq!(req.field("To").as_deref(), Some(phone.as_str()));
    assert_eq!(
        req.field("StatusCallback").as_deref(),
        Some("https://otpd.example.com/webhooks/twilio/status")
    );
    // The default code lifetime is 2 minutes.
    assert_eq!(req.field("ValidityPeriod").as_deref(), Some("120"));
    assert!(req.field("Body").unwrap().contains("Acme"));

    // Every key we send exists in Twilio's own description of CreateMessage.
    if let Ok(spec) = std::env::var("OTPD_TWILIO_SPEC") {
        let spec: Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
        let props = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
            ["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"];
        for key in req.keys() {
            assert!(props.get(&key).is_some(), "{key} is not in Twilio's spec");
        }
    }

    assert_eq!(
        message_row(&app).await,
        ("twilio".into(), Some(SID.into()), "queued".into())
    );
    // The sandbox outbox exists only for the fake provider.
    let outbox = app.get("/v1/sandbox/messages").await;
    assert_eq!(outbox.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_key_credentials_and_a_messaging_service_are_used_when_configured() {
    let twilio = StandIn::start(vec![twilio_created("accepted", None)]).await;
    let url = twilio.url.clone();
    let key_sid = "SK0123456789abcdef0123456789abcdef";
    let ms = "MG0123456789abcdef0123456789abcdef";
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &url);
            c.provider.twilio.auth_token = None;
            c.provider.twilio.api_key_sid = Some(key_sid.into());
            c.provider.twilio.api_key_secret = Some(SecretString::from("key-secret"));
            c.provider.twilio.from = None;
            c.provider.twilio.messaging_service_sid = Some(ms.into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let req = twilio.last();
    assert!(req
        .request_line
        .contains(&format!("/Accounts/{ACCOUNT_SID}/")));
    assert_eq!(
        req.header("authorization"),
        Some(basic(key_sid, "key-secret").as_str())
    );
    assert_eq!(req.field("MessagingServiceSid").as_deref(), Some(ms));
    assert_eq!(req.field("From"), None);
}

#[tokio::test]
async fn every_listed_twilio_error_maps_to_its_stytch_error_and_is_never_retried() {
    let twilio = StandIn::start(vec![]).await;
    let app = twilio_app(&twilio.url).await;
    let cases: Vec<(Step, StatusCode, &str)> = vec![
        (
            twilio_error(400, 21211),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            twilio_error(400, 21614),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            twilio_error(400, 21612),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            twilio_error(400, 21635),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            twilio_error(400, 21408),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number_country_code",
        ),
        (
            twilio_error(400, 21610),
            StatusCode::BAD_REQUEST,
            "unsubscribed_phone_number",
        ),
        (
            twilio_error(400, 21268),
            StatusCode::BAD_REQUEST,
            "unsupported_phone_number_type",
        ),
        (
            twilio_error(401, 20003),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
        (
            twilio_error(400, 21606),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
        (
            twilio_error(403, 20008),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
        (
            twilio_error(404, 20404),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
        // A 201 whose status is already `failed` is a failure, classified by its error_code.
        (
            twilio_created("failed", Some(21610)),
            StatusCode::BAD_REQUEST,
            "unsubscribed_phone_number",
        ),
        (
            twilio_created("failed", Some(30007)),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
    ];
    for (step, status, error_type) in cases {
        twilio.script(vec![step.clone(), twilio_created("queued", None)]);
        twilio.clear();
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(
            (r.status, r.error_type()),
            (status, error_type),
            "{step:?}: {:?}",
            r.body
        );
        assert_eq!(twilio.count(), 1, "{step:?} must not be retried");
        if step_is(&step, 21268) {
            assert!(r.body["error_message"]
                .as_str()
                .unwrap()
                .contains("Premium"));
        }
    }
    // Every failed send withdrew its code; nothing was recorded as sent.
    assert_eq!(app.count("select count(*) from passcodes").await, 0);
    assert_eq!(app.count("select count(*) from messages").await, 0);
}

fn step_is(step: &Step, code: u32) -> bool {
    matches!(step, Step::Reply { body, .. } if body.contains(&format!("\"code\":{code}")))
}

#[tokio::test]
async fn retryable_failures_are_retried_with_backoff_until_one_succeeds() {
    let twilio = StandIn::start(vec![
        twilio_error(503, 20500),
        reply(500, json!({})),
        twilio_created("queued", None),
    ])
    .await;
    let app = twilio_app(&twilio.url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(twilio.count(), 3);
    assert_eq!(app.count("select count(*) from messages").await, 1);
}

#[tokio::test]
async fn a_429_is_retried_after_the_providers_retry_after() {
    let twilio = StandIn::start(vec![
        Step::Reply {
            status: 429,
            body: json!({"code": 20429, "message": "Too many requests",
                         "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429})
            .to_string(),
            headers: vec![("Retry-After".into(), "1".into())],
        },
        twilio_created("queued", None),
    ])
    .await;
    let app = twilio_app(&twilio.url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let reqs = twilio.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}

#[tokio::test]
async fn retries_stop_after_max_attempts_and_the_caller_gets_a_503() {
    for step in [
        twilio_error(503, 20500),
        reply(502, json!({})),
        reply(504, json!({})),
        twilio_error(429, 20429),
    ] {
        let twilio = StandIn::start(vec![step.clone()]).await;
        let app = twilio_app(&twilio.url).await;
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
            "{step:?}"
        );
        assert!(r.headers.contains_key("retry-after"));
        assert_eq!(twilio.count(), 3, "{step:?}: exactly max_attempts");
        assert_eq!(app.count("select count(*) from passcodes").await, 0);
    }
}

#[tokio::test]
async fn a_stalled_provider_is_cut_off_inside_the_deadline() {
    let twilio = StandIn::start(vec![Step::Slow(
        Duration::from_secs(30),
        Box::new(twilio_created("queued", None)),
    )])
    .await;
    let url = twilio.url.clone();
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &url);
            c.provider.deadline_ms = 1_500;
            c.provider.request_timeout_ms = 400;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let started = Instant::now();
    let r = app.login_or_create(&unique_us_number()).await;
    let took = started.elapsed();
    // Generous bound (two shared cores): the point is that 30 s never happen.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let attempts = twilio.count();
    assert!((1..=3).contains(&attempts), "{attempts} attempts");
    // Twilio may have sent it: the code stays valid and the caller gets the phone id to
    // authenticate it with (docs/providers.md, "Retries and ambiguous outcomes").
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = crate::helpers::first_six_digits(&twilio.last().field("Body").unwrap()).unwrap();
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(message_row(&app).await.2, "unknown");
}

#[tokio::test]
async fn a_connection_lost_after_the_request_keeps_the_code_but_a_refused_connection_withdraws_it()
{
    let twilio = StandIn::start(vec![Step::Drop]).await;
    let app = twilio_app(&twilio.url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(twilio.count(), 3);
    let code = crate::helpers::first_six_digits(&twilio.last().field("Body").unwrap()).unwrap();
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.authenticate(&phone_id, &code).await.status,
        StatusCode::OK
    );

    // Nothing listens here: no request can have left, so nothing may be delivered.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = twilio_app(&url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(app.count("select count(*) from passcodes").await, 0);
}

#[tokio::test]
async fn dropped_connections_are_retried_then_fail_over_to_vonage() {
    let twilio = StandIn::start(vec![Step::Drop]).await;
    let vonage = StandIn::start(vec![vonage_reply("0")]).await;
    let (t, v) = (twilio.url.clone(), vonage.url.clone());
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &t);
            use_vonage(c, &v);
            c.provider.failover = Failover::Csv("vonage".into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(twilio.count(), 3);
    assert_eq!(vonage.count(), 1);
    let req = vonage.last();
    assert!(req.request_line.starts_with("POST /sms/json "));
    assert_eq!(
        req.field("to").as_deref(),
        Some(&phone[1..]),
        "no `+` for Vonage"
    );
    assert_eq!(req.field("api_key").as_deref(), Some("vonage-key"));
    assert_eq!(req.field("from").as_deref(), Some("Acme"));
    assert_eq!(req.field("type"), None, "GSM text is not unicode");
    assert_eq!(
        message_row(&app).await,
        (
            "vonage".into(),
            Some("0A0000000123ABCD1".into()),
            "accepted".into()
        )
    );
}

#[tokio::test]
async fn a_persistent_twilio_outage_fails_over_and_the_open_circuit_skips_twilio() {
    let twilio = StandIn::start(vec![twilio_error(503, 20500)]).await;
    let vonage = StandIn::start(vec![vonage_reply("0")]).await;
    let (t, v) = (twilio.url.clone(), vonage.url.clone());
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &t);
            use_vonage(c, &v);
            c.provider.failover = Failover::List(vec!["vonage".into()]);
            c.provider.breaker_threshold = 3;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((twilio.count(), vonage.count()), (3, 1));
    // Three consecutive failures opened Twilio's circuit: the next sends go straight to Vonage.
    for _ in 0..2 {
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    assert_eq!((twilio.count(), vonage.count()), (3, 3));
}

#[tokio::test]
async fn a_permanent_error_never_fails_over() {
    let twilio = StandIn::start(vec![twilio_error(400, 21211)]).await;
    let vonage = StandIn::start(vec![vonage_reply("0")]).await;
    let (t, v) = (twilio.url.clone(), vonage.url.clone());
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &t);
            use_vonage(c, &v);
            c.provider.failover = Failover::Csv("vonage".into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.error_type(), "invalid_phone_number", "{:?}", r.body);
    assert_eq!((twilio.count(), vonage.count()), (1, 0));
}

#[tokio::test]
async fn vonage_refusals_inside_http_200_are_failures() {
    let vonage = StandIn::start(vec![]).await;
    let v = vonage.url.clone();
    let app = spawn_app_with(
        move |c| {
            c.provider.kind = ProviderKind::Vonage;
            c.provider.backoff_ms = 10;
            use_vonage(c, &v);
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    for (steps, status, error_type, attempts) in [
        (
            vec![vonage_reply("6")],
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
            1,
        ),
        (
            vec![vonage_reply("7")],
            StatusCode::BAD_REQUEST,
            "unsubscribed_phone_number",
            1,
        ),
        (
            vec![vonage_reply("4")],
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            1,
        ),
        (
            vec![vonage_reply("1"), vonage_reply("0")],
            StatusCode::OK,
            "",
            2,
        ),
    ] {
        vonage.script(steps);
        vonage.clear();
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(
            (r.status, r.error_type()),
            (status, error_type),
            "{:?}",
            r.body
        );
        assert_eq!(vonage.count(), attempts);
    }
}

#[tokio::test]
async fn whatsapp_goes_to_twilio_as_a_content_template_with_the_code() {
    let twilio = StandIn::start(vec![twilio_created("queued", None)]).await;
    let url = twilio.url.clone();
    let content = "HX0123456789abcdef0123456789abcdef";
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &url);
            c.provider.twilio.whatsapp_from = Some("+15005550006".into());
            c.provider.twilio.whatsapp_content_sid = Some(content.into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/otps/whatsapp/login_or_create",
            json!({"phone_number": phone}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let req = twilio.last();
    assert_eq!(req.field("To"), Some(format!("whatsapp:{phone}")));
    assert_eq!(req.field("From").as_deref(), Some("whatsapp:+15005550006"));
    assert_eq!(req.field("ContentSid").as_deref(), Some(content));
    assert_eq!(req.field("Body"), None, "no Body with a content template");
    let vars: Value = serde_json::from_str(&req.field("ContentVariables").unwrap()).unwrap();
    let code = vars["1"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    // The code Twilio was given is the one that authenticates.
    let method = r.body["phone_id"].as_str().unwrap().to_owned();
    let auth = app.authenticate(&method, &code).await;
    assert_eq!(auth.status, StatusCode::OK, "{:?}", auth.body);
}

#[tokio::test]
async fn the_fake_provider_honours_twilio_style_magic_numbers() {
    // The magic numbers share one block: prefix velocity would stop the 11th.
    let app = crate::helpers::spawn_app_unlimited().await;
    for (to, status, error_type) in [
        (
            "+15005550001",
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            "+15005550002",
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            "+15005550003",
            StatusCode::BAD_REQUEST,
            "invalid_phone_number_country_code",
        ),
        (
            "+15005550004",
            StatusCode::BAD_REQUEST,
            "unsubscribed_phone_number",
        ),
        (
            "+15005550009",
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
        (
            "+15005550010",
            StatusCode::BAD_REQUEST,
            "unsupported_phone_number_type",
        ),
        (
            "+15005550011",
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
        ),
        (
            "+15005550012",
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        ),
    ] {
        let r = app.login_or_create(to).await;
        assert_eq!(
            (r.status, r.error_type()),
            (status, error_type),
            "{to}: {:?}",
            r.body
        );
    }
    assert_eq!(app.count("select count(*) from sandbox_outbox").await, 0);
    let ok = app.login_or_create("+15005550006").await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

/// Prism 5.14.2 as a validating proxy with Twilio's own OpenAPI description in front of our
/// stand-in: a request Prism finds invalid is answered 422 and never reaches the stand-in.
#[tokio::test]
async fn twilio_requests_pass_prism_validation_against_twilios_spec() {
    let (Ok(prism), Ok(spec)) = (
        std::env::var("OTPD_PRISM"),
        std::env::var("OTPD_TWILIO_SPEC"),
    ) else {
        eprintln!("SKIPPED: OTPD_PRISM / OTPD_TWILIO_SPEC not set (scripts/test sets them)");
        return;
    };
    let upstream = StandIn::start(vec![twilio_created("queued", None)]).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(&prism)
        .args([
            "proxy",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--errors",
            &spec,
            &upstream.url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prism");
    let prism_url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "prism did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Control: Prism does reject an invalid CreateMessage (no `To`) without forwarding it.
    let client = reqwest::Client::new();
    let bad = client
        .post(format!(
            "{prism_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        ))
        .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("From=%2B15005550006&Body=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    assert_eq!(upstream.count(), 0);

    let app = twilio_app(&prism_url).await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        upstream.count(),
        1,
        "Prism validated and forwarded our request"
    );
    let keys: BTreeSet<String> = upstream.last().keys().into_iter().collect();
    assert!(keys.contains("To") && keys.contains("ValidityPeriod"));

    // The API-key + Messaging Service shape passes too.
    let url = prism_url.clone();
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &url);
            c.provider.twilio.auth_token = None;
            c.provider.twilio.api_key_sid = Some("SK0123456789abcdef0123456789abcdef".into());
            c.provider.twilio.api_key_secret = Some(SecretString::from("key-secret"));
            c.provider.twilio.from = None;
            c.provider.twilio.messaging_service_sid =
                Some("MG0123456789abcdef0123456789abcdef".into());
            c.provider.twilio.whatsapp_content_sid =
                Some("HX0123456789abcdef0123456789abcdef".into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(
            "/v1/otps/whatsapp/login_or_create",
            json!({"phone_number": unique_us_number()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(upstream.count(), 3);

    // And Prism does check what otpd sends: a malformed Account SID never gets through.
    let url = prism_url.clone();
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &url);
            c.provider.twilio.account_sid = Some("AC-not-a-sid".into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.error_type(), "internal_server_error", "{:?}", r.body);
    assert_eq!(upstream.count(), 3, "Prism refused it");
    child.kill().await.ok();
}

#[test]
fn serve_refuses_bad_provider_configuration_naming_the_key() {
    use crate::cli::{otpd, run_serve_expecting_failure};
    use crate::helpers::PEPPER;
    let base = [
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
        ("OTPD_HASHING__PEPPER", PEPPER),
    ];
    let sid = ("OTPD_PROVIDER__TWILIO__ACCOUNT_SID", ACCOUNT_SID);
    let token = ("OTPD_PROVIDER__TWILIO__AUTH_TOKEN", AUTH_TOKEN);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("OTPD_PROVIDER__KIND", "plivo")], "provider.kind"),
        (
            vec![("OTPD_PROVIDER__KIND", "twilio")],
            "provider.twilio.account_sid",
        ),
        (
            vec![
                ("OTPD_PROVIDER__KIND", "twilio"),
                ("OTPD_PROVIDER__TWILIO__ACCOUNT_SID", "AC123"),
            ],
            "provider.twilio.account_sid",
        ),
        (
            vec![("OTPD_PROVIDER__KIND", "twilio"), sid],
            "provider.twilio.auth_token",
        ),
        (
            vec![("OTPD_PROVIDER__KIND", "twilio"), sid, token],
            "provider.twilio.from",
        ),
        (
            vec![("OTPD_PROVIDER__FAILOVER", "vonage")],
            "provider.vonage.api_key",
        ),
        (
            vec![("OTPD_PROVIDER__FAILOVER", "sms77")],
            "provider.failover",
        ),
        (
            vec![("OTPD_PROVIDER__MAX_ATTEMPTS", "9")],
            "provider.max_attempts",
        ),
    ];
    for (env, key) in cases {
        let mut cmd = otpd();
        for (k, v) in base.iter().chain(env.iter()) {
            cmd.env(k, v);
        }
        let (code, stderr) = run_serve_expecting_failure(&mut cmd);
        assert_eq!(code, 2, "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        // figment spells env-sourced keys upper-case (`PROVIDER.KIND`).
        assert!(
            stderr.to_lowercase().contains(key),
            "{stderr:?} should name {key}"
        );
        assert!(!stderr.contains(AUTH_TOKEN), "never the token: {stderr}");
    }
}

#[tokio::test]
async fn after_the_cool_down_one_probe_goes_to_twilio_and_its_success_closes_the_circuit() {
    let twilio = StandIn::start(vec![twilio_error(503, 20500)]).await;
    let vonage = StandIn::start(vec![vonage_reply("0")]).await;
    let (t, v) = (twilio.url.clone(), vonage.url.clone());
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &t);
            use_vonage(c, &v);
            c.provider.failover = Failover::Csv("vonage".into());
            c.provider.breaker_threshold = 3;
            c.provider.breaker_cooldown_ms = 300;
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let r = app.login_or_create(&unique_us_number()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((twilio.count(), vonage.count()), (3, 1), "circuit now open");
    // Twilio recovers; once the cool-down is over the probe reaches it.
    twilio.script(vec![twilio_created("queued", None)]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..2 {
        let r = app.login_or_create(&unique_us_number()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    assert_eq!(
        (twilio.count(), vonage.count()),
        (5, 1),
        "probe succeeded, circuit closed"
    );
    assert_eq!(message_row(&app).await.0, "twilio");
}

/// The operator-facing side, from the real binary's JSON logs: a misconfigured Twilio account
/// is one `error` line naming code 20003; neither the Auth Token nor the full number appears.
#[tokio::test]
async fn a_misconfigured_twilio_is_logged_for_the_operator_without_secrets() {
    use crate::cli::{otpd, serve, temp_dir};
    use crate::helpers::{TestDb, PEPPER};
    let twilio = StandIn::start(vec![Step::Reply {
        status: 401,
        body: json!({"code": 20003, "message": "Authenticate",
                     "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
        .to_string(),
        headers: vec![],
    }])
    .await;
    let db = TestDb::create().await;
    let dir = temp_dir();
    let config = dir.join("otpd.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\npublic_url = \"{PUBLIC_URL}\"\n\
             [hashing]\npepper = \"{PEPPER}\"\nm_cost_kib = 8192\nt_cost = 1\n\
             [provider]\nkind = \"twilio\"\n\
             [provider.twilio]\naccount_sid = \"{ACCOUNT_SID}\"\nauth_token = \"{AUTH_TOKEN}\"\n\
             from = \"{FROM}\"\nbase_url = \"{}\"\n",
            db.url, twilio.url
        ),
    )
    .unwrap();
    let mut create = otpd();
    create.arg("--config").arg(&config);
    let (pid, secret) = crate::cli::create_project(create, "Shop");
    let mut cmd = otpd();
    cmd.arg("--config").arg(&config);
    let served = serve(cmd);
    let phone = unique_us_number();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/otps/sms/login_or_create", served.address))
        .basic_auth(&pid, Some(&secret))
        .json(&json!({"phone_number": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(twilio.count(), 1, "a 401 is not retried");
    assert_eq!(
        twilio.last().header("authorization"),
        Some(basic(ACCOUNT_SID, AUTH_TOKEN).as_str())
    );
    // The request summary line is written after the response; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = served.logs.lock().unwrap().clone();
    let operator: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("provider misconfigured"))
        .collect();
    assert_eq!(operator.len(), 1, "{logs:#?}");
    let line: Value = serde_json::from_str(operator[0]).unwrap();
    assert_eq!(line["level"], "ERROR", "{line}");
    assert!(operator[0].contains("20003"), "{line}");
    for l in &logs {
        assert!(!l.contains(AUTH_TOKEN), "token in a log line: {l}");
        assert!(!l.contains(&phone), "full number in a log line: {l}");
    }
}

#[tokio::test]
async fn whatsapp_skips_a_primary_that_cannot_carry_it_and_goes_to_the_failover() {
    let twilio = StandIn::start(vec![twilio_created("queued", None)]).await;
    let vonage = StandIn::start(vec![vonage_reply("0")]).await;
    let (t, v) = (twilio.url.clone(), vonage.url.clone());
    let app = spawn_app_with(
        move |c| {
            use_twilio(c, &t);
            use_vonage(c, &v);
            c.provider.kind = ProviderKind::Vonage;
            c.provider.failover = Failover::Csv("twilio".into());
            c.provider.twilio.whatsapp_from = Some("+15005550006".into());
            c.provider.twilio.whatsapp_content_sid =
                Some("HX0123456789abcdef0123456789abcdef".into());
        },
        ProjectSettings::default(),
        false,
    )
    .await;
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/otps/whatsapp/login_or_create",
            json!({"phone_number": phone}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(twilio.count(), 1);
    assert_eq!(twilio.last().field("To"), Some(format!("whatsapp:{phone}")));
    assert_eq!(vonage.count(), 0);
    assert_eq!(message_row(&app).await.0, "twilio");
    // SMS still goes to the primary.
    let sms = app.login_or_create(&unique_us_number()).await;
    assert_eq!(sms.status, StatusCode::OK, "{:?}", sms.body);
    assert_eq!(vonage.count(), 1);
    assert_eq!(twilio.count(), 1);
}
