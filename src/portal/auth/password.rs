//! Password hashing with argon2id, always off the async runtime, and never
//! more than [`MAX_CONCURRENT`] at once: each costs 19 MiB and a core, so
//! a flood of logins must not turn into a flood of argon2 runs.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::LazyLock;

use tokio::sync::Semaphore;

/// Password hashes computed at the same time, at most (login, setup and
/// password change together).
pub const MAX_CONCURRENT: usize = 2;
static SLOTS: Semaphore = Semaphore::const_new(MAX_CONCURRENT);

/// Shortest password accepted for the admin account.
pub const MIN_LENGTH: usize = 10;
const MAX_LENGTH: usize = 256;

/// A hash of a password nobody knows: verifying an unknown user against it
/// costs the same time as verifying a real one.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("dummy password never used").expect("hashing works"));

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("hashing task failed")]
    Task,
}

/// Every verification slot is taken: try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// Checks a new password and its confirmation; the message is for the form.
pub fn check_new(password: &str, confirm: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_LENGTH {
        return Err("Use at least 10 characters.");
    }
    if password.len() > MAX_LENGTH {
        return Err("Use at most 256 characters.");
    }
    if password != confirm {
        return Err("The two passwords do not match.");
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Hashes a password (argon2id, default parameters) on the blocking pool.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    let _slot = SLOTS.acquire().await.map_err(|_| PasswordError::Task)?;
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|_| PasswordError::Task)?
}

/// Verifies `password` against `stored`, or against a dummy hash when there
/// is no such user, so both cases take the same time. Refused at once
/// when [`MAX_CONCURRENT`] checks are already running.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Busy> {
    let _slot = SLOTS.try_acquire().map_err(|_| Busy)?;
    let known = stored.is_some();
    Ok(tokio::task::spawn_blocking(move || {
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && known
    })
    .await
    .unwrap_or(false))
}

/// Warms the dummy hash so the first unknown-user login is not faster.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong".into(), Some(h)).await.unwrap());
        assert!(
            !verify("dummy password never used".into(), None)
                .await
                .unwrap()
        );
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new("short", "short").is_err());
        assert!(check_new("long enough pw", "long enough px").is_err());
        assert!(check_new("long enough pw", "long enough pw").is_ok());
    }
}
