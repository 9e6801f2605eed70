//! Passwords: the policy a new one must meet, and hashing with Argon2id,
//! off the async runtime.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::sync::OnceLock;

use tokio::sync::Semaphore;

/// Argon2 costs ~19 MiB and a core for tens of milliseconds: at most this
/// many run at once, the others wait their turn instead of exhausting memory.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Semaphore::new(cores.max(2))
    })
}

pub const MIN_LEN: usize = 8;
/// Characters at most (so at most 1 KiB): bounds the work an attacker can
/// make one hash cost.
pub const MAX_LEN: usize = 256;

/// What a new password must be; the reason when it is not.
pub fn check_policy(password: &str, _username: &str) -> Result<(), super::UserError> {
    let n = password.chars().count();
    if n < MIN_LEN || n > MAX_LEN {
        return Err(super::UserError::WeakPassword(format!(
            "password must be at least {MIN_LEN} and at most {MAX_LEN} characters"
        )));
    }
    Ok(())
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    let _slot = hashing_slots().acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Verifies in constant time (the Argon2 output comparison is constant-time).
/// `None` hash checks against a dummy so that an unknown user costs the same.
pub async fn verify(stored: Option<String>, password: String) -> anyhow::Result<bool> {
    let _slot = hashing_slots().acquire().await?;
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed =
            PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && known)
    })
    .await?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("vigil-dummy-password").unwrap_or_default())
}

pub fn random_password() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(h.clone()), "correct horse".into())
            .await
            .unwrap());
        assert!(!verify(Some(h), "wrong horse".into()).await.unwrap());
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_policy("short", "u").is_err());
        assert!(check_policy("long enough", "u").is_ok());
        assert!(check_policy(&"x".repeat(2000), "u").is_err());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify(None, "vigil-dummy-password".into()).await.unwrap());
    }
}
