//! The admin UI's certificate: the self-signed one made at first boot, or
//! one from the admin's own CA. The appliance makes a key and a signing
//! request (the key never leaves it) and takes the signed chain back, or
//! takes a PEM certificate chain with its key. Every chain is checked
//! before it is used (the key matches, the dates hold; a name that does
//! not cover the appliance is a warning) and swapped in without a restart:
//! the HTTPS server asks `WebCertCell` for its certificate at each
//! handshake.

use std::sync::{Arc, RwLock};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rusqlite::Connection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::fields::FieldErrors;
use crate::tls::identity::{self, Identity, IdentityError, KeyKind, Purpose, crypto_provider};

/// Warn this long before a certificate expires.
const EXPIRY_WARNING_DAYS: i64 = 30;
/// Bounds on pasted PEM: a chain of a few certificates.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// What the System page and the API show of the certificate in use.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub self_signed: bool,
    /// Names it covers (DNS names and IP addresses).
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Certificates in the chain, the appliance's own first.
    pub chain_length: usize,
    /// Things to know that do not stop it being used.
    pub warnings: Vec<String>,
}

/// Installing a certificate: the chain (PEM, the appliance's certificate
/// first) and, unless it answers this appliance's own signing request,
/// its key.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CertUpload {
    #[serde(default)]
    pub chain_pem: String,
    #[serde(default)]
    pub key_pem: String,
}

/// A signing request to make: the name it is for, and more names.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CsrInput {
    #[serde(default)]
    pub common_name: String,
    /// Further DNS names or IP addresses, comma or space separated.
    #[serde(default)]
    pub names: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebCertError {
    #[error("{}", .0.summary())]
    Invalid(FieldErrors),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for WebCertError {
    fn from(e: rusqlite::Error) -> Self {
        WebCertError::Db(e.into())
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> WebCertError {
    let mut f = FieldErrors::default();
    f.add(field, message);
    WebCertError::Invalid(f)
}

/// The certificate the admin UI presents, swapped whole.
pub struct WebCertCell {
    db: Db,
    /// The names the appliance answers to: host name and addresses.
    names: Vec<String>,
    current: RwLock<(Identity, Arc<CertifiedKey>)>,
}

impl std::fmt::Debug for WebCertCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebCertCell").finish_non_exhaustive()
    }
}

impl WebCertCell {
    /// Loads the stored certificate, making the self-signed one at first
    /// boot.
    pub fn open(db: Db, hostname: &str, names: Vec<String>) -> Result<WebCertCell, IdentityError> {
        let made = db.call_blocking(|conn| {
            identity::load_or_create(
                conn,
                Purpose::Web,
                KeyKind::EcdsaP256,
                hostname,
                names.clone(),
            )
        })?;
        let certified = made.certified_key()?;
        Ok(WebCertCell {
            db,
            names,
            current: RwLock::new((made, certified)),
        })
    }

    pub fn identity(&self) -> Identity {
        self.read().0.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Identity, Arc<CertifiedKey>)> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The HTTPS server's configuration: whatever certificate is current.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, IdentityError> {
        let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    pub fn info(&self) -> CertInfo {
        let (id, _) = &*self.read();
        describe(&id.cert_pem, &self.names).unwrap_or_else(|e| CertInfo {
            subject: String::new(),
            issuer: String::new(),
            self_signed: false,
            names: Vec::new(),
            not_before: String::new(),
            not_after: String::new(),
            chain_length: 0,
            warnings: vec![format!("the stored certificate cannot be read: {e}")],
        })
    }

    /// Makes a key and a signing request for `input`; the key stays in the
    /// state file until the signed chain comes back. A new request
    /// replaces an earlier one.
    pub fn request(&self, input: &CsrInput) -> Result<String, WebCertError> {
        let (cn, names) = input.validate().map_err(WebCertError::Invalid)?;
        let key = KeyPair::generate().map_err(IdentityError::from)?;
        let mut params = CertificateParams::new(names).map_err(IdentityError::from)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let csr = params
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .map_err(IdentityError::from)?;
        let pending = Identity {
            cert_pem: csr.clone(),
            key_pem: key.serialize_pem(),
        };
        self.db
            .call_blocking(|conn| identity::replace(conn, Purpose::WebRequest, &pending))?;
        Ok(csr)
    }

    /// The pending signing request, if one was made.
    pub fn pending_request(&self) -> Result<Option<String>, WebCertError> {
        let pending = self
            .db
            .call_blocking(|conn| identity::load(conn, Purpose::WebRequest))?;
        Ok(pending.map(|p| p.cert_pem))
    }

    /// Checks and installs a chain (with its key, or answering the
    /// pending request); the HTTPS server presents it from the next
    /// handshake. Bad input changes nothing.
    pub fn install(&self, upload: &CertUpload) -> Result<CertInfo, WebCertError> {
        let chain_pem = upload.chain_pem.trim();
        if chain_pem.is_empty() {
            return Err(invalid(
                "chain_pem",
                "paste the certificate (PEM), the appliance's first",
            ));
        }
        if chain_pem.len() > MAX_PEM_BYTES || upload.key_pem.len() > MAX_PEM_BYTES {
            return Err(invalid("chain_pem", "at most 64 KiB of PEM"));
        }
        let (key_pem, from_request) = if upload.key_pem.trim().is_empty() {
            let pending = self
                .db
                .call_blocking(|conn| identity::load(conn, Purpose::WebRequest))?
                .ok_or_else(|| {
                    invalid(
                        "key_pem",
                        "paste the key too: no signing request was made on this appliance",
                    )
                })?;
            (pending.key_pem, true)
        } else {
            (upload.key_pem.trim().to_string(), false)
        };
        let made = Identity {
            cert_pem: format!("{chain_pem}\n"),
            key_pem,
        };
        let certified = check_pair(&made, from_request)?;
        let info = describe(&made.cert_pem, &self.names).map_err(|e| invalid("chain_pem", e))?;
        if let Some(e) = date_error(&made.cert_pem) {
            return Err(invalid("chain_pem", e));
        }
        self.db.call_blocking(|conn: &mut Connection| {
            let tx = conn.transaction()?;
            identity::replace(&tx, Purpose::Web, &made)?;
            if from_request {
                tx.execute("DELETE FROM tls_identity WHERE purpose = 'web-request'", [])?;
            }
            tx.commit()?;
            Ok::<_, WebCertError>(())
        })?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (made, certified);
        Ok(info)
    }

    /// Re-reads the stored certificate (changed by a console command, in
    /// another process); true when it changed.
    pub async fn refresh(&self) -> Result<bool, WebCertError> {
        let stored = self
            .db
            .call(|conn| identity::load(conn, Purpose::Web))
            .await?;
        match stored {
            Some(s) if s.cert_pem != self.read().0.cert_pem => {
                let certified = s.certified_key()?;
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (s, certified);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Goes back to a fresh self-signed certificate.
    pub fn reset_self_signed(&self, hostname: &str) -> Result<CertInfo, WebCertError> {
        let made = Identity::generate(hostname, self.names.clone())?;
        let certified = made.certified_key()?;
        self.db
            .call_blocking(|conn| identity::replace(conn, Purpose::Web, &made))?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (made, certified);
        Ok(self.info())
    }
}

impl ResolvesServerCert for WebCertCell {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read().1.clone())
    }
}

impl CsrInput {
    fn validate(&self) -> Result<(String, Vec<String>), FieldErrors> {
        let mut errors = FieldErrors::default();
        let cn = self.common_name.trim().to_string();
        if cn.is_empty() || cn.len() > 64 || !is_name(&cn) {
            errors.add(
                "common_name",
                "the host name or address the admin UI is opened at (at most 64 characters)",
            );
        }
        let mut names = vec![cn.clone()];
        for n in self
            .names
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if !is_name(n) {
                errors.add("names", format!("{n:?} is not a DNS name or IP address"));
                break;
            }
            names.push(n.to_string());
        }
        names.dedup();
        if names.len() > 32 {
            errors.add("names", "at most 32 names");
        }
        if errors.is_empty() {
            Ok((cn, names))
        } else {
            Err(errors)
        }
    }
}

/// An IP address or a DNS name, possibly a wildcard (`*.example.com`).
fn is_name(n: &str) -> bool {
    n.parse::<std::net::IpAddr>().is_ok() || crate::fields::is_dns_name(n.trim_start_matches("*."))
}

/// The chain and key as rustls will use them: every certificate parses,
/// the key is one the provider signs with, and it belongs to the first
/// certificate.
fn check_pair(made: &Identity, from_request: bool) -> Result<Arc<CertifiedKey>, WebCertError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(made.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid("chain_pem", format!("not PEM certificates: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(
            "chain_pem",
            "no certificate found (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(made.key_pem.as_bytes())
        .map_err(|e| invalid("key_pem", format!("not a PEM private key: {e}")))?;
    let key = crypto_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| {
            invalid(
                "key_pem",
                format!("unusable key (RSA or ECDSA expected): {e}"),
            )
        })?;
    let certified = CertifiedKey::new(chain, key);
    if certified.keys_match().is_err() {
        let field = if from_request { "chain_pem" } else { "key_pem" };
        let why = if from_request {
            "this certificate was not issued for this appliance's signing request"
        } else {
            "the key does not belong to the first certificate"
        };
        return Err(invalid(field, why));
    }
    Ok(Arc::new(certified))
}

/// The first certificate's facts, with warnings for names and expiry.
fn describe(chain_pem: &str, appliance_names: &[String]) -> Result<CertInfo, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let first = chain.first().ok_or("no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(first)
        .map_err(|e| format!("the first certificate does not parse: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        names.push(std::net::IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        names.push(std::net::IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let mut warnings = Vec::new();
    if !appliance_names.iter().any(|n| covers(&names, n)) {
        warnings.push(format!(
            "it names {} but not this appliance ({}): browsers will warn",
            if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            },
            appliance_names.join(", ")
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let until = cert.validity().not_after.to_datetime();
    if until > now && until - now < time::Duration::days(EXPIRY_WARNING_DAYS) {
        warnings.push(format!("it expires within {EXPIRY_WARNING_DAYS} days"));
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        self_signed: cert.subject() == cert.issuer(),
        names,
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        chain_length: chain.len(),
        warnings,
    })
}

/// A certificate not valid now cannot be installed.
fn date_error(chain_pem: &str) -> Option<String> {
    let first = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&first).ok()?;
    let v = cert.validity();
    let now = time::OffsetDateTime::now_utc();
    if v.not_after.to_datetime() < now {
        Some(format!("the certificate expired on {}", v.not_after))
    } else if v.not_before.to_datetime() > now {
        Some(format!(
            "the certificate is not valid before {} (check the appliance's clock)",
            v.not_before
        ))
    } else {
        None
    }
}

/// Does a certificate naming `names` cover `host` (one wildcard label)?
fn covers(names: &[String], host: &str) -> bool {
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(host)
            || n.strip_prefix("*.").is_some_and(|rest| {
                host.split_once('.')
                    .is_some_and(|(_, h)| h.eq_ignore_ascii_case(rest))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, IsCa, Issuer};

    /// A CA of the admin's own, and a certificate it issues for `key`.
    fn issue(ca: &Issuer<'_, KeyPair>, key: &KeyPair, names: &[&str], days: (i64, i64)) -> String {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(days.0);
        p.not_after = now + time::Duration::days(days.1);
        p.signed_by(key, ca).unwrap().pem()
    }

    fn ca() -> (Issuer<'static, KeyPair>, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "Example Corp CA");
        let key = KeyPair::generate().unwrap();
        let pem = p.self_signed(&key).unwrap().pem();
        (Issuer::new(p, key), pem)
    }

    fn cell() -> (tempfile::TempDir, WebCertCell) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        let names = vec!["conn-1".to_string(), "10.0.0.5".to_string()];
        let cell = WebCertCell::open(db, "conn-1", names).unwrap();
        (dir, cell)
    }

    #[test]
    fn a_signing_request_is_answered_by_the_admins_ca() {
        let (_dir, cell) = cell();
        assert!(cell.info().self_signed);
        let refused = cell.request(&CsrInput {
            common_name: "bad name!".into(),
            names: String::new(),
        });
        assert!(
            matches!(refused, Err(WebCertError::Invalid(ref f)) if f.get("common_name").is_some())
        );
        let csr = cell
            .request(&CsrInput {
                common_name: "conn-1".into(),
                names: "conn-1.example.com, 10.0.0.5".into(),
            })
            .unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert_eq!(
            cell.pending_request().unwrap().as_deref(),
            Some(csr.as_str())
        );
        let (ca, ca_pem) = ca();
        let pending = cell
            .db
            .call_blocking(|c| identity::load(c, Purpose::WebRequest))
            .unwrap()
            .unwrap();
        let key = KeyPair::from_pem(&pending.key_pem).unwrap();

        // Another key's certificate is not the answer; nothing changes.
        let stranger = issue(&ca, &KeyPair::generate().unwrap(), &["conn-1"], (-1, 90));
        let before = cell.identity().cert_pem;
        let e = cell.install(&CertUpload {
            chain_pem: stranger,
            key_pem: String::new(),
        });
        assert!(
            matches!(e, Err(WebCertError::Invalid(ref f)) if f.get("chain_pem").is_some_and(|m| m.contains("signing request"))),
            "{e:?}"
        );
        // Expired: refused.
        let old = issue(&ca, &key, &["conn-1"], (-90, -1));
        let e = cell.install(&CertUpload {
            chain_pem: old,
            key_pem: String::new(),
        });
        assert!(
            matches!(e, Err(WebCertError::Invalid(ref f)) if f.get("chain_pem").is_some_and(|m| m.contains("expired"))),
            "{e:?}"
        );
        assert_eq!(cell.identity().cert_pem, before, "nothing changed");

        let good = issue(&ca, &key, &["conn-1", "10.0.0.5"], (-1, 365));
        let info = cell
            .install(&CertUpload {
                chain_pem: format!("{good}{ca_pem}"),
                key_pem: String::new(),
            })
            .unwrap();
        assert!(
            !info.self_signed && info.issuer.contains("Example Corp CA"),
            "{info:?}"
        );
        assert_eq!(info.chain_length, 2);
        assert!(info.warnings.is_empty(), "{info:?}");
        assert_eq!(
            cell.pending_request().unwrap(),
            None,
            "the request is answered"
        );
        assert_eq!(cell.info().names, vec!["conn-1", "10.0.0.5"]);
    }

    #[test]
    fn a_pem_certificate_and_key_are_checked_and_names_warned_about() {
        let (_dir, cell) = cell();
        let (ca, _) = ca();
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let cert = issue(&ca, &key, &["elsewhere.example.com"], (-1, 20));
        let e = cell.install(&CertUpload {
            chain_pem: cert.clone(),
            key_pem: other.serialize_pem(),
        });
        assert!(
            matches!(e, Err(WebCertError::Invalid(ref f)) if f.get("key_pem").is_some()),
            "{e:?}"
        );
        let e = cell.install(&CertUpload {
            chain_pem: cert.clone(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n".into(),
        });
        assert!(
            matches!(e, Err(WebCertError::Invalid(ref f)) if f.get("key_pem").is_some()),
            "{e:?}"
        );
        let e = cell.install(&CertUpload {
            chain_pem: cert.clone(),
            key_pem: String::new(),
        });
        assert!(
            matches!(e, Err(WebCertError::Invalid(ref f)) if f.get("key_pem").is_some()),
            "no request was made: {e:?}"
        );
        let info = cell
            .install(&CertUpload {
                chain_pem: cert,
                key_pem: key.serialize_pem(),
            })
            .unwrap();
        assert_eq!(info.warnings.len(), 2, "{info:?}");
        assert!(info.warnings[0].contains("not this appliance"));
        assert!(info.warnings[1].contains("expires within 30 days"));
        let back = cell.reset_self_signed("conn-1").unwrap();
        assert!(back.self_signed && back.warnings.is_empty(), "{back:?}");
    }
}
