//! SIGTERM: `otpd serve` stops accepting, lets the in-flight request finish, and exits 0.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::cli::{otpd, serve};
use crate::helpers::{unique_us_number, TestDb, PEPPER};

#[tokio::test]
async fn sigterm_drains_the_in_flight_request_refuses_new_ones_and_exits_zero() {
    let db = TestDb::create().await;
    let env = |c: &mut Command| {
        c.env("DATABASE_URL", &db.url)
            .env("OTPD_HASHING__PEPPER", PEPPER)
            // Deliberately slow argon2 so a send is still in flight when the signal lands.
            .env("OTPD_HASHING__M_COST_KIB", "65536")
            .env("OTPD_HASHING__T_COST", "40")
            .env("OTPD_SHUTDOWN_TIMEOUT_SECONDS", "60");
    };
    let mut create = otpd();
    env(&mut create);
    let (pid, secret) = crate::cli::create_project(create, "Acme");

    let mut cmd = otpd();
    env(&mut cmd);
    let mut served = serve(cmd);
    let address = served.address.clone();
    // No idle keep-alive connections, so nothing but the in-flight request holds the drain.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let in_flight = tokio::spawn({
        let (client, address) = (client.clone(), address.clone());
        async move {
            let res = client
                .post(format!("{address}/v1/otps/sms/login_or_create"))
                .basic_auth(pid, Some(secret))
                .json(&serde_json::json!({"phone_number": unique_us_number()}))
                .send()
                .await
                .unwrap();
            (res.status(), Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let term = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let refused_at = Instant::now();
    let refused = client.get(format!("{address}/healthz")).send().await;
    assert!(
        refused.is_err(),
        "a new connection was served after SIGTERM: {refused:?}"
    );

    let (status, finished) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    eprintln!(
        "in-flight send took {:?}; new connections refused at {:?}",
        finished - started,
        refused_at - started
    );
    assert!(
        finished > refused_at,
        "the request must still have been in flight when new connections were refused \
         (it took {:?}); raise the argon2 cost",
        finished - started
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "otpd did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, Some(0));
    let logs = served.logs.lock().unwrap().join("\n");
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(logs.contains("closing the database pool"), "{logs}");
}
