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

use crate::config::{config_invalid, Config, ConfigError, ProviderKind};
use crate::domain::secret::SecretHasher;
use crate::hashing::Hasher;
use crate::http::webhooks::TwilioWebhook;
use crate::http::{self, AppState};
use crate::messages::Renderer;
use crate::otp::Services;
use crate::providers::breaker::BreakerSettings;
use crate::providers::fake::FakeProvider;
use crate::providers::twilio::{self, TwilioProvider, TwilioSettings};
use crate::providers::vonage::{VonageProvider, VonageSettings};
use crate::providers::{RetryPolicy, Router, SmsProvider};
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
pub fn build_router(config: &Config, pool: &PgPool) -> Result<Router, ConfigError> {
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
            ProviderKind::Fake => Arc::new(FakeProvider::new(pool.clone())),
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
    pool: PgPool,
}

impl Application {
    /// Builds the app on the configured listener (port 0 picks a free port, for tests).
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let pool = store::connect_pool(config.database_url()?, &config.database)?;
        Self::build_with_pool(config, pool).await
    }

    pub async fn build_with_pool(config: &Config, pool: PgPool) -> anyhow::Result<Application> {
        let renderer = load_templates(config)?;
        let pepper = config.pepper()?.clone();
        let hasher = Hasher::start(&config.hashing_params_checked()?, pepper.clone())
            .context("starting the hashing pool")?;
        let providers = build_router(config, &pool)?;
        let twilio_webhook = web::Data::new(TwilioWebhook::from_config(config));
        let state = web::Data::new(AppState {
            services: Services {
                pool: pool.clone(),
                hasher,
                providers,
                renderer: Arc::new(renderer),
                max_attempts: config.otp.max_attempts,
            },
            secret_hasher: Arc::new(SecretHasher::new(&pepper)),
            sandbox_outbox: config.provider.kind == ProviderKind::Fake,
        });

        let listener = TcpListener::bind(config.listen_addr()?)
            .with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let factory = move || {
            App::new()
                .app_data(state.clone())
                .app_data(twilio_webhook.clone())
                .wrap(from_fn(http::context::request_context))
                .configure(http::routes)
        };
        let server = HttpServer::new(factory).shutdown_timeout(10);
        let (server, tls) = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => (
                server.listen_rustls_0_23(listener, load_tls(cert, key)?)?,
                true,
            ),
            _ => (server.listen(listener)?, false),
        };
        Ok(Application {
            port,
            tls,
            server: server.run(),
            pool,
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

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests and closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.pool.close().await;
        result
    }
}
