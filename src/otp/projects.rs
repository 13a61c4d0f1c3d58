//! Project administration (CLI) and request authentication by project id and secret.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::domain::ids::{Environment, ProjectId, PublicToken, SecretId};
use crate::domain::origin::Origin;
use crate::domain::project::{Project, ProjectSettings};
use crate::domain::secret::{generate_secret, SecretHasher};
use crate::store::projects::Clash;
use crate::store::{self, StoreError};

/// A project whose credentials are given (kept from Stytch) rather than generated.
pub struct KeptCredentials {
    pub id: ProjectId,
    /// Already checked by `domain::secret::parse_given_secret`; generated when `None`.
    pub secret: Option<SecretString>,
    pub public_token: Option<(PublicToken, Vec<Origin>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateProjectError {
    #[error("{given} is a {given_env} value but the project is a {project_env} project")]
    WrongEnvironment {
        given: &'static str,
        given_env: &'static str,
        project_env: &'static str,
    },
    #[error("a project with id {0} already exists")]
    ProjectExists(String),
    #[error("public token {0} already exists")]
    PublicTokenTaken(String),
    #[error("a public token needs at least one allowed origin (--origin)")]
    NoOrigins,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a project with the given id and secret (or a generated one) and an optional given
/// public token, in one transaction. Returns the secret's id and, when it was generated, the
/// secret.
pub async fn create_project_keeping(
    pool: &PgPool,
    hasher: &SecretHasher,
    name: &str,
    settings: &ProjectSettings,
    kept: KeptCredentials,
) -> Result<(SecretId, Option<SecretString>), CreateProjectError> {
    let env = kept.id.env();
    let wrong =
        |given: &'static str, given_env: Environment| CreateProjectError::WrongEnvironment {
            given,
            given_env: given_env.as_str(),
            project_env: env.as_str(),
        };
    let (secret, generated) = match kept.secret {
        Some(s) => {
            let given_env = if s.expose_secret().starts_with("secret-live-") {
                Environment::Live
            } else {
                Environment::Test
            };
            if given_env != env {
                return Err(wrong("the secret", given_env));
            }
            (s, false)
        }
        None => (generate_secret(env), true),
    };
    let mut token_row = None;
    if let Some((token, origins)) = &kept.public_token {
        if token.environment() != env {
            return Err(wrong("the public token", token.environment()));
        }
        if origins.is_empty() {
            return Err(CreateProjectError::NoOrigins);
        }
        let mut texts: Vec<String> = origins.iter().map(|o| o.as_str().to_owned()).collect();
        texts.sort();
        texts.dedup();
        token_row = Some((token, texts));
    }
    let secret_id = SecretId::generate(env);
    let outcome = store::projects::insert_with_credentials(
        pool,
        &kept.id,
        name,
        env == Environment::Live,
        settings,
        &secret_id,
        &hasher.hash(secret.expose_secret()),
        token_row.as_ref().map(|(t, o)| (*t, o.as_slice())),
    )
    .await?;
    match outcome {
        Ok(()) => Ok((secret_id, generated.then_some(secret))),
        Err(Clash::ProjectId) => Err(CreateProjectError::ProjectExists(kept.id.to_string())),
        Err(Clash::PublicToken) => Err(CreateProjectError::PublicTokenTaken(
            token_row.map(|(t, _)| t.to_string()).unwrap_or_default(),
        )),
    }
}

pub struct CreatedSecret {
    pub id: SecretId,
    pub secret: SecretString,
}

pub async fn create_project(
    pool: &PgPool,
    hasher: &SecretHasher,
    name: &str,
    live: bool,
    settings: &ProjectSettings,
) -> Result<(ProjectId, CreatedSecret), StoreError> {
    let env = Environment::from_live(live);
    let id = ProjectId::generate(env);
    store::projects::insert_project(pool, &id, name, live, settings).await?;
    let secret = create_secret(pool, hasher, &id).await?;
    Ok((id, secret))
}

pub async fn create_secret(
    pool: &PgPool,
    hasher: &SecretHasher,
    project: &ProjectId,
) -> Result<CreatedSecret, StoreError> {
    let env = project.env();
    let secret = generate_secret(env);
    let id = SecretId::generate(env);
    store::projects::insert_secret(pool, &id, project, &hasher.hash(secret.expose_secret()))
        .await?;
    Ok(CreatedSecret { id, secret })
}

/// The project whose live secret this is, or `None`; every secret is compared.
pub async fn authenticate(
    conn: impl sqlx::PgExecutor<'_>,
    hasher: &SecretHasher,
    project_id: &str,
    secret: &str,
) -> Result<Option<Project>, StoreError> {
    let Ok(id) = ProjectId::parse(project_id) else {
        return Ok(None);
    };
    let Some((project, hashes)) = store::projects::project_with_secrets(conn, &id).await? else {
        // Hash anyway so an unknown project costs the same as a wrong secret.
        let _ = hasher.matches_any(secret, &[]);
        return Ok(None);
    };
    if !hasher.matches_any(secret, &hashes) {
        return Ok(None);
    }
    project.decode().map(Some)
}
