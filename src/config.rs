//! Configuration: embedded defaults, then a TOML file, then `OTPD_*` environment overrides,
//! validated once at start-up so a bad deployment fails before it serves a request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::hashing::HashingParams;
use crate::limits::client::ClientLimitsConfig;

/// Shortest pepper `serve` accepts: 32 characters gives ≥ 128 bits for any reasonable alphabet.
pub const MIN_PEPPER_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Address the API listens on.
    pub listen: String,
    /// When set, `/metrics` is served here instead of on `listen`.
    pub admin_listen: Option<String>,
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// How providers reach otpd (status callbacks).
    pub public_url: Option<String>,
    pub tls: TlsConfig,
    pub hashing: HashingConfig,
    pub database: DatabaseConfig,
    pub otp: OtpConfig,
    pub provider: ProviderConfig,
    pub messages: MessagesConfig,
    pub log: LogConfig,
    /// In-process client guards (`limits::client`).
    pub limits: ClientLimitsConfig,
    pub retention: RetentionConfig,
    /// On SIGTERM, how long in-flight requests may take to finish before they are dropped.
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HashingConfig {
    /// Server-side secret mixed into every passcode hash (argon2's `secret` input) and into the
    /// keyed hash of API secrets. Required by `serve`; `dev` generates one.
    #[serde(skip_serializing)]
    pub pepper: Option<SecretString>,
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// Hashing threads; 0 means one per core.
    pub threads: usize,
    /// Hash jobs allowed to wait; beyond that requests are shed with a 503.
    pub queue: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// Bounded so an outage turns into a quick 503 instead of a hung request.
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OtpConfig {
    /// Guesses one code allows, counted before the hash is checked.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Fake,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Fake => "fake",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Comma-separated provider kinds tried after the primary fails retryably.
    pub failover: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessagesConfig {
    /// `<dir>/<locale>/otp.ftl` replaces the built-in template for that locale.
    pub templates_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json` (default) or `pretty`.
    pub format: String,
    /// An `EnvFilter` directive, e.g. `info` or `otpd=debug,info`.
    pub level: String,
}

/// The background purge of old rows (see `retention`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Seconds between passes; 0 disables the job.
    pub interval_seconds: u64,
    /// Passcodes are deleted this many hours after they expire (used ones included).
    pub code_age_hours: u32,
    /// Fake-provider outbox rows (which hold message bodies) are deleted after this many hours.
    pub outbox_age_hours: u32,
    /// Sent-message records are deleted after this many days.
    pub message_age_days: u32,
    /// Rows per DELETE statement, so no pass holds many locks or a long transaction.
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            interval_seconds: 300,
            code_age_hours: 24,
            outbox_age_hours: 72,
            message_age_days: 30,
            batch_size: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            database_url: None,
            public_url: None,
            tls: TlsConfig::default(),
            hashing: HashingConfig::default(),
            database: DatabaseConfig::default(),
            otp: OtpConfig::default(),
            provider: ProviderConfig::default(),
            messages: MessagesConfig::default(),
            log: LogConfig::default(),
            limits: ClientLimitsConfig::default(),
            retention: RetentionConfig::default(),
            shutdown_timeout_seconds: 10,
        }
    }
}

impl Default for HashingConfig {
    fn default() -> Self {
        let p = HashingParams::default();
        HashingConfig {
            pepper: None,
            m_cost_kib: p.m_cost_kib,
            t_cost: p.t_cost,
            p_cost: p.p_cost,
            threads: 0,
            queue: p.queue,
        }
    }
}

impl HashingConfig {
    pub fn params(&self) -> HashingParams {
        let threads = if self.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.threads
        };
        HashingParams {
            m_cost_kib: self.m_cost_kib,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
            threads,
            queue: self.queue,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 20,
            acquire_timeout_ms: 2_000,
        }
    }
}

impl DatabaseConfig {
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig { max_attempts: 5 }
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            kind: ProviderKind::Fake,
            failover: String::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// A configuration problem, always naming the key so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl Config {
    /// Layers: embedded defaults, the TOML file (if any), `DATABASE_URL`, then `OTPD_*`.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            )
            .merge(Env::prefixed("OTPD_").ignore(&["CONFIG"]).split("__"));
        figment.extract().map_err(|e| {
            // figment's message names the key path; keep it to one line.
            ConfigError::Load(e.to_string().replace('\n', "; "))
        })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            invalid(
                "listen",
                format!("`{}` is not host:port ({e})", self.listen),
            )
        })
    }

    pub fn admin_listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.admin_listen
            .as_deref()
            .map(|a| {
                a.parse()
                    .map_err(|e| invalid("admin_listen", format!("`{a}` is not host:port ({e})")))
            })
            .transpose()
    }

    /// Everything `serve` needs, checked up front.
    pub fn validate_for_serve(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.admin_listen_addr()?;
        self.validate_pepper()?;
        self.database_url()?;
        self.validate_tls()?;
        self.hashing_params_checked()?;
        if self.otp.max_attempts == 0 || self.otp.max_attempts > 100 {
            return Err(invalid("otp.max_attempts", "must be between 1 and 100"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        self.validate_retention()?;
        if self.shutdown_timeout_seconds > 3600 {
            return Err(invalid("shutdown_timeout_seconds", "must be at most 3600"));
        }
        if !self.provider.failover.trim().is_empty() {
            return Err(invalid(
                "provider.failover",
                "no failover providers are available in this build",
            ));
        }
        self.limits.trusted_proxy_nets()?;
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("public_url", "must be an http(s) URL"));
            }
        }
        Ok(())
    }

    pub fn pepper(&self) -> Result<&SecretString, ConfigError> {
        self.hashing
            .pepper
            .as_ref()
            .ok_or_else(|| invalid("hashing.pepper", "is required (set OTPD_HASHING__PEPPER)"))
    }

    fn validate_pepper(&self) -> Result<(), ConfigError> {
        let pepper = self.pepper()?.expose_secret();
        if pepper.chars().count() < MIN_PEPPER_LEN {
            return Err(invalid(
                "hashing.pepper",
                format!("is too short: use at least {MIN_PEPPER_LEN} random characters"),
            ));
        }
        let mut distinct: Vec<char> = pepper.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 8 {
            return Err(invalid(
                "hashing.pepper",
                "is too weak: it repeats too few characters to be random",
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> Result<&SecretString, ConfigError> {
        self.database_url.as_ref().ok_or_else(|| {
            invalid(
                "database_url",
                "is required (set DATABASE_URL or OTPD_DATABASE_URL)",
            )
        })
    }

    pub fn hashing_params_checked(&self) -> Result<HashingParams, ConfigError> {
        let p = self.hashing.params();
        argon2::Params::new(p.m_cost_kib, p.t_cost, p.p_cost, None)
            .map_err(|e| invalid("hashing", format!("bad argon2 parameters: {e}")))?;
        if p.queue == 0 {
            return Err(invalid("hashing.queue", "must be at least 1"));
        }
        Ok(p)
    }

    fn validate_retention(&self) -> Result<(), ConfigError> {
        let r = &self.retention;
        // A code is purged only after it expired; one hour exceeds the longest lifetime
        // (10 minutes), so an older code of the same method has expired too and can't
        // become the method's newest, live code again.
        if r.code_age_hours == 0 {
            return Err(invalid("retention.code_age_hours", "must be at least 1"));
        }
        if r.outbox_age_hours == 0 {
            return Err(invalid("retention.outbox_age_hours", "must be at least 1"));
        }
        if r.message_age_days == 0 {
            return Err(invalid("retention.message_age_days", "must be at least 1"));
        }
        if r.batch_size == 0 || r.batch_size > 100_000 {
            return Err(invalid(
                "retention.batch_size",
                "must be between 1 and 100000",
            ));
        }
        Ok(())
    }

    fn validate_tls(&self) -> Result<(), ConfigError> {
        match (&self.tls.cert, &self.tls.key) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(invalid("tls.key", "must be set together with tls.cert")),
            (None, Some(_)) => Err(invalid("tls.cert", "must be set together with tls.key")),
            (Some(cert), Some(key)) => crate::startup::load_tls(cert, key).map(|_| ()),
        }
    }
}

/// Helper for `ConfigError::Invalid` outside this module (TLS loading lives in startup).
pub fn config_invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    invalid(key, reason)
}
