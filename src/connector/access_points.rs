//! Access points allowed on the AP Channel: their rows in the state file.
//! An AP is known by the SHA-256 key hash of its certificate; one that is
//! not listed here is refused after its TLS handshake, before any of its
//! data is read. What an operator may type is validated by
//! `contract::access_point`, shared with the cloud, which distributes the
//! list to every member of the group.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::now_unix;
use crate::contract::access_point::{AccessPointInput, NewAccessPoint};
use crate::db::DbError;
use crate::fields::FieldErrors;

/// A stored access point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPoint {
    pub key_hash: String,
    pub name: String,
    /// The member that added it, as the cloud recorded it; empty when it
    /// was added on this connector.
    pub added_by: String,
    pub added_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessPointError {
    #[error("invalid access point")]
    Invalid(FieldErrors),
    #[error("no access point with key hash {0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessPoint> {
    Ok(AccessPoint {
        key_hash: r.get(0)?,
        name: r.get(1)?,
        added_by: r.get(2)?,
        added_at: r.get(3)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<AccessPoint>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_hash, name, added_by, added_at FROM access_points ORDER BY name COLLATE NOCASE",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The allowed key hashes, for the AP Channel's check.
pub fn allowed(conn: &Connection) -> Result<HashSet<String>, DbError> {
    Ok(list(conn)?.into_iter().map(|a| a.key_hash).collect())
}

/// Validates and stores an access point added here.
pub fn add(conn: &Connection, input: &AccessPointInput) -> Result<AccessPoint, AccessPointError> {
    let NewAccessPoint { name, key_hash } = input.validate().map_err(AccessPointError::Invalid)?;
    insert(conn, &name, &key_hash, "")?.ok_or_else(|| {
        let mut e = FieldErrors::default();
        e.add("key_hash", "This access point is already allowed.");
        AccessPointError::Invalid(e)
    })
}

/// Inserts a row unless its key hash is there; `None` if it was.
pub fn insert(
    conn: &Connection,
    name: &str,
    key_hash: &str,
    added_by: &str,
) -> Result<Option<AccessPoint>, DbError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO access_points (key_hash, name, added_by, added_at) VALUES (?1, ?2, ?3, ?4)",
        params![key_hash, name, added_by, now_unix()],
    )?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, key_hash)
}

pub fn get(conn: &Connection, key_hash: &str) -> Result<Option<AccessPoint>, DbError> {
    Ok(conn
        .query_row(
            "SELECT key_hash, name, added_by, added_at FROM access_points WHERE key_hash = ?1",
            [key_hash.to_ascii_lowercase()],
            from_row,
        )
        .optional()?)
}

pub fn remove(conn: &Connection, key_hash: &str) -> Result<AccessPoint, AccessPointError> {
    let ap =
        get(conn, key_hash)?.ok_or_else(|| AccessPointError::NotFound(key_hash.to_string()))?;
    conn.execute(
        "DELETE FROM access_points WHERE key_hash = ?1",
        [&ap.key_hash],
    )
    .map_err(DbError::from)?;
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_remove_and_refuse_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            let input = AccessPointInput {
                name: "Lobby".into(),
                key_hash: "AB".repeat(32),
            };
            add(c, &input).unwrap();
            assert!(matches!(add(c, &input), Err(AccessPointError::Invalid(_))));
            assert!(allowed(c)?.contains(&"ab".repeat(32)));
            remove(c, &"ab".repeat(32)).unwrap();
            assert!(list(c)?.is_empty());
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
