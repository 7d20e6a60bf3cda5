//! Keeping the local controller and access-point lists and the group's
//! configuration in the cloud in step. Local changes (web form, API, console) are applied at
//! once and queued in an outbox for the cloud; the cloud's configuration,
//! when it changes, replaces the local list, except for changes still in
//! the outbox, so nothing typed locally is undone by a stale answer.

use rusqlite::{Connection, params};

use crate::connector::access_points::{self, AccessPoint, AccessPointError};
use crate::connector::controllers::{self, Controller, ControllerError, ControllerInput};
use crate::contract::access_point::AccessPointInput;
use crate::contract::cloud_api::{AccessPointConfig, ControllerConfig, GroupConfig};
use crate::db::DbError;

/// A change waiting to reach the cloud.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: i64,
    pub add: bool,
    pub item: Item,
}

/// What a change is about.
#[derive(Debug, Clone)]
pub enum Item {
    Controller(ControllerConfig),
    AccessPoint(AccessPointConfig),
}

fn ap_config(a: &AccessPoint) -> AccessPointConfig {
    AccessPointConfig {
        name: a.name.clone(),
        key_hash: a.key_hash.clone(),
        added_by: String::new(),
    }
}

fn as_config(c: &Controller) -> ControllerConfig {
    ControllerConfig {
        name: c.name.clone(),
        host: c.host.clone(),
        port: c.port,
        kind: c.kind.as_str().to_string(),
        added_by: String::new(),
    }
}

fn linked(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM cloud_token", [], |r| {
        r.get::<_, i64>(0)
    })? > 0)
}

/// Queues a change. An access point rides in the same row shape: its key
/// hash where a controller has its host.
fn enqueue(conn: &Connection, add: bool, item: &Item) -> Result<(), DbError> {
    let op = if add { "add" } else { "remove" };
    match item {
        Item::Controller(c) => conn.execute(
            "INSERT INTO config_outbox (item, op, name, host, port, kind)
             VALUES ('controller', ?1, ?2, ?3, ?4, ?5)",
            params![op, c.name, c.host, c.port, c.kind],
        )?,
        Item::AccessPoint(a) => conn.execute(
            "INSERT INTO config_outbox (item, op, name, host, port, kind)
             VALUES ('access_point', ?1, ?2, ?3, 0, '')",
            params![op, a.name, a.key_hash],
        )?,
    };
    Ok(())
}

/// Allows an access point locally and, when linked, queues it for the group.
pub fn add_access_point(
    conn: &mut Connection,
    input: &AccessPointInput,
) -> Result<AccessPoint, AccessPointError> {
    let added = access_points::add(conn, input)?;
    if linked(conn)? {
        enqueue(conn, true, &Item::AccessPoint(ap_config(&added)))?;
    }
    Ok(added)
}

/// Removes an access point locally and queues the removal for the group.
pub fn remove_access_point(
    conn: &mut Connection,
    key_hash: &str,
) -> Result<AccessPoint, AccessPointError> {
    let removed = access_points::remove(conn, key_hash)?;
    if linked(conn)? {
        enqueue(conn, false, &Item::AccessPoint(ap_config(&removed)))?;
    }
    Ok(removed)
}

/// Adds a controller locally and, when linked to a cloud, queues it for
/// the group. Used by every way of adding one.
pub fn add_controller(
    conn: &mut Connection,
    input: &ControllerInput,
) -> Result<Controller, ControllerError> {
    let added = controllers::add(conn, input)?;
    if linked(conn)? {
        enqueue(conn, true, &Item::Controller(as_config(&added)))?;
    }
    Ok(added)
}

/// Removes a controller locally and queues the removal for the group.
pub fn remove_controller(conn: &mut Connection, id: i64) -> Result<Controller, ControllerError> {
    let removed = controllers::remove(conn, id)?;
    if linked(conn)? {
        enqueue(conn, false, &Item::Controller(as_config(&removed)))?;
    }
    Ok(removed)
}

/// After registering: offer every local controller and access point to
/// the group.
pub fn offer_all(conn: &Connection) -> Result<(), DbError> {
    for c in controllers::list(conn)? {
        enqueue(conn, true, &Item::Controller(as_config(&c)))?;
    }
    for a in access_points::list(conn)? {
        enqueue(conn, true, &Item::AccessPoint(ap_config(&a)))?;
    }
    Ok(())
}

pub fn outbox(conn: &Connection) -> Result<Vec<Outgoing>, DbError> {
    let mut stmt =
        conn.prepare("SELECT id, op, name, host, port, kind, item FROM config_outbox ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let op: String = r.get(1)?;
        let kind: String = r.get(6)?;
        let item = if kind == "access_point" {
            Item::AccessPoint(AccessPointConfig {
                name: r.get(2)?,
                key_hash: r.get(3)?,
                added_by: String::new(),
            })
        } else {
            Item::Controller(ControllerConfig {
                name: r.get(2)?,
                host: r.get(3)?,
                port: r.get(4)?,
                kind: r.get(5)?,
                added_by: String::new(),
            })
        };
        Ok(Outgoing {
            id: r.get(0)?,
            add: op == "add",
            item,
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
        pending.iter().any(|o| {
            o.add == add
                && matches!(&o.item, Item::Controller(c) if c.host == host && c.port == port)
        })
    };
    let pending_ap = |hash: &str, add: bool| {
        pending
            .iter()
            .any(|o| o.add == add && matches!(&o.item, Item::AccessPoint(a) if a.key_hash == hash))
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
            "INSERT INTO controllers (name, host, port, kind, created_at, added_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                name,
                w.host,
                w.port,
                w.kind,
                crate::clock::now_unix(),
                w.added_by
            ],
        )?;
        changed = true;
    }
    for a in access_points::list(&tx)? {
        let wanted = cfg.access_points.iter().any(|w| w.key_hash == a.key_hash);
        if !wanted && !pending_ap(&a.key_hash, true) {
            tx.execute(
                "DELETE FROM access_points WHERE key_hash = ?1",
                [&a.key_hash],
            )?;
            changed = true;
        }
    }
    for w in &cfg.access_points {
        if !pending_ap(&w.key_hash, false)
            && access_points::insert(&tx, &w.name, &w.key_hash, &w.added_by)?.is_some()
        {
            changed = true;
        }
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
                    added_by: "b (5678)".into(),
                })
                .collect(),
            access_points: Vec::new(),
            privacy: Default::default(),
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
            let new = cfg(&[("New", "10.0.0.3", 1)]).controllers[0].clone();
            enqueue(c, true, &Item::Controller(new))?;
            c.execute(
                "INSERT INTO controllers (name, host, port, kind, created_at) VALUES ('New', '10.0.0.3', 1, 'aireos', 0)",
                [],
            )?;
            apply(c, &cfg(&[("A", "10.0.0.1", 16113)]))?;
            let hosts: Vec<String> = controllers::list(c)?.into_iter().map(|c| c.host).collect();
            assert_eq!(hosts, vec!["10.0.0.1", "10.0.0.3"]);
            // Access points follow the group too, sparing a pending local add.
            let mut with_ap = cfg(&[("A", "10.0.0.1", 16113)]);
            with_ap.access_points.push(AccessPointConfig {
                name: "Lobby".into(),
                key_hash: "ab".repeat(32),
                added_by: "b (5678)".into(),
            });
            assert!(apply(c, &with_ap)?);
            assert_eq!(access_points::list(c)?[0].added_by, "b (5678)");
            let mine = AccessPointConfig {
                name: "Mine".into(),
                key_hash: "cd".repeat(32),
                added_by: String::new(),
            };
            access_points::insert(c, &mine.name, &mine.key_hash, "")?;
            enqueue(c, true, &Item::AccessPoint(mine))?;
            apply(c, &cfg(&[("A", "10.0.0.1", 16113)]))?;
            let left: Vec<String> = access_points::list(c)?.into_iter().map(|a| a.name).collect();
            assert_eq!(left, vec!["Mine"]);
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
