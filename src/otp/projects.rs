//! Project administration (CLI) and request authentication by project id and secret.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::domain::ids::{Environment, ProjectId, SecretId};
use crate::domain::project::{Project, ProjectSettings};
use crate::domain::secret::{generate_secret, SecretHasher};
use crate::store::{self, StoreError};

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
    pool: &PgPool,
    hasher: &SecretHasher,
    project_id: &str,
    secret: &str,
) -> Result<Option<Project>, StoreError> {
    let Ok(id) = ProjectId::parse(project_id) else {
        return Ok(None);
    };
    let Some((project, hashes)) = store::projects::project_with_secrets(pool, &id).await? else {
        // Hash anyway so an unknown project costs the same as a wrong secret.
        let _ = hasher.matches_any(secret, &[]);
        return Ok(None);
    };
    if !hasher.matches_any(secret, &hashes) {
        return Ok(None);
    }
    project.decode().map(Some)
}
