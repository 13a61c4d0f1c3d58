//! The request path's kept connections (`store::held`), on a real PostgreSQL: a connection
//! goes back on the stack only after a statement PostgreSQL answered in full, and comes back
//! warm (the same backend) for the next statement.

use std::time::Duration;

use otpd::store::held::Held;
use otpd::store::{self, DatabaseConfig, StoreError};
use sqlx::PgConnection;

use crate::helpers::TestDb;

/// The database is dropped with the returned `TestDb`: keep it for the test's length.
async fn held(max_connections: u32) -> (std::sync::Arc<Held>, sqlx::PgPool, TestDb) {
    let db = TestDb::empty().await;
    let pool = store::connect_pool(
        &secrecy::SecretString::from(db.url.clone()),
        &DatabaseConfig {
            max_connections,
            ..DatabaseConfig::default()
        },
    )
    .unwrap();
    (Held::new(pool.clone()), pool, db)
}

async fn backend(conn: &mut PgConnection) -> Result<i32, StoreError> {
    Ok(sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(conn)
        .await?)
}

async fn statement(held: &std::sync::Arc<Held>, sql: &str) -> Result<i32, StoreError> {
    let mut conn = held.acquire().await?;
    let r = async {
        let c = conn.start()?;
        sqlx::query(sql).execute(&mut *c).await?;
        backend(c).await
    }
    .await;
    conn.finish(r)
}

#[tokio::test]
async fn a_completed_statement_keeps_its_connection_warm_for_the_next() {
    let (held, _pool, _db) = held(4).await;
    let first = statement(&held, "select 1").await.unwrap();
    assert_eq!(held.idle(), 1);
    // The same backend again, with nothing in between.
    assert_eq!(statement(&held, "select 2").await.unwrap(), first);
    assert_eq!(held.idle(), 1);
}

#[tokio::test]
async fn an_error_postgresql_answered_keeps_the_connection_and_it_still_works() {
    let (held, _pool, _db) = held(4).await;
    let first = statement(&held, "select 1").await.unwrap();
    let failed = statement(&held, "select 1 / 0").await;
    assert!(
        matches!(&failed, Err(StoreError::Db(sqlx::Error::Database(_)))),
        "{failed:?}"
    );
    assert_eq!(held.idle(), 1);
    assert_eq!(statement(&held, "select 3").await.unwrap(), first);
}

#[tokio::test]
async fn a_statement_cut_short_gives_its_connection_back_to_the_pool_not_the_stack() {
    let (held, pool, _db) = held(4).await;
    statement(&held, "select 1").await.unwrap();
    assert_eq!(held.idle(), 1);
    // A request whose future is dropped mid-statement (the client went away).
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        statement(&held, "select pg_sleep(2)"),
    )
    .await;
    assert!(cut.is_err(), "the statement should still be running");
    assert_eq!(held.idle(), 0, "a connection mid-statement was kept");
    // The pool tests it on its way back; every later statement works.
    for _ in 0..6 {
        statement(&held, "select 1").await.unwrap();
    }
    let sound: i64 = sqlx::query_scalar("select 1::bigint")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sound, 1);
}

#[tokio::test]
async fn at_most_half_the_pool_is_kept_and_a_pool_of_one_keeps_none() {
    let (held4, pool4, _db4) = held(4).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut c = held4.acquire().await.unwrap();
        let r = backend(c.start().unwrap()).await;
        c.finish(r).unwrap();
        conns.push(c);
    }
    drop(conns);
    assert_eq!(held4.idle(), 2);
    // The rest of the service still has the other half.
    let other: i64 = sqlx::query_scalar("select 1::bigint")
        .fetch_one(&pool4)
        .await
        .unwrap();
    assert_eq!(other, 1);

    let (held1, pool1, _db1) = held(1).await;
    statement(&held1, "select 1").await.unwrap();
    assert_eq!(held1.idle(), 0);
    let other: i64 = sqlx::query_scalar("select 1::bigint")
        .fetch_one(&pool1)
        .await
        .unwrap();
    assert_eq!(other, 1);
}

#[tokio::test]
async fn a_connection_idle_past_the_ping_interval_goes_back_to_the_pool() {
    let (held, _pool, _db) = held(4).await;
    statement(&held, "select 1").await.unwrap();
    assert_eq!(held.idle(), 1);
    tokio::time::sleep(store::PING_AFTER_IDLE + Duration::from_millis(100)).await;
    // Taken from the pool instead (which tests it after idling), and kept after this one.
    statement(&held, "select 1").await.unwrap();
    assert_eq!(held.idle(), 1);
}

#[tokio::test]
async fn release_all_lets_the_pool_close() {
    let (held, pool, _db) = held(4).await;
    statement(&held, "select 1").await.unwrap();
    held.release_all();
    assert_eq!(held.idle(), 0);
    tokio::time::timeout(Duration::from_secs(5), pool.close())
        .await
        .expect("the pool closed");
}

#[tokio::test]
async fn while_the_pool_is_exhausted_a_connection_given_back_goes_to_the_pool() {
    let (held, pool, _db) = held(2).await;
    let mut a = held.acquire().await.unwrap();
    let r = backend(a.start().unwrap()).await;
    a.finish(r).unwrap();
    // The pool's other connection is out too: a request may be queued for the next one.
    let b = pool.acquire().await.unwrap();
    drop(a);
    assert_eq!(held.idle(), 0, "kept while the pool was exhausted");
    // So a request waiting for the pool gets it.
    let c = tokio::time::timeout(Duration::from_secs(1), pool.acquire())
        .await
        .expect("a connection within a second")
        .unwrap();
    drop((b, c));
}
