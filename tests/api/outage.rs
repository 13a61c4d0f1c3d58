//! A real PostgreSQL outage: otpd answers 503 quickly while its database is down and
//! recovers by itself, without a restart, when the database returns.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use otpd::domain::project::ProjectSettings;
use otpd::domain::secret::SecretHasher;
use otpd::otp::projects;
use otpd::startup::Application;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::{unique_us_number, PEPPER};

/// A PostgreSQL cluster private to one test, in a temp dir on a free port.
struct Cluster {
    bin: PathBuf,
    run_as: Option<String>,
    dir: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("OTPD_TEST_PG_BIN") {
        return PathBuf::from(bin);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (scripts/test sets OTPD_TEST_PG_BIN)")
        .map(|e| e.unwrap().path().join("bin"))
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version")
}

impl Cluster {
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        c.current_dir("/");
        c
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn init() -> Cluster {
        let run_as = std::env::var("OTPD_TEST_PG_RUNAS")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| is_root().then(|| "postgres".to_owned()));
        let dir =
            std::env::temp_dir().join(format!("otpd-outage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(user) = &run_as {
            let ok = Command::new("chown")
                .arg(user)
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown {user} {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Cluster {
            bin: pg_bin(),
            run_as,
            dir,
            port,
        };
        let data = c.data();
        c.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "otpd",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        c.start();
        c
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn start(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("pg.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-o", &opts, "start"],
        );
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://otpd@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
async fn a_database_outage_gives_quick_503s_and_otpd_recovers_when_it_returns() {
    let cluster = Cluster::init();
    let mut config = otpd::config::Config {
        listen: "127.0.0.1:0".into(),
        database_url: Some(SecretString::from(cluster.url())),
        ..otpd::config::Config::default()
    };
    config.hashing.pepper = Some(SecretString::from(PEPPER));
    config.hashing.m_cost_kib = 8192;
    config.hashing.t_cost = 1;
    config.database.acquire_timeout_ms = 1_000;
    let app = Application::build(&config).await.unwrap();
    otpd::store::migrate(app.pool()).await.unwrap();
    let (project, secret) = projects::create_project(
        app.pool(),
        &SecretHasher::new(&SecretString::from(PEPPER)),
        "Acme",
        false,
        &ProjectSettings::default(),
    )
    .await
    .unwrap();
    let secret = secret.secret.expose_secret().to_owned();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(format!("{address}/v1/otps/sms/login_or_create"))
            .basic_auth(project.as_str(), Some(&secret))
            .json(&serde_json::json!({"phone_number": unique_us_number()}))
            .send()
    };
    let get = |path: &'static str| client.get(format!("{address}{path}")).send();

    assert_eq!(send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);

    cluster.stop();

    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    // /readyz reuses its answer for up to a second (otpd::http::health::READINESS_TTL), so
    // the outage shows within that plus one quick failed check.
    let started = Instant::now();
    loop {
        let ready = get("/readyz").await.unwrap();
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "/readyz still {} after {:?}",
            ready.status(),
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    for _ in 0..2 {
        let started = Instant::now();
        let res = send().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status_code"], 503);
        assert_eq!(body["error_type"], "server_unavailable");
        assert_eq!(body["request_id"], id.as_str());
        assert!(body["error_message"].is_string() && body["error_url"].is_string());
        assert!(elapsed < Duration::from_secs(3), "503 took {elapsed:?}");
    }
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);

    cluster.start();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = get("/readyz").await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status} after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let res = send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
}

/// The pool pings only a connection that sat idle (`otpd::store::PING_AFTER_IDLE`), not one
/// per statement: connections the server closed while otpd was quiet (an idle-session killer,
/// a restarted pooler, an operator's `pg_terminate_backend`) are replaced without failing
/// the next request.
#[tokio::test]
async fn connections_the_server_closed_while_idle_are_replaced_without_failing_a_request() {
    use sqlx::{Connection, Executor, PgConnection, Row};

    let app = crate::helpers::spawn_app_unlimited().await;
    let first = unique_us_number();
    let sent = app.login_or_create(&first).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);

    let mut admin = PgConnection::connect(&crate::helpers::server_url())
        .await
        .unwrap();
    let killed: i64 = admin
        .fetch_one(
            sqlx::query(
                "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
                 where datname = $1 and pid <> pg_backend_pid()",
            )
            .bind(&app.db.name),
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "otpd held no connection to close");
    println!("connections closed by the server while idle: {killed}");
    tokio::time::sleep(otpd::store::PING_AFTER_IDLE + Duration::from_millis(200)).await;

    // Every request from here on gets a live connection: none sees the closed ones.
    let method = sent.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&first).await;
    let ok = app.authenticate(&method, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    for _ in 0..3 {
        let again = app.login_or_create(&unique_us_number()).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    }
}
