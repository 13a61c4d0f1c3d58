//! The official Stytch SDKs (Python 15.3.0, Node 14.2.0, pinned in tests/sdk) drive
//! `otpd serve` over HTTPS with a throw-away CA, unmodified.

use std::process::Command;

use crate::cli::{make_ca, otpd, serve, temp_dir};
use crate::helpers::{TestDb, PEPPER};

pub fn sdk_env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with scripts/test, which installs the pinned SDKs (tests/sdk/install.sh)")
    })
}

pub fn run_script(mut cmd: Command, base: &str, pid: &str, secret: &str, ca: &std::path::Path) {
    let out = cmd
        .env("OTPD_BASE_URL", format!("{base}/"))
        .env("OTPD_PROJECT_ID", pid)
        .env("OTPD_SECRET", secret)
        // The machine's own bundle variables must not win over the throw-away CA.
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("SSL_CERT_FILE", ca)
        .env("NODE_EXTRA_CA_CERTS", ca)
        .env_remove("CURL_CA_BUNDLE")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[tokio::test]
async fn the_official_python_and_node_sdks_work_unmodified_over_https_consumer_and_b2b() {
    let python = sdk_env("OTPD_SDK_PYTHON");
    let node_path = sdk_env("OTPD_SDK_NODE_PATH");
    let db = TestDb::create().await;
    let dir = temp_dir();
    let ca = make_ca(&dir);
    let base_cmd = || {
        let mut c = otpd();
        c.env("DATABASE_URL", &db.url)
            .env("OTPD_HASHING__PEPPER", PEPPER)
            .env("OTPD_HASHING__M_COST_KIB", "8192")
            .env("OTPD_HASHING__T_COST", "1")
            .env("OTPD_TLS__CERT", &ca.cert_pem)
            .env("OTPD_TLS__KEY", &ca.key_pem);
        c
    };
    let served = serve(base_cmd());
    let (pid, secret) = crate::cli::create_project(base_cmd(), "SDK Shop");
    let (pid, secret) = (pid.as_str(), secret.as_str());
    // A trusted auth token profile for `sessions.attest`; the scripts mint its tokens.
    let issuer = crate::helpers::test_issuer();
    let (public_pem, private_pem) = (dir.join("issuer.pem"), dir.join("issuer-key.pem"));
    std::fs::write(&public_pem, &issuer.public_pem).unwrap();
    std::fs::write(&private_pem, &issuer.private_pem).unwrap();
    let out = base_cmd()
        .args(["project", "trusted-token", "create", pid, "--json"])
        .args(["--issuer", crate::helpers::TEST_ISSUER])
        .args(["--audience", crate::helpers::TEST_AUDIENCE])
        .arg("--pem-file")
        .arg(&public_pem)
        .output()
        .unwrap();
    crate::cli::assert_success(&out);
    let profile: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let profile = profile["profile_id"].as_str().unwrap().to_owned();
    let trusted = |c: &mut Command| {
        c.env("OTPD_TRUSTED_PROFILE_ID", &profile)
            .env("OTPD_TRUSTED_KEY_FILE", &private_pem)
            .env("OTPD_TRUSTED_ISSUER", crate::helpers::TEST_ISSUER)
            .env("OTPD_TRUSTED_AUDIENCE", crate::helpers::TEST_AUDIENCE);
    };

    let mut py = Command::new(&python);
    py.arg("tests/sdk/compat.py");
    run_script(py, &served.address, pid, secret, &ca.ca_pem);

    let mut py_sessions = Command::new(&python);
    py_sessions.arg("tests/sdk/sessions_compat.py");
    run_script(py_sessions, &served.address, pid, secret, &ca.ca_pem);

    let mut py_b2b = Command::new(&python);
    py_b2b.arg("tests/sdk/b2b_compat.py");
    trusted(&mut py_b2b);
    run_script(py_b2b, &served.address, pid, secret, &ca.ca_pem);

    let mut node = Command::new("node");
    node.arg("tests/sdk/compat.mjs")
        .env("NODE_PATH", &node_path);
    trusted(&mut node);
    run_script(node, &served.address, pid, secret, &ca.ca_pem);
}
