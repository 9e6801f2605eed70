//! Users: the first-run administrator, validation of names and passwords,
//! and the admin endpoints under `/api/v1/users`.

pub mod routes;
pub mod store;

use app::types::Role;

use crate::{auth::password, db, error::ApiError, settings::Settings};

pub const MAX_USERNAME: usize = 64;

/// 1–64 characters of letters, digits and `._@-`.
pub fn parse_username(s: &str) -> Result<&str, ApiError> {
    let ok = !s.is_empty()
        && s.chars().count() <= MAX_USERNAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if ok {
        Ok(s)
    } else {
        Err(ApiError::validation(
            "username must be 1-64 characters of letters, digits and . _ @ -",
        ))
    }
}

pub fn check_password(p: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if n < password::MIN_LEN || p.len() > password::MAX_LEN {
        return Err(ApiError::validation(format!(
            "password must be at least {} characters and at most {} bytes",
            password::MIN_LEN,
            password::MAX_LEN
        )));
    }
    Ok(())
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
        Some(p) => (p.expose().to_owned(), false),
        None => (password::random_password(), true),
    };
    check_password(&pw).map_err(|e| anyhow::anyhow!("VIGIL_ADMIN_PASSWORD: {e}"))?;
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

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
    }
}
