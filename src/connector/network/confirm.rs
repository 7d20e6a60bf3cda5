//! Changing the network safely, like a switch's commit-confirm: a change
//! applies at once, and unless an admin confirms it from the new address
//! within the window, the previous settings come back on their own. A typo
//! in an address cannot lock the admin out.
//!
//! The state file holds the settings in force and, while a change waits
//! for confirmation, the ones before it and the deadline. The service
//! checks the deadline (`expire`) and hands whatever is in force to the
//! privileged helper (`handoff`).

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::settings;
use super::{NetworkInput, NetworkSettings};
use tokio_util::sync::CancellationToken;

use crate::db::{Db, DbError};

/// How long a change waits for confirmation.
pub const WINDOW_SECS: i64 = 120;

const PENDING_KEY: &str = "network_pending";
const ROLLBACKS_KEY: &str = "network_rollbacks";

/// Changes that were not confirmed in time and were undone: how many, and
/// when the last was (shown on the Network page and in the API, never
/// only in the log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollbacks {
    pub count: u64,
    pub last_at: i64,
}

pub fn rollbacks(conn: &Connection) -> Result<Rollbacks, DbError> {
    Ok(crate::db::settings::get(conn, ROLLBACKS_KEY)?.unwrap_or_default())
}

/// A change waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub previous: NetworkSettings,
    /// Unix seconds after which `previous` comes back.
    pub deadline: i64,
}

pub fn pending(conn: &Connection) -> Result<Option<Pending>, DbError> {
    crate::db::settings::get(conn, PENDING_KEY)
}

fn set_pending(conn: &Connection, p: Option<&Pending>) -> Result<(), DbError> {
    match p {
        None => crate::db::settings::remove(conn, PENDING_KEY),
        Some(p) => crate::db::settings::put(conn, PENDING_KEY, p),
    }
}

/// Puts `new` in force, to be confirmed within `window` seconds of `now`.
/// A change on top of an unconfirmed one still falls back to the settings
/// confirmed last. Returns the deadline (None: nothing changed).
pub fn propose(
    conn: &mut Connection,
    new: &NetworkSettings,
    now: i64,
    window: i64,
) -> Result<Option<i64>, DbError> {
    let tx = conn.transaction()?;
    let current = settings::get(&tx)?;
    if *new == current {
        return Ok(None);
    }
    let previous = match pending(&tx)? {
        Some(p) => p.previous,
        None => current,
    };
    let deadline = now + window;
    settings::put(&tx, new)?;
    set_pending(&tx, Some(&Pending { previous, deadline }))?;
    tx.commit()?;
    Ok(Some(deadline))
}

/// Keeps the settings in force. False when nothing was waiting.
pub fn confirm(conn: &Connection) -> Result<bool, DbError> {
    let was = pending(conn)?.is_some();
    set_pending(conn, None)?;
    Ok(was)
}

/// Past the deadline, puts the previous settings back; true when it did.
pub fn expire(conn: &mut Connection, now: i64) -> Result<bool, DbError> {
    let tx = conn.transaction()?;
    let Some(p) = pending(&tx)? else {
        return Ok(false);
    };
    if now < p.deadline {
        return Ok(false);
    }
    settings::put(&tx, &p.previous)?;
    set_pending(&tx, None)?;
    let mut undone = rollbacks(&tx)?;
    undone.count += 1;
    undone.last_at = now;
    crate::db::settings::put(&tx, ROLLBACKS_KEY, &undone)?;
    tx.commit()?;
    Ok(true)
}

/// Where the service leaves the settings in force for the privileged
/// helper: a small JSON file in the state directory, whose change starts
/// the helper (a systemd path unit). The helper never opens the state
/// file itself.
pub fn handoff_path(data_dir: &Path) -> PathBuf {
    data_dir.join("network.json")
}

/// Writes the hand-off file (replaced whole).
pub fn handoff(data_dir: &Path, s: &NetworkSettings) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(&s.input()).map_err(std::io::Error::other)?;
    crate::connector::atomic_file::replace(&handoff_path(data_dir), &json)
}

/// What the helper already has: the hand-off file's settings, or, with no
/// file yet, the image's own defaults (DHCP, its host name), which it
/// applies without being handed anything. None when the file cannot be
/// read as settings: it is then written again.
fn already_handed(data_dir: &Path) -> Option<NetworkSettings> {
    match std::fs::read(handoff_path(data_dir)) {
        Ok(bytes) => serde_json::from_slice::<NetworkInput>(&bytes)
            .ok()?
            .validate()
            .ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(NetworkSettings::default()),
        Err(_) => None,
    }
}

/// The service's side, in the image: hands the settings in force to the
/// helper when they differ from what it has (at start, a first boot's
/// config drive may have changed them; each hand-off makes the helper
/// reload the network, so an unchanged one is not repeated), and puts the
/// previous settings back when a change was not confirmed in time.
pub async fn watch(db: Db, data_dir: PathBuf, shutdown: CancellationToken) {
    let mut handed = already_handed(&data_dir);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = crate::clock::now_unix();
        let state = db
            .call(move |c| {
                if expire(c, now)? {
                    tracing::warn!(
                        "network change not confirmed in time: the previous settings are back"
                    );
                }
                settings::get(c)
            })
            .await;
        match state {
            Ok(s) if handed.as_ref() != Some(&s) => match handoff(&data_dir, &s) {
                Ok(()) => handed = Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "cannot hand the network settings to the helper")
                }
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the network settings"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::network::NetworkInput;

    fn at(address: &str) -> NetworkSettings {
        NetworkInput {
            hostname: "c".into(),
            mode: "static".into(),
            address: address.into(),
            dns: "10.0.0.53".into(),
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn an_unconfirmed_change_falls_back_to_the_last_confirmed_settings() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        db.call_blocking(|c| {
            let first = settings::get(c)?;
            assert_eq!(propose(c, &first, 0, WINDOW_SECS)?, None, "no change");
            assert_eq!(propose(c, &at("10.0.0.5/24"), 100, WINDOW_SECS)?, Some(220));
            // A second change before confirming: still back to `first`.
            propose(c, &at("10.0.0.6/24"), 110, WINDOW_SECS)?;
            assert!(!expire(c, 229)?, "not yet");
            assert_eq!(settings::get(c)?, at("10.0.0.6/24"));
            assert!(expire(c, 231)?);
            assert_eq!(settings::get(c)?, first, "rolled back");
            assert_eq!(
                rollbacks(c)?,
                Rollbacks {
                    count: 1,
                    last_at: 231
                },
                "and counted"
            );
            assert_eq!(pending(c)?, None);
            // Confirmed: kept past the deadline.
            propose(c, &at("10.0.0.7/24"), 300, WINDOW_SECS)?;
            assert!(confirm(c)?);
            assert!(!expire(c, 10_000)?);
            assert_eq!(settings::get(c)?, at("10.0.0.7/24"));
            Ok::<_, DbError>(())
        })
        .unwrap();
        handoff(dir.path(), &at("10.0.0.7/24")).unwrap();
        let back: NetworkInput =
            serde_json::from_slice(&std::fs::read(handoff_path(dir.path())).unwrap()).unwrap();
        assert_eq!(back.validate().unwrap(), at("10.0.0.7/24"));
    }

    #[test]
    fn the_helper_is_handed_only_what_it_does_not_have() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            already_handed(dir.path()),
            Some(NetworkSettings::default()),
            "a fresh image applies its defaults without a hand-off"
        );
        handoff(dir.path(), &at("10.0.0.7/24")).unwrap();
        assert_eq!(already_handed(dir.path()), Some(at("10.0.0.7/24")));
        std::fs::write(handoff_path(dir.path()), b"{ not settings").unwrap();
        assert_eq!(already_handed(dir.path()), None, "written again");
    }
}
