//! An update bundle, checked before anything is done with it: a tar of
//! `manifest.json`, `manifest.sig` (Ed25519 over the manifest, by a
//! release key this appliance trusts) and the `.deb` the manifest names
//! with its size and SHA-256 (`packaging/make-update-bundle` makes one).
//! A bundle is refused, with the reason, when it is not one, is cut
//! short, is signed by no trusted key, is for another product or
//! architecture, or is not newer than what runs.
//!
//! Everything in a bundle is hostile until its signature holds: sizes are
//! bounded while reading, and the manifest is parsed only once it is
//! signed.

use std::io::Read;

use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest bundle accepted (the .deb is about 8 MB).
pub const MAX_BUNDLE: usize = 64 * 1024 * 1024;
const MAX_MANIFEST: u64 = 16 * 1024;
const PRODUCT: &str = "spaces-connector";

/// What a signed manifest says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub product: String,
    pub version: String,
    pub architecture: String,
    pub deb: String,
    pub size: u64,
    pub sha256: String,
}

/// A bundle that passed every check: its manifest and its package.
#[derive(Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub deb: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("this is not an update bundle (a .scupdate made by packaging/make-update-bundle)")]
    NotABundle,
    #[error("the bundle is cut short or damaged: {0}")]
    Damaged(String),
    #[error(
        "the bundle's signature does not hold: it was not signed by a release key this appliance trusts, or it was changed"
    )]
    BadSignature,
    #[error("this appliance trusts no release key, so it takes no update bundle")]
    NoTrustedKey,
    #[error("the bundle is for {0}, not for this appliance")]
    WrongProduct(String),
    #[error("the bundle is for {found} machines; this one is {here}")]
    WrongArchitecture { found: String, here: String },
    #[error("the bundle holds version {found}, not newer than the {running} running here")]
    NotNewer { found: String, running: String },
}

/// A release public key: the raw 32 bytes, written in base64.
#[derive(Clone, Debug)]
pub struct ReleaseKey(Vec<u8>);

impl ReleaseKey {
    pub fn parse(b64: &str) -> Option<ReleaseKey> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        (raw.len() == 32).then_some(ReleaseKey(raw))
    }

    fn holds(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

/// Reads one entry of at most `max` bytes.
fn read_entry(entry: &mut impl Read, size: u64, max: u64) -> Result<Vec<u8>, BundleError> {
    if size > max {
        return Err(BundleError::NotABundle);
    }
    let mut buf = Vec::with_capacity(size as usize);
    entry
        .take(max)
        .read_to_end(&mut buf)
        .map_err(|e| BundleError::Damaged(e.to_string()))?;
    if buf.len() as u64 != size {
        return Err(BundleError::Damaged("a file in it is cut short".into()));
    }
    Ok(buf)
}

/// Checks `bytes` against the `trusted` keys, this machine's `arch` and
/// the `running` version.
pub fn verify(
    bytes: &[u8],
    trusted: &[ReleaseKey],
    running: &str,
    arch: &str,
) -> Result<Verified, BundleError> {
    if bytes.len() > MAX_BUNDLE {
        return Err(BundleError::NotABundle);
    }
    let mut archive = tar::Archive::new(bytes);
    let mut entries = archive.entries().map_err(|_| BundleError::NotABundle)?;
    let mut next = |want: Option<&str>, max: u64| -> Result<(String, Vec<u8>), BundleError> {
        let mut e = entries
            .next()
            .ok_or_else(|| BundleError::Damaged("a file is missing".into()))?
            .map_err(|e| BundleError::Damaged(e.to_string()))?;
        let name = e
            .path()
            .map_err(|_| BundleError::NotABundle)?
            .display()
            .to_string();
        if want.is_some_and(|w| w != name) {
            return Err(BundleError::NotABundle);
        }
        let size = e.size();
        Ok((name, read_entry(&mut e, size, max)?))
    };
    // No manifest first, whatever the reason: not a bundle at all.
    let (_, manifest_bytes) =
        next(Some("manifest.json"), MAX_MANIFEST).map_err(|_| BundleError::NotABundle)?;
    let (_, signature) = next(Some("manifest.sig"), 64)?;
    if trusted.is_empty() {
        return Err(BundleError::NoTrustedKey);
    }
    if !trusted.iter().any(|k| k.holds(&manifest_bytes, &signature)) {
        return Err(BundleError::BadSignature);
    }
    // Signed: now the manifest may be believed.
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| BundleError::Damaged(format!("its manifest: {e}")))?;
    if manifest.product != PRODUCT {
        return Err(BundleError::WrongProduct(manifest.product));
    }
    if manifest.architecture != arch {
        return Err(BundleError::WrongArchitecture {
            found: manifest.architecture,
            here: arch.into(),
        });
    }
    let newer = match (
        semver::Version::parse(&manifest.version),
        semver::Version::parse(running),
    ) {
        (Ok(found), Ok(here)) => found > here,
        _ => false,
    };
    if !newer {
        return Err(BundleError::NotNewer {
            found: manifest.version,
            running: running.into(),
        });
    }
    let (name, deb) = next(None, MAX_BUNDLE as u64)?;
    if name != manifest.deb || deb.len() as u64 != manifest.size {
        return Err(BundleError::Damaged(format!(
            "it holds {name} ({} bytes), its manifest names {} ({} bytes)",
            deb.len(),
            manifest.deb,
            manifest.size
        )));
    }
    if hex::encode(Sha256::digest(&deb)) != manifest.sha256 {
        return Err(BundleError::Damaged(
            "the package's SHA-256 differs from the manifest's".into(),
        ));
    }
    Ok(Verified { manifest, deb })
}

/// This machine's architecture as Debian names it.
pub fn debian_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    /// A throwaway release key and its public half.
    pub fn release_key() -> (Ed25519KeyPair, ReleaseKey) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = ReleaseKey(pair.public_key().as_ref().to_vec());
        (pair, public)
    }

    /// A bundle as packaging/make-update-bundle makes it.
    pub fn bundle(key: &Ed25519KeyPair, version: &str, deb: &[u8]) -> Vec<u8> {
        let manifest = Manifest {
            product: PRODUCT.into(),
            version: version.into(),
            architecture: debian_arch().into(),
            deb: format!("spaces-connector_{version}-1_amd64.deb"),
            size: deb.len() as u64,
            sha256: hex::encode(Sha256::digest(deb)),
        };
        let m = serde_json::to_vec(&manifest).unwrap();
        let sig = key.sign(&m);
        let mut tar = tar::Builder::new(Vec::new());
        for (name, body) in [
            ("manifest.json".to_string(), &m[..]),
            ("manifest.sig".to_string(), sig.as_ref()),
            (manifest.deb.clone(), deb),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, body).unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn a_signed_newer_bundle_passes() {
        let (key, public) = release_key();
        let v = verify(
            &bundle(&key, "0.2.0", b"a package"),
            &[public],
            "0.1.0",
            debian_arch(),
        )
        .unwrap();
        assert_eq!(v.manifest.version, "0.2.0");
        assert_eq!(v.deb, b"a package");
    }

    #[test]
    fn every_refusal_names_its_reason() {
        let (key, public) = release_key();
        let (other, _) = release_key();
        let good = bundle(&key, "0.2.0", &[7u8; 5000]);
        let trusted = [public];
        let check = |b: &[u8]| verify(b, &trusted, "0.1.0", debian_arch()).map(|_| ());
        assert_eq!(
            check(&bundle(&other, "0.2.0", b"x")),
            Err(BundleError::BadSignature)
        );
        assert_eq!(
            check(&bundle(&key, "0.1.0", b"x")),
            Err(BundleError::NotNewer {
                found: "0.1.0".into(),
                running: "0.1.0".into()
            })
        );
        assert!(matches!(
            check(&bundle(&key, "0.0.9", b"x")),
            Err(BundleError::NotNewer { .. })
        ));
        assert!(matches!(
            check(&good[..good.len() - 3000]),
            Err(BundleError::Damaged(_))
        ));
        assert_eq!(
            check(b"PK\x03\x04 a zip file"),
            Err(BundleError::NotABundle)
        );
        assert_eq!(
            verify(&good, &[], "0.1.0", debian_arch()).map(|_| ()),
            Err(BundleError::NoTrustedKey)
        );
        // A changed package no longer matches its signed manifest.
        let mut changed = good.clone();
        let at = changed.len() - 2048;
        changed[at] ^= 1;
        assert!(matches!(check(&changed), Err(BundleError::Damaged(_))));
        assert!(check(&good).is_ok());
    }
}
