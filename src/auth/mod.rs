//! Who may use the appliance: the admin account, sessions, API tokens and
//! login throttling. Storage-facing and HTTP-free; `web` maps it to cookies.

pub mod admin;
pub mod api_tokens;
pub mod password;
pub mod sessions;
pub mod throttle;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random 256-bit secret, base64url: session ids, CSRF and API tokens.
pub fn random_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How secrets are stored: their SHA-256, so a copy of the state file does
/// not hand out live credentials. (The secrets are random and 256 bits long,
/// so a fast hash is enough; passwords use argon2.)
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time string equality for secrets.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
