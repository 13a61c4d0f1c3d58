//! The `otpd` command line: serve, migrate, dev, and project administration.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sqlx::PgPool;

use crate::config::{Config, ConfigError};
use crate::domain::ids::{ProjectId, SecretId};
use crate::domain::origin::Origin;
use crate::domain::project::ProjectSettings;
use crate::domain::secret::SecretHasher;
use crate::otp::{projects, public_tokens};
use crate::startup::Application;
use crate::{devdb, store, telemetry};

#[derive(Parser, Debug)]
#[command(
    name = "otpd",
    version,
    about = "Self-hosted one-time-passcode delivery with a Stytch-compatible API"
)]
pub struct Cli {
    /// TOML configuration file (keys are overridable by OTPD_* environment variables).
    #[arg(long, env = "OTPD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending migrations (unless --no-migrate), then serve.
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Run on an embedded private PostgreSQL with the fake provider and a test project.
    Dev {
        /// Where the dev cluster, pepper and project live.
        #[arg(long, default_value = "./.otpd")]
        data_dir: PathBuf,
    },
    /// Exit 0 when `GET /healthz` answers 200, 1 otherwise (for container HEALTHCHECKs).
    Healthcheck {
        /// What to probe (default: `/healthz` on the `listen` address, over HTTPS when TLS is
        /// configured; an unspecified address such as 0.0.0.0 is probed on loopback).
        #[arg(long)]
        url: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (the committed `openapi.json`).
    Openapi,
    /// Copy users, organizations and members into a project, keeping their ids.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Manage projects and their secrets.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project and its first secret.
    Create {
        #[arg(long)]
        name: String,
        /// A live project (ids say `live`, sandbox values are refused).
        #[arg(long)]
        live: bool,
        /// Print exactly one JSON object {"project_id", "secret"} (with a given secret:
        /// {"project_id", "secret_id"}, the secret is not echoed; plus "public_token").
        #[arg(long)]
        json: bool,
        /// Keep this project id (`project-test-…`/`project-live-…`, e.g. Stytch's); its
        /// prefix decides test or live.
        #[arg(long)]
        project_id: Option<String>,
        /// Keep this secret (`secret-test-…`/`secret-live-…`), read from this file or `-`
        /// for stdin, never from the command line.
        #[arg(long, requires = "project_id", value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Also keep this public token (`public-token-test-…`), with its --origin values.
        #[arg(long, requires = "project_id", requires = "origins")]
        public_token: Option<String>,
        /// An origin allowed to use --public-token (repeatable).
        #[arg(long = "origin", value_name = "ORIGIN", requires = "public_token")]
        origins: Vec<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change a project's settings.
    Update {
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Close a conversion breaker by forgetting the send/authenticate history of one
    /// country (or of all countries).
    ResetBreaker {
        id: String,
        /// ISO 3166-1 alpha-2 region; all regions when omitted.
        #[arg(long)]
        country: Option<String>,
    },
    /// Show or clear a project's pumping signals (pending new-number sends, conversion
    /// breakers, today's budgets).
    Abuse {
        #[command(subcommand)]
        command: AbuseCommand,
    },
    /// Rotate API secrets (several may be live at once).
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Session JWT signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Public tokens of the frontend surface (`/sdk/v1`), each with its allowed origins.
    /// Rotate by creating a new one, deploying it, then revoking the old one.
    PublicToken {
        #[command(subcommand)]
        command: PublicTokenCommand,
    },
    /// Trusted auth token profiles: whose JWTs `sessions.attest` accepts.
    TrustedToken {
        #[command(subcommand)]
        command: TrustedTokenCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// From Stytch's search APIs (or a compatible server), or from a JSON-lines file of the
    /// same objects. Idempotent and resumable; see docs/migrating-from-stytch.md.
    Stytch(ImportStytchArgs),
}

#[derive(Args, Debug)]
pub struct ImportStytchArgs {
    /// The otpd project to import into (created first with `project create --project-id`).
    #[arg(long)]
    project: String,
    /// A Stytch-compatible API base URL (default: Stytch's host for the source project id,
    /// https://test.stytch.com for project-test-…, https://api.stytch.com otherwise).
    #[arg(long, conflicts_with = "from_file", requires = "source_project_id")]
    from_url: Option<String>,
    /// The source project's id.
    #[arg(long, requires = "source_secret_file", conflicts_with = "from_file")]
    source_project_id: Option<String>,
    /// The source project's secret, read from this file or `-` for stdin (never from argv).
    #[arg(long, requires = "source_project_id", value_name = "FILE")]
    source_secret_file: Option<PathBuf>,
    /// Extra PEM CA certificates to trust for --from-url.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// A JSON-lines file: one object a line with "type": "user" | "organization" | "member".
    #[arg(
        long,
        required_unless_present = "source_project_id",
        value_name = "F.jsonl"
    )]
    from_file: Option<PathBuf>,
    /// Check and count everything, write nothing (each record's transaction is rolled back).
    #[arg(long)]
    dry_run: bool,
    /// Where the checkpoint lives (default: next to --from-file, the working directory for
    /// --from-url).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Records per search request (1 to 1000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    /// Stop after this many pages, keeping the checkpoint (tests of resuming).
    #[arg(long, hide = true)]
    max_pages: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum PublicTokenCommand {
    /// Add a public token with the browser origins allowed to use it.
    Create {
        id: String,
        /// An allowed origin, e.g. `https://app.example.com` or `http://localhost:3000`
        /// (repeatable; at least one).
        #[arg(long = "origin", value_name = "ORIGIN", required = true)]
        origins: Vec<String>,
        /// Keep this value (`public-token-test-…`/`public-token-live-…`), e.g. Stytch's.
        #[arg(long)]
        token: Option<String>,
        /// Print exactly one JSON object {"public_token"}.
        #[arg(long)]
        json: bool,
    },
    /// List a project's public tokens (revoked ones too).
    List {
        id: String,
        /// Print one JSON object {"public_tokens": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a public token: it is refused from the next request on.
    Revoke { id: String, token: String },
}

#[derive(Subcommand, Debug)]
pub enum TrustedTokenCommand {
    /// Register an issuer whose RS256 JWTs `sessions.attest` exchanges for sessions.
    Create {
        id: String,
        /// The `iss` the tokens carry.
        #[arg(long)]
        issuer: String,
        /// The `aud` the tokens carry.
        #[arg(long)]
        audience: String,
        /// Where the issuer publishes its keys (fetched and cached by otpd).
        #[arg(
            long,
            conflicts_with = "pem_file",
            required_unless_present = "pem_file"
        )]
        jwks_url: Option<String>,
        /// A file of PEM RSA public keys (`BEGIN PUBLIC KEY`), used instead of a JWKS URL.
        #[arg(long)]
        pem_file: Option<PathBuf>,
        /// The claim holding the person's email.
        #[arg(long, default_value = "email")]
        email_claim: String,
        /// The claim holding the token's unique id (each id is accepted once).
        #[arg(long, default_value = "jti")]
        token_id_claim: String,
        /// Consumer attest may create a user for an email no user has (Stytch's "Allow JIT
        /// provisioning"; off by default, as there).
        #[arg(long)]
        allow_jit_provisioning: bool,
        /// Print exactly one JSON object {"profile_id"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new signing key current; the old one stays in the JWKS (and verifies) for an
    /// hour, longer than any JWT it signed lives.
    Rotate { id: String },
    /// Emergency revoke of a signing key (KID, the JWT header's `kid`): it leaves the JWKS and
    /// JWTs it signed stop verifying at once; a current key is replaced by a new one.
    Revoke { id: String, kid: String },
}

#[derive(Subcommand, Debug)]
pub enum AbuseCommand {
    /// Print the project's abuse state as one JSON object.
    Show { id: String },
    /// Lift a pause: forget the pending new-number sends (project-wide) and the conversion
    /// history of one country (or of all countries).
    Reset {
        id: String,
        /// ISO 3166-1 alpha-2 region for the breaker; all regions when omitted.
        #[arg(long)]
        country: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Add a secret to a project.
    Create {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one secret by its secret id.
    Revoke { id: String, secret_id: String },
}

#[derive(Args, Debug, Default)]
pub struct SettingsArgs {
    /// Brand shown in messages (default: the project name).
    #[arg(long)]
    pub brand: Option<String>,
    /// ISO 3166 allowlist for SMS/WhatsApp, comma-separated (default US,CA).
    #[arg(long)]
    pub sms_countries: Option<String>,
    /// Domain for the WebOTP `@domain #code` autofill line.
    #[arg(long)]
    pub autofill_domain: Option<String>,
    /// 11-character Android SMS Retriever app hash.
    #[arg(long)]
    pub android_app_hash: Option<String>,
    /// A rate limit or fraud threshold, e.g. `--limit number_burst=3` (repeatable; 0 turns
    /// a check off). Keys and defaults: docs/abuse.md.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub limits: Vec<String>,
}

impl SettingsArgs {
    fn apply(&self, s: &mut ProjectSettings) -> anyhow::Result<()> {
        if let Some(b) = &self.brand {
            s.set_brand(b).context("--brand")?;
        }
        if let Some(c) = &self.sms_countries {
            s.set_sms_countries(c).context("--sms-countries")?;
        }
        if let Some(d) = &self.autofill_domain {
            s.set_autofill_domain(d).context("--autofill-domain")?;
        }
        if let Some(h) = &self.android_app_hash {
            s.set_android_app_hash(h).context("--android-app-hash")?;
        }
        for l in &self.limits {
            s.limits.set(l).context("--limit")?;
        }
        Ok(())
    }
}

/// Exit codes: 2 for configuration problems, 1 for everything else.
pub enum Failure {
    Config(ConfigError),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<ConfigError>() {
            Ok(c) => Failure::Config(c),
            Err(e) => Failure::Other(e),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let mut config = Config::load(cli.config.as_deref())?;
    // `dev` starts its log after printing its instructions, so the two never interleave.
    if !matches!(cli.command, Command::Dev { .. }) {
        telemetry::init(&config.log);
    }
    match cli.command {
        Command::Serve { no_migrate } => {
            config.validate_for_serve()?;
            serve(&config, !no_migrate).await?;
        }
        Command::Migrate => {
            let pool = admin_pool(&config)?;
            store::migrate(&pool).await.context("applying migrations")?;
            tracing::info!("migrations applied");
        }
        Command::Dev { data_dir } => {
            dev(&mut config, &data_dir).await?;
        }
        Command::Project { command } => project(&config, command).await?,
        Command::Import {
            command: ImportCommand::Stytch(args),
        } => import_stytch(&config, args).await?,
        Command::Healthcheck { url, timeout_secs } => {
            let url = match url {
                Some(u) => u,
                None => healthz_url(&config)?,
            };
            healthcheck(&url, std::time::Duration::from_secs(timeout_secs)).await?;
        }
        Command::Openapi => print!("{}", crate::http::openapi::document()),
    }
    Ok(())
}

fn admin_pool(config: &Config) -> Result<PgPool, Failure> {
    let url = config.database_url()?;
    store::connect_pool(url, &config.database)
        .map_err(|e| Failure::Config(crate::config::config_invalid("database_url", e.to_string())))
}

async fn serve(config: &Config, migrate: bool) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if migrate {
        store::migrate(app.pool())
            .await
            .context("applying migrations")?;
    }
    let host = config.listen_addr()?.ip();
    tracing::info!(address = %format!("{}://{}:{}", app.scheme(), host, app.port()), "listening");
    app.run_until_stopped().await?;
    Ok(())
}

async fn import_stytch(config: &Config, a: ImportStytchArgs) -> Result<(), Failure> {
    use crate::otp::import::{Importer, Kind};
    use crate::otp::import_source::{self, ApiSource, FileSource, Source};
    let pool = admin_pool(config)?;
    if !store::migrations_current(&pool)
        .await
        .context("checking the database schema")?
    {
        return Err(Failure::Other(anyhow::anyhow!(
            "the database is not migrated for this otpd version: run `otpd migrate` first"
        )));
    }
    let project = ProjectId::parse(a.project.trim()).context("--project")?;
    if store::projects::get_project(&pool, &project)
        .await
        .context("loading the project")?
        .is_none()
    {
        return Err(Failure::Other(anyhow::anyhow!(
            "no project {project}: create it first (`otpd project create --project-id …`)"
        )));
    }
    let (mut source, state_default) = match (&a.from_file, &a.source_project_id) {
        (Some(f), _) => {
            let dir = f
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (
                Source::File(FileSource::new(f.clone(), a.page_size as usize)),
                dir,
            )
        }
        (None, Some(pid)) => {
            let Some(secret_file) = &a.source_secret_file else {
                return Err(Failure::Other(anyhow::anyhow!(
                    "--source-secret-file is required with --source-project-id"
                )));
            };
            let secret = SecretString::from(read_secret_file(secret_file)?);
            let ca = match &a.ca_file {
                Some(f) => {
                    Some(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?)
                }
                None => None,
            };
            (
                Source::Api(ApiSource::new(
                    a.from_url.clone(),
                    pid.trim().to_owned(),
                    secret,
                    ca.as_deref(),
                    a.page_size,
                )?),
                PathBuf::from("."),
            )
        }
        (None, None) => {
            return Err(Failure::Other(anyhow::anyhow!(
                "give --from-file or --source-project-id (with --source-secret-file)"
            )))
        }
    };
    let state_dir = a.state_dir.clone().unwrap_or(state_default);
    let checkpoint = state_dir.join(format!("otpd-import-{project}.checkpoint.json"));
    let mut importer = Importer::new(pool, project.clone(), a.dry_run)
        .await
        .context("starting the import")?;
    let mut out = std::io::stdout().lock();
    let report = import_source::run(
        &mut importer,
        &mut source,
        &checkpoint,
        a.max_pages,
        &mut out,
    )
    .await
    .with_context(|| {
        format!(
            "the import stopped; run the same command again to resume from {}",
            checkpoint.display()
        )
    })?;
    drop(out);
    importer.finish().await.context("ending the import")?;
    if let Source::Api(api) = &source {
        for path in &api.skipped {
            println!(
                "skipped {path}: the source does not serve it (a consumer or B2B-only project)"
            );
        }
    }
    let t = &report.tally;
    for (kind, label) in [
        (Kind::User, "users"),
        (Kind::Organization, "organizations"),
        (Kind::Member, "members"),
    ] {
        let (i, u, f) = t.of(kind);
        println!("{label}: imported {i}, unchanged {u}, failed {f}");
    }
    if !t.reasons.is_empty() {
        let reasons: Vec<String> = t
            .reasons
            .iter()
            .map(|(r, n)| format!("{} {n}", r.as_str()))
            .collect();
        println!("failed by reason: {}", reasons.join(", "));
    }
    let (imported, unchanged, failed) = t.totals();
    let total = imported + unchanged + failed;
    let secs = report.elapsed.as_secs_f64();
    println!(
        "{total} records in {secs:.1} s ({:.0} records/s){}",
        total as f64 / secs.max(0.001),
        if report.resumed {
            ", resumed from the checkpoint"
        } else {
            ""
        }
    );
    if a.dry_run {
        println!("dry run: nothing was written");
    }
    if report.stopped_early {
        println!(
            "stopped after {} pages (--max-pages); run again to resume from {}",
            a.max_pages.unwrap_or(0),
            checkpoint.display()
        );
    }
    println!("imported {imported}, unchanged {unchanged}, failed {failed}");
    Ok(())
}

async fn public_token(pool: &PgPool, command: PublicTokenCommand) -> anyhow::Result<()> {
    match command {
        PublicTokenCommand::Create {
            id,
            origins,
            token,
            json,
        } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let origins = origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()
                .context("--origin")?;
            let token = public_tokens::create(pool, &id, &origins, token.as_deref()).await?;
            if json {
                println!("{}", json!({ "public_token": token.as_str() }));
            } else {
                println!("public_token: {token}");
            }
        }
        PublicTokenCommand::List { id, json } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let rows = public_tokens::list(pool, &id).await?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        json!({
                            "public_token": r.token.as_str(),
                            "origins": r.origins,
                            "created_at": r.created_at.to_rfc3339(),
                            "revoked_at": r.revoked_at.map(|t| t.to_rfc3339()),
                        })
                    })
                    .collect();
                println!("{}", json!({ "public_tokens": list }));
            } else {
                for r in rows {
                    let state = if r.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "live"
                    };
                    println!("{}  {state}  {}", r.token, r.origins.join(" "));
                }
            }
        }
        PublicTokenCommand::Revoke { id, token } => {
            let id = ProjectId::parse(&id).context("project id")?;
            public_tokens::revoke(pool, &id, &token).await?;
            println!("revoked {}", token.trim());
        }
    }
    Ok(())
}

/// `/healthz` on the address `serve` listens on, as seen from inside the same host.
fn healthz_url(config: &Config) -> Result<String, Failure> {
    let mut addr = config.listen_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if config.tls.cert.is_some() && config.tls.key.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{addr}/healthz"))
}

async fn healthcheck(url: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {url}"))?;
    let loopback = match parsed.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    // The server's certificate names its public host, not 127.0.0.1; on loopback nothing
    // sits between the probe and the server, so verification adds nothing there.
    // A probe of this host must not be sent through an HTTP(S)_PROXY from the environment.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .danger_accept_invalid_certs(loopback)
        .build()
        .context("building the HTTP client")?;
    let res = client
        .get(parsed)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !res.status().is_success() {
        bail!("GET {url}: {}", res.status());
    }
    println!("ok");
    Ok(())
}

/// `--country` of the breaker commands, upper-cased and checked like an allowlist entry.
fn breaker_country(country: Option<String>) -> Result<Option<String>, Failure> {
    let country = country.map(|c| c.trim().to_ascii_uppercase());
    if let Some(c) = &country {
        ProjectSettings::default()
            .set_sms_countries(c)
            .context("--country")?;
    }
    Ok(country)
}

async fn project(config: &Config, command: ProjectCommand) -> Result<(), Failure> {
    let pool = admin_pool(config)?;
    let hasher = SecretHasher::new(config.pepper()?);
    // Not migrated here: a CLI newer than the running fleet must not change its schema.
    if !store::migrations_current(&pool)
        .await
        .context("checking the database schema")?
    {
        return Err(Failure::Other(anyhow::anyhow!(
            "the database is not migrated for this otpd version: run `otpd migrate` \
             (or start `otpd serve`, which migrates) with the same database_url, then retry"
        )));
    }
    match command {
        ProjectCommand::Create {
            name,
            live,
            json,
            project_id,
            secret_file,
            public_token,
            origins,
            settings,
        } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 128 {
                return Err(Failure::Other(anyhow::anyhow!(
                    "--name must be 1 to 128 characters"
                )));
            }
            let mut s = ProjectSettings::default();
            if settings.brand.is_none() {
                // The brand defaults to the name, so the name must be a valid brand too.
                if let Err(e) = ProjectSettings::default().set_brand(name) {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "--name is not usable as a brand ({e}); pass --brand"
                    )));
                }
            }
            settings.apply(&mut s)?;
            if let Some(given) = project_id {
                let kept = kept_credentials(&given, live, secret_file, public_token, &origins)?;
                let id = kept.id.clone();
                let token = kept.public_token.as_ref().map(|(t, _)| t.to_string());
                let (secret_id, generated) =
                    projects::create_project_keeping(&pool, &hasher, name, &s, kept)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut out = json!({"project_id": id.as_str(), "secret_id": secret_id.as_str()});
                if let Some(g) = &generated {
                    out["secret"] = json!(g.expose_secret());
                }
                if let Some(t) = &token {
                    out["public_token"] = json!(t);
                }
                if json {
                    println!("{out}");
                } else {
                    println!("project_id: {id}\nsecret_id:  {secret_id}");
                    match &generated {
                        Some(g) => println!("secret:     {}", g.expose_secret()),
                        None => println!("secret:     (the given one)"),
                    }
                    if let Some(t) = token {
                        println!("public_token: {t}");
                    }
                }
                return Ok(());
            }
            let (id, secret) = projects::create_project(&pool, &hasher, name, live, &s)
                .await
                .context("creating the project")?;
            if json {
                println!(
                    "{}",
                    json!({"project_id": id.as_str(), "secret": secret.secret.expose_secret()})
                );
            } else {
                println!(
                    "project_id: {id}\nsecret_id:  {}\nsecret:     {}",
                    secret.id,
                    secret.secret.expose_secret()
                );
            }
        }
        ProjectCommand::Update { id, settings } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let mut project = store::projects::get_project(&pool, &id)
                .await
                .context("loading the project")?
                .with_context(|| format!("no project {id}"))?;
            settings.apply(&mut project.settings)?;
            store::projects::update_settings(&pool, &id, &project.settings)
                .await
                .context("saving settings")?;
            println!(
                "{}",
                serde_json::to_string(&project.settings).unwrap_or_default()
            );
        }
        ProjectCommand::PublicToken { command } => public_token(&pool, command).await?,
        ProjectCommand::ResetBreaker { id, country } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let country = breaker_country(country)?;
            let dropped = store::limits::reset_conversion(&pool, &id, country.as_deref())
                .await
                .context("resetting the breaker")?;
            println!(
                "conversion history cleared for {} ({dropped} buckets)",
                country.as_deref().unwrap_or("all countries")
            );
        }
        ProjectCommand::Abuse {
            command: AbuseCommand::Show { id },
        } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let project = store::projects::get_project(&pool, &id)
                .await
                .context("loading the project")?
                .with_context(|| format!("no project {id}"))?;
            let state = crate::limits::abuse_state(&pool, &project)
                .await
                .context("reading the abuse state")?;
            println!("{}", serde_json::to_string(&state).unwrap_or_default());
        }
        ProjectCommand::Abuse {
            command: AbuseCommand::Reset { id, country },
        } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let country = breaker_country(country)?;
            let pending = store::limits::reset_pending(&pool, &id)
                .await
                .context("resetting the pending sends")?;
            let breaker = store::limits::reset_conversion(&pool, &id, country.as_deref())
                .await
                .context("resetting the breaker")?;
            println!(
                "pending new-number sends cleared ({pending} buckets); conversion history cleared for {} ({breaker} buckets)",
                country.as_deref().unwrap_or("all countries")
            );
        }
        ProjectCommand::Keys {
            command: KeysCommand::Rotate { id },
        } => {
            let id = ProjectId::parse(&id).context("project id")?;
            if store::projects::get_project(&pool, &id)
                .await
                .context("loading")?
                .is_none()
            {
                return Err(Failure::Other(anyhow::anyhow!("no project {id}")));
            }
            let keys = crate::otp::sessions::SessionKeys::new(config.pepper()?)
                .map_err(|e| anyhow::anyhow!("deriving the session keys: {e}"))?;
            let kid = crate::otp::sessions::rotate_key(&pool, &keys, &id)
                .await
                .context("rotating the signing key")?;
            println!("{kid}");
        }
        ProjectCommand::TrustedToken {
            command:
                TrustedTokenCommand::Create {
                    id,
                    issuer,
                    audience,
                    jwks_url,
                    pem_file,
                    email_claim,
                    token_id_claim,
                    allow_jit_provisioning,
                    json,
                },
        } => {
            use crate::otp::trusted_tokens::{create_profile, KeySource, NewProfileInput};
            let id = ProjectId::parse(&id).context("project id")?;
            if store::projects::get_project(&pool, &id)
                .await
                .context("loading")?
                .is_none()
            {
                return Err(Failure::Other(anyhow::anyhow!("no project {id}")));
            }
            let keys = match (jwks_url, pem_file) {
                (Some(u), None) => KeySource::JwksUrl(u),
                (None, Some(f)) => KeySource::Pem(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                ),
                _ => {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "pass exactly one of --jwks-url and --pem-file"
                    )))
                }
            };
            let profile = create_profile(
                &pool,
                &id,
                NewProfileInput {
                    issuer,
                    audience,
                    keys,
                    email_claim,
                    token_id_claim,
                    jit_provisioning: allow_jit_provisioning,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", json!({"profile_id": profile.as_str()}));
            } else {
                println!("profile_id: {profile}");
            }
        }
        ProjectCommand::Keys {
            command: KeysCommand::Revoke { id, kid },
        } => {
            let id = ProjectId::parse(&id).context("project id")?;
            let keys = crate::otp::sessions::SessionKeys::new(config.pepper()?)
                .map_err(|e| anyhow::anyhow!("deriving the session keys: {e}"))?;
            match crate::otp::sessions::revoke_key(&pool, &keys, &id, &kid)
                .await
                .context("revoking the signing key")?
            {
                None => {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "project {id} has no published signing key {kid}"
                    )))
                }
                Some(None) => println!("revoked {kid}"),
                Some(Some(new)) => println!("revoked {kid}; new current key {new}"),
            }
        }
        ProjectCommand::Secret { command } => match command {
            SecretCommand::Create { id, json } => {
                let id = ProjectId::parse(&id).context("project id")?;
                if store::projects::get_project(&pool, &id)
                    .await
                    .context("loading")?
                    .is_none()
                {
                    return Err(Failure::Other(anyhow::anyhow!("no project {id}")));
                }
                let s = projects::create_secret(&pool, &hasher, &id)
                    .await
                    .context("creating the secret")?;
                if json {
                    println!(
                        "{}",
                        json!({"project_id": id.as_str(), "secret_id": s.id.as_str(), "secret": s.secret.expose_secret()})
                    );
                } else {
                    println!(
                        "secret_id: {}\nsecret:    {}",
                        s.id,
                        s.secret.expose_secret()
                    );
                }
            }
            SecretCommand::Revoke { id, secret_id } => {
                let id = ProjectId::parse(&id).context("project id")?;
                let sid = SecretId::parse(&secret_id).context("secret id")?;
                if !store::projects::revoke_secret(&pool, &id, &sid)
                    .await
                    .context("revoking")?
                {
                    return Err(Failure::Other(anyhow::anyhow!(
                        "no live secret {sid} in project {id}"
                    )));
                }
                println!("revoked {sid}");
            }
        },
    }
    Ok(())
}

/// Reads a secret from a file or stdin (`-`); argv would leak it to `ps` and shell history.
pub(crate) fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text = if path == Path::new("-") {
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
            .context("reading the secret from stdin")?;
        buf
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    Ok(text.trim().to_owned())
}

/// The checked credentials of `project create --project-id …`.
fn kept_credentials(
    given_id: &str,
    live: bool,
    secret_file: Option<PathBuf>,
    public_token: Option<String>,
    origins: &[String],
) -> anyhow::Result<projects::KeptCredentials> {
    use crate::domain::ids::{Environment, PublicToken};
    let id = ProjectId::parse(given_id.trim()).context("--project-id")?;
    if live && id.env() == Environment::Test {
        bail!("--live conflicts with the test project id {id}");
    }
    let secret = match secret_file {
        None => None,
        Some(f) => {
            let raw = read_secret_file(&f)?;
            let (_, s) =
                crate::domain::secret::parse_given_secret(&raw).context("--secret-file")?;
            Some(s)
        }
    };
    let public_token = match public_token {
        None => None,
        Some(t) => {
            let token = PublicToken::parse(t.trim()).context("--public-token")?;
            let origins = origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()
                .context("--origin")?;
            Some((token, origins))
        }
    };
    Ok(projects::KeptCredentials {
        id,
        secret,
        public_token,
    })
}

fn random_token() -> String {
    let mut bytes = [0u8; 36];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads a file holding a secret value, creating it (mode 0600) on first use.
fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().to_owned());
    }
    let value = make();
    std::fs::write(path, &value).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(value)
}

/// Where a developer's page usually runs: Next.js, Vite, and the same on 127.0.0.1.
const DEV_ORIGINS: [&str; 4] = [
    "http://localhost:3000",
    "http://localhost:5173",
    "http://127.0.0.1:3000",
    "http://127.0.0.1:5173",
];

/// The dev project's public token from an earlier run, if it is still live.
async fn existing_token(
    pool: &PgPool,
    creds_path: &Path,
    project_id: &str,
) -> anyhow::Result<Option<String>> {
    let saved = std::fs::read_to_string(creds_path)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["public_token"].as_str().map(str::to_owned));
    let Some(token) = saved else {
        return Ok(None);
    };
    let live = public_tokens::authenticate(pool, &token)
        .await?
        .is_some_and(|(p, _)| p.id.as_str() == project_id);
    Ok(live.then_some(token))
}

async fn dev(config: &mut Config, data_dir: &Path) -> anyhow::Result<()> {
    let server = devdb::ensure_cluster(data_dir)?;
    let url = devdb::ensure_database(&server, "otpd").await?;
    let data_dir = data_dir.canonicalize()?;
    config.database_url = Some(SecretString::from(url));
    let pepper = load_or_create(&data_dir.join("pepper"), random_token)?;
    config.hashing.pepper = Some(SecretString::from(pepper));
    config.provider.kind = crate::config::ProviderKind::Fake;
    config.validate_for_serve()?;

    let pool = store::connect_pool(config.database_url()?, &config.database)?;
    store::migrate(&pool).await.context("applying migrations")?;
    let hasher = SecretHasher::new(config.pepper()?);
    let creds_path = data_dir.join("dev-project.json");
    let existing = std::fs::read_to_string(&creds_path)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok());
    let mut creds = None;
    if let Some(v) = existing {
        if let (Some(id), Some(secret)) = (v["project_id"].as_str(), v["secret"].as_str()) {
            if projects::authenticate(&pool, &hasher, id, secret)
                .await?
                .is_some()
            {
                creds = Some((id.to_owned(), secret.to_owned()));
            }
        }
    }
    let (project_id, secret) = match creds {
        Some(c) => c,
        None => {
            let (id, s) = projects::create_project(
                &pool,
                &hasher,
                "otpd dev",
                false,
                &ProjectSettings::default(),
            )
            .await?;
            (id.to_string(), s.secret.expose_secret().to_owned())
        }
    };
    let reused_token = existing_token(&pool, &creds_path, &project_id).await?;
    let public_token = match reused_token {
        Some(t) => t,
        None => {
            let origins = DEV_ORIGINS
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()?;
            let id = ProjectId::parse(&project_id)?;
            public_tokens::create(&pool, &id, &origins, None)
                .await?
                .to_string()
        }
    };
    std::fs::write(
        &creds_path,
        json!({"project_id": project_id, "secret": secret, "public_token": public_token})
            .to_string(),
    )?;
    pool.close().await;

    let app = Application::build(config).await?;
    let base = format!("{}://127.0.0.1:{}", app.scheme(), app.port());
    if app.port() == 0 {
        bail!("could not bind {}", config.listen);
    }
    println!(
        "otpd dev is running on {base} (fake provider; data in {dir})\n\n\
         project_id: {project_id}\nsecret:     {secret}\n\n\
         Send a code (this number becomes a user; the code lands in the sandbox outbox):\n  \
         curl -s -u '{project_id}:{secret}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"phone_number\":\"+12015550123\"}}' {base}/v1/otps/sms/login_or_create\n\n\
         Read it:\n  curl -s -u '{project_id}:{secret}' '{base}/v1/sandbox/messages?to=%2B12015550123&limit=1'\n\
         or watch the messages arrive in the staging console (sign in with project_id and secret):\n  \
         {base}/sandbox/\n\n\
         Authenticate it (phone_id from the first answer, code from the second):\n  \
         curl -s -u '{project_id}:{secret}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"method_id\":\"PHONE_ID\",\"code\":\"CODE\"}}' {base}/v1/otps/authenticate\n\n\
         Frontend SDKs (@stytch/vanilla-js, nextjs, react) use the public token, from pages on {origins}:\n\
         public_token: {public_token}\n  \
         curl -s -u '{public_token}:{public_token}' -H 'Origin: {first_origin}' \\\n    \
         {base}/sdk/v1/projects/bootstrap/{public_token}\n\
         The SDKs' customBaseUrl reaches only https on port 443: see docs/frontend.md for a local TLS proxy.\n",
        dir = data_dir.display(),
        origins = DEV_ORIGINS.join(", "),
        first_origin = DEV_ORIGINS[0],
    );
    // Instructions on stdout first, then the log (compact, one line a request) on stderr.
    telemetry::init_for(&config.log, telemetry::Reader::Person);
    app.run_until_stopped().await?;
    Ok(())
}
