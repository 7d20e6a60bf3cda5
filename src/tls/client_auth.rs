//! Who may connect, by key hash: the controller's auth list (AireOS
//! `config auth-list add sha256-lbs-ssc`) in wlc-sim, and the connector's AP
//! channel (which admits any AP but learns its key). A TLS client-
//! certificate verifier that admits only keys whose hash is listed, or
//! anyone with `allow_any`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName};

use crate::tls::identity::crypto_provider;
use crate::tls::pin::cert_spki_sha256;

#[derive(Debug)]
pub struct AuthList {
    allowed: RwLock<HashSet<String>>,
    allow_any: bool,
    /// Key hashes refused, most recent last (for the operator).
    pub refused: Mutex<Vec<String>>,
    provider: Arc<CryptoProvider>,
}

impl AuthList {
    pub fn new(allowed: impl IntoIterator<Item = String>, allow_any: bool) -> Arc<AuthList> {
        Arc::new(AuthList {
            allowed: RwLock::new(
                allowed
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            ),
            allow_any,
            refused: Mutex::new(Vec::new()),
            provider: crypto_provider(),
        })
    }

    /// Adds a connector's key hash at run time.
    pub fn allow(&self, hash: &str) {
        self.allowed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash.to_ascii_lowercase());
    }

    /// Removes a connector's key hash at run time.
    pub fn disallow(&self, hash: &str) {
        self.allowed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash.to_ascii_lowercase());
    }

    /// Whether a connector with this key hash would be admitted.
    pub fn admits(&self, hash: &str) -> bool {
        self.allow_any
            || self
                .allowed
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(hash)
    }
}

impl ClientCertVerifier for AuthList {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let hash = cert_spki_sha256(end_entity).map_err(rustls::Error::General)?;
        if self.admits(&hash) {
            return Ok(ClientCertVerified::assertion());
        }
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(hash);
        // Sent to the connector as an access_denied alert.
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    crate::tls::pin::handshake_signatures!();
}
