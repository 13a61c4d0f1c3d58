//! Projects and their API secrets.

use sqlx::PgPool;

use crate::domain::ids::{ProjectId, SecretId};
use crate::domain::project::{Project, ProjectSettings};

use super::StoreError;

pub async fn insert_project(
    pool: &PgPool,
    id: &ProjectId,
    name: &str,
    live: bool,
    settings: &ProjectSettings,
) -> Result<(), StoreError> {
    let settings = serde_json::to_value(settings)
        .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query!(
        "insert into projects (id, name, live, settings) values ($1, $2, $3, $4)",
        id.as_str(),
        name,
        live,
        settings
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What `insert_with_credentials` found already taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Clash {
    ProjectId,
    PublicToken,
}

/// A project, its first secret (already hashed) and optionally a public token, all or
/// nothing: a clash on the id or the token leaves no row behind.
#[allow(clippy::too_many_arguments)]
pub async fn insert_with_credentials(
    pool: &PgPool,
    id: &ProjectId,
    name: &str,
    live: bool,
    settings: &ProjectSettings,
    secret_id: &SecretId,
    secret_hash: &[u8],
    public_token: Option<(&crate::domain::ids::PublicToken, &[String])>,
) -> Result<Result<(), Clash>, StoreError> {
    let settings = serde_json::to_value(settings)
        .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        "insert into projects (id, name, live, settings) values ($1, $2, $3, $4)
         on conflict (id) do nothing",
        id.as_str(),
        name,
        live,
        settings
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(Err(Clash::ProjectId));
    }
    sqlx::query!(
        "insert into project_secrets (id, project_id, secret_hash) values ($1, $2, $3)",
        secret_id.as_str(),
        id.as_str(),
        secret_hash
    )
    .execute(&mut *tx)
    .await?;
    if let Some((token, origins)) = public_token {
        let done = sqlx::query!(
            "insert into public_tokens (token, project_id, origins) values ($1, $2, $3)
             on conflict (token) do nothing",
            token.as_str(),
            id.as_str(),
            origins
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Err(Clash::PublicToken));
        }
    }
    tx.commit().await?;
    Ok(Ok(()))
}

/// A project row as stored; its settings are decoded only once the caller needs them, so an
/// unauthenticated caller can't tell a project with unreadable settings from any other.
pub struct StoredProject {
    pub id: ProjectId,
    pub name: String,
    pub settings: serde_json::Value,
}

impl StoredProject {
    /// Keys this build doesn't know are ignored (a newer build wrote them); a known key of the
    /// wrong shape is an error, never a silent fall-back to the defaults, which would reopen
    /// the country allowlist and reset every limit.
    pub fn decode(self) -> Result<Project, StoreError> {
        let settings = serde_json::from_value(self.settings).map_err(|e| StoreError::Settings {
            project: self.id.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Project {
            id: self.id,
            name: self.name,
            settings,
        })
    }
}

/// Writes the settings this build knows over the stored ones, keeping keys it doesn't know
/// (at the top level and in `limits`), so a rolled-back binary doesn't erase a newer one's.
pub async fn update_settings(
    pool: &PgPool,
    id: &ProjectId,
    settings: &ProjectSettings,
) -> Result<bool, StoreError> {
    let settings = serde_json::to_value(settings)
        .map_err(|e| StoreError::Db(sqlx::Error::Encode(Box::new(e))))?;
    let done = sqlx::query!(
        "update projects set settings = settings || ($2::jsonb - 'limits')
                                        || jsonb_build_object('limits',
                                               case when jsonb_typeof(settings -> 'limits') = 'object'
                                                    then settings -> 'limits' else '{}'::jsonb end
                                               || ($2::jsonb -> 'limits'))
         where id = $1",
        id.as_str(),
        settings
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_project(pool: &PgPool, id: &ProjectId) -> Result<Option<Project>, StoreError> {
    let row = sqlx::query!(
        "select id, name, settings from projects where id = $1",
        id.as_str()
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        StoredProject {
            id: ProjectId::from_trusted(r.id),
            name: r.name,
            settings: r.settings,
        }
        .decode()
    })
    .transpose()
}

pub async fn insert_secret(
    pool: &PgPool,
    id: &SecretId,
    project: &ProjectId,
    secret_hash: &[u8],
) -> Result<(), StoreError> {
    sqlx::query!(
        "insert into project_secrets (id, project_id, secret_hash) values ($1, $2, $3)",
        id.as_str(),
        project.as_str(),
        secret_hash
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn revoke_secret(
    pool: &PgPool,
    project: &ProjectId,
    id: &SecretId,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "update project_secrets set revoked_at = now()
         where id = $1 and project_id = $2 and revoked_at is null",
        id.as_str(),
        project.as_str()
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The project with the keyed hashes of all its live secrets, for request authentication.
pub async fn project_with_secrets(
    conn: impl sqlx::PgExecutor<'_>,
    id: &ProjectId,
) -> Result<Option<(StoredProject, Vec<Vec<u8>>)>, StoreError> {
    let rows = sqlx::query!(
        "select p.id, p.name, p.settings, s.secret_hash
         from projects p join project_secrets s on s.project_id = p.id
         where p.id = $1 and s.revoked_at is null",
        id.as_str()
    )
    .fetch_all(conn)
    .await?;
    let mut hashes = Vec::with_capacity(rows.len());
    let mut project = None;
    for r in rows {
        if project.is_none() {
            project = Some(StoredProject {
                id: ProjectId::from_trusted(r.id),
                name: r.name,
                settings: r.settings,
            });
        }
        hashes.push(r.secret_hash);
    }
    Ok(project.map(|p| (p, hashes)))
}
