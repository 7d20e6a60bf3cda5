//! Controllers the connector keeps NMSP sessions to: their rows in the
//! state file, with the key pinned on first use. What an operator may type
//! is validated by `contract::controller`, shared with the cloud.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::now_unix;
pub use crate::contract::controller::{
    ControllerInput, ControllerKind, DEFAULT_PORT, DeviceWords, NewController,
};
use crate::contract::token::NetworkKind;
use crate::db::DbError;
pub use crate::fields::FieldErrors;

/// A stored controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Controller {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub kind: ControllerKind,
    pub enabled: bool,
    pub created_at: i64,
    /// SHA-256 of the controller's certificate key, learned on first use.
    pub cert_pin: Option<String>,
    /// A different key the controller presented later, awaiting an admin.
    pub pending_pin: Option<String>,
    /// The member that added it, as the cloud recorded it; empty when it
    /// was added on this connector.
    pub added_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("invalid controller")]
    Invalid(FieldErrors),
    #[error("no controller with id {0}")]
    NotFound(i64),
    #[error(transparent)]
    Db(#[from] DbError),
}

const COLUMNS: &str =
    "id, name, host, port, kind, enabled, created_at, cert_pin, pending_pin, added_by";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Controller> {
    let kind: String = r.get(4)?;
    Ok(Controller {
        id: r.get(0)?,
        name: r.get(1)?,
        host: r.get(2)?,
        port: r.get(3)?,
        kind: ControllerKind::parse(&kind).unwrap_or(ControllerKind::Aireos),
        enabled: r.get(5)?,
        created_at: r.get(6)?,
        cert_pin: r.get(7)?,
        pending_pin: r.get(8)?,
        added_by: r.get(9)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Controller>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM controllers ORDER BY name COLLATE NOCASE"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (id, name, "host:port") of every controller, in the list's order: what
/// figures and heartbeats name links by.
pub fn names(conn: &Connection) -> Result<Vec<(i64, String, String)>, DbError> {
    Ok(list(conn)?.iter().map(Controller::link_name).collect())
}

impl Controller {
    /// (id, name, "host:port"): how figures name its link.
    pub fn link_name(&self) -> (i64, String, String) {
        (
            self.id,
            self.name.clone(),
            format!("{}:{}", self.host, self.port),
        )
    }
}

/// The network this connector serves: its token's, or else that of the
/// devices it already has (a connector never mixes); `None` for a new one.
pub fn network(conn: &Connection) -> Result<Option<NetworkKind>, DbError> {
    let token: Option<String> = conn
        .query_row("SELECT kind FROM cloud_token WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(kind) = token.as_deref().and_then(NetworkKind::parse) {
        return Ok(Some(kind));
    }
    Ok(list(conn)?.first().map(|c| c.kind.network()))
}

/// How pages and the console name this connector's devices.
pub fn words(conn: &Connection) -> Result<DeviceWords, DbError> {
    Ok(DeviceWords::of(network(conn)?))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Controller>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM controllers WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Validates and stores a controller; duplicates (same name, or same
/// address and port) are refused with a message on the offending field.
pub fn add(conn: &mut Connection, input: &ControllerInput) -> Result<Controller, ControllerError> {
    let tx = conn.transaction().map_err(DbError::from)?;
    let new = input
        .validate_for(network(&tx)?)
        .map_err(ControllerError::Invalid)?;
    let mut errors = FieldErrors::default();
    let same_name: Option<String> = tx
        .query_row(
            "SELECT name FROM controllers WHERE name = ?1 COLLATE NOCASE",
            [&new.name],
            |r| r.get(0),
        )
        .optional()
        .map_err(DbError::from)?;
    if let Some(existing) = same_name {
        errors.add(
            "name",
            format!("A controller named \"{existing}\" already exists."),
        );
    }
    let same_addr: Option<String> = tx
        .query_row(
            "SELECT name FROM controllers WHERE host = ?1 AND port = ?2",
            params![new.host, new.port],
            |r| r.get(0),
        )
        .optional()
        .map_err(DbError::from)?;
    if let Some(existing) = same_addr {
        errors.add(
            "host",
            format!(
                "{}:{} is already configured as \"{existing}\".",
                new.host, new.port
            ),
        );
    }
    if !errors.is_empty() {
        return Err(ControllerError::Invalid(errors));
    }
    tx.execute(
        "INSERT INTO controllers (name, host, port, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![new.name, new.host, new.port, new.kind.as_str(), now_unix()],
    )
    .map_err(DbError::from)?;
    let id = tx.last_insert_rowid();
    let stored = get(&tx, id)?.ok_or(ControllerError::NotFound(id))?;
    tx.commit().map_err(DbError::from)?;
    Ok(stored)
}

/// Removes a controller by id, returning what was removed.
pub fn remove(conn: &Connection, id: i64) -> Result<Controller, ControllerError> {
    let found = get(conn, id)?.ok_or(ControllerError::NotFound(id))?;
    conn.execute("DELETE FROM controllers WHERE id = ?1", [id])
        .map_err(DbError::from)?;
    Ok(found)
}

/// Records the key a controller presented on first contact.
pub fn learn_pin(conn: &Connection, id: i64, pin: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE controllers SET cert_pin = ?2 WHERE id = ?1 AND cert_pin IS NULL",
        params![id, pin],
    )?;
    Ok(())
}

/// Records a changed key; the session stays down until it is accepted.
pub fn set_pending_pin(conn: &Connection, id: i64, pin: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE controllers SET pending_pin = ?2 WHERE id = ?1",
        params![id, pin],
    )?;
    Ok(())
}

/// An admin trusts the changed key: it becomes the pin.
pub fn accept_pending_pin(conn: &Connection, id: i64) -> Result<Controller, ControllerError> {
    let n = conn
        .execute(
            "UPDATE controllers SET cert_pin = pending_pin, pending_pin = NULL
             WHERE id = ?1 AND pending_pin IS NOT NULL",
            [id],
        )
        .map_err(DbError::from)?;
    let c = get(conn, id)?.ok_or(ControllerError::NotFound(id))?;
    if n == 0 {
        let mut e = FieldErrors::default();
        e.add(
            "cert",
            "This controller has no changed certificate to accept.",
        );
        return Err(ControllerError::Invalid(e));
    }
    Ok(c)
}

/// Finds a controller by id, name or address (for the console).
pub fn find(conn: &Connection, key: &str) -> Result<Option<Controller>, DbError> {
    if let Ok(id) = key.parse::<i64>()
        && let Some(c) = get(conn, id)?
    {
        return Ok(Some(c));
    }
    Ok(list(conn)?
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(key) || c.host == key.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, host: &str, port: &str) -> ControllerInput {
        ControllerInput {
            name: name.into(),
            host: host.into(),
            port: port.into(),
            kind: "aireos".into(),
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            add(c, &input("WLC", "10.0.0.1", "")).unwrap();
            let Err(ControllerError::Invalid(e)) = add(c, &input("wlc", "10.0.0.2", "")) else {
                panic!("duplicate name accepted")
            };
            assert!(e.get("name").is_some());
            let Err(ControllerError::Invalid(e)) = add(c, &input("Other", "10.0.0.1", "16113"))
            else {
                panic!("duplicate address accepted")
            };
            assert!(e.get("host").is_some());
            assert_eq!(list(c)?.len(), 1);
            Ok::<_, crate::db::DbError>(())
        })
        .unwrap();
    }
}
