//! Passwords: the policy a new one must meet, and hashing with Argon2id,
//! off the async runtime.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::sync::OnceLock;

use tokio::sync::Semaphore;

use super::UserError;

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

pub const MIN_LEN: usize = 12;
/// Characters at most (so at most 1 KiB): bounds the work an attacker can
/// make one hash cost.
pub const MAX_LEN: usize = 256;
/// The estimator's score a new password needs (0–4): "safely unguessable:
/// moderate protection from an offline slow-hash scenario".
const MIN_SCORE: u8 = 3;

/// What a new password must be: at least 12 characters, not containing the
/// username (of three characters or more), and not common or easily guessed as judged by zxcvbn (which
/// knows dictionaries, names, keyboard patterns, dates, repeats and the
/// like, and here also the username and the platform's name). The reason
/// when it is not.
pub fn check_policy(password: &str, username: &str) -> Result<(), UserError> {
    let weak = |why: String| Err(UserError::WeakPassword(why));
    let n = password.chars().count();
    if n < MIN_LEN {
        return weak(format!(
            "the password must be at least {MIN_LEN} characters"
        ));
    }
    if n > MAX_LEN {
        return weak(format!("the password must be at most {MAX_LEN} characters"));
    }
    // A name of one or two characters would forbid most passwords; the
    // estimator still counts it as a guess.
    if username.chars().count() >= 3 && password.to_lowercase().contains(&username.to_lowercase()) {
        return weak("the password must not contain the username".into());
    }
    let estimate = zxcvbn::zxcvbn(password, &[username, "vigil"]);
    if u8::from(estimate.score()) >= MIN_SCORE {
        return Ok(());
    }
    let mut why = String::from("the password is too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            why.push_str(&format!(": {warning}"));
        }
        for tip in feedback.suggestions() {
            why.push_str(&format!(" {tip}"));
        }
    }
    weak(why)
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
    fn passwords_have_a_floor_a_ceiling_and_must_be_hard_to_guess() {
        assert!(check_policy("short", "u").is_err());
        assert!(check_policy("violet-anchor-91-harbour", "ursula").is_ok());
        assert!(check_policy(&"x".repeat(2000), "u").is_err());
        for weak in [
            "password1234",
            "aaaaaaaaaaaaaaaa",
            "qwertyuiop123",
            "123456789012",
        ] {
            let e = check_policy(weak, "u").unwrap_err().to_string();
            assert!(e.contains("too easy to guess"), "{weak}: {e}");
        }
    }

    #[test]
    fn a_password_must_not_contain_the_username() {
        let e = check_policy("Alice-violet-anchor-91", "alice").unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify(None, "vigil-dummy-password".into()).await.unwrap());
    }
}
