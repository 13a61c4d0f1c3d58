//! The binary's contract: configuration validation, `project create --json`, HTTPS serving.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{TestApp, TestDb, PEPPER};
use reqwest::StatusCode;

pub fn otpd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_otpd"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTPD_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c.env("OTPD_LOG__LEVEL", "info");
    c
}

/// Asserts that a command exited successfully, showing its stderr if not.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the `otpd` CLI against the app's database as an operator would; its stdout.
pub fn otpd_cli(app: &TestApp, args: &[&str]) -> String {
    let out = otpd()
        .env("DATABASE_URL", &app.db.url)
        .env("OTPD_HASHING__PEPPER", PEPPER)
        .args(args)
        .output()
        .unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `otpd project create --name NAME --json` with `cmd`'s configuration and returns
/// `(project_id, secret)`.
pub fn create_project(mut cmd: Command, name: &str) -> (String, String) {
    let out = cmd
        .args(["project", "create", "--name", name, "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        creds["project_id"].as_str().unwrap().to_owned(),
        creds["secret"].as_str().unwrap().to_owned(),
    )
}

pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("otpd-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A throw-away CA and a server certificate for 127.0.0.1 signed by it.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

pub fn make_ca(dir: &Path) -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "otpd test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let t = TestCa {
        ca_pem: dir.join("ca.pem"),
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
    };
    std::fs::write(&t.ca_pem, ca.pem()).unwrap();
    std::fs::write(&t.cert_pem, leaf.pem()).unwrap();
    std::fs::write(&t.key_pem, leaf_key.serialize_pem()).unwrap();
    t
}

/// A running `otpd serve`; killed on drop.
pub struct Served {
    pub child: Child,
    pub address: String,
    /// Every log line the server has written so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `otpd serve` and waits for its `listening` log line.
pub fn serve(mut cmd: Command) -> Served {
    cmd.arg("serve")
        .env("OTPD_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            if line.contains("\"listening\"") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["address"].as_str().unwrap().to_owned());
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("otpd serve did not start");
    Served {
        child,
        address,
        logs,
    }
}

pub fn run_serve_expecting_failure(cmd: &mut Command) -> (i32, String) {
    let out = cmd
        .arg("serve")
        .env("OTPD_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[test]
fn serve_refuses_to_start_on_bad_configuration_naming_the_key() {
    let dir = temp_dir();
    let db = "postgres://nobody@127.0.0.1:1/none";
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![("DATABASE_URL", db.into())], "hashing.pepper"),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", "short".into()),
            ],
            "hashing.pepper",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", "a".repeat(40)),
            ],
            "hashing.pepper",
        ),
        (
            vec![("OTPD_HASHING__PEPPER", PEPPER.into())],
            "database_url",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_LISTEN", "nowhere".into()),
            ],
            "listen",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                (
                    "OTPD_TLS__CERT",
                    dir.join("missing.pem").display().to_string(),
                ),
                (
                    "OTPD_TLS__KEY",
                    dir.join("missing.key").display().to_string(),
                ),
            ],
            "tls.cert",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_TLS__CERT", "/etc/hostname".into()),
            ],
            "tls.key",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_RETENTION__BATCH_SIZE", "0".into()),
            ],
            "retention.batch_size",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_ADMIN_LISTEN", "nowhere".into()),
            ],
            "admin_listen",
        ),
        // Ages past a PostgreSQL interval, a timer that would overflow.
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_RETENTION__CODE_AGE_HOURS", "4294967295".into()),
            ],
            "retention.code_age_hours",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_RETENTION__OUTBOX_AGE_HOURS", "100000".into()),
            ],
            "retention.outbox_age_hours",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                ("OTPD_RETENTION__MESSAGE_AGE_DAYS", "2000000000".into()),
            ],
            "retention.message_age_days",
        ),
        (
            vec![
                ("DATABASE_URL", db.into()),
                ("OTPD_HASHING__PEPPER", PEPPER.into()),
                (
                    "OTPD_RETENTION__INTERVAL_SECONDS",
                    "18446744073709551615".into(),
                ),
            ],
            "retention.interval_seconds",
        ),
    ];
    for (env, key) in cases {
        let mut cmd = otpd();
        for (k, v) in &env {
            cmd.env(k, v);
        }
        // OTPD_LISTEN from the case must win over the default test listen address.
        let (code, stderr) = if let Some((_, l)) = env.iter().find(|(k, _)| *k == "OTPD_LISTEN") {
            let out = cmd.arg("serve").env("OTPD_LISTEN", l).output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            )
        } else {
            run_serve_expecting_failure(&mut cmd)
        };
        assert_eq!(code, 2, "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{stderr:?} should name {key}");
    }
    let bad_file = dir.join("otpd.toml");
    std::fs::write(&bad_file, "listen = [1,2]").unwrap();
    let out = otpd()
        .arg("--config")
        .arg(&bad_file)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen"));
}

#[tokio::test]
async fn project_create_json_prints_one_object_whose_credentials_work_over_https() {
    let db = TestDb::create().await;
    let dir = temp_dir();
    let ca = make_ca(&dir);
    let config = dir.join("otpd.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\n[hashing]\npepper = \"{PEPPER}\"\nm_cost_kib = 8192\nt_cost = 1\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            db.url,
            ca.cert_pem.display(),
            ca.key_pem.display()
        ),
    )
    .unwrap();
    let out = otpd()
        .args(["--config"])
        .arg(&config)
        .args([
            "project", "create", "--name", "Shop", "--json", "--brand", "ShopCo",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let creds: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let (pid, secret) = (
        creds["project_id"].as_str().unwrap(),
        creds["secret"].as_str().unwrap(),
    );
    assert!(pid.starts_with("project-test-"));
    assert!(secret.starts_with("secret-test-"));

    let mut cmd = otpd();
    cmd.arg("--config").arg(&config);
    let served = serve(cmd);
    assert!(
        served.address.starts_with("https://127.0.0.1:"),
        "{}",
        served.address
    );
    let ca_cert = reqwest::Certificate::from_pem(&std::fs::read(&ca.ca_pem).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca_cert)
        .build()
        .unwrap();
    let phone = crate::helpers::unique_us_number();
    let r = client
        .post(format!("{}/v1/otps/sms/login_or_create", served.address))
        .basic_auth(pid, Some(secret))
        .json(&serde_json::json!({"phone_number": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let outbox: serde_json::Value = client
        .get(format!(
            "{}/v1/sandbox/messages?to={}",
            served.address,
            phone.replace('+', "%2B")
        ))
        .basic_auth(pid, Some(secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = outbox["messages"][0]["body"].as_str().unwrap();
    assert!(body.contains("ShopCo"));
    let code = crate::helpers::first_six_digits(body).unwrap();
    let phone_id = r.json::<serde_json::Value>().await.unwrap()["phone_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = client
        .post(format!("{}/v1/otps/authenticate", served.address))
        .basic_auth(pid, Some(secret))
        .json(&serde_json::json!({"method_id": phone_id, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status(), StatusCode::OK);

    // The whole flow's log: one summary line per request, and no number, code or secret.
    std::thread::sleep(Duration::from_millis(300));
    let logs = served.logs.lock().unwrap().join("\n");
    let summaries: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.contains("\"request finished\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(summaries.len() >= 3, "{logs}");
    // Each summary line carries the route pattern, status, latency, request id and project.
    let auth_line = summaries
        .iter()
        .find(|v| v["route"] == "/v1/otps/authenticate")
        .unwrap_or_else(|| panic!("no summary for authenticate: {logs}"));
    assert_eq!(auth_line["status"], 200);
    assert_eq!(auth_line["method"], "POST");
    assert_eq!(auth_line["project"], pid);
    assert!(auth_line["latency_ms"].as_f64().is_some(), "{auth_line}");
    assert!(
        auth_line["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("request-id-test-")),
        "{auth_line}"
    );
    assert!(summaries
        .iter()
        .any(|v| v["route"] == "/v1/sandbox/messages" && v["status"] == 200));
    assert!(
        logs.contains("+1201*****"),
        "masked numbers are logged: {logs}"
    );
    for secret_thing in [phone.as_str(), &phone[1..], secret, body] {
        assert!(!logs.contains(secret_thing), "log leaks {secret_thing:?}");
    }
    // The code as a standalone 6-digit run (timestamps and latencies carry other digit runs).
    let standalone_runs: Vec<&str> = logs
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 6)
        .collect();
    assert!(
        !standalone_runs.contains(&code.as_str()),
        "log leaks the passcode"
    );
    // Plain HTTP to the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(served.address.replace("https", "http") + "/healthz")
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    let rotated = otpd()
        .arg("--config")
        .arg(&config)
        .args(["project", "secret", "create", pid, "--json"])
        .output()
        .unwrap();
    let rotated: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let revoke = otpd()
        .arg("--config")
        .arg(&config)
        .args([
            "project",
            "secret",
            "revoke",
            pid,
            rotated["secret_id"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let update = otpd()
        .arg("--config")
        .arg(&config)
        .args(["project", "update", pid, "--brand", "bad\u{7}brand"])
        .output()
        .unwrap();
    assert!(
        !update.status.success(),
        "a control character in a brand is refused"
    );
}

#[tokio::test]
async fn serve_takes_numeric_looking_strings_from_the_environment_as_kubernetes_sets_them() {
    let db = TestDb::create().await;
    let mut cmd = otpd();
    cmd.env("DATABASE_URL", &db.url)
        .env(
            "OTPD_HASHING__PEPPER",
            "90817263544536271809182736450918273645",
        )
        .env("OTPD_HASHING__M_COST_KIB", "8192")
        .env("OTPD_HASHING__T_COST", "1")
        .env("OTPD_PROVIDER__KIND", "twilio")
        .env("OTPD_PROVIDER__FAILOVER", "vonage")
        .env(
            "OTPD_PROVIDER__TWILIO__ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        )
        .env("OTPD_PROVIDER__TWILIO__AUTH_TOKEN", "01234567890123456789")
        .env("OTPD_PROVIDER__TWILIO__FROM", "+15005550006")
        .env("OTPD_PROVIDER__VONAGE__API_KEY", "00012345")
        .env("OTPD_PROVIDER__VONAGE__API_SECRET", "1.5")
        .env("OTPD_PROVIDER__VONAGE__FROM", "447700900123");
    let served = serve(cmd);
    let ready = reqwest::get(format!("{}/readyz", served.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn project_create_on_a_database_never_migrated_says_to_migrate_first() {
    let db = TestDb::empty().await;
    let run = || {
        otpd()
            .env("DATABASE_URL", &db.url)
            .env("OTPD_HASHING__PEPPER", PEPPER)
            .args(["project", "create", "--name", "Shop", "--json"])
            .output()
            .unwrap()
    };
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    let said = stderr
        .lines()
        .find(|l| l.starts_with("otpd: "))
        .unwrap_or_default();
    assert!(said.contains("run `otpd migrate`"), "{stderr}");
    assert!(!stderr.contains("does not exist"), "{stderr}");
    let migrated = otpd()
        .env("DATABASE_URL", &db.url)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let out = run();
    assert_success(&out);
}

#[tokio::test]
async fn project_trusted_token_create_prints_a_profile_that_attest_accepts() {
    let app = crate::helpers::spawn_app().await;
    let dir = temp_dir();
    let pem = dir.join("issuer.pem");
    std::fs::write(&pem, &crate::helpers::test_issuer().public_pem).unwrap();
    let run = |args: &[&str]| {
        otpd()
            .env("DATABASE_URL", &app.db.url)
            .env("OTPD_HASHING__PEPPER", PEPPER)
            .args(["project", "trusted-token", "create", &app.project_id])
            .args(args)
            .output()
            .unwrap()
    };
    let pem_arg = pem.to_str().unwrap();
    let out = run(&[
        "--issuer",
        crate::helpers::TEST_ISSUER,
        "--audience",
        crate::helpers::TEST_AUDIENCE,
        "--pem-file",
        pem_arg,
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    let printed: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(printed.as_object().unwrap().len(), 1, "{stdout}");
    let profile = printed["profile_id"].as_str().unwrap();
    assert!(profile.starts_with("trusted-auth-token-profile-test-"));
    app.post("/v1/users", serde_json::json!({"email": "cli@example.com"}))
        .await;
    let r = app
        .post(
            "/v1/sessions/attest",
            serde_json::json!({"profile_id": profile,
                               "token": crate::helpers::test_issuer().token("cli@example.com")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // A file that isn't an RSA public key, both key sources, and neither are refused.
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let base = ["--issuer", "iss", "--audience", "aud"];
    for extra in [
        vec!["--pem-file", bad.to_str().unwrap()],
        vec![
            "--pem-file",
            pem_arg,
            "--jwks-url",
            "https://idp.example/jwks",
        ],
        vec![],
        vec!["--jwks-url", "ftp://idp.example/jwks"],
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        app.count("select count(*) from trusted_token_profiles")
            .await,
        1
    );
}

/// `otpd project keys revoke ID KID`: the emergency revoke of a signing key. Its JWTs stop
/// verifying at once, it leaves the JWKS, and the project signs with a new key.
#[tokio::test]
async fn a_revoked_signing_key_stops_verifying_at_once_and_leaves_the_jwks() {
    let app = crate::helpers::spawn_app().await;
    let r = app.login_or_create("+10000000000").await;
    let start = || {
        app.post(
            "/v1/otps/authenticate",
            serde_json::json!({"method_id": r.body["phone_id"], "code": "000000",
                               "session_duration_minutes": 60}),
        )
    };
    let a = start().await;
    let jwt = a.body["session_jwt"].as_str().unwrap().to_owned();
    let kid = jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
    let ok = app
        .post(
            "/v1/sessions/authenticate",
            serde_json::json!({"session_jwt": jwt}),
        )
        .await;
    assert_eq!(ok.status, reqwest::StatusCode::OK, "{:?}", ok.body);

    let revoke = |kid: &str| {
        otpd()
            .env("DATABASE_URL", &app.db.url)
            .env("OTPD_HASHING__PEPPER", PEPPER)
            .args(["project", "keys", "revoke", &app.project_id, kid])
            .output()
            .unwrap()
    };
    let out = revoke(&kid);
    assert_success(&out);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&format!("revoked {kid}")), "{printed}");

    let refused = app
        .post(
            "/v1/sessions/authenticate",
            serde_json::json!({"session_jwt": jwt}),
        )
        .await;
    assert_ne!(
        refused.status,
        reqwest::StatusCode::OK,
        "{:?}",
        refused.body
    );
    // This replica's JWKS cache holds an answer for at most 5 s.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let jwks: serde_json::Value = reqwest::get(format!(
        "{}/v1/sessions/jwks/{}",
        app.address, app.project_id
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(!kids.contains(&kid.as_str()), "{kids:?}");
    assert_eq!(kids.len(), 1, "a new current key is published: {kids:?}");

    // An unknown or already revoked key is an error, not a silent success.
    let again = revoke(&kid);
    assert!(!again.status.success());
}
