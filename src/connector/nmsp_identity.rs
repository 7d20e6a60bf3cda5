//! The connector's NMSP identity as the running program holds it: the key
//! controllers authorise (and the AP Channel presents), its two hashes, and
//! the explicit re-key that replaces it.
//!
//! A new appliance makes an RSA-2048 key, as controllers expect of a
//! location server; ECDSA P-256 is the other choice. Re-keying is never
//! implicit: every controller's auth list names the old key hash, so each
//! one must authorise the new key before sessions come back. The state file
//! is the truth: a console in another process may re-key, and `refresh`
//! (polled by the supervisor) picks that up.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use serde::Deserialize;

use crate::db::Db;
use crate::fields::FieldErrors;
use crate::tls::identity::{self, Identity, IdentityError, KeyKind, Purpose};

/// The key kind a new appliance's NMSP identity gets.
pub const DEFAULT_KIND: KeyKind = KeyKind::Rsa2048;

/// One NMSP identity and what is shown of it.
#[derive(Debug)]
pub struct NmspIdentity {
    pub identity: Identity,
    pub kind: KeyKind,
    /// SHA-256 key hash a controller's auth list must hold (NMSP.md).
    pub key_hash: String,
    /// The SHA-1 hash of the same key, shown beside it as CMX does.
    pub key_hash_sha1: String,
    /// The same key for a TLS server (the AP Channel).
    certified: Arc<CertifiedKey>,
}

impl NmspIdentity {
    fn of(identity: Identity) -> Result<NmspIdentity, IdentityError> {
        Ok(NmspIdentity {
            kind: identity.key_kind()?,
            key_hash: identity.key_hash()?,
            key_hash_sha1: identity.key_hash_sha1()?,
            certified: identity.certified_key()?,
            identity,
        })
    }
}

/// The current NMSP identity, swapped whole on a re-key.
pub struct NmspIdentityCell {
    db: Db,
    instance_id: String,
    current: RwLock<Arc<NmspIdentity>>,
}

impl NmspIdentityCell {
    /// Loads the stored identity, making one of `DEFAULT_KIND` at first boot.
    pub fn open(db: Db, instance_id: &str) -> Result<NmspIdentityCell, IdentityError> {
        let (name, names) = names(instance_id);
        let stored = db.call_blocking(|conn| {
            identity::load_or_create(conn, Purpose::Nmsp, DEFAULT_KIND, &name, names)
        })?;
        Ok(NmspIdentityCell {
            db,
            instance_id: instance_id.to_string(),
            current: RwLock::new(Arc::new(NmspIdentity::of(stored)?)),
        })
    }

    pub fn current(&self) -> Arc<NmspIdentity> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Checks `input` and replaces the identity with a fresh key of the
    /// kind asked for (blocking: RSA key generation takes a moment). Every
    /// controller must then authorise the new key hash.
    pub fn rekey(&self, input: &RekeyInput) -> Result<Arc<NmspIdentity>, RekeyError> {
        let kind = input.validate().map_err(RekeyError::Invalid)?;
        Ok(self.rekey_to(kind)?)
    }

    fn rekey_to(&self, kind: KeyKind) -> Result<Arc<NmspIdentity>, IdentityError> {
        let (name, names) = names(&self.instance_id);
        let made = NmspIdentity::of(Identity::generate_with(kind, &name, names)?)?;
        self.db
            .call_blocking(|conn| identity::replace(conn, Purpose::Nmsp, &made.identity))?;
        Ok(self.set(made))
    }

    /// Re-reads the stored identity; true when it changed (a re-key made
    /// by another process).
    pub async fn refresh(&self) -> Result<bool, IdentityError> {
        let stored = self
            .db
            .call(|conn| identity::load(conn, Purpose::Nmsp))
            .await?;
        match stored {
            Some(s) if s.key_pem != self.current().identity.key_pem => {
                self.set(NmspIdentity::of(s)?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn set(&self, made: NmspIdentity) -> Arc<NmspIdentity> {
        let made = Arc::new(made);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = made.clone();
        made
    }
}

impl std::fmt::Debug for NmspIdentityCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NmspIdentityCell")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

/// An admin's request to replace the key, from the form, the API or the
/// console.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RekeyInput {
    /// `rsa-2048` or `ecdsa-p256`.
    #[serde(default)]
    pub key_type: String,
    /// The admin has read that every controller must authorise the new key.
    #[serde(default)]
    pub confirm: bool,
}

impl RekeyInput {
    pub fn validate(&self) -> Result<KeyKind, FieldErrors> {
        let mut errors = FieldErrors::default();
        let kind = KeyKind::parse(self.key_type.trim());
        if kind.is_none() {
            errors.add("key_type", "choose rsa-2048 or ecdsa-p256");
        }
        if !self.confirm {
            errors.add(
                "confirm",
                "confirm that every controller must authorise the new key: until then \
                 no controller talks to this connector",
            );
        }
        match kind {
            Some(kind) if errors.is_empty() => Ok(kind),
            _ => Err(errors),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error("{}", .0.summary())]
    Invalid(FieldErrors),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// The AP Channel presents whatever the current identity is, so a re-key
/// needs no restart.
impl ResolvesServerCert for NmspIdentityCell {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().certified.clone())
    }
}

fn names(instance_id: &str) -> (String, Vec<String>) {
    (
        format!("spaces-connector-{instance_id}"),
        vec![format!("{instance_id}.connector.invalid")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_appliance_is_rsa_and_a_rekey_is_seen_by_every_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        let cell = NmspIdentityCell::open(db.clone(), "i-1").unwrap();
        let first = cell.current();
        assert_eq!(first.kind, KeyKind::Rsa2048);
        // Another process (the console) re-keys the same state file.
        let other = NmspIdentityCell::open(db, "i-1").unwrap();
        assert_eq!(other.current().key_hash, first.key_hash);
        let refused = other.rekey(&RekeyInput {
            key_type: "dsa".into(),
            confirm: false,
        });
        let Err(RekeyError::Invalid(errors)) = refused else {
            panic!("{refused:?}")
        };
        assert!(errors.get("key_type").is_some() && errors.get("confirm").is_some());
        assert_eq!(other.current().key_hash, first.key_hash, "nothing changed");
        let made = other
            .rekey(&RekeyInput {
                key_type: "ecdsa-p256".into(),
                confirm: true,
            })
            .unwrap();
        assert_ne!(made.key_hash, first.key_hash);
        assert!(cell.refresh().await.unwrap(), "the change is noticed");
        assert_eq!(cell.current().key_hash, made.key_hash);
        assert_eq!(cell.current().kind, KeyKind::EcdsaP256);
        assert!(!cell.refresh().await.unwrap(), "and only once");
    }
}
