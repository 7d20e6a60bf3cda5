//! Keeping the local controller list and the group's configuration in the
//! cloud in step. Local changes (web form, API, console) are applied at
//! once and queued in an outbox for the cloud; the cloud's configuration,
//! when it changes, replaces the local list, except for changes still in
//! the outbox, so nothing typed locally is undone by a stale answer.

use rusqlite::{Connection, params};

use crate::connector::controllers::{self, Controller, ControllerError, ControllerInput};
use crate::contract::cloud_api::{ControllerConfig, GroupConfig};
use crate::db::DbError;

/// A change waiting to reach the cloud.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: i64,
    pub add: bool,
    pub controller: ControllerConfig,
}

fn as_config(c: &Controller) -> ControllerConfig {
    ControllerConfig {
        name: c.name.clone(),
        host: c.host.clone(),
        port: c.port,
        kind: c.kind.as_str().to_string(),
    }
}

fn linked(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM cloud_token", [], |r| {
        r.get::<_, i64>(0)
    })? > 0)
}

fn enqueue(conn: &Connection, add: bool, c: &ControllerConfig) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO config_outbox (op, name, host, port, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            if add { "add" } else { "remove" },
            c.name,
            c.host,
            c.port,
            c.kind
        ],
    )?;
    Ok(())
}

/// Adds a controller locally and, when linked to a cloud, queues it for
/// the group. Used by every way of adding one.
pub fn add_controller(
    conn: &mut Connection,
    input: &ControllerInput,
) -> Result<Controller, ControllerError> {
    let added = controllers::add(conn, input)?;
    if linked(conn)? {
        enqueue(conn, true, &as_config(&added))?;
    }
    Ok(added)
}

/// Removes a controller locally and queues the removal for the group.
pub fn remove_controller(conn: &mut Connection, id: i64) -> Result<Controller, ControllerError> {
    let removed = controllers::remove(conn, id)?;
    if linked(conn)? {
        enqueue(conn, false, &as_config(&removed))?;
    }
    Ok(removed)
}

/// After registering: offer every local controller to the group.
pub fn offer_all(conn: &Connection) -> Result<(), DbError> {
    for c in controllers::list(conn)? {
        enqueue(conn, true, &as_config(&c))?;
    }
    Ok(())
}

pub fn outbox(conn: &Connection) -> Result<Vec<Outgoing>, DbError> {
    let mut stmt =
        conn.prepare("SELECT id, op, name, host, port, kind FROM config_outbox ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let op: String = r.get(1)?;
        Ok(Outgoing {
            id: r.get(0)?,
            add: op == "add",
            controller: ControllerConfig {
                name: r.get(2)?,
                host: r.get(3)?,
                port: r.get(4)?,
                kind: r.get(5)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn sent(conn: &Connection, id: i64) -> Result<(), DbError> {
    conn.execute("DELETE FROM config_outbox WHERE id = ?1", [id])?;
    Ok(())
}

/// Forgets queued changes (the token was removed or replaced).
pub fn clear_outbox(conn: &Connection) -> Result<(), DbError> {
    conn.execute("DELETE FROM config_outbox", [])?;
    Ok(())
}

/// Makes the local list match the group's configuration; returns true if
/// anything changed. Controllers keep their learned certificate pins.
pub fn apply(conn: &mut Connection, cfg: &GroupConfig) -> Result<bool, DbError> {
    let pending = outbox(conn)?;
    let pending_has = |host: &str, port: u16, add: bool| {
        pending
            .iter()
            .any(|o| o.add == add && o.controller.host == host && o.controller.port == port)
    };
    let tx = conn.transaction()?;
    let local = controllers::list(&tx)?;
    let mut changed = false;
    for c in &local {
        let wanted = cfg
            .controllers
            .iter()
            .any(|w| w.host == c.host && w.port == c.port);
        if !wanted && !pending_has(&c.host, c.port, true) {
            tx.execute("DELETE FROM controllers WHERE id = ?1", [c.id])?;
            changed = true;
        }
    }
    for w in &cfg.controllers {
        let present = local.iter().any(|c| c.host == w.host && c.port == w.port);
        if present || pending_has(&w.host, w.port, false) {
            continue;
        }
        // A local controller may already use the name for another address.
        let mut name = w.name.clone();
        for n in 2.. {
            let taken: bool = tx.query_row(
                "SELECT COUNT(*) > 0 FROM controllers WHERE name = ?1 COLLATE NOCASE",
                [&name],
                |r| r.get(0),
            )?;
            if !taken {
                break;
            }
            name = format!("{} ({n})", w.name);
        }
        tx.execute(
            "INSERT INTO controllers (name, host, port, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, w.host, w.port, w.kind, crate::clock::now_unix()],
        )?;
        changed = true;
    }
    tx.commit()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(list: &[(&str, &str, u16)]) -> GroupConfig {
        GroupConfig {
            version: 1,
            controllers: list
                .iter()
                .map(|(n, h, p)| ControllerConfig {
                    name: n.to_string(),
                    host: h.to_string(),
                    port: *p,
                    kind: "aireos".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn apply_adds_removes_and_spares_pending_local_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            let input = ControllerInput {
                name: "Local".into(),
                host: "10.0.0.9".into(),
                port: "16113".into(),
                kind: "aireos".into(),
            };
            controllers::add(c, &input).unwrap();
            // Not linked: no outbox entry; the cloud's list wins.
            assert!(apply(c, &cfg(&[("A", "10.0.0.1", 16113), ("Local", "10.0.0.2", 16113)]))?);
            let names: Vec<String> = controllers::list(c)?.into_iter().map(|c| c.name).collect();
            assert_eq!(names, vec!["A", "Local"]);
            // A pending local add survives a configuration that lacks it.
            enqueue(c, true, &cfg(&[("New", "10.0.0.3", 1)]).controllers[0])?;
            c.execute(
                "INSERT INTO controllers (name, host, port, kind, created_at) VALUES ('New', '10.0.0.3', 1, 'aireos', 0)",
                [],
            )?;
            apply(c, &cfg(&[("A", "10.0.0.1", 16113)]))?;
            let hosts: Vec<String> = controllers::list(c)?.into_iter().map(|c| c.host).collect();
            assert_eq!(hosts, vec!["10.0.0.1", "10.0.0.3"]);
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
