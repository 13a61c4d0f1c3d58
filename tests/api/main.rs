//! One integration-test binary: the real app over loopback HTTP on a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authenticate;
mod b2b;
mod cli;
mod concurrency;
mod errors;
mod health;
mod helpers;
mod load;
mod messages;
mod providers;
mod sdk;
mod send;
mod users;
mod webhooks;
