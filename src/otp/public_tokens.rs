//! Public tokens: how a browser names its project on the frontend surface, and which
//! origins may do so with each token.

use sqlx::PgPool;

use crate::domain::ids::{PhoneId, ProjectId, PublicToken};
use crate::domain::origin::Origin;
use crate::domain::project::Project;
use crate::domain::session::SessionDuration;
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PublicTokenError {
    #[error("no project {0}")]
    ProjectNotFound(String),
    #[error("a public token needs at least one allowed origin (--origin)")]
    NoOrigins,
    #[error("`{0}` is not a public token (expected public-token-test-<uuid> or public-token-live-<uuid>)")]
    Malformed(String),
    #[error("{token} is a {token_env} token but {project} is a {project_env} project")]
    WrongEnvironment {
        token: String,
        token_env: &'static str,
        project: String,
        project_env: &'static str,
    },
    #[error("public token {0} already exists")]
    Taken(String),
    #[error("project {project} has no live public token {token}")]
    NotFound { project: String, token: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new public token (or the given one, for a team moving from Stytch) for `project`.
pub async fn create(
    pool: &PgPool,
    project: &ProjectId,
    origins: &[Origin],
    given: Option<&str>,
) -> Result<PublicToken, PublicTokenError> {
    if origins.is_empty() {
        return Err(PublicTokenError::NoOrigins);
    }
    if store::projects::get_project(pool, project).await?.is_none() {
        return Err(PublicTokenError::ProjectNotFound(project.to_string()));
    }
    let token = match given {
        None => PublicToken::generate(project.env()),
        Some(raw) => {
            let t = PublicToken::parse(raw.trim())
                .map_err(|_| PublicTokenError::Malformed(raw.chars().take(80).collect()))?;
            if t.environment() != project.env() {
                return Err(PublicTokenError::WrongEnvironment {
                    token: t.to_string(),
                    token_env: t.environment().as_str(),
                    project: project.to_string(),
                    project_env: project.env().as_str(),
                });
            }
            t
        }
    };
    let mut texts: Vec<String> = origins.iter().map(|o| o.as_str().to_owned()).collect();
    texts.sort();
    texts.dedup();
    if !store::public_tokens::insert(pool, project, &token, &texts).await? {
        return Err(PublicTokenError::Taken(token.to_string()));
    }
    Ok(token)
}

pub use store::public_tokens::PublicTokenRow;

pub async fn list(
    pool: &PgPool,
    project: &ProjectId,
) -> Result<Vec<PublicTokenRow>, PublicTokenError> {
    if store::projects::get_project(pool, project).await?.is_none() {
        return Err(PublicTokenError::ProjectNotFound(project.to_string()));
    }
    Ok(store::public_tokens::list(pool, project).await?)
}

pub async fn revoke(
    pool: &PgPool,
    project: &ProjectId,
    token: &str,
) -> Result<(), PublicTokenError> {
    let not_found = || PublicTokenError::NotFound {
        project: project.to_string(),
        token: token.chars().take(80).collect(),
    };
    let t = PublicToken::parse(token.trim()).map_err(|_| not_found())?;
    if store::public_tokens::revoke(pool, project, &t).await? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// The project a live public token names, with the origins it allows; `None` for an unknown,
/// malformed or revoked token.
pub async fn authenticate(
    pool: &PgPool,
    token: &str,
) -> Result<Option<(Project, Vec<String>)>, StoreError> {
    let Ok(t) = PublicToken::parse(token) else {
        return Ok(None);
    };
    match store::public_tokens::project_of(pool, &t).await? {
        None => Ok(None),
        Some((stored, origins)) => Ok(Some((stored.decode()?, origins))),
    }
}

/// Whether some live token allows `origin` (a CORS preflight's only question).
pub async fn origin_allowed_anywhere(pool: &PgPool, origin: &Origin) -> Result<bool, StoreError> {
    store::public_tokens::origin_allowed_anywhere(pool, origin.as_str()).await
}

/// `autofill_session_duration_minutes` of a frontend send: the session an authenticate of
/// this code gets when it names no duration (an autofilled one).
pub async fn remember_autofill_session(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &PhoneId,
    duration: SessionDuration,
) -> Result<(), StoreError> {
    store::public_tokens::remember_autofill_minutes(
        pool,
        project,
        method_id.as_str(),
        duration.minutes(),
    )
    .await
}

/// The duration a frontend send asked for this method's code, if any (taken once).
pub async fn autofill_session(
    pool: &PgPool,
    project: &ProjectId,
    method_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(
        store::public_tokens::take_autofill_minutes(pool, project, method_id)
            .await?
            .map(i64::from),
    )
}
