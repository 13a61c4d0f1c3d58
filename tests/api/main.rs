//! One integration-test binary: the real app over loopback HTTP on a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attest;
mod authenticate;
mod b2b;
mod browser;
mod cli;
mod concurrency;
mod console;
mod control_chars;
mod deploy;
mod errors;
mod fidelity;
mod frontend;
mod hardening;
mod health;
mod helpers;
mod json_columns;
mod layering;
mod limits;
mod load;
mod messages;
mod metrics;
mod migration;
mod openapi;
mod outage;
mod providers;
mod pumping;
mod retention;
mod schemathesis;
mod sdk;
mod send;
mod sessions;
mod settings;
mod shutdown;
mod users;
mod webhooks;
