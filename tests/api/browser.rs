//! Stytch's real frontend SDK (`@stytch/vanilla-js@6.3.0` headless, pinned in tests/browser) in
//! Debian's headless Chromium, from a page on another origin, against otpd on https:443 —
//! configured with the public token and `customBaseUrl` only, as Stytch documents it.
//!
//! The SDK keeps only `https://` + the host name of `customBaseUrl`, so otpd listens on
//! 127.0.0.1:443 with a certificate for `api.otpd.test`, which Chromium resolves to
//! 127.0.0.1 (`--host-resolver-rules`) and trusts through a private NSS database (no
//! `--ignore-certificate-errors`). The app's pages are served from `http://localhost:PORT`
//! (allowed by the public token); `http://127.0.0.1:PORT` serves the same pages from an origin
//! that is not allowed. tests/browser/drive.mjs runs the flows and prints one JSON line per
//! step; this file sets the world up, runs it and checks the lines and otpd's own records.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::temp_dir;
use crate::helpers::{spawn_app_with, unique_us_number, unlimited, TestApp};

/// The API host the SDK is pointed at (`customBaseUrl`).
const API_HOST: &str = "api.otpd.test";

/// Port 443 is one per machine: the tests here take turns.
static PORT_443: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn browser_env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with scripts/test, which installs the browser and the pinned SDK (tests/browser/install.sh)")
    })
}

/// A throw-away CA (PEM at `ca`) and, signed by it, a certificate for the API host, localhost
/// and 127.0.0.1 (`cert`, `key`).
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_tls(dir: &Path) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "otpd browser test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = [API_HOST, "localhost", "127.0.0.1"].map(str::to_owned);
    let leaf = CertificateParams::new(names.to_vec())
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let tls = Tls {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&tls.ca, ca.pem()).unwrap();
    std::fs::write(&tls.cert, leaf.pem()).unwrap();
    std::fs::write(&tls.key, key.serialize_pem()).unwrap();
    tls
}

/// otpd on https://127.0.0.1:443, its test helpers speaking https with the test CA, abuse
/// limits off (the browser flows are not about them). The previous test's server may still be
/// going away: wait for the port.
async fn spawn_app_on_443(tls: &Tls) -> TestApp {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = std::net::TcpListener::bind("127.0.0.1:443") {
        assert!(
            Instant::now() < deadline,
            "127.0.0.1:443 stays busy ({e}); the browser test needs it (and root)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (cert, key) = (tls.cert.clone(), tls.key.clone());
    let mut app = spawn_app_with(
        move |c| {
            c.listen = "127.0.0.1:443".into();
            c.tls.cert = Some(cert);
            c.tls.key = Some(key);
            // Every page is one end user on 127.0.0.1, and a flow makes more than the default
            // 10 sends and authenticates a minute; that guard has tests of its own.
            c.limits.end_user_per_minute = 1000;
            c.limits.end_user_burst = 1000;
        },
        unlimited(),
        false,
    )
    .await;
    app.address = "https://127.0.0.1".into();
    app.client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&tls.ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    app
}

/// The app's static origin: the pages in tests/browser and the installed node_modules, over
/// plain http on a free loopback port. Returns the port.
fn serve_app_pages(node_modules: PathBuf) -> u16 {
    struct Roots {
        pages: PathBuf,
        node_modules: PathBuf,
    }
    async fn file(req: HttpRequest, roots: web::Data<Roots>) -> HttpResponse {
        let path = req.path();
        let file = match path.strip_prefix("/node_modules/") {
            _ if path.split('/').any(|s| s == "..") => None,
            Some(rest) => Some(roots.node_modules.join(rest)),
            None if path == "/consumer.html" || path == "/b2b.html" => {
                Some(roots.pages.join(&path[1..]))
            }
            None => None,
        };
        let content_type = match file.as_ref().and_then(|f| f.extension()?.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("mjs" | "js") => "text/javascript; charset=utf-8",
            _ => "application/json",
        };
        match file.map(std::fs::read) {
            Some(Ok(body)) => HttpResponse::Ok().content_type(content_type).body(body),
            _ => HttpResponse::NotFound().finish(),
        }
    }
    let roots = web::Data::new(Roots {
        pages: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser"),
        node_modules,
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(roots.clone())
            .default_service(web::get().to(file))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    port
}

/// The driver's output: its step lines and its closing line.
struct Run {
    steps: Vec<Value>,
    done: Value,
    stdout: String,
}

impl Run {
    fn step(&self, starts_with: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"].as_str().unwrap_or("").starts_with(starts_with))
            .unwrap_or_else(|| panic!("no step `{starts_with}…` in\n{}", self.stdout))
    }
}

/// Runs tests/browser/drive.mjs with `config` for `scenarios`.
async fn drive(dir: &Path, tls: &Tls, config: &Value, scenarios: &[&str]) -> Run {
    let config_path = dir.join("browser-config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    let node = tokio::process::Command::new("node")
        .arg("tests/browser/drive.mjs")
        .args(scenarios)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("OTPD_BROWSER_CONFIG", &config_path)
        .env(
            "OTPD_BROWSER_NODE_PATH",
            browser_env("OTPD_BROWSER_NODE_PATH"),
        )
        .env("OTPD_CHROMIUM", browser_env("OTPD_CHROMIUM"))
        // The machine's own bundle must not win over the throw-away CA.
        .env("NODE_EXTRA_CA_CERTS", &tls.ca)
        .kill_on_drop(true)
        .output();
    // A passing run takes seconds; this only bounds a hung browser.
    let out = tokio::time::timeout(Duration::from_secs(300), node)
        .await
        .expect("drive.mjs finished within 5 minutes")
        .expect("run node tests/browser/drive.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{stdout}");
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let done = lines
        .iter()
        .find(|l| l["done"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("the driver did not finish:\n{stdout}\n{stderr}"));
    let failed: Vec<&Value> = lines.iter().filter(|l| l["ok"] == false).collect();
    assert!(
        out.status.success() && failed.is_empty(),
        "browser steps failed: {failed:#?}\n--- stderr ---\n{stderr}"
    );
    Run {
        steps: lines
            .into_iter()
            .filter(|l| l.get("step").is_some())
            .collect(),
        done,
        stdout,
    }
}

/// What every scenario's config shares.
fn base_config(app: &TestApp, tls: &Tls, port: u16, public_token: &str) -> Value {
    json!({
        "api_base": format!("https://{API_HOST}"),
        "api_ip": "127.0.0.1",
        "backend": app.address,
        "project_id": app.project_id,
        "secret": app.secret,
        "ca_pem": tls.ca,
        "app_origin": format!("http://localhost:{port}"),
        "foreign_origin": format!("http://127.0.0.1:{port}"),
        "public_token": public_token,
    })
}

fn report_wall_time(test: &str, started: Instant, run: &Run) {
    println!(
        "{test}: wall time {:.1} s (driver {} ms, Chromium launch {} ms, {})",
        started.elapsed().as_secs_f64(),
        run.done["wall_ms"],
        run.done["launch_ms"],
        run.done["browser"].as_str().unwrap_or("?"),
    );
}

#[tokio::test]
async fn the_real_stytch_frontend_sdk_in_chromium_logs_a_consumer_in_with_sms_keeps_the_session_and_is_refused_from_foreign_origins_and_with_revoked_tokens(
) {
    let _port = PORT_443.lock().await;
    let started = Instant::now();
    let dir = temp_dir();
    let tls = make_tls(&dir);
    let app = spawn_app_on_443(&tls).await;
    let port = serve_app_pages(PathBuf::from(browser_env("OTPD_BROWSER_NODE_PATH")));
    let app_origin = format!("http://localhost:{port}");
    let public_token = app.public_token(&[&app_origin]).await;
    let revoked_token = app.public_token(&[&app_origin]).await;
    let project = otpd::domain::ids::ProjectId::parse(&app.project_id).unwrap();
    otpd::otp::public_tokens::revoke(&app.pool, &project, &revoked_token)
        .await
        .unwrap();

    // The seed sends to an existing user (`send` is for existing users at Stytch).
    let existing = unique_us_number();
    let r = app
        .post("/v1/users", json!({ "phone_number": existing }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (new, second, foreign, revoked) = (
        unique_us_number(),
        unique_us_number(),
        unique_us_number(),
        unique_us_number(),
    );
    let mut config = base_config(&app, &tls, port, &public_token);
    config["revoked_token"] = json!(revoked_token);
    config["consumer"] = json!({
        "existing_phone": existing,
        "new_phone": new,
        "second_phone": second,
        "foreign_phone": foreign,
        "revoked_phone": revoked,
    });

    let run = drive(&dir, &tls, &config, &["consumer", "refusals"]).await;

    // What the browser did, otpd recorded: one user with both numbers, its session revoked.
    let login = run.step("consumer: the right code");
    let user_id = login["detail"]["user_id"].as_str().unwrap();
    let user = app.get(&format!("/v1/users/{user_id}")).await;
    assert_eq!(user.status, StatusCode::OK, "{:?}", user.body);
    let mut numbers: Vec<&str> = user.body["phone_numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phone_number"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    let mut want = vec![new.as_str(), second.as_str()];
    want.sort_unstable();
    assert_eq!(numbers, want);
    let sessions = app.get(&format!("/v1/sessions?user_id={user_id}")).await;
    assert_eq!(sessions.status, StatusCode::OK, "{:?}", sessions.body);
    assert_eq!(
        sessions.body["sessions"],
        json!([]),
        "revoked in the browser"
    );
    // The start-up check without a session was answered once, with a logged-out error.
    let startup = run.step("consumer: the page loads logged out");
    assert_eq!(startup["detail"]["session_authenticate_requests"], 1);
    for refusal in [
        "refusals: a session the backend revoked",
        "refusals: from an origin the public token does not allow",
        "refusals: a revoked public token",
    ] {
        assert_eq!(run.step(refusal)["ok"], true);
    }
    report_wall_time("consumer browser test", started, &run);
}

/// A backend that authenticated the member elsewhere (its own identity provider) attests it
/// to otpd, Stytch's way (`sessions.attest` with a trusted auth token profile), and sets the
/// answer as the cookies Stytch's frontend SDK reads on the app's origin: the member
/// session's `stytch_session` and `stytch_session_jwt`, or
/// `stytch_intermediate_session_token` where the organization wants a second factor first.
async fn attested_cookies(app: &TestApp, organization_id: &str, email: &str) -> Value {
    let r = app.attest_member(organization_id, email).await;
    assert_eq!(r.status, StatusCode::OK, "attest: {:?}", r.body);
    match r.body["session_token"].as_str() {
        Some(t) if !t.is_empty() => json!({
            "stytch_session": t,
            "stytch_session_jwt": r.body["session_jwt"],
        }),
        _ => json!({
            "stytch_intermediate_session_token": r.body["intermediate_session_token"],
        }),
    }
}

/// A new organization (`slug`, `mfa_policy`) with a member who has an MFA phone number; the
/// driver's `b2b` config without cookies: organization_id, member_id, member_phone, email.
async fn member_with_phone(app: &TestApp, slug: &str, mfa_policy: &str) -> Value {
    let org = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": slug, "organization_slug": slug, "mfa_policy": mfa_policy}),
        )
        .await;
    assert_eq!(org.status, StatusCode::OK, "{:?}", org.body);
    let organization_id = org.body["organization"]["organization_id"].clone();
    let (email, phone) = (format!("ann@{slug}.test"), unique_us_number());
    let member = app
        .post(
            &format!(
                "/v1/b2b/organizations/{}/members",
                organization_id.as_str().unwrap()
            ),
            json!({"email_address": email, "mfa_phone_number": phone}),
        )
        .await;
    assert_eq!(member.status, StatusCode::OK, "{:?}", member.body);
    json!({
        "organization_id": organization_id,
        "member_id": member.body["member"]["member_id"],
        "member_phone": phone,
        "email": email,
    })
}

#[tokio::test]
async fn the_real_stytch_b2b_frontend_sdk_in_chromium_steps_an_attested_member_up_with_sms_while_the_public_token_alone_never_logs_a_member_in(
) {
    let _port = PORT_443.lock().await;
    let started = Instant::now();
    let dir = temp_dir();
    let tls = make_tls(&dir);
    let app = spawn_app_on_443(&tls).await;
    let port = serve_app_pages(PathBuf::from(browser_env("OTPD_BROWSER_NODE_PATH")));
    let public_token = app
        .public_token(&[&format!("http://localhost:{port}")])
        .await;

    // One organization with MFA optional (attest answers a member session) and one that
    // requires it (attest answers an intermediate session), a member with a phone in each.
    let optional = member_with_phone(&app, "browser-corp", "OPTIONAL").await;
    let required = member_with_phone(&app, "browser-mfa", "REQUIRED_FOR_ALL").await;
    let organization_id = optional["organization_id"].as_str().unwrap();
    let member_id = optional["member_id"].as_str().unwrap();

    let mut config = base_config(&app, &tls, port, &public_token);
    for (key, m) in [("b2b", &optional), ("b2b_mfa", &required)] {
        let mut m = m.clone();
        let (org, email) = (m["organization_id"].clone(), m["email"].clone());
        m["cookies"] = attested_cookies(&app, org.as_str().unwrap(), email.as_str().unwrap()).await;
        config[key] = m;
    }
    assert!(config["b2b"]["cookies"]["stytch_session"].is_string());
    assert!(config["b2b_mfa"]["cookies"]["stytch_intermediate_session_token"].is_string());
    let run = drive(&dir, &tls, &config, &["b2b", "b2b-mfa"]).await;

    for step in [
        "b2b: with only the public token",
        "b2b: once the member's phone is verified",
        "b2b-mfa: with the attested intermediate session",
    ] {
        assert_eq!(run.step(step)["ok"], true);
    }
    // The member session the browser stepped up and revoked is gone on otpd too.
    let up = run.step("b2b: a later step-up");
    assert!(up["detail"]["factors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "otp:sms"));
    let sessions = app
        .get(&format!(
            "/v1/b2b/sessions?organization_id={organization_id}&member_id={member_id}"
        ))
        .await;
    assert_eq!(sessions.status, StatusCode::OK, "{:?}", sessions.body);
    assert_eq!(
        sessions.body["member_sessions"],
        json!([]),
        "revoked in the browser"
    );
    // Its SMS step-ups verified the member's phone: an active MFA factor from now on.
    let member = app
        .get(&format!(
            "/v1/b2b/organizations/{organization_id}/member?member_id={member_id}"
        ))
        .await;
    assert_eq!(member.status, StatusCode::OK, "{:?}", member.body);
    assert_eq!(member.body["member"]["mfa_phone_number_verified"], true);
    // Where MFA is required, the SMS that turned the intermediate session into a member
    // session enrolled the member.
    let mfa = app
        .get(&format!(
            "/v1/b2b/organizations/{}/member?member_id={}",
            required["organization_id"].as_str().unwrap(),
            required["member_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(mfa.status, StatusCode::OK, "{:?}", mfa.body);
    assert_eq!(mfa.body["member"]["mfa_enrolled"], true, "{:?}", mfa.body);
    assert_eq!(mfa.body["member"]["mfa_phone_number_verified"], true);
    report_wall_time("B2B browser test", started, &run);
}
