//! Trust by key pin: a rustls verifier that accepts exactly the server
//! whose certificate's SubjectPublicKeyInfo hashes to a known SHA-256.
//!
//! Appliances and their peers use self-signed certificates; pinning the key
//! (carried in the token for the cloud, learned on first use for a
//! controller) gives real authentication without a CA.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::tls::identity::{crypto_provider, spki_sha256_hex};

/// The handshake-signature checks every verifier of ours delegates to the
/// crypto provider (in `self.provider`), for both rustls verifier traits.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}
pub(crate) use handshake_signatures;

/// Words of the error a pin mismatch raises, so callers can recognise it
/// through any wrapping of TLS errors.
pub const PIN_MISMATCH: &str = "does not match the pinned key";

/// Hex SHA-256 of a DER certificate's SubjectPublicKeyInfo.
pub fn cert_spki_sha256(cert_der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    Ok(spki_sha256_hex(cert.tbs_certificate.subject_pki.raw))
}

/// Accepts the one server key whose SPKI hash is `pin` (hex, any case), or
/// with no pin yet, any key (trust on first use); either way it records the
/// key it saw, so the caller can store it or report a change.
#[derive(Debug)]
pub struct PinnedKey {
    pin: Option<String>,
    observed: std::sync::Mutex<Option<String>>,
    provider: Arc<CryptoProvider>,
}

impl PinnedKey {
    pub fn new(pin: &str) -> Arc<PinnedKey> {
        PinnedKey::trust_on_first_use(Some(pin))
    }

    /// Pins `pin` if known, else accepts (and records) whatever key comes.
    pub fn trust_on_first_use(pin: Option<&str>) -> Arc<PinnedKey> {
        Arc::new(PinnedKey {
            pin: pin.map(str::to_ascii_lowercase),
            observed: std::sync::Mutex::new(None),
            provider: crypto_provider(),
        })
    }

    /// The key hash the server presented, once a handshake got that far.
    pub fn observed(&self) -> Option<String> {
        self.observed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A client configuration trusting only this key.
    pub fn client_config(pin: &str) -> rustls::ClientConfig {
        PinnedKey::new(pin).config_builder().with_no_client_auth()
    }

    /// The start of a client configuration that verifies with `self`.
    pub fn config_builder(
        self: Arc<Self>,
    ) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
        rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(self)
    }
}

impl ServerCertVerifier for PinnedKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = cert_spki_sha256(end_entity).map_err(rustls::Error::General)?;
        *self.observed.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen.clone());
        match &self.pin {
            // A pin is a hash of a public key: no secret to time.
            Some(pin) if seen != *pin => Err(rustls::Error::General(format!(
                "server key {seen} {PIN_MISMATCH} {pin}"
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    crate::tls::pin::handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::identity::Identity;

    #[test]
    fn cert_hash_equals_key_hash() {
        let id = Identity::generate("t", vec!["localhost".into()]).unwrap();
        let der = id.cert_der().unwrap();
        assert_eq!(cert_spki_sha256(&der).unwrap(), id.key_hash().unwrap());
        assert!(cert_spki_sha256(b"garbage").is_err());
    }
}
