//! What the deployment files rely on: `otpd healthcheck` (the container HEALTHCHECK), the
//! Kubernetes config file loading, and every metric the dashboard and alerts query existing
//! in a live `/metrics` scrape.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Output;

use crate::cli::{make_ca, otpd, serve, temp_dir};
use crate::helpers::{spawn_app, unique_us_number, TestDb, PEPPER};
use reqwest::StatusCode;

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the binary without blocking the runtime the in-process app is served on.
async fn run(cmd: std::process::Command) -> Output {
    tokio::process::Command::from(cmd).output().await.unwrap()
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn healthcheck_exits_0_when_the_app_answers() {
    let app = spawn_app().await;
    let port = port_of(&app.address);

    let mut explicit = otpd();
    explicit
        .arg("healthcheck")
        .arg("--url")
        .arg(format!("{}/healthz", app.address));
    let out = run(explicit).await;
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    // Without --url it probes /healthz on `listen`; an unspecified address (a container's
    // 0.0.0.0) is probed on loopback.
    for listen in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let mut derived = otpd();
        derived.env("OTPD_LISTEN", &listen).arg("healthcheck");
        let out = run(derived).await;
        assert_eq!(out.status.code(), Some(0), "{listen}: {}", explain(&out));
    }
}

#[tokio::test]
async fn healthcheck_exits_1_on_a_closed_port_or_an_error_status() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = otpd();
    cmd.env("OTPD_LISTEN", format!("127.0.0.1:{closed}")).args([
        "healthcheck",
        "--timeout-secs",
        "2",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{closed}/healthz")),
        "names what it probed: {stderr}"
    );

    let app = spawn_app().await;
    let mut cmd = otpd();
    cmd.arg("healthcheck")
        .arg("--url")
        .arg(format!("{}/no-such-route", app.address));
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[tokio::test]
async fn healthcheck_speaks_https_on_loopback_when_tls_is_configured() {
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
    let mut cmd = otpd();
    cmd.arg("--config").arg(&config);
    let served = serve(cmd);
    assert!(served.address.starts_with("https://"), "{}", served.address);
    let port = port_of(&served.address);

    // The certificate's CA is unknown to the probe: on loopback it is not verified.
    let mut derived = otpd();
    derived
        .arg("--config")
        .arg(&config)
        .env("OTPD_LISTEN", format!("127.0.0.1:{port}"))
        .arg("healthcheck");
    let out = run(derived).await;
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));

    // Plain HTTP to the TLS listener is a failure, not a pass.
    let mut plain = otpd();
    plain
        .arg("healthcheck")
        .arg("--url")
        .arg(format!("http://127.0.0.1:{port}/healthz"));
    let out = run(plain).await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
}

/// Exit 2 is a configuration error; 1 only means nothing answered the probe.
#[tokio::test]
async fn the_kubernetes_config_file_is_valid_otpd_configuration() {
    let mut cmd = otpd();
    cmd.arg("--config")
        .arg(repo_file("deploy/kubernetes/otpd.toml"))
        .args([
            "healthcheck",
            "--timeout-secs",
            "1",
            "--url",
            "http://127.0.0.1:1/healthz",
        ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));

    // Unknown keys would be ignored silently: each key must be one otpd has.
    let mut known = serde_json::to_value(otpd::config::Config::default()).unwrap();
    // Secrets are never serialized, so add them back by hand.
    known["database_url"] = serde_json::Value::Null;
    known["hashing"]["pepper"] = serde_json::Value::Null;
    known["provider"]["twilio"]["auth_token"] = serde_json::Value::Null;
    known["provider"]["twilio"]["api_key_secret"] = serde_json::Value::Null;
    known["provider"]["vonage"]["api_secret"] = serde_json::Value::Null;
    use figment::providers::Format;
    let file: serde_json::Value = figment::Figment::from(figment::providers::Toml::file_exact(
        repo_file("deploy/kubernetes/otpd.toml"),
    ))
    .extract()
    .unwrap();
    let mut unknown = Vec::new();
    unknown_keys(&file, &known, "", &mut unknown);
    // The OTPD_* variables the compose file and the Secret template set are keys too.
    let text = [
        "deploy/compose.yaml",
        "deploy/kubernetes/secret.template.yaml",
    ]
    .map(|f| std::fs::read_to_string(repo_file(f)).unwrap())
    .join("\n");
    let vars: BTreeSet<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("OTPD_"))
        .collect();
    for var in vars {
        let path: Vec<String> = var["OTPD_".len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        if path
            .iter()
            .try_fold(&known, |v, k| v.get(k.as_str()))
            .is_none()
        {
            unknown.push(var.to_owned());
        }
    }
    assert!(
        unknown.is_empty(),
        "not otpd configuration keys: {unknown:?}"
    );
}

fn unknown_keys(
    file: &serde_json::Value,
    known: &serde_json::Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let Some(map) = file.as_object() else { return };
    for (k, v) in map {
        let path = format!("{at}{k}");
        match known.get(k) {
            None => out.push(path),
            Some(kv) => unknown_keys(v, kv, &format!("{path}."), out),
        }
    }
}

/// Every `otpd_*` name the dashboard and the alerts query.
fn names_used_by_deploy_files() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in [
        "deploy/grafana/dashboards/otpd.json",
        "deploy/prometheus/alerts.yml",
    ] {
        let text = std::fs::read_to_string(repo_file(file)).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("otpd_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            // Only whole names: not the middle of a longer identifier.
            let before = rest[..i].chars().last();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                names.insert(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
    names
}

/// Every series name a scrape can be queried by: sample names, plus each declared family's
/// names (a labelled family with no child yet still has its `# TYPE`).
fn names_in_scrape(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            let (Some(family), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            names.insert(family.to_owned());
            match kind {
                "counter" => {
                    // OpenMetrics declares counters without their `_total` suffix.
                    names.insert(format!("{}_total", family.trim_end_matches("_total")));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{family}{suffix}"));
                    }
                }
                _ => {}
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn scrape_names_cover_samples_and_declared_families_in_both_text_formats() {
    let prometheus_text = "# HELP otpd_sends_total Sends.\n# TYPE otpd_sends_total counter\n\
        otpd_sends_total{channel=\"sms\",outcome=\"sent\"} 1\n\
        # HELP otpd_provider_errors_total Errors.\n# TYPE otpd_provider_errors_total counter\n\
        # HELP otpd_hashing_duration_seconds Hashing.\n# TYPE otpd_hashing_duration_seconds histogram\n\
        otpd_hashing_duration_seconds_bucket{le=\"0.1\"} 3\notpd_build_info{version=\"0.1.0\"} 1\n";
    let names = names_in_scrape(prometheus_text);
    for n in [
        "otpd_sends_total",
        "otpd_provider_errors_total",
        "otpd_hashing_duration_seconds_bucket",
        "otpd_hashing_duration_seconds_sum",
        "otpd_hashing_duration_seconds_count",
        "otpd_build_info",
    ] {
        assert!(names.contains(n), "{n}: {names:?}");
    }
    assert!(!names.contains("otpd_refusals_total"));
    // OpenMetrics declares a counter family without `_total`.
    let open_metrics = "# TYPE otpd_refusals counter\n# HELP otpd_refusals Refusals.\n# EOF\n";
    assert!(names_in_scrape(open_metrics).contains("otpd_refusals_total"));
    let used = names_used_by_deploy_files();
    assert!(
        used.contains("otpd_sends_total")
            && used.contains("otpd_http_request_duration_seconds_bucket")
    );
    assert!(used.iter().all(|n| !n.ends_with('_')), "{used:?}");
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_query_is_exported() {
    let used = names_used_by_deploy_files();
    assert!(used.len() >= 10, "{used:?}");

    // A real flow first, so labelled families have children.
    let app = spawn_app().await;
    let phone = unique_us_number();
    let sent = app.login_or_create(&phone).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let phone_id = sent.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    let wrong = app
        .authenticate(&phone_id, &crate::helpers::wrong_code(&code))
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    let ok = app.authenticate(&phone_id, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // Families labelled only by events this flow cannot cause (a provider error, a delivery
    // receipt, a circuit change) have no series until they happen, and an empty family is
    // not exposed at all. Record one of each through the contract's recording API (the
    // registry is process-global, shared with the in-process app).
    otpd::metrics::provider_request(
        "fake",
        "retryable",
        Some("http_503"),
        std::time::Duration::ZERO,
    );
    otpd::metrics::delivery_receipt("fake", "delivered");
    otpd::metrics::circuit_open("fake", false);
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET /metrics");
    let scrape = res.text().await.unwrap();
    let exported = names_in_scrape(&scrape);
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "queried by deploy/ but not in a live /metrics scrape: {missing:?}\n{scrape}"
    );
}
