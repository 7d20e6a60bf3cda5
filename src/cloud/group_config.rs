//! A group's configuration: the controllers every member connects to and
//! the access points every member admits on its AP Channel. It lives here;
//! members long-poll it. What a member pushes is validated as the
//! connector's own form validates it, and recorded with the member that
//! added it. The same controller (address and port) or access point (key
//! hash) added twice is kept once, as first added: a deterministic
//! resolution whatever the arrival order.

use rusqlite::{Connection, OptionalExtension, params};

use super::CloudError;
use super::registry::Member;
use crate::contract::access_point::AccessPointInput;
use crate::contract::cloud_api::{AccessPointConfig, ControllerConfig, GroupConfig};
use crate::contract::controller::ControllerInput;
use crate::contract::token::NetworkKind;
use crate::db::DbError;
use crate::fields::FieldErrors;

pub fn config(conn: &Connection, group_id: &str) -> Result<GroupConfig, DbError> {
    let version: i64 = conn
        .query_row(
            "SELECT config_version FROM groups WHERE id = ?1",
            [group_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let mut stmt = conn.prepare_cached(
        "SELECT name, host, port, kind, added_by FROM group_controllers WHERE group_id = ?1
         ORDER BY added_at, host, port",
    )?;
    let controllers = stmt
        .query_map([group_id], |r| {
            Ok(ControllerConfig {
                name: r.get(0)?,
                host: r.get(1)?,
                port: r.get(2)?,
                kind: r.get(3)?,
                added_by: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT name, key_hash, added_by FROM group_access_points WHERE group_id = ?1
         ORDER BY added_at, key_hash",
    )?;
    let access_points = stmt
        .query_map([group_id], |r| {
            Ok(AccessPointConfig {
                name: r.get(0)?,
                key_hash: r.get(1)?,
                added_by: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(GroupConfig {
        version: version as u64,
        controllers,
        access_points,
        privacy: super::privacy::config_for_group(conn, group_id)?,
    })
}

fn bump(conn: &Connection, group_id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE groups SET config_version = config_version + 1 WHERE id = ?1",
        [group_id],
    )?;
    Ok(())
}

fn invalid(e: FieldErrors) -> CloudError {
    CloudError::Invalid(e.summary())
}

/// How a member is named where it added something: its host name and
/// the start of its instance id.
fn attribution(conn: &Connection, member: &Member) -> Result<String, DbError> {
    let host: String = conn
        .query_row(
            "SELECT hostname FROM members WHERE instance_id = ?1",
            [&member.instance_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default();
    let short = member.instance_id.get(..8).unwrap_or(&member.instance_id);
    Ok(format!("{host} ({short})"))
}

/// Runs `insert` (one row) and bumps the version if it added the row.
fn added(
    conn: &mut Connection,
    group_id: &str,
    insert: impl FnOnce(&Connection) -> Result<usize, DbError>,
) -> Result<bool, CloudError> {
    let tx = conn.transaction().map_err(DbError::from)?;
    let n = insert(&tx)?;
    if n == 1 {
        bump(&tx, group_id)?;
    }
    tx.commit().map_err(DbError::from)?;
    Ok(n == 1)
}

/// Adds a controller (validated like the connector's form) for `member`;
/// returns true if the configuration changed.
pub fn add(
    conn: &mut Connection,
    member: &Member,
    c: &ControllerConfig,
) -> Result<bool, CloudError> {
    // A group never mixes: a wired group takes switches only, a
    // wireless one controllers only.
    let network: Option<String> = conn
        .query_row(
            "SELECT kind FROM groups WHERE id = ?1",
            [&member.group_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(DbError::from)?;
    let valid = ControllerInput {
        name: c.name.clone(),
        host: c.host.clone(),
        port: c.port.to_string(),
        kind: c.kind.clone(),
    }
    .validate_for(network.as_deref().and_then(NetworkKind::parse))
    .map_err(invalid)?;
    let by = attribution(conn, member)?;
    let group_id = member.group_id.clone();
    added(conn, &member.group_id, move |tx| {
        Ok(tx.execute(
            "INSERT OR IGNORE INTO group_controllers (group_id, host, port, name, kind, added_at, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                group_id,
                valid.host,
                valid.port,
                valid.name,
                valid.kind.as_str(),
                crate::clock::now_unix(),
                by
            ],
        )?)
    })
}

/// Adds an access point for `member`; returns true if the configuration
/// changed.
pub fn add_access_point(
    conn: &mut Connection,
    member: &Member,
    ap: &AccessPointConfig,
) -> Result<bool, CloudError> {
    let valid = AccessPointInput {
        name: ap.name.clone(),
        key_hash: ap.key_hash.clone(),
    }
    .validate()
    .map_err(invalid)?;
    let by = attribution(conn, member)?;
    let group_id = member.group_id.clone();
    added(conn, &member.group_id, move |tx| {
        Ok(tx.execute(
            "INSERT OR IGNORE INTO group_access_points (group_id, key_hash, name, added_by, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![group_id, valid.key_hash, valid.name, by, crate::clock::now_unix()],
        )?)
    })
}

/// Removes a controller by address; returns true if it was there.
pub fn remove(
    conn: &mut Connection,
    group_id: &str,
    host: &str,
    port: u16,
) -> Result<bool, CloudError> {
    let (group, host) = (group_id.to_string(), host.to_string());
    added(conn, group_id, move |tx| {
        Ok(tx.execute(
            "DELETE FROM group_controllers WHERE group_id = ?1 AND host = ?2 AND port = ?3",
            params![group, host, port],
        )?)
    })
}

/// Removes an access point by key hash; returns true if it was there.
pub fn remove_access_point(
    conn: &mut Connection,
    group_id: &str,
    key_hash: &str,
) -> Result<bool, CloudError> {
    let (group, hash) = (group_id.to_string(), key_hash.to_ascii_lowercase());
    added(conn, group_id, move |tx| {
        Ok(tx.execute(
            "DELETE FROM group_access_points WHERE group_id = ?1 AND key_hash = ?2",
            params![group, hash],
        )?)
    })
}
