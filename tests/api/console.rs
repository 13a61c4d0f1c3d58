//! The staging console (`/sandbox/`): its JSON's access rules over HTTP, its headers, that it
//! is off with a real provider, and a tester's session in Debian's Chromium (puppeteer-core,
//! pinned in tests/console) with screenshots kept under target/console-artifacts.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use base64::Engine;
use otpd::domain::project::ProjectSettings;
use otpd::domain::secret::SecretHasher;
use otpd::otp::projects;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp, PEPPER};
use crate::providers::use_twilio;

const OPERATOR_TOKEN: &str = "operator-token-for-tests-0123456789abcdef";

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn console_app() -> TestApp {
    let mut settings = ProjectSettings::default();
    settings.set_autofill_domain("staging.example.com").unwrap();
    spawn_app_with(
        |c| c.sandbox.operator_token = Some(SecretString::from(OPERATOR_TOKEN)),
        settings,
        false,
    )
    .await
}

/// A second project on the same server: (id, secret).
async fn other_project(app: &TestApp) -> (String, String) {
    let hasher = SecretHasher::new(&SecretString::from(PEPPER));
    let (id, secret) = projects::create_project(
        &app.pool,
        &hasher,
        "Globex",
        false,
        &ProjectSettings::default(),
    )
    .await
    .unwrap();
    (id.to_string(), secret.secret.expose_secret().to_owned())
}

async fn console_get(app: &TestApp, path: &str, auth: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    req.send().await.unwrap()
}

async fn send_as(app: &TestApp, auth: &str, phone: &str) {
    let res = app
        .client
        .post(format!("{}/v1/otps/sms/login_or_create", app.address))
        .header("Authorization", auth)
        .json(&json!({"phone_number": phone, "enable_autofill": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn phones_seen(app: &TestApp, auth: &str, query: &str) -> (StatusCode, Vec<String>) {
    let res = console_get(app, &format!("/sandbox/api/messages{query}"), Some(auth)).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    let phones = body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["to"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, phones)
}

#[tokio::test]
async fn a_project_sees_only_its_own_messages_the_operator_sees_all_and_a_wrong_credential_none() {
    let app = console_app().await;
    let (other_id, other_secret) = other_project(&app).await;
    let own = basic(&app.project_id, &app.secret);
    let other = basic(&other_id, &other_secret);
    send_as(&app, &own, "+12015550111").await;
    send_as(&app, &other, "+12015550112").await;

    assert_eq!(
        phones_seen(&app, &own, "").await,
        (StatusCode::OK, vec!["+12015550111".to_owned()])
    );
    // Asking for another project's messages with a project's credentials finds nothing.
    assert_eq!(
        phones_seen(&app, &own, &format!("?project_id={other_id}")).await,
        (StatusCode::OK, vec![])
    );
    let operator = format!("Bearer {OPERATOR_TOKEN}");
    let (status, mut all) = phones_seen(&app, &operator, "").await;
    all.sort();
    assert_eq!(
        (status, all),
        (
            StatusCode::OK,
            vec!["+12015550111".to_owned(), "+12015550112".to_owned()]
        )
    );
    assert_eq!(
        phones_seen(
            &app,
            &operator,
            &format!("?project_id={other_id}&channel=sms")
        )
        .await,
        (StatusCode::OK, vec!["+12015550112".to_owned()])
    );
    assert_eq!(
        phones_seen(&app, &operator, "?channel=whatsapp").await,
        (StatusCode::OK, vec![])
    );

    for wrong in [
        basic(&app.project_id, "wrong-secret"),
        format!("Bearer {OPERATOR_TOKEN}x"),
        "Bearer ".to_owned(),
        format!("Basic {OPERATOR_TOKEN}"),
    ] {
        let res = console_get(&app, "/sandbox/api/messages", Some(&wrong)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error_type"], "unauthorized_credentials");
        assert!(body.get("messages").is_none());
    }
    let res = console_get(&app, "/sandbox/api/messages", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // What the page shows of a message: the code, the autofill line, the length.
    let res = console_get(&app, "/sandbox/api/messages", Some(&own)).await;
    let body: Value = res.json().await.unwrap();
    let m = &body["messages"][0];
    let code = app.last_code("+12015550111").await;
    assert_eq!(m["code"], code.as_str());
    assert_eq!(
        m["autofill_line"],
        format!("@staging.example.com #{code}").as_str()
    );
    assert_eq!(
        (m["locale"].as_str(), m["encoding"].as_str()),
        (Some("en"), Some("gsm7"))
    );
    assert_eq!(
        (m["segments"].as_u64(), m["capacity"].as_u64()),
        (Some(1), Some(160))
    );
    assert_eq!(
        m["units"].as_u64(),
        Some(m["body"].as_str().unwrap().len() as u64)
    );
    assert_eq!(m["delivery"]["status"], "delivered");
    assert_eq!(body["project_id"], app.project_id.as_str());

    let res = console_get(&app, "/sandbox/api/messages?to=12345", Some(&own)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = console_get(&app, "/sandbox/api/messages?channel=fax", Some(&own)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_page_and_its_assets_come_from_the_binary_with_a_strict_policy_and_no_cookie() {
    let app = console_app().await;
    for (path, kind) in [
        ("/sandbox/", "text/html"),
        ("/sandbox/console.js", "text/javascript"),
        ("/sandbox/console.css", "text/css"),
    ] {
        let res = console_get(&app, path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(kind));
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h.get("set-cookie").is_none());
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{path} names no other host"
        );
    }
    let res = console_get(&app, "/sandbox", None).await;
    assert!(res.url().path().ends_with("/sandbox/"), "{}", res.url());
}

#[tokio::test]
async fn the_console_does_not_exist_with_a_real_provider_even_with_an_operator_token() {
    for failover in [false, true] {
        let app = spawn_app_with(
            |c| {
                use_twilio(c, "http://127.0.0.1:9");
                if failover {
                    // A fake primary with a real provider behind it is a real provider.
                    c.provider.kind = otpd::config::ProviderKind::Fake;
                    c.provider.failover = otpd::config::Failover::Csv("twilio".into());
                }
                c.sandbox.operator_token = Some(SecretString::from(OPERATOR_TOKEN));
            },
            ProjectSettings::default(),
            false,
        )
        .await;
        let operator = format!("Bearer {OPERATOR_TOKEN}");
        for path in ["/sandbox/", "/sandbox/console.js", "/sandbox/api/messages"] {
            let res = console_get(&app, path, Some(&operator)).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error_type"], "route_not_found");
        }
        let own = basic(&app.project_id, &app.secret);
        let res = console_get(&app, "/v1/sandbox/messages", Some(&own)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

fn console_env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with scripts/test, which installs puppeteer-core and Chromium (tests/browser/install.sh)")
    })
}

#[tokio::test]
async fn a_tester_sees_a_code_arrive_live_filters_and_copies_it_in_chromium() {
    let node_path = console_env("OTPD_BROWSER_NODE_PATH");
    let chromium = console_env("OTPD_CHROMIUM");
    let app = console_app().await;
    let (other_id, other_secret) = other_project(&app).await;
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);

    let started = Instant::now();
    let mut cmd = Command::new("node");
    cmd.arg("tests/console/console.mjs")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NODE_PATH", &node_path)
        .env("OTPD_BASE_URL", &app.address)
        .env("OTPD_PROJECT_ID", &app.project_id)
        .env("OTPD_SECRET", &app.secret)
        .env("OTPD_OTHER_PROJECT_ID", &other_id)
        .env("OTPD_OTHER_SECRET", &other_secret)
        .env("OTPD_CONSOLE_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("OTPD_CONSOLE_CHROMIUM", &chromium)
        .env("OTPD_CONSOLE_ARTIFACTS", &artifacts);
    // Blocking the runtime's thread would stall the server under test: node runs on its own.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "console browser test: {:.1} s wall time\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "browser script failed:\n{stdout}\n{stderr}"
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let appeared = seen["appeared_ms"].as_u64().unwrap();
    assert!(appeared < 1000, "a send took {appeared} ms to appear");
    assert_eq!(seen["same_document"], true, "the page was not reloaded");
    let code = app.last_code("+12015550102").await;
    assert_eq!(seen["expected_code"], code.as_str());
    assert_eq!(seen["shown_code"], code.as_str());
    assert_eq!(seen["clipboard"], code.as_str());
    assert_eq!(seen["wrong_credentials_saw"], 0);
    assert_eq!(seen["page_text_after_wrong"], false);
    assert_eq!(seen["project_saw_other_project"], false);
    assert_eq!(seen["operator_saw_other_project"], true);
    let only = |key: &str, needle: &str| {
        let shown = seen[key].as_array().unwrap();
        assert!(!shown.is_empty(), "{key}");
        assert!(
            shown.iter().all(|t| t.as_str().unwrap().contains(needle)),
            "{key}: {shown:?}"
        );
    };
    only("filtered_by_number", "+12015550101");
    only("filtered_by_channel", "WhatsApp");
    only("filtered_by_project", "+12015550104");
    let facts: Vec<&str> = seen["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let facts = facts.join("\n\n");
    for fact in [
        "Locale\nru\nLength\n1 segment, UCS-2, ",
        "of 70 UCS-2 characters used",
        "Locale\nen\nLength\n1 segment, GSM-7, ",
        "of 160 characters used",
        &format!("Autofill line\n@staging.example.com #{code}"),
        "Delivery\ndelivered",
    ] {
        assert!(facts.contains(fact), "{fact} not shown: {facts}");
    }
    assert_eq!(seen["foreign_requests"], json!([]));
    assert_eq!(seen["cookies"], 0);
    assert_eq!(
        seen["console_errors"],
        json!([]),
        "CSP violations or script errors"
    );
    assert_eq!(seen["phone_overflows"], false, "scrolls sideways at 390 px");
    for shot in seen["screenshots"].as_array().unwrap() {
        let png = std::fs::read(shot.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // A blank page compresses to a few kilobytes; a rendered outbox doesn't.
        assert!(
            png.len() > 20_000,
            "{shot} looks blank ({} bytes)",
            png.len()
        );
    }
}

/// Stops the PostgreSQL cluster `otpd dev` left running in `data_dir` (as its owner).
struct DevCluster(PathBuf);

impl Drop for DevCluster {
    fn drop(&mut self) {
        let pg = self.0.join("data/pg");
        let bin = std::env::var("OTPD_TEST_PG_BIN").map(PathBuf::from);
        let owner = Command::new("stat")
            .args(["-c", "%U"])
            .arg(&pg)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if let (Ok(bin), Ok(owner)) = (bin, owner) {
            let _ = Command::new("runuser")
                .args(["-u", &owner, "--"])
                .arg(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&pg)
                .args(["-m", "immediate", "stop"])
                .current_dir("/")
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn otpd_dev_prints_the_console_address_before_its_first_log_line_and_logs_compactly() {
    let dir = crate::cli::temp_dir();
    let _cluster = DevCluster(dir.clone());
    // One file for both streams, as a terminal shows them: their order is what a person sees.
    let out_path = dir.join("dev-output.txt");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = crate::cli::otpd()
        .args(["dev", "--data-dir"])
        .arg(dir.join("data"))
        .env("OTPD_LISTEN", "127.0.0.1:0")
        .env("OTPD_HASHING__M_COST_KIB", "8192")
        .env("OTPD_HASHING__T_COST", "1")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
    let wait_for = |needle: &'static str| async move {
        for _ in 0..600 {
            if read().contains(needle) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    let printed = wait_for("customBaseUrl").await;
    let text = read();
    let url = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http://127.0.0.1:") && l.ends_with("/sandbox/"))
        .map(str::to_owned);
    let mut summary = None;
    if let Some(url) = &url {
        let res = reqwest::get(url).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("otpd staging console"));
        if wait_for("request finished").await {
            summary = read()
                .lines()
                .find(|l| l.contains("request finished"))
                .map(str::to_owned);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = read();
    assert!(printed, "no instructions:\n{text}");
    assert!(url.is_some(), "no console address:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    let last_instruction = lines
        .iter()
        .position(|l| l.contains("customBaseUrl"))
        .unwrap();
    // A log line starts with its timestamp (`2026-…T…Z`).
    let is_log = |l: &&str| l.len() > 20 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b'T';
    let first_log = lines.iter().position(is_log);
    assert!(
        first_log.is_some_and(|i| i > last_instruction),
        "log lines interleave with the instructions:\n{text}"
    );
    let line = summary.expect("a summary line for the request");
    assert!(!line.trim_start().starts_with('{'), "not JSON: {line}");
    assert!(
        line.contains("route=/sandbox/") && line.contains("status=200"),
        "{line}"
    );
    assert!(
        !line.contains('\u{1b}'),
        "no colour when stderr is not a terminal: {line}"
    );
}
