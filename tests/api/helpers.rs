//! `spawn_app`: a fresh database per test (dropped afterwards), the real app on port 0, a
//! project with a secret, and a client that speaks to it over loopback.

use std::sync::{Arc, OnceLock};

use otpd::config::Config;
use otpd::domain::ids::ProjectId;
use otpd::domain::limits::LimitSettings;
use otpd::domain::origin::Origin;
use otpd::domain::project::ProjectSettings;
use otpd::domain::secret::SecretHasher;
use otpd::otp::{projects, public_tokens};
use otpd::startup::Application;
use otpd::store;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

pub const PEPPER: &str = "test-pepper-0123456789-abcdefghijklmnopqrstuvwxyz";

/// The server every test database is created on (scripts/test starts a private one).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a PostgreSQL server (scripts/test sets it)")
}

pub fn db_url(name: &str) -> String {
    let base = server_url();
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL has a database path");
    format!("{prefix}/{name}")
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            otpd::telemetry::init(&otpd::config::LogConfig::default());
        }
    });
}

/// A database of its own for one test; dropped (forcibly) when this guard goes.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A database that was never migrated.
    pub async fn empty() -> TestDb {
        let name = format!("otpd_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&server_url())
            .await
            .expect("connect to the test server");
        conn.execute(format!(r#"create database "{name}""#).as_str())
            .await
            .expect("create test database");
        let url = db_url(&name);
        TestDb { name, url }
    }

    pub async fn create() -> TestDb {
        let db = TestDb::empty().await;
        let pool = PgPool::connect(&db.url)
            .await
            .expect("connect to the test database");
        store::migrate(&pool).await.expect("migrate");
        pool.close().await;
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&server_url()).await {
                    let _ = conn
                        .execute(
                            format!(r#"drop database if exists "{name}" with (force)"#).as_str(),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn test_config(db: &TestDb) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        database_url: Some(SecretString::from(db.url.clone())),
        ..Config::default()
    };
    c.hashing.pepper = Some(SecretString::from(PEPPER));
    // Real argon2id, at a cost that keeps the suite quick on two cores.
    c.hashing.m_cost_kib = 8192;
    c.hashing.t_cost = 1;
    // Shedding by expected wait is tested on its own (load.rs); elsewhere a slow shared CI
    // machine must not turn a burst of test requests into 503s.
    c.hashing.max_wait_ms = 60_000;
    c
}

pub struct TestApp {
    pub address: String,
    /// `admin_listen`'s address, when the test configured one.
    pub admin_address: Option<String>,
    pub pool: PgPool,
    pub project_id: String,
    pub secret: String,
    pub client: reqwest::Client,
    /// Held so the database is dropped with the last app (replicas share it).
    pub db: Arc<TestDb>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error_type(&self) -> &str {
        self.body["error_type"].as_str().unwrap_or("")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, ProjectSettings::default(), false).await
}

pub async fn spawn_app_with(
    tweak: impl FnOnce(&mut Config),
    settings: ProjectSettings,
    live: bool,
) -> TestApp {
    init_logs();
    let db = TestDb::create().await;
    let (address, admin_address, pool) = start(&db, tweak).await;
    let hasher = SecretHasher::new(&SecretString::from(PEPPER));
    let (id, secret) = projects::create_project(&pool, &hasher, "Acme", live, &settings)
        .await
        .expect("create project");
    TestApp {
        address,
        admin_address,
        pool,
        project_id: id.to_string(),
        secret: secret.secret.expose_secret().to_owned(),
        client: reqwest::Client::new(),
        db: Arc::new(db),
    }
}

/// Builds and starts an app on `db`: its API address, admin address and pool.
pub async fn start(
    db: &TestDb,
    tweak: impl FnOnce(&mut Config),
) -> (String, Option<String>, PgPool) {
    let mut config = test_config(db);
    tweak(&mut config);
    let app = Application::build(&config).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = app.admin_port().map(|p| format!("http://127.0.0.1:{p}"));
    let pool = app.pool().clone();
    tokio::spawn(app.run_until_stopped());
    (address, admin_address, pool)
}

/// Project settings with every abuse limit off, for tests about something else (attempt
/// counting, single use, load shedding) that would otherwise trip them on purpose.
pub fn unlimited() -> ProjectSettings {
    ProjectSettings {
        limits: LimitSettings {
            number_burst: 0,
            number_interval_seconds: 0,
            number_daily_cap: 0,
            guess_budget_per_hour: 0,
            prefix_max_sends: 0,
            prefix_window_seconds: 0,
            conversion_min_sends: 0,
            conversion_min_percent: 0,
            conversion_window_seconds: 0,
            conversion_grace_seconds: 0,
            project_daily_budget: 0,
            country_daily_budget: 0,
            pending_floor: 0,
            pending_per_auth: 0,
            pending_typing_seconds: 0,
            pending_rate_per_second: 0,
            pending_burst: 0,
            pending_pause_seconds: 0,
            block_voip: false,
            conceal_unknown_numbers: false,
        },
        ..ProjectSettings::default()
    }
}

pub async fn spawn_app_unlimited() -> TestApp {
    spawn_app_with(|_| {}, unlimited(), false).await
}

impl TestApp {
    /// A second replica: another `Application` on the same database, serving the same
    /// project with the same credentials.
    pub async fn replica(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let (address, admin_address, pool) = start(&self.db, tweak).await;
        TestApp {
            address,
            admin_address,
            pool,
            project_id: self.project_id.clone(),
            secret: self.secret.clone(),
            client: reqwest::Client::new(),
            db: self.db.clone(),
        }
    }

    async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        let res = self
            .client
            .post(format!("{}{path}", self.address))
            .basic_auth(&self.project_id, Some(&self.secret))
            .json(&body)
            .send()
            .await
            .expect("request");
        Self::reply(res).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let res = self
            .client
            .post(format!("{}{path}", self.address))
            .basic_auth(&self.project_id, Some(&self.secret))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        Self::reply(res).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let res = self
            .client
            .get(format!("{}{path}", self.address))
            .basic_auth(&self.project_id, Some(&self.secret))
            .send()
            .await
            .expect("request");
        Self::reply(res).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        let res = self
            .client
            .delete(format!("{}{path}", self.address))
            .basic_auth(&self.project_id, Some(&self.secret))
            .send()
            .await
            .expect("request");
        Self::reply(res).await
    }

    /// The newest message the fake provider delivered to `to`.
    pub async fn last_message(&self, to: &str) -> Value {
        let r = self
            .get(&format!(
                "/v1/sandbox/messages?to={}&limit=1",
                to.replace('+', "%2B")
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["messages"][0].clone()
    }

    /// The code in the newest message to `to`: its first run of six digits.
    pub async fn last_code(&self, to: &str) -> String {
        let msg = self.last_message(to).await;
        let body = msg["body"].as_str().expect("a message was delivered");
        first_six_digits(body).expect("a 6-digit code in the message")
    }

    pub async fn login_or_create(&self, phone: &str) -> Reply {
        self.post(
            "/v1/otps/sms/login_or_create",
            serde_json::json!({ "phone_number": phone }),
        )
        .await
    }

    pub async fn authenticate(&self, method_id: &str, code: &str) -> Reply {
        self.post(
            "/v1/otps/authenticate",
            serde_json::json!({ "method_id": method_id, "code": code }),
        )
        .await
    }

    /// A public token of this project for the frontend surface, allowing `origins`.
    pub async fn public_token(&self, origins: &[&str]) -> String {
        let origins: Vec<Origin> = origins
            .iter()
            .map(|o| Origin::parse(o).expect("origin"))
            .collect();
        let id = ProjectId::parse(&self.project_id).expect("project id");
        public_tokens::create(&self.pool, &id, &origins, None)
            .await
            .expect("create public token")
            .to_string()
    }

    /// A frontend-surface (`/sdk/v1`) request as the SDK sends it: Basic
    /// `public_token:password` (the token again when nobody is signed in), JSON, and the
    /// page's `Origin` when given.
    pub async fn sdk(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: (&str, Option<&str>),
        origin: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let (token, password) = auth;
        let mut req = self
            .client
            .request(method, format!("{}/sdk/v1{path}", self.address))
            .basic_auth(token, Some(password.unwrap_or(token)))
            .header("Content-Type", "application/json");
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        Self::reply(req.send().await.expect("request")).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count query")
    }

    /// Another project (default settings) on the same server and database, called with its
    /// own credentials.
    pub async fn other_project(&self, name: &str) -> TestApp {
        let hasher = SecretHasher::new(&SecretString::from(PEPPER));
        let (id, secret) =
            projects::create_project(&self.pool, &hasher, name, false, &Default::default())
                .await
                .expect("create project");
        TestApp {
            address: self.address.clone(),
            admin_address: self.admin_address.clone(),
            pool: self.pool.clone(),
            project_id: id.to_string(),
            secret: secret.secret.expose_secret().to_owned(),
            client: reqwest::Client::new(),
            db: self.db.clone(),
        }
    }
}

/// The code as autofill reads it: the first run of digits, which must be six long.
pub fn first_six_digits(s: &str) -> Option<String> {
    otpd::messages::first_code(s)
        .filter(|c| c.len() == 6)
        .map(str::to_owned)
}

/// A valid US number no other test uses, in one of 320 blocks (exchanges 230–549 of area
/// 201), so a test's numbers rarely share the block that prefix velocity counts.
pub fn unique_us_number() -> String {
    let n = Uuid::new_v4().as_u128();
    let exchange = 230 + n % 320;
    let line = (n / 320) % 10_000;
    format!("+1201{exchange:03}{line:04}")
}

/// A code that is certainly wrong: the right one with its last digit changed.
pub fn wrong_code(code: &str) -> String {
    let mut c: Vec<u8> = code.bytes().collect();
    c[5] = if c[5] == b'9' { b'0' } else { c[5] + 1 };
    String::from_utf8(c).expect("digits")
}

/// The test issuer of trusted auth tokens: one RSA key per test process (generation is
/// slow), its PEM public key and its signing key.
pub struct TestIssuer {
    pub public_pem: String,
    /// PKCS#8 PEM, for the SDK scripts that mint tokens themselves.
    pub private_pem: String,
    pub n: String,
    pub e: String,
    signing: jsonwebtoken::EncodingKey,
}

pub const TEST_ISSUER: &str = "https://idp.example.test";
pub const TEST_AUDIENCE: &str = "otpd-tests";

pub fn test_issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa key");
        let der = key.to_pkcs1_der().expect("der");
        let public = key.to_public_key();
        TestIssuer {
            public_pem: public
                .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
                .expect("pem"),
            private_pem: key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .expect("pem")
                .to_string(),
            n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            signing: jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
        }
    })
}

impl TestIssuer {
    /// An RS256 JWT with `claims` (and `kid` in the header when given).
    pub fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.signing).expect("sign")
    }

    /// A valid token for `email`: the test issuer and audience, five minutes, a fresh jti.
    pub fn token(&self, email: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.sign(
            &serde_json::json!({
                "iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "email": email,
                "jti": Uuid::new_v4().to_string(), "iat": now, "nbf": now, "exp": now + 300,
            }),
            None,
        )
    }
}

/// Merges `extra`'s keys into the object `body`.
pub fn with(mut body: Value, extra: &Value) -> Value {
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

impl TestApp {
    /// Registers a trusted auth token profile for the test issuer's PEM key (as
    /// `otpd project trusted-token create --pem-file` does); its id.
    pub async fn trusted_profile(&self, jit: bool) -> String {
        use otpd::otp::trusted_tokens::{create_profile, KeySource, NewProfileInput};
        let project = otpd::domain::ids::ProjectId::parse(&self.project_id).expect("id");
        create_profile(
            &self.pool,
            &project,
            NewProfileInput {
                issuer: TEST_ISSUER.into(),
                audience: TEST_AUDIENCE.into(),
                keys: KeySource::Pem(test_issuer().public_pem.clone()),
                email_claim: "email".into(),
                token_id_claim: "jti".into(),
                jit_provisioning: jit,
            },
        )
        .await
        .expect("profile")
        .as_str()
        .to_owned()
    }

    /// B2B `sessions.attest` for the member of `org` with this email (a new profile each call).
    pub async fn attest_member(&self, org: &str, email: &str) -> Reply {
        let profile = self.trusted_profile(false).await;
        self.post(
            "/v1/b2b/sessions/attest",
            serde_json::json!({"profile_id": profile, "organization_id": org,
                               "token": test_issuer().token(email)}),
        )
        .await
    }

    /// What a B2B SMS step needs after a primary factor: `{"intermediate_session_token"}`
    /// when the organization wants MFA, else `{"session_token"}` of a fresh member session.
    pub async fn mfa_proof(&self, org: &str, email: &str) -> Value {
        let r = self.attest_member(org, email).await;
        assert_eq!(r.status, StatusCode::OK, "attest: {:?}", r.body);
        match r.body["intermediate_session_token"].as_str() {
            Some(ist) if !ist.is_empty() => serde_json::json!({"intermediate_session_token": ist}),
            _ => serde_json::json!({"session_token": r.body["session_token"]}),
        }
    }
}
