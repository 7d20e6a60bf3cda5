//! The one-time setup code: until the admin password is set, the setup page
//! asks for a code that only someone at the console (or with the state
//! directory) can read, so the first unauthenticated visitor on the network
//! cannot take the appliance. Made when there is no admin (first boot,
//! `reset-admin`), printed on the console and kept in `setup-code` beside
//! the state file; only its hash is in the state file; gone once used.

use std::path::{Path, PathBuf};

use rand::Rng;
use rusqlite::{Connection, OptionalExtension};

use super::{secret_hash, secrets_equal};
use crate::db::DbError;

const HASH_KEY: &str = "setup_code_hash";
/// The file beside the state file that holds the code while setup waits.
pub const FILE: &str = "setup-code";
/// Letters that cannot be mistaken for one another when read off a screen.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn file(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn generate() -> String {
    let mut rng = rand::rng();
    let chars: Vec<char> = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The code to show while no admin exists: the one waiting in `dir`, or a
/// new one (stored as a hash, written to the file with owner-only access).
pub fn issue(conn: &Connection, dir: &Path) -> Result<String, DbError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [HASH_KEY],
            |r| r.get(0),
        )
        .optional()?;
    if let (Some(hash), Ok(code)) = (&stored, std::fs::read_to_string(file(dir))) {
        let code = code.trim().to_string();
        if secrets_equal(hash, &secret_hash(&normalise(&code))) {
            return Ok(code);
        }
    }
    let code = generate();
    write_private(&file(dir), &code).map_err(|e| DbError::Task(e.to_string()))?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [HASH_KEY, &secret_hash(&normalise(&code))],
    )?;
    Ok(code)
}

/// While no admin exists, the code to show (made if needed); `None` once
/// the appliance is set up. Called at start and by `reset-admin`.
pub fn pending(conn: &Connection, dir: &Path) -> Result<Option<String>, DbError> {
    if super::admin::exists(conn)? {
        return Ok(None);
    }
    issue(conn, dir).map(Some)
}

/// True when `typed` is the waiting code (spacing, dashes and case aside).
pub fn matches(conn: &Connection, typed: &str) -> Result<bool, DbError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = ?1",
            [HASH_KEY],
            |r| r.get(0),
        )
        .optional()?;
    Ok(stored.is_some_and(|h| secrets_equal(&h, &secret_hash(&normalise(typed)))))
}

/// The code has served: forget it and remove its file.
pub fn used(conn: &Connection, dir: &Path) -> Result<(), DbError> {
    conn.execute("DELETE FROM settings WHERE key = ?1", [HASH_KEY])?;
    let _ = std::fs::remove_file(file(dir));
    Ok(())
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn write_private(path: &Path, code: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(f, "{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_once_matched_loosely_and_gone_when_used() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_in(dir.path(), "t.db", |c| {
            c.execute_batch(crate::auth_tables!())?;
            Ok(())
        })
        .unwrap();
        db.call_blocking(|c| {
            let code = issue(c, dir.path())?;
            assert_eq!(code.len(), 14);
            assert_eq!(issue(c, dir.path())?, code, "the waiting code is kept");
            assert!(matches(c, &code.to_lowercase().replace('-', " "))?);
            assert!(!matches(c, "AAAA-BBBB-CCCC")?);
            used(c, dir.path())?;
            assert!(!matches(c, &code)?);
            assert!(!dir.path().join(FILE).exists());
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
