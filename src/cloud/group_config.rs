//! A group's configuration: the controllers every member connects to. It
//! lives here; members long-poll it. The same controller (address and
//! port) added twice, by two members or twice by one, is kept once, as
//! first added: a deterministic resolution whatever the arrival order.

use rusqlite::{Connection, OptionalExtension, params};

use super::CloudError;
use crate::contract::cloud_api::{ControllerConfig, GroupConfig};
use crate::contract::controller::ControllerInput;
use crate::db::DbError;

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
        "SELECT name, host, port, kind FROM group_controllers WHERE group_id = ?1
         ORDER BY added_at, host, port",
    )?;
    let controllers = stmt
        .query_map([group_id], |r| {
            Ok(ControllerConfig {
                name: r.get(0)?,
                host: r.get(1)?,
                port: r.get(2)?,
                kind: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(GroupConfig {
        version: version as u64,
        controllers,
    })
}

fn bump(conn: &Connection, group_id: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE groups SET config_version = config_version + 1 WHERE id = ?1",
        [group_id],
    )?;
    Ok(())
}

/// Adds a controller (validated like the connector's form); returns true
/// if the configuration changed.
pub fn add(
    conn: &mut Connection,
    group_id: &str,
    c: &ControllerConfig,
) -> Result<bool, CloudError> {
    let valid = ControllerInput {
        name: c.name.clone(),
        host: c.host.clone(),
        port: c.port.to_string(),
        kind: c.kind.clone(),
    }
    .validate()
    .map_err(|e| {
        CloudError::Invalid(
            e.0.iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let tx = conn.transaction().map_err(DbError::from)?;
    let n = tx
        .execute(
            "INSERT OR IGNORE INTO group_controllers (group_id, host, port, name, kind, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                group_id,
                valid.host,
                valid.port,
                valid.name,
                valid.kind.as_str(),
                crate::clock::now_unix()
            ],
        )
        .map_err(DbError::from)?;
    if n == 1 {
        bump(&tx, group_id)?;
    }
    tx.commit().map_err(DbError::from)?;
    Ok(n == 1)
}

/// Removes a controller by address; returns true if it was there.
pub fn remove(
    conn: &mut Connection,
    group_id: &str,
    host: &str,
    port: u16,
) -> Result<bool, DbError> {
    let tx = conn.transaction()?;
    let n = tx.execute(
        "DELETE FROM group_controllers WHERE group_id = ?1 AND host = ?2 AND port = ?3",
        params![group_id, host, port],
    )?;
    if n == 1 {
        bump(&tx, group_id)?;
    }
    tx.commit()?;
    Ok(n == 1)
}
