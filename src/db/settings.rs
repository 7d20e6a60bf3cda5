//! Small values kept as JSON in the state file's `settings` table (the
//! proxy, the network settings, a first boot's record): one way to read,
//! write and remove them.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DbError;

/// The value under `key`; None when absent or no longer readable as `T`
/// (a value from an older release reads as unset rather than failing the
/// page that shows it).
pub fn get<T: DeserializeOwned>(conn: &Connection, key: &str) -> Result<Option<T>, DbError> {
    let raw: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

pub fn put<T: Serialize>(conn: &Connection, key: &str, value: &T) -> Result<(), DbError> {
    let json = serde_json::to_string(value).map_err(|e| DbError::Task(e.to_string()))?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, &json],
    )?;
    Ok(())
}

pub fn remove(conn: &Connection, key: &str) -> Result<(), DbError> {
    conn.execute("DELETE FROM settings WHERE key = ?1", [key])?;
    Ok(())
}
