//! Connections the request path keeps between its statements, newest first.
//!
//! sqlx's pool tests every connection it gets back with a round trip (a `Sync` and its
//! `ReadyForQuery`), so each statement on the pool costs two round trips, and it hands idle
//! connections out oldest first, so under load every request lands on the backend that has
//! been idle longest, whose caches have gone cold. The statements a send and an authenticate
//! make (the secret check, the admission, the code's record, the attempt and its finish) take
//! their connection from here instead: one taken back after a statement that completed goes
//! on top of a short stack without the test, and the next statement takes it from there,
//! still warm (docs/performance.md, "Round 3").
//!
//! A connection is kept only when its statement completed: the result is in (a database error
//! included, which PostgreSQL answers in full). A statement cut short (the request's future
//! dropped mid-await, or a broken connection) leaves the connection to sqlx, whose test closes
//! it if it is not sound. A connection idle on the stack for [`super::PING_AFTER_IDLE`] goes
//! back to sqlx too, which tests it before handing it out again. The stack holds at most half
//! the pool, so the rest of the service always has the other half, and keeps nothing while the
//! pool is exhausted (every connection out, none idle), when a request may be waiting in sqlx's
//! queue for the one being given back. Its connections count as in use in sqlx's figures, and
//! `otpd_db_pool_connections` reports them as idle.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

use super::{StoreError, PING_AFTER_IDLE};

pub struct Held {
    pool: PgPool,
    stack: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    most: usize,
    /// The pool's size limit.
    max: u32,
}

impl Held {
    /// Keeps up to half of `pool`'s connections (none of a pool of one).
    pub fn new(pool: PgPool) -> Arc<Self> {
        let max = pool.options().get_max_connections();
        let most = usize::try_from(max / 2).unwrap_or(0);
        Arc::new(Held {
            pool,
            stack: Mutex::new(Vec::with_capacity(most)),
            most,
            max,
        })
    }

    fn stack(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        // The lock guards only pushes and pops: a panic can't leave the stack half-changed.
        self.stack.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used connection that is still fresh, else one from the pool.
    pub async fn acquire(self: &Arc<Self>) -> Result<HeldConn, StoreError> {
        let fresh = {
            let mut stack = self.stack();
            // Stale connections (the bottom of the stack first) go back to the pool.
            let stale = stack
                .iter()
                .take_while(|(_, since)| since.elapsed() >= PING_AFTER_IDLE)
                .count();
            let gone: Vec<_> = stack.drain(..stale).collect();
            let top = stack.pop();
            drop(stack);
            drop(gone);
            top.map(|(conn, _)| conn)
        };
        let conn = match fresh {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(HeldConn {
            held: Arc::clone(self),
            conn: Some(conn),
            in_statement: false,
        })
    }

    /// Connections on the stack now (idle, though sqlx counts them as in use).
    pub fn idle(&self) -> usize {
        self.stack().len()
    }

    /// Gives every kept connection back to the pool (before the pool closes at shutdown).
    pub fn release_all(&self) {
        let all: Vec<_> = self.stack().drain(..).collect();
        drop(all);
    }
}

/// One connection for one statement: [`HeldConn::start`] hands it out, [`HeldConn::finish`]
/// says the statement completed. Dropped after a completed statement it goes on the stack;
/// otherwise back to the pool.
pub struct HeldConn {
    held: Arc<Held>,
    conn: Option<PoolConnection<Postgres>>,
    in_statement: bool,
}

impl HeldConn {
    /// The connection, for one statement to run on. (It is only taken away in `drop`, so it is
    /// always there; the error keeps that a type fact rather than a panic.)
    pub fn start(&mut self) -> Result<&mut PgConnection, StoreError> {
        self.in_statement = true;
        self.conn
            .as_deref_mut()
            .ok_or(StoreError::Unavailable(sqlx::Error::PoolClosed))
    }

    /// Records how the statement ended, and passes its result on.
    pub fn finish<T, E: Answered>(&mut self, result: Result<T, E>) -> Result<T, E> {
        self.in_statement = result.as_ref().is_err_and(|e| !e.answered());
        result
    }
}

/// An error after which the connection is still ready for the next statement, because
/// PostgreSQL answered the statement in full (an error it reported included).
pub trait Answered {
    fn answered(&self) -> bool;
}

impl Answered for StoreError {
    fn answered(&self) -> bool {
        match self {
            StoreError::Conflict(_) | StoreError::Settings { .. } => true,
            StoreError::Db(e) => matches!(e, sqlx::Error::Database(_) | sqlx::Error::RowNotFound),
            StoreError::Unavailable(_) => false,
        }
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.in_statement {
            // Cut short: sqlx's return to the pool tests it, and closes it if it is unsound.
            drop(conn);
            return;
        }
        // A pool at its size with none idle may have requests waiting for a connection: they
        // get this one, through sqlx, rather than wait while the stack keeps it.
        let pool = &self.held.pool;
        let saturated = pool.num_idle() == 0 && pool.size() >= self.held.max;
        let mut stack = self.held.stack();
        if !saturated && stack.len() < self.held.most {
            stack.push((conn, Instant::now()));
        } else {
            drop(stack);
            drop(conn);
        }
    }
}
