//! The appliance's own network settings: IPv4 by DHCP or static, an
//! optional static IPv6 address, DNS servers and search domain, host name
//! and NTP servers. The same checks for the System page, the API, the
//! console and a first-boot config drive; stored in the state file.
//!
//! The unprivileged service only decides what the settings are
//! (`settings`), and when a change must be confirmed or rolled back
//! (`confirm`); a separate privileged helper renders them into
//! systemd-networkd, systemd-resolved and systemd-timesyncd files
//! (`render`) and reloads those daemons. Outside the appliance image
//! nothing is rendered: the page shows the host's settings and says why.

pub mod confirm;
pub mod helper;
pub mod render;
pub mod settings;

pub use settings::{NetworkInput, NetworkSettings};

use rusqlite::Connection;
use serde::Serialize;

use crate::db::DbError;
use crate::fields::FieldErrors;

/// Whether this connector manages the machine's network (the appliance
/// image) and how long a change waits for confirmation.
#[derive(Debug, Clone, Copy)]
pub struct NetworkPolicy {
    pub managed: bool,
    pub confirm_secs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{}", .0.summary())]
    Invalid(FieldErrors),
    #[error(
        "this connector does not manage this machine's network (it runs outside its appliance image): change it with the host's own tools"
    )]
    NotManaged,
    #[error("confirm from the new address: open {0}")]
    WrongAddress(String),
    #[error("no network change is waiting for confirmation")]
    NothingPending,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What the Network page and the API show.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    pub managed: bool,
    pub settings: NetworkInput,
    /// While a change waits: when the previous settings come back, and
    /// where to open the UI to confirm it.
    pub pending: Option<PendingView>,
    /// Changes undone for want of confirmation.
    pub rolled_back: u64,
    pub last_rollback_text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub deadline: i64,
    pub deadline_text: String,
    pub open: String,
}

pub fn view(conn: &Connection, policy: NetworkPolicy) -> Result<NetworkView, DbError> {
    let s = settings::get(conn)?;
    let pending = confirm::pending(conn)?.map(|p| PendingView {
        deadline: p.deadline,
        deadline_text: crate::clock::format_unix(p.deadline),
        open: open_url(&s),
    });
    let undone = confirm::rollbacks(conn)?;
    Ok(NetworkView {
        managed: policy.managed,
        settings: s.input(),
        pending,
        rolled_back: undone.count,
        last_rollback_text: (undone.count > 0).then(|| crate::clock::format_unix(undone.last_at)),
    })
}

/// The machine's network as it is, shown read-only where this connector
/// does not manage it.
#[derive(Debug, Clone, Serialize)]
pub struct HostNetwork {
    pub hostname: String,
    pub addresses: Vec<String>,
    pub dns: Vec<String>,
}

pub fn host_network() -> HostNetwork {
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    HostNetwork {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        addresses: crate::host::local_addresses(),
        dns: resolv
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|d| d.trim().to_string())
            .collect(),
    }
}

/// Where the admin UI is found under `s`.
fn open_url(s: &NetworkSettings) -> String {
    match s.admin_address() {
        Some(ip) => format!("https://{ip}/network"),
        None => format!("https://{}/network", s.hostname),
    }
}

/// An admin's change from the page or the API: checked, put in force, and
/// to be confirmed from the new address within the window. Returns where
/// to open the UI (None: nothing changed).
pub fn change(
    conn: &mut Connection,
    policy: NetworkPolicy,
    input: &NetworkInput,
    now: i64,
) -> Result<Option<String>, NetworkError> {
    if !policy.managed {
        return Err(NetworkError::NotManaged);
    }
    let new = input.validate().map_err(NetworkError::Invalid)?;
    let changed = confirm::propose(conn, &new, now, policy.confirm_secs)?;
    Ok(changed.map(|_| open_url(&new)))
}

/// Confirms the change in force, from `host` (the browser's Host header):
/// only a browser that reached the new address proves it works.
pub fn confirm_from(conn: &Connection, host: &str) -> Result<(), NetworkError> {
    if confirm::pending(conn)?.is_none() {
        return Err(NetworkError::NothingPending);
    }
    let s = settings::get(conn)?;
    let reached = host_part(host);
    let ok = match s.admin_address() {
        Some(ip) => reached == ip.to_string() || reached.eq_ignore_ascii_case(&s.hostname),
        None => true,
    };
    if !ok {
        return Err(NetworkError::WrongAddress(open_url(&s)));
    }
    confirm::confirm(conn)?;
    Ok(())
}

/// `host[:port]` or `[v6]:port` to the host alone.
fn host_part(host: &str) -> String {
    let h = host.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name.to_string()
        }
        _ => h.to_string(),
    }
}

/// A console change: the admin is at the console, not behind the network
/// being changed, so it is in force at once with nothing to confirm.
pub fn set_at_console(
    conn: &mut Connection,
    input: &NetworkInput,
) -> Result<NetworkSettings, NetworkError> {
    let new = input.validate().map_err(NetworkError::Invalid)?;
    confirm::propose(conn, &new, 0, 0)?;
    confirm::confirm(conn)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_confirmed_only_from_the_new_address() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::connector::schema::open(dir.path()).unwrap();
        let managed = NetworkPolicy {
            managed: true,
            confirm_secs: 120,
        };
        let input = NetworkInput {
            hostname: "conn-1".into(),
            mode: "static".into(),
            address: "10.0.2.50/24".into(),
            gateway: "10.0.2.2".into(),
            dns: "10.0.2.3".into(),
            ..Default::default()
        };
        db.call_blocking(|c| {
            let unmanaged = NetworkPolicy {
                managed: false,
                ..managed
            };
            assert!(matches!(
                change(c, unmanaged, &input, 0),
                Err(NetworkError::NotManaged)
            ));
            assert!(matches!(
                confirm_from(c, "10.0.2.50"),
                Err(NetworkError::NothingPending)
            ));
            let open = change(c, managed, &input, 1000)?.unwrap();
            assert_eq!(open, "https://10.0.2.50/network");
            let v = view(c, managed)?;
            assert_eq!(v.pending.unwrap().deadline, 1120);
            assert!(matches!(
                confirm_from(c, "10.0.2.15:443"),
                Err(NetworkError::WrongAddress(_))
            ));
            confirm_from(c, "10.0.2.50:443")?;
            assert!(view(c, managed)?.pending.is_none());
            Ok::<_, NetworkError>(())
        })
        .unwrap();
        assert_eq!(host_part("[2001:db8::5]:443"), "2001:db8::5");
        assert_eq!(host_part("conn-1"), "conn-1");
    }
}
