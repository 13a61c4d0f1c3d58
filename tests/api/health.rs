use crate::helpers::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_on_a_migrated_database() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["request_id"], id.as_str());
        assert_eq!(body["status_code"], 200);
    }
}

#[tokio::test]
async fn readyz_is_unavailable_while_migrations_are_missing() {
    let app = spawn_app().await;
    sqlx::query("delete from _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    let res = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn readyz_answers_from_a_one_second_cache_and_then_sees_the_change() {
    use std::time::{Duration, Instant};
    let app = spawn_app().await;
    let readyz = || async {
        app.client
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(readyz().await, StatusCode::OK);
    let changed = Instant::now();
    sqlx::query("delete from _sqlx_migrations")
        .execute(&app.pool)
        .await
        .unwrap();
    // A burst right after the change is answered without asking the database again.
    let burst = futures_util::future::join_all((0..50).map(|_| readyz())).await;
    if changed.elapsed() < Duration::from_millis(800) {
        assert!(
            burst.iter().all(|s| *s == StatusCode::OK),
            "cached answers: {burst:?}"
        );
    }
    // ...and the change shows within about a second.
    let mut seen = None;
    while changed.elapsed() < Duration::from_secs(3) {
        if readyz().await == StatusCode::SERVICE_UNAVAILABLE {
            seen = Some(changed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.expect("readyz saw the missing migrations");
    assert!(seen <= Duration::from_millis(2000), "{seen:?}");
}
