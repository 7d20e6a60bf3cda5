//! The single admin account. There is no default password: until one is
//! set at first boot, the appliance only offers the setup page.

use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::now_unix;
use crate::db::DbError;

/// The admin's user name; the appliance has one account.
pub const USERNAME: &str = "admin";

pub fn exists(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn
        .query_row("SELECT 1 FROM admin WHERE id = 1", [], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The stored password hash for `username`, if that user exists.
pub fn password_hash(conn: &Connection, username: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT password_hash FROM admin WHERE id = 1 AND username = ?1",
            [username],
            |r| r.get(0),
        )
        .optional()?)
}

/// Creates the admin if none exists yet; false if one already did (a second
/// browser finishing setup late must not overwrite the first).
pub fn create(conn: &Connection, hash: &str) -> Result<bool, DbError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO admin (id, username, password_hash, updated_at) VALUES (1, ?1, ?2, ?3)",
        params![USERNAME, hash, now_unix()],
    )?;
    Ok(n == 1)
}

/// Sets a new password and ends every session but `keep` (the one that
/// changed it), so a stolen session dies with the old password.
pub fn change_password(conn: &mut Connection, hash: &str, keep: &str) -> Result<(), DbError> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE admin SET password_hash = ?1, updated_at = ?2 WHERE id = 1",
        params![hash, now_unix()],
    )?;
    tx.execute("DELETE FROM sessions WHERE id_hash != ?1", [keep])?;
    tx.commit()?;
    Ok(())
}

/// Console recovery for a lost password: removes the admin and all
/// sessions, so the next browser visit shows the setup page again.
pub fn reset(conn: &mut Connection) -> Result<(), DbError> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM admin", [])?;
    tx.execute("DELETE FROM sessions", [])?;
    tx.commit()?;
    Ok(())
}
