//! The backup file's envelope: the configuration sealed with a passphrase.
//! AES-256-GCM (ring, the crypto this program already uses) under a key
//! derived by argon2id from the passphrase and a random salt. The header
//! (format, KDF parameters, salt, nonce) travels in clear and is the
//! cipher's associated data, so changing any byte of the file makes it
//! refuse to open.
//!
//! Layout: the line `SPACES-CONNECTOR-BACKUP`, the header as one JSON
//! line, then the ciphertext with its tag.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8] = b"SPACES-CONNECTOR-BACKUP\n";
const FORMAT: u32 = 1;
/// argon2id at 64 MiB and 3 passes: a guess costs a second of a core.
const M_KIB: u32 = 64 * 1024;
const T: u32 = 3;
/// A file comes from outside: its KDF parameters are bounded before they
/// cost anything (memory and time).
const MAX_M_KIB: u32 = 256 * 1024;
const MAX_T: u32 = 10;
/// Shortest passphrase a backup is made with.
pub const MIN_PASSPHRASE: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("this is not a Spaces Connector backup file")]
    NotABackup,
    #[error("this backup was made by a newer version (format {0}); upgrade this appliance first")]
    NewerFormat(u32),
    #[error("the passphrase is wrong, or the file was changed or cut short")]
    CannotOpen,
    #[error("the backup's key derivation parameters are out of bounds")]
    BadParameters,
    #[error("the passphrase must be at least {MIN_PASSPHRASE} characters")]
    ShortPassphrase,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    nonce: String,
}

fn key(
    passphrase: &str,
    salt: &[u8],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<LessSafeKey, SealError> {
    let params = Params::new(m_kib, t, p, Some(32)).map_err(|_| SealError::BadParameters)?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|_| SealError::BadParameters)?;
    let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| SealError::BadParameters)?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `plain` with `passphrase`.
pub fn seal(plain: &[u8], passphrase: &str) -> Result<Vec<u8>, SealError> {
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(SealError::ShortPassphrase);
    }
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut nonce);
    let header = Header {
        format: FORMAT,
        kdf: "argon2id".into(),
        m_kib: M_KIB,
        t: T,
        p: 1,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
    };
    let header = serde_json::to_vec(&header).expect("a header serialises");
    let sealing = key(passphrase, &salt, M_KIB, T, 1)?;
    let mut body = plain.to_vec();
    sealing
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            &mut body,
        )
        .map_err(|_| SealError::BadParameters)?;
    let mut file = MAGIC.to_vec();
    file.extend_from_slice(&header);
    file.push(b'\n');
    file.extend_from_slice(&body);
    Ok(file)
}

/// Opens a sealed file with `passphrase`.
pub fn open(file: &[u8], passphrase: &str) -> Result<Vec<u8>, SealError> {
    let rest = file.strip_prefix(MAGIC).ok_or(SealError::NotABackup)?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(SealError::NotABackup)?;
    let (header_bytes, body) = (&rest[..end], &rest[end + 1..]);
    let header: Header = serde_json::from_slice(header_bytes).map_err(|_| SealError::NotABackup)?;
    if header.format > FORMAT {
        return Err(SealError::NewerFormat(header.format));
    }
    if header.kdf != "argon2id" || header.m_kib > MAX_M_KIB || header.t > MAX_T || header.p != 1 {
        return Err(SealError::BadParameters);
    }
    let salt = B64
        .decode(&header.salt)
        .map_err(|_| SealError::NotABackup)?;
    let nonce: [u8; NONCE_LEN] = B64
        .decode(&header.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(SealError::NotABackup)?;
    let opening = key(passphrase, &salt, header.m_kib, header.t, header.p)?;
    let mut buf = body.to_vec();
    let plain = opening
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(header_bytes),
            &mut buf,
        )
        .map_err(|_| SealError::CannotOpen)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "a long passphrase";

    /// The file with `from` replaced by `to` in its header only.
    fn edit_header(file: &[u8], from: &str, to: &str) -> Vec<u8> {
        let start = MAGIC.len();
        let end = start + file[start..].iter().position(|b| *b == b'\n').unwrap();
        let header = std::str::from_utf8(&file[start..end]).unwrap();
        assert!(header.contains(from), "{header}");
        let mut out = file[..start].to_vec();
        out.extend_from_slice(header.replace(from, to).as_bytes());
        out.extend_from_slice(&file[end..]);
        out
    }

    #[test]
    fn opens_with_the_passphrase_only() {
        let file = seal(b"the configuration", PASS).unwrap();
        assert_eq!(open(&file, PASS).unwrap(), b"the configuration");
        assert_eq!(
            open(&file, "another passphrase"),
            Err(SealError::CannotOpen)
        );
        assert!(!file.windows(17).any(|w| w == b"the configuration"));
    }

    #[test]
    fn any_change_or_cut_is_refused() {
        let file = seal(b"the configuration", PASS).unwrap();
        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(open(&flipped, PASS), Err(SealError::CannotOpen));
        assert_eq!(
            open(&file[..file.len() - 5], PASS),
            Err(SealError::CannotOpen)
        );
        // The header is authenticated too: a lowered cost is noticed.
        let lowered = edit_header(&file, "\"t\":3", "\"t\":2");
        assert_eq!(open(&lowered, PASS), Err(SealError::CannotOpen));
        assert_eq!(open(b"PK\x03\x04 a zip", PASS), Err(SealError::NotABackup));
    }

    #[test]
    fn hostile_parameters_and_short_passphrases_are_refused() {
        let file = seal(b"x", PASS).unwrap();
        let costly = edit_header(&file, "\"m_kib\":65536", "\"m_kib\":4000000");
        assert_eq!(open(&costly, PASS), Err(SealError::BadParameters));
        let newer = edit_header(&file, "\"format\":1", "\"format\":9");
        assert_eq!(open(&newer, PASS), Err(SealError::NewerFormat(9)));
        assert_eq!(seal(b"x", "short"), Err(SealError::ShortPassphrase));
    }
}
