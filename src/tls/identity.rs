//! TLS identities made at first boot and kept in the state file.
//!
//! `web` is the admin UI's self-signed server certificate; `nmsp` is the
//! connector's client identity towards controllers. A controller authorises
//! the connector by the SHA-256 of the DER SubjectPublicKeyInfo of the
//! `nmsp` key (NMSP.md), which `key_hash` gives in hex.

use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rusqlite::{Connection, OptionalExtension, params};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};

use crate::clock::now_unix;
use crate::db::DbError;

/// What a stored identity is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Web,
    Nmsp,
}

impl Purpose {
    fn key(self) -> &'static str {
        match self {
            Purpose::Web => "web",
            Purpose::Nmsp => "nmsp",
        }
    }
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("stored TLS material is unreadable: {0}")]
    Pem(String),
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Identity {
    /// Makes a new self-signed certificate on a fresh P-256 key.
    pub fn generate(common_name: &str, names: Vec<String>) -> Result<Identity, IdentityError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Spaces Connector");
        params.distinguished_name = dn;
        // Appliances live for years; a self-signed certificate expiring
        // under a running VM would break every browser bookmark at once.
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&key)?;
        Ok(Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    pub fn cert_der(&self) -> Result<CertificateDer<'static>, IdentityError> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes())
            .map_err(|e| IdentityError::Pem(e.to_string()))
    }

    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, IdentityError> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| IdentityError::Pem(e.to_string()))
    }

    /// SHA-256 (hex) over the DER SubjectPublicKeyInfo of this identity's key.
    pub fn key_hash(&self) -> Result<String, IdentityError> {
        let key = KeyPair::from_pem(&self.key_pem)?;
        Ok(spki_sha256_hex(&key.subject_public_key_info()))
    }

    /// The SHA-1 hash of the same public key, which CMX-class location
    /// servers show beside the SHA-256 one (older controllers use it).
    pub fn key_hash_sha1(&self) -> Result<String, IdentityError> {
        let key = KeyPair::from_pem(&self.key_pem)?;
        let digest = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &key.subject_public_key_info(),
        );
        Ok(hex::encode(digest.as_ref()))
    }

    /// A rustls server configuration presenting this identity.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der()?], self.key_der()?)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The one rustls crypto provider of the whole program.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Hex SHA-256 of DER SubjectPublicKeyInfo bytes.
pub fn spki_sha256_hex(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// Loads the identity for `purpose`, generating and storing it on first use.
pub fn load_or_create(
    conn: &Connection,
    purpose: Purpose,
    common_name: &str,
    names: Vec<String>,
) -> Result<Identity, IdentityError> {
    if let Some(found) = load(conn, purpose)? {
        return Ok(found);
    }
    let made = Identity::generate(common_name, names)?;
    // INSERT OR IGNORE + re-read: if a console command raced us to it, its
    // identity wins and both processes agree.
    conn.execute(
        "INSERT OR IGNORE INTO tls_identity (purpose, cert_pem, key_pem, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![purpose.key(), made.cert_pem, made.key_pem, now_unix()],
    )
    .map_err(DbError::from)?;
    load(conn, purpose)?.ok_or_else(|| IdentityError::Pem("identity vanished".into()))
}

pub fn load(conn: &Connection, purpose: Purpose) -> Result<Option<Identity>, IdentityError> {
    conn.query_row(
        "SELECT cert_pem, key_pem FROM tls_identity WHERE purpose = ?1",
        [purpose.key()],
        |r| {
            Ok(Identity {
                cert_pem: r.get(0)?,
                key_pem: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(|e| IdentityError::Db(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_round_trips_through_rustls() {
        let id = Identity::generate("test", vec!["localhost".into()]).unwrap();
        id.server_config().unwrap();
        let hash = id.key_hash().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn key_hash_is_sha256_of_the_certificate_spki() {
        let id = Identity::generate("test", vec!["localhost".into()]).unwrap();
        let cert = id.cert_der().unwrap();
        // The SPKI is embedded in the certificate; find it to check that the
        // hash covers exactly what a controller sees in the TLS handshake.
        let key = KeyPair::from_pem(&id.key_pem).unwrap();
        let spki = key.subject_public_key_info();
        assert!(cert.windows(spki.len()).any(|w| w == spki.as_slice()));
        assert_eq!(id.key_hash().unwrap(), spki_sha256_hex(&spki));
    }
}
