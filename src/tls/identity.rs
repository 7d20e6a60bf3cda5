//! TLS identities made at first boot and kept in the state file.
//!
//! `web` is the admin UI's self-signed server certificate; `nmsp` is the
//! connector's client identity towards controllers. A controller authorises
//! the connector by the SHA-256 of the DER SubjectPublicKeyInfo of the
//! `nmsp` key (NMSP.md), which `key_hash` gives in hex.
//!
//! Keys are ECDSA P-256 or RSA-2048 (`KeyKind`): controllers and the
//! location servers they know use RSA, so a new connector's NMSP identity
//! is RSA; ring signs with RSA but cannot make RSA keys, so the `rsa`
//! crate makes them and ring does the rest.

use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData};
use rusqlite::{Connection, OptionalExtension, params};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use sha2::{Digest, Sha256};

use crate::clock::now_unix;
use crate::db::DbError;

/// What a stored identity is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Web,
    Nmsp,
    /// A key waiting for its certificate: `cert_pem` holds the signing
    /// request (CSR) made for it.
    WebRequest,
}

impl Purpose {
    fn key(self) -> &'static str {
        match self {
            Purpose::Web => "web",
            Purpose::Nmsp => "nmsp",
            Purpose::WebRequest => "web-request",
        }
    }
}

/// The kind of key behind an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyKind {
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

impl KeyKind {
    pub const ALL: [KeyKind; 2] = [KeyKind::Rsa2048, KeyKind::EcdsaP256];

    /// The name forms, the API and the console use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "rsa-2048",
            KeyKind::EcdsaP256 => "ecdsa-p256",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "RSA 2048",
            KeyKind::EcdsaP256 => "ECDSA P-256",
        }
    }

    pub fn parse(s: &str) -> Option<KeyKind> {
        KeyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn generate(self) -> Result<KeyPair, IdentityError> {
        match self {
            KeyKind::EcdsaP256 => Ok(KeyPair::generate()?),
            KeyKind::Rsa2048 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
                    .map_err(|e| IdentityError::Rsa(e.to_string()))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| IdentityError::Rsa(e.to_string()))?;
                Ok(KeyPair::from_pkcs8_der_and_sign_algo(
                    &PrivatePkcs8KeyDer::from(der.as_bytes()),
                    &rcgen::PKCS_RSA_SHA256,
                )?)
            }
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
    #[error("RSA key generation failed: {0}")]
    Rsa(String),
    #[error("stored TLS material is unreadable: {0}")]
    Pem(String),
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Makes a new self-signed certificate on a fresh P-256 key.
    pub fn generate(common_name: &str, names: Vec<String>) -> Result<Identity, IdentityError> {
        Identity::generate_with(KeyKind::EcdsaP256, common_name, names)
    }

    /// Makes a new self-signed certificate on a fresh key of `kind`.
    pub fn generate_with(
        kind: KeyKind,
        common_name: &str,
        names: Vec<String>,
    ) -> Result<Identity, IdentityError> {
        let key = kind.generate()?;
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

    /// The kind of this identity's key.
    pub fn key_kind(&self) -> Result<KeyKind, IdentityError> {
        let key = KeyPair::from_pem(&self.key_pem)?;
        Ok(if key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
            KeyKind::Rsa2048
        } else {
            KeyKind::EcdsaP256
        })
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

    /// This identity (its whole certificate chain) as a TLS server presents
    /// it through a certificate resolver, which can swap it live.
    pub fn certified_key(&self) -> Result<Arc<rustls::sign::CertifiedKey>, IdentityError> {
        let key = crypto_provider()
            .key_provider
            .load_private_key(self.key_der()?)?;
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::Pem(e.to_string()))?;
        Ok(Arc::new(rustls::sign::CertifiedKey::new(chain, key)))
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

/// Loads the identity for `purpose`, generating (on a key of `kind`) and
/// storing it on first use.
pub fn load_or_create(
    conn: &Connection,
    purpose: Purpose,
    kind: KeyKind,
    common_name: &str,
    names: Vec<String>,
) -> Result<Identity, IdentityError> {
    if let Some(found) = load(conn, purpose)? {
        return Ok(found);
    }
    let made = Identity::generate_with(kind, common_name, names)?;
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

/// Replaces the identity for `purpose` (an explicit re-key).
pub fn replace(conn: &Connection, purpose: Purpose, with: &Identity) -> Result<(), IdentityError> {
    conn.execute(
        "INSERT OR REPLACE INTO tls_identity (purpose, cert_pem, key_pem, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![purpose.key(), with.cert_pem, with.key_pem, now_unix()],
    )
    .map_err(DbError::from)?;
    Ok(())
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
    fn an_rsa_identity_signs_in_rustls_and_says_what_it_is() {
        let id =
            Identity::generate_with(KeyKind::Rsa2048, "test", vec!["localhost".into()]).unwrap();
        assert_eq!(id.key_kind().unwrap(), KeyKind::Rsa2048);
        assert!(id.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        id.server_config().unwrap();
        let ec = Identity::generate("test", vec!["localhost".into()]).unwrap();
        assert_eq!(ec.key_kind().unwrap(), KeyKind::EcdsaP256);
        // Both hashes cover the RSA SubjectPublicKeyInfo (~294 bytes).
        assert_eq!(id.key_hash().unwrap().len(), 64);
        assert_eq!(id.key_hash_sha1().unwrap().len(), 40);
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
