//! Users: accounts with a role, their passwords (Argon2id), the first-run
//! administrator, and the admin endpoints under `/api/v1/users`.

pub mod password;
mod routes;
pub mod store;

use app::types::Role;

pub use routes::router;

use crate::{
    db,
    settings::{ExposeSecret, Settings},
};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("username must be 1-64 characters of letters, digits and . _ @ -")]
    InvalidUsername,
    #[error("{0}")]
    WeakPassword(String),
    #[error("username `{0}` is taken")]
    Taken(String),
    #[error("no such user")]
    NotFound,
    #[error("the last administrator cannot be {0}")]
    LastAdmin(&'static str),
    #[error("user store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("password hashing: {0}")]
    Hashing(#[from] anyhow::Error),
}

pub const MAX_USERNAME: usize = 64;

/// 1–64 characters of letters, digits and `._@-`.
pub fn parse_username(s: &str) -> Result<&str, UserError> {
    let ok = !s.is_empty()
        && s.chars().count() <= MAX_USERNAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    ok.then_some(s).ok_or(UserError::InvalidUsername)
}

/// Creates the first administrator while the database has no user. A
/// generated password is printed once to stderr, never logged.
pub async fn ensure_admin(db: &db::Db, settings: &Settings) -> anyhow::Result<()> {
    if store::count(db).await? > 0 {
        return Ok(());
    }
    let username = parse_username(&settings.admin_user)
        .map_err(|e| anyhow::anyhow!("VIGIL_ADMIN_USER: {e}"))?
        .to_owned();
    let (pw, generated) = match &settings.admin_password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None => (password::random_password(), true),
    };
    password::check_policy(&pw, &username)
        .map_err(|e| anyhow::anyhow!("VIGIL_ADMIN_PASSWORD: {e}"))?;
    let hash = password::hash(pw.clone()).await?;
    store::create(db, &username, &hash, Role::Admin, db::now()).await?;
    if generated {
        eprintln!("\n  Vigil first start: administrator `{username}` created with password\n\n      {pw}\n\n  It is shown only this once.\n");
    }
    tracing::info!(username = %username, "first administrator created");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_bounded_and_plain() {
        assert!(parse_username("alice.b-1@site").is_ok());
        assert!(parse_username("").is_err());
        assert!(parse_username("a b").is_err());
        assert!(parse_username("<script>").is_err());
        assert!(parse_username(&"a".repeat(65)).is_err());
    }
}
