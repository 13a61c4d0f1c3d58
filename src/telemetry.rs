//! Structured logging: JSON lines by default (`serve`), compact coloured lines for a person
//! (`dev`); fields are chosen to be PII-safe at the call sites (masked numbers, never codes,
//! secrets or bodies).

use std::io::IsTerminal;

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use serde::{Deserialize, Serialize};

/// `[log]` in the configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json`, `compact` (one short line an event) or `pretty`; unset: `json` for `serve`,
    /// `compact` for `dev`.
    pub format: Option<String>,
    /// An `EnvFilter` directive, e.g. `info` or `otpd=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: None,
            level: "info".into(),
        }
    }
}

/// Who reads the log when `log.format` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A log pipeline: JSON lines.
    Machine,
    /// Someone at a terminal (`otpd dev`): compact lines, coloured when stderr is a terminal.
    Person,
}

pub fn init(cfg: &LogConfig) {
    init_for(cfg, Reader::Machine);
}

pub fn init_for(cfg: &LogConfig, reader: Reader) {
    let filter = EnvFilter::try_from_env("OTPD_LOG")
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let format = cfg.format.as_deref().unwrap_or(match reader {
        Reader::Machine => "json",
        Reader::Person => "compact",
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        "pretty" => builder.try_init(),
        "compact" => builder.compact().with_target(false).try_init(),
        _ => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
