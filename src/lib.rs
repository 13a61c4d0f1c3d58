//! otpd: a self-hosted one-time-passcode delivery service with a Stytch-compatible API.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod devdb;
pub mod domain;
pub mod fraud;
pub mod hashing;
pub mod http;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod otp;
pub mod providers;
pub mod retention;
pub mod startup;
pub mod store;
pub mod telemetry;
