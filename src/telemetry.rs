//! Structured logging: JSON lines by default; fields are chosen to be PII-safe at the call
//! sites (masked numbers, never codes, secrets or bodies).

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use serde::{Deserialize, Serialize};

/// `[log]` in the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json` (default) or `pretty`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info` or `otpd=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_env("OTPD_LOG")
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}
