//! Configuration: embedded defaults, then a TOML file, then `OTPD_*` environment overrides,
//! validated once at start-up so a bad deployment fails before it serves a request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::hashing::HashingParams;
use crate::limits::client::{ClientLimitsConfig, ClientLimitsError};
// The lower layers own their settings; this file composes them (and re-exports them under
// the names the rest of the code and the tests use).
pub use crate::http::console::SandboxConfig;
pub use crate::retention::RetentionConfig;
pub use crate::store::DatabaseConfig;
pub use crate::telemetry::LogConfig;

/// Shortest pepper `serve` accepts: 32 characters gives ≥ 128 bits for any reasonable alphabet.
pub const MIN_PEPPER_LEN: usize = 32;

/// Bounds of the retention settings (see `validate_retention`).
pub const MAX_RETENTION_HOURS: u32 = 87_600;
pub const MAX_RETENTION_DAYS: u32 = 3_650;
pub const MAX_RETENTION_INTERVAL_SECONDS: u64 = 86_400;

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
    /// The staging console (`/sandbox/`, fake provider only).
    pub sandbox: SandboxConfig,
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
    /// A request whose hash would wait longer than this (jobs ahead × measured hash time /
    /// threads) is shed with a 503 before it does anything; 0 bounds by `queue` only.
    pub max_wait_ms: u64,
    /// A shed request's 503 is sent after this pause, so clients that retry at once can't
    /// spin the CPU the admitted hashes need; 0 answers at once (behind a load balancer that
    /// retries another replica, say).
    pub shed_pause_ms: u64,
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
    Twilio,
    Vonage,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Fake => "fake",
            ProviderKind::Twilio => "twilio",
            ProviderKind::Vonage => "vonage",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        match s.trim() {
            "fake" => Some(ProviderKind::Fake),
            "twilio" => Some(ProviderKind::Twilio),
            "vonage" => Some(ProviderKind::Vonage),
            _ => None,
        }
    }
}

/// `provider.failover`: a comma-separated string (`"vonage,twilio"`, what env vars give) or
/// a TOML list (`["vonage"]`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Failover {
    List(Vec<String>),
    Csv(String),
}

impl Failover {
    /// The kinds in order; an unknown name is an error naming it.
    pub fn kinds(&self) -> Result<Vec<ProviderKind>, String> {
        let names: Vec<&str> = match self {
            Failover::List(v) => v.iter().map(String::as_str).collect(),
            Failover::Csv(s) => s.split(',').filter(|p| !p.trim().is_empty()).collect(),
        };
        names
            .into_iter()
            .map(|n| {
                ProviderKind::parse(n).ok_or_else(|| {
                    format!(
                        "`{}` is not a provider kind (fake, twilio, vonage)",
                        n.trim()
                    )
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Provider kinds tried in order after the primary fails retryably.
    pub failover: Failover,
    /// Everything one send may take: attempts, backoff and failover together.
    pub deadline_ms: u64,
    /// Longest a single provider request may take.
    pub request_timeout_ms: u64,
    /// Attempts per provider, the first included (only retryable failures are retried).
    pub max_attempts: u32,
    /// First retry backoff; doubles per retry, with full jitter.
    pub backoff_ms: u64,
    /// Consecutive retryable failures that open a provider's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit skips the provider before one probe.
    pub breaker_cooldown_ms: u64,
    pub twilio: TwilioConfig,
    pub vonage: VonageConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TwilioConfig {
    pub account_sid: Option<String>,
    /// Also the key of `X-Twilio-Signature` on status callbacks.
    #[serde(skip_serializing)]
    pub auth_token: Option<SecretString>,
    pub api_key_sid: Option<String>,
    #[serde(skip_serializing)]
    pub api_key_secret: Option<SecretString>,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub base_url: String,
    /// E.164 WhatsApp sender (sent as `whatsapp:+…`).
    pub whatsapp_from: Option<String>,
    /// Approved WhatsApp content template (`HX…`); `{"1": code}` fills it.
    pub whatsapp_content_sid: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct VonageConfig {
    pub api_key: Option<String>,
    #[serde(skip_serializing)]
    pub api_secret: Option<SecretString>,
    pub from: Option<String>,
    pub base_url: String,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: None,
            auth_token: None,
            api_key_sid: None,
            api_key_secret: None,
            from: None,
            messaging_service_sid: None,
            base_url: "https://api.twilio.com".into(),
            whatsapp_from: None,
            whatsapp_content_sid: None,
        }
    }
}

impl Default for VonageConfig {
    fn default() -> Self {
        VonageConfig {
            api_key: None,
            api_secret: None,
            from: None,
            base_url: "https://rest.nexmo.com".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessagesConfig {
    /// `<dir>/<locale>/otp.ftl` replaces the built-in template for that locale.
    pub templates_dir: Option<PathBuf>,
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
            sandbox: SandboxConfig::default(),
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
            max_wait_ms: p.max_wait_ms,
            shed_pause_ms: p.shed_pause_ms,
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
            max_wait_ms: self.max_wait_ms,
            shed_pause_ms: self.shed_pause_ms,
        }
    }
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig { max_attempts: 5 }
    }
}

impl Default for Failover {
    fn default() -> Self {
        Failover::Csv(String::new())
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            kind: ProviderKind::Fake,
            failover: Failover::default(),
            deadline_ms: 6_000,
            request_timeout_ms: 2_500,
            max_attempts: 3,
            backoff_ms: 100,
            breaker_threshold: 5,
            breaker_cooldown_ms: 30_000,
            twilio: TwilioConfig::default(),
            vonage: VonageConfig::default(),
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

/// Environment variables with every value kept as the string it is. figment's own `Env`
/// guesses types, so `+15005550006`, a digit-only Vonage key or pepper, or `true` would reach
/// a string key as a number or boolean and fail to load; numeric keys instead parse the
/// string at extraction (`extract_lossy`).
struct VerbatimEnv(Env);

impl Provider for VerbatimEnv {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in self.0.iter() {
            if let Value::Dict(_, nested) = figment::util::nest(key.as_str(), Value::from(value)) {
                merge_dicts(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Later keys win; sibling keys under one table (`OTPD_TLS__CERT`, `OTPD_TLS__KEY`) combine.
fn merge_dicts(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => {
                merge_dicts(existing, incoming);
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
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
            .merge(VerbatimEnv(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            ))
            .merge(VerbatimEnv(
                Env::prefixed("OTPD_").ignore(&["CONFIG"]).split("__"),
            ));
        // Lossy: a number or boolean key parses the string an environment variable gives;
        // string keys take it as it is.
        figment.extract_lossy().map_err(|e| {
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
        if let Some(token) = &self.sandbox.operator_token {
            if token.expose_secret().trim().len() < crate::http::console::MIN_OPERATOR_TOKEN_LEN {
                return Err(invalid(
                    "sandbox.operator_token",
                    format!(
                        "must be at least {} characters (e.g. `openssl rand -hex 32`)",
                        crate::http::console::MIN_OPERATOR_TOKEN_LEN
                    ),
                ));
            }
        }
        if self.shutdown_timeout_seconds > 3600 {
            return Err(invalid("shutdown_timeout_seconds", "must be at most 3600"));
        }
        self.limits.trusted_proxy_nets()?;
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("public_url", "must be an http(s) URL"));
            }
        }
        self.validate_providers()
    }

    /// Whether the fake provider is the only one: then the outbox and the staging console
    /// exist. A real provider anywhere in the chain turns both off, whatever else is set.
    pub fn sandbox_outbox(&self) -> bool {
        self.provider_chain()
            .is_ok_and(|chain| chain == [ProviderKind::Fake])
    }

    /// The primary then the failover chain, without repeats.
    pub fn provider_chain(&self) -> Result<Vec<ProviderKind>, ConfigError> {
        let mut chain = vec![self.provider.kind];
        for kind in self
            .provider
            .failover
            .kinds()
            .map_err(|e| invalid("provider.failover", e))?
        {
            if chain.contains(&kind) {
                return Err(invalid(
                    "provider.failover",
                    format!("lists `{}` twice (the primary counts)", kind.as_str()),
                ));
            }
            chain.push(kind);
        }
        Ok(chain)
    }

    /// Every provider in the chain has what it needs; limits are sane.
    pub fn validate_providers(&self) -> Result<(), ConfigError> {
        let p = &self.provider;
        if !(1..=5).contains(&p.max_attempts) {
            return Err(invalid("provider.max_attempts", "must be between 1 and 5"));
        }
        if !(100..=60_000).contains(&p.deadline_ms) {
            return Err(invalid(
                "provider.deadline_ms",
                "must be between 100 and 60000",
            ));
        }
        if p.request_timeout_ms == 0 || p.request_timeout_ms > p.deadline_ms {
            return Err(invalid(
                "provider.request_timeout_ms",
                "must be at least 1 and at most provider.deadline_ms",
            ));
        }
        if p.breaker_threshold == 0 {
            return Err(invalid("provider.breaker_threshold", "must be at least 1"));
        }
        for kind in self.provider_chain()? {
            match kind {
                ProviderKind::Fake => {}
                ProviderKind::Twilio => self.validate_twilio()?,
                ProviderKind::Vonage => self.validate_vonage()?,
            }
        }
        Ok(())
    }

    fn validate_twilio(&self) -> Result<(), ConfigError> {
        let t = &self.provider.twilio;
        let sid = t
            .account_sid
            .as_deref()
            .ok_or_else(|| invalid("provider.twilio.account_sid", "is required for twilio"))?;
        if !is_sid(sid, "AC") {
            return Err(invalid(
                "provider.twilio.account_sid",
                "must be AC followed by 32 hex digits",
            ));
        }
        match (&t.auth_token, &t.api_key_sid, &t.api_key_secret) {
            (_, Some(key), Some(_)) => {
                if !is_sid(key, "SK") {
                    return Err(invalid(
                        "provider.twilio.api_key_sid",
                        "must be SK followed by 32 hex digits",
                    ));
                }
            }
            (_, Some(_), None) => {
                return Err(invalid(
                    "provider.twilio.api_key_secret",
                    "must be set together with provider.twilio.api_key_sid",
                ))
            }
            (_, None, Some(_)) => {
                return Err(invalid(
                    "provider.twilio.api_key_sid",
                    "must be set together with provider.twilio.api_key_secret",
                ))
            }
            (Some(_), None, None) => {}
            (None, None, None) => {
                return Err(invalid(
                    "provider.twilio.auth_token",
                    "is required (or provider.twilio.api_key_sid + api_key_secret)",
                ))
            }
        }
        match (&t.from, &t.messaging_service_sid) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "provider.twilio.from",
                    "set either from or messaging_service_sid, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "provider.twilio.from",
                    "is required (or provider.twilio.messaging_service_sid)",
                ))
            }
            (None, Some(ms)) if !is_sid(ms, "MG") => {
                return Err(invalid(
                    "provider.twilio.messaging_service_sid",
                    "must be MG followed by 32 hex digits",
                ))
            }
            _ => {}
        }
        if let Some(content) = &t.whatsapp_content_sid {
            if !is_sid(content, "HX") {
                return Err(invalid(
                    "provider.twilio.whatsapp_content_sid",
                    "must be HX followed by 32 hex digits",
                ));
            }
        }
        if let Some(wa) = &t.whatsapp_from {
            if wa.starts_with("whatsapp:") {
                return Err(invalid(
                    "provider.twilio.whatsapp_from",
                    "is the bare E.164 number; otpd adds `whatsapp:`",
                ));
            }
        }
        check_base_url("provider.twilio.base_url", &t.base_url)
    }

    fn validate_vonage(&self) -> Result<(), ConfigError> {
        let v = &self.provider.vonage;
        if v.api_key.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("provider.vonage.api_key", "is required for vonage"));
        }
        if v.api_secret.is_none() {
            return Err(invalid(
                "provider.vonage.api_secret",
                "is required for vonage",
            ));
        }
        if v.from.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("provider.vonage.from", "is required for vonage"));
        }
        check_base_url("provider.vonage.base_url", &v.base_url)
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
        // Upper bounds keep every age a valid PostgreSQL interval before `now()` and every
        // wait a valid timer: beyond them a pass would fail forever, or the job would die.
        if !(1..=MAX_RETENTION_HOURS).contains(&r.code_age_hours) {
            return Err(invalid(
                "retention.code_age_hours",
                format!("must be between 1 and {MAX_RETENTION_HOURS} (ten years)"),
            ));
        }
        if !(1..=MAX_RETENTION_HOURS).contains(&r.session_age_hours) {
            return Err(invalid(
                "retention.session_age_hours",
                format!("must be between 1 and {MAX_RETENTION_HOURS} (ten years)"),
            ));
        }
        if !(1..=MAX_RETENTION_HOURS).contains(&r.outbox_age_hours) {
            return Err(invalid(
                "retention.outbox_age_hours",
                format!("must be between 1 and {MAX_RETENTION_HOURS} (ten years)"),
            ));
        }
        if !(1..=MAX_RETENTION_DAYS).contains(&r.message_age_days) {
            return Err(invalid(
                "retention.message_age_days",
                format!("must be between 1 and {MAX_RETENTION_DAYS} (ten years)"),
            ));
        }
        if r.interval_seconds > MAX_RETENTION_INTERVAL_SECONDS {
            return Err(invalid(
                "retention.interval_seconds",
                format!("must be at most {MAX_RETENTION_INTERVAL_SECONDS} (one day); 0 turns the job off"),
            ));
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
            // Reading and parsing the files is start-up's (`startup::load_tls`), which reports
            // a bad file as a `tls.*` configuration error too.
            (Some(_), Some(_)) => Ok(()),
        }
    }
}

/// `prefix` then exactly 32 hex digits: Twilio's SID shapes.
fn is_sid(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_base_url(key: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(invalid(key, "must be an http(s) URL"))
    }
}

impl From<ClientLimitsError> for ConfigError {
    fn from(e: ClientLimitsError) -> Self {
        invalid(e.key, e.reason)
    }
}

/// Helper for `ConfigError::Invalid` outside this module (TLS loading lives in startup).
pub fn config_invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    invalid(key, reason)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn with_toml(toml: &str) -> Config {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract()
            .expect("config parses")
    }

    #[test]
    fn failover_accepts_a_comma_separated_string_or_a_list() {
        for toml in [
            "[provider]\nfailover = \"vonage, twilio\"",
            "[provider]\nfailover = [\"vonage\", \"twilio\"]",
        ] {
            let c = with_toml(toml);
            assert_eq!(
                c.provider.failover.kinds(),
                Ok(vec![ProviderKind::Vonage, ProviderKind::Twilio]),
                "{toml}"
            );
        }
        assert_eq!(Config::default().provider.failover.kinds(), Ok(vec![]));
        let c = with_toml("[provider]\nfailover = \"vonage,sms77\"");
        assert!(c.provider.failover.kinds().is_err());
    }

    #[test]
    fn provider_chain_rejects_repeats_and_validation_names_the_missing_key() {
        let c = with_toml("[provider]\nkind = \"twilio\"\nfailover = \"twilio\"");
        assert!(matches!(
            c.provider_chain(),
            Err(ConfigError::Invalid {
                key: "provider.failover",
                ..
            })
        ));
        let c = with_toml(
            "[provider]\nkind = \"twilio\"\n[provider.twilio]\n\
             account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"t\"",
        );
        assert!(matches!(
            c.validate_providers(),
            Err(ConfigError::Invalid {
                key: "provider.twilio.from",
                ..
            })
        ));
        let c = with_toml(
            "[provider]\nkind = \"twilio\"\nfailover = \"vonage\"\n[provider.twilio]\n\
             account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"t\"\n\
             from = \"+15005550006\"\n[provider.vonage]\napi_key = \"k\"\napi_secret = \"s\"\n\
             from = \"Acme\"",
        );
        assert!(c.validate_providers().is_ok());
        assert_eq!(
            c.provider_chain().ok(),
            Some(vec![ProviderKind::Twilio, ProviderKind::Vonage])
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure signature
    fn environment_values_reach_string_keys_verbatim_and_numeric_keys_still_parse() {
        use secrecy::ExposeSecret;
        // What Kubernetes secrets and compose files set: values that look like numbers,
        // booleans or floats but are strings to otpd.
        let strings = [
            ("OTPD_PROVIDER__TWILIO__FROM", "+15005550006"),
            ("OTPD_PROVIDER__TWILIO__WHATSAPP_FROM", "15005550006"),
            (
                "OTPD_PROVIDER__TWILIO__ACCOUNT_SID",
                "AC0123456789abcdef0123456789abcdef",
            ),
            ("OTPD_PROVIDER__TWILIO__AUTH_TOKEN", "0123456789"),
            ("OTPD_PROVIDER__TWILIO__API_KEY_SID", "1e5"),
            ("OTPD_PROVIDER__TWILIO__MESSAGING_SERVICE_SID", "true"),
            ("OTPD_PROVIDER__VONAGE__API_KEY", "00012345"),
            ("OTPD_PROVIDER__VONAGE__API_SECRET", "1.5"),
            ("OTPD_PROVIDER__VONAGE__FROM", "447700900123"),
            (
                "OTPD_HASHING__PEPPER",
                "12345678901234567890123456789012345678",
            ),
            ("OTPD_PUBLIC_URL", "-1"),
            ("OTPD_LOG__LEVEL", "false"),
            ("OTPD_LIMITS__TRUSTED_PROXIES", "10"),
            ("OTPD_PROVIDER__FAILOVER", "0"),
            ("DATABASE_URL", "42"),
        ];
        figment::Jail::expect_with(|jail| {
            for (k, v) in strings {
                jail.set_env(k, v);
            }
            jail.set_env("OTPD_RETENTION__BATCH_SIZE", "250");
            jail.set_env("OTPD_PROVIDER__MAX_ATTEMPTS", "2");
            jail.set_env("OTPD_TLS__CERT", "1234");
            jail.set_env("OTPD_TLS__KEY", "5678");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            let t = &c.provider.twilio;
            let v = &c.provider.vonage;
            let got = [
                t.from.clone(),
                t.whatsapp_from.clone(),
                t.account_sid.clone(),
                t.auth_token.as_ref().map(|s| s.expose_secret().to_owned()),
                t.api_key_sid.clone(),
                t.messaging_service_sid.clone(),
                v.api_key.clone(),
                v.api_secret.as_ref().map(|s| s.expose_secret().to_owned()),
                v.from.clone(),
                c.hashing
                    .pepper
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned()),
                c.public_url.clone(),
                Some(c.log.level.clone()),
                Some(c.limits.trusted_proxies.clone()),
                match &c.provider.failover {
                    Failover::Csv(s) => Some(s.clone()),
                    Failover::List(l) => Some(format!("{l:?}")),
                },
                c.database_url
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned()),
            ];
            for ((key, want), got) in strings.iter().zip(got) {
                assert_eq!(got.as_deref(), Some(*want), "{key}");
            }
            assert_eq!(c.retention.batch_size, 250);
            assert_eq!(c.provider.max_attempts, 2);
            assert_eq!(c.tls.cert.as_deref(), Some(Path::new("1234")));
            assert_eq!(c.tls.key.as_deref(), Some(Path::new("5678")));
            // Untouched keys keep their defaults.
            assert_eq!(c.listen, Config::default().listen);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail closure signature
    fn a_numeric_key_given_a_non_number_still_fails_naming_it() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OTPD_RETENTION__BATCH_SIZE", "lots");
            let err = Config::load(None).expect_err("not a number").to_string();
            assert!(
                err.contains("BATCH_SIZE") || err.contains("batch_size"),
                "{err}"
            );
            Ok(())
        });
    }
}
