//! Composition root: builds every dependency from configuration and binds the server.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::config::{config_invalid, Config, ConfigError, ProviderKind};
use crate::domain::secret::SecretHasher;
use crate::hashing::Hasher;
use crate::http::webhooks::TwilioWebhook;
use crate::http::{self, AppState};
use crate::limits::client::ClientLimits;
use crate::messages::Renderer;
use crate::metrics;
use crate::otp::Services;
use crate::providers::breaker::BreakerSettings;
use crate::providers::fake::FakeProvider;
use crate::providers::twilio::{self, TwilioProvider, TwilioSettings};
use crate::providers::vonage::{VonageProvider, VonageSettings};
use crate::providers::{RetryPolicy, Router, SmsProvider};
use crate::retention;
use crate::store;

/// Reads and checks the certificate chain and key; errors name the config key.
pub fn load_tls(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| config_invalid("tls.cert", format!("cannot read {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| config_invalid("tls.cert", format!("{} is not PEM: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(config_invalid(
            "tls.cert",
            format!("{} holds no certificate", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        config_invalid(
            "tls.key",
            format!("cannot read a private key from {}: {e}", key.display()),
        )
    })?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_invalid("tls.cert", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            config_invalid(
                "tls.key",
                format!("does not match tls.cert or is unusable: {e}"),
            )
        })
}

/// Built-in templates plus the operator's overrides; a bad override stops start-up.
pub fn load_templates(config: &Config) -> Result<Renderer, ConfigError> {
    let dir = config.messages.templates_dir.as_deref();
    if let Some(dir) = dir.filter(|d| !d.is_dir()) {
        return Err(config_invalid(
            "messages.templates_dir",
            format!("{} is not a directory", dir.display()),
        ));
    }
    Renderer::load(dir).map_err(|e| config_invalid("messages.templates_dir", e.to_string()))
}

/// The primary provider, then the failover chain, behind retries and circuit breakers.
pub fn build_router(config: &Config) -> Result<Router, ConfigError> {
    let p = &config.provider;
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_millis(p.request_timeout_ms))
        .timeout(std::time::Duration::from_millis(p.request_timeout_ms))
        .user_agent(concat!("otpd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| config_invalid("provider", format!("cannot build the HTTP client: {e}")))?;
    let mut chain: Vec<Arc<dyn SmsProvider>> = Vec::new();
    let kinds = config.provider_chain()?;
    if kinds.contains(&ProviderKind::Twilio)
        && (config.public_url.is_none() || p.twilio.auth_token.is_none())
    {
        tracing::warn!(
            "twilio delivery receipts are off: they need public_url and provider.twilio.auth_token"
        );
    }
    for kind in kinds {
        chain.push(match kind {
            ProviderKind::Fake => Arc::new(FakeProvider),
            ProviderKind::Twilio => Arc::new(TwilioProvider::new(
                client.clone(),
                twilio_settings(config)?,
            )),
            ProviderKind::Vonage => Arc::new(VonageProvider::new(
                client.clone(),
                vonage_settings(config)?,
            )),
        });
    }
    Ok(Router::with_chain(
        chain,
        RetryPolicy {
            max_attempts: p.max_attempts,
            deadline: std::time::Duration::from_millis(p.deadline_ms),
            request_timeout: std::time::Duration::from_millis(p.request_timeout_ms),
            backoff_base: std::time::Duration::from_millis(p.backoff_ms),
        },
        BreakerSettings {
            threshold: p.breaker_threshold,
            cool_down: std::time::Duration::from_millis(p.breaker_cooldown_ms),
        },
    ))
}

fn twilio_settings(config: &Config) -> Result<TwilioSettings, ConfigError> {
    let t = &config.provider.twilio;
    let account_sid = t
        .account_sid
        .clone()
        .ok_or_else(|| config_invalid("provider.twilio.account_sid", "is required for twilio"))?;
    let credentials = match (&t.api_key_sid, &t.api_key_secret, &t.auth_token) {
        (Some(sid), Some(secret), _) => twilio::Credentials::ApiKey {
            sid: sid.clone(),
            secret: secret.clone(),
        },
        (_, _, Some(token)) => twilio::Credentials::AuthToken(token.clone()),
        _ => {
            return Err(config_invalid(
                "provider.twilio.auth_token",
                "is required (or provider.twilio.api_key_sid + api_key_secret)",
            ))
        }
    };
    let sender = match (&t.from, &t.messaging_service_sid) {
        (Some(from), _) => twilio::Sender::From(from.clone()),
        (None, Some(ms)) => twilio::Sender::MessagingService(ms.clone()),
        (None, None) => {
            return Err(config_invalid(
                "provider.twilio.from",
                "is required (or provider.twilio.messaging_service_sid)",
            ))
        }
    };
    Ok(TwilioSettings {
        base_url: t.base_url.clone(),
        account_sid,
        credentials,
        sender,
        whatsapp_from: t.whatsapp_from.clone(),
        whatsapp_content_sid: t.whatsapp_content_sid.clone(),
        status_callback: config.public_url.as_deref().map(|u| {
            format!(
                "{}{}",
                u.trim_end_matches('/'),
                twilio::STATUS_CALLBACK_PATH
            )
        }),
    })
}

fn vonage_settings(config: &Config) -> Result<VonageSettings, ConfigError> {
    let v = &config.provider.vonage;
    let missing = |key| config_invalid(key, "is required for vonage");
    Ok(VonageSettings {
        base_url: v.base_url.clone(),
        api_key: v
            .api_key
            .clone()
            .ok_or_else(|| missing("provider.vonage.api_key"))?,
        api_secret: v
            .api_secret
            .clone()
            .ok_or_else(|| missing("provider.vonage.api_secret"))?,
        from: v
            .from
            .clone()
            .ok_or_else(|| missing("provider.vonage.from"))?,
    })
}

pub struct Application {
    port: u16,
    tls: bool,
    server: Server,
    /// The `admin_listen` server (metrics), when configured, and its port.
    admin: Option<(u16, Server)>,
    retention: Option<JoinHandle<()>>,
    pool: PgPool,
    held: Arc<store::held::Held>,
}

impl Application {
    /// Builds the app on the configured listener (port 0 picks a free port, for tests).
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let pool = store::connect_pool(config.database_url()?, &config.database)?;
        Self::build_with_pool(config, pool).await
    }

    pub async fn build_with_pool(config: &Config, pool: PgPool) -> anyhow::Result<Application> {
        // First, so a bad certificate or key stops start-up before anything else has started.
        let tls_config = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
            _ => None,
        };
        let renderer = load_templates(config)?;
        let pepper = config.pepper()?.clone();
        let hasher = Hasher::start(&config.hashing_params_checked()?, pepper.clone())
            .context("starting the hashing pool")?;
        let providers = build_router(config)?;
        let held = store::held::Held::new(pool.clone());
        let twilio_webhook = web::Data::new(TwilioWebhook::new(
            config.provider.twilio.auth_token.clone(),
            config.public_url.as_deref(),
        ));
        if config.sandbox.operator_token.is_some() && !config.sandbox_outbox() {
            tracing::warn!(
                "sandbox.operator_token is ignored: the staging console exists only with the fake provider alone"
            );
        }
        let client_limits = Arc::new(ClientLimits::new(&config.limits).map_err(ConfigError::from)?);
        forget_idle_clients(&client_limits);
        let state = web::Data::new(AppState {
            services: Services {
                pool: pool.clone(),
                held: held.clone(),
                hasher,
                providers,
                renderer: Arc::new(renderer),
                max_attempts: config.otp.max_attempts,
                send_timings: Arc::default(),
                concealer: Arc::new(crate::otp::send::Concealer::new(&pepper)),
                sessions: Arc::new(
                    crate::otp::sessions::SessionKeys::new(&pepper)
                        .map_err(|e| anyhow::anyhow!("deriving the session keys: {e}"))?,
                ),
                jwks: Arc::new(crate::otp::trusted_tokens::JwksCache::new()?),
            },
            secret_hasher: Arc::new(SecretHasher::new(&pepper)),
            sandbox_outbox: config.sandbox_outbox(),
            operator_token: config.sandbox.operator_token.clone(),
            client_limits,
            readiness: http::health::Readiness::default(),
            sdk_origins: http::sdk::OriginCache::default(),
        });

        metrics::init().map_err(|e| anyhow::anyhow!("building the metrics registry: {e}"))?;
        metrics::circuit_open(config.provider.kind.as_str(), false);
        // Every table's series exists from the first scrape (retention owns the list).
        for table in retention::TABLES {
            metrics::retention_deleted(table, 0);
        }
        let shutdown_timeout = config.shutdown_timeout_seconds;
        let admin = match config.admin_listen_addr()? {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .with_context(|| format!("binding admin_listen {addr}"))?;
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .route("/metrics", web::get().to(http::health::metrics))
                })
                .workers(1)
                .shutdown_timeout(shutdown_timeout)
                .listen(listener)?
                .run();
                Some((port, server))
            }
            None => None,
        };
        // Without a separate admin address, the scrape is served beside the API.
        let metrics_on_api = admin.is_none();

        let listener = TcpListener::bind(config.listen_addr()?)
            .with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let factory = move || {
            App::new()
                .app_data(state.clone())
                .app_data(twilio_webhook.clone())
                .wrap(from_fn(http::context::request_context))
                .configure(http::routes)
                .configure(|cfg| {
                    if metrics_on_api {
                        cfg.route("/metrics", web::get().to(http::health::metrics));
                    }
                })
        };
        let server = HttpServer::new(factory).shutdown_timeout(shutdown_timeout);
        let (server, tls) = match tls_config {
            Some(tls_config) => (server.listen_rustls_0_23(listener, tls_config)?, true),
            None => (server.listen(listener)?, false),
        };
        let retention = retention::spawn(pool.clone(), config.retention.clone());
        Ok(Application {
            port,
            tls,
            server: server.run(),
            admin,
            retention,
            pool,
            held,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The `admin_listen` port, when that listener is configured.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM, then stops accepting, lets in-flight requests finish (up to
    /// `shutdown_timeout_seconds`), stops the retention job and closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let admin = self.admin.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        tracing::info!("server stopped; closing the database pool");
        if let Some((handle, task)) = admin {
            handle.stop(true).await;
            let _ = task.await;
        }
        if let Some(job) = self.retention {
            job.abort();
        }
        // The request path's kept connections first: the pool waits for every connection.
        self.held.release_all();
        self.pool.close().await;
        result
    }
}

/// Keeps the in-process guards' memory bounded: keys back at full capacity are dropped every
/// minute. The task ends with the application.
fn forget_idle_clients(limits: &Arc<ClientLimits>) {
    let weak = Arc::downgrade(limits);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(l) => l.forget_idle(),
                None => break,
            }
        }
    });
}
