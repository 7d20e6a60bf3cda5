//! Who may use the appliance: the admin account, sessions, API tokens and
//! login throttling. Storage-facing and HTTP-free; `web` maps it to cookies.

pub mod admin;
pub mod api_tokens;
pub mod password;
pub mod sessions;
pub mod setup_code;
pub mod throttle;

/// Tables every portal has (connector and cloud): settings, TLS material,
/// the admin, sessions and API tokens. A macro so it can be `concat!`ed
/// into each program's first migration.
#[macro_export]
macro_rules! auth_tables {
    () => {
        r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- TLS material made at first boot: 'web' serves the admin UI, 'nmsp' is
-- the connector's client identity towards controllers.
CREATE TABLE tls_identity (
    purpose    TEXT PRIMARY KEY,
    cert_pem   TEXT NOT NULL,
    key_pem    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE admin (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Only a hash of the session id is stored: a copy of this file does not
-- hand out live sessions.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    client_ip  TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER
) STRICT;

"#
    };
}

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
