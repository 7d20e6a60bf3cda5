//! Controllers the connector keeps NMSP sessions to: validation of what an
//! operator types (form, API or console) and their rows in the state file.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::now_unix;
use crate::db::DbError;

/// The NMSP port controllers listen on.
pub const DEFAULT_PORT: u16 = 16113;
const MAX_NAME: usize = 64;
const MAX_HOST: usize = 253;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControllerKind {
    /// AireOS wireless LAN controller.
    Aireos,
    /// Catalyst 9800.
    Catalyst9800,
}

impl ControllerKind {
    pub const ALL: [ControllerKind; 2] = [ControllerKind::Aireos, ControllerKind::Catalyst9800];

    pub fn as_str(self) -> &'static str {
        match self {
            ControllerKind::Aireos => "aireos",
            ControllerKind::Catalyst9800 => "catalyst9800",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ControllerKind::Aireos => "AireOS WLC",
            ControllerKind::Catalyst9800 => "Catalyst 9800",
        }
    }

    pub fn parse(s: &str) -> Option<ControllerKind> {
        ControllerKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

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
}

/// What an operator typed, unvalidated: every field is text so that a form
/// can be shown again exactly as it was entered.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ControllerInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub host: String,
    #[serde(default, deserialize_with = "text_or_number")]
    pub port: String,
    #[serde(default)]
    pub kind: String,
}

/// Lets JSON clients send the port as a number or as text.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(i64),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

/// A controller that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewController {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub kind: ControllerKind,
}

/// Per-field messages, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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

impl ControllerInput {
    pub fn validate(&self) -> Result<NewController, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = self.name.trim();
        if name.is_empty() {
            errors.add("name", "Enter a name for the controller.");
        } else if name.chars().count() > MAX_NAME {
            errors.add("name", format!("Use at most {MAX_NAME} characters."));
        } else if name.chars().any(char::is_control) {
            errors.add("name", "The name cannot contain control characters.");
        }
        let host = self.host.trim();
        let host_ok = validate_host(host);
        if let Err(msg) = &host_ok {
            errors.add("host", msg.clone());
        }
        let port_text = self.port.trim();
        let port = if port_text.is_empty() {
            Some(DEFAULT_PORT)
        } else {
            match port_text.parse::<u32>() {
                Ok(p) if (1..=65535).contains(&p) => Some(p as u16),
                _ => {
                    errors.add("port", "Enter a port between 1 and 65535.");
                    None
                }
            }
        };
        let kind = if self.kind.trim().is_empty() {
            Some(ControllerKind::Aireos)
        } else {
            let k = ControllerKind::parse(&self.kind);
            if k.is_none() {
                errors.add("kind", "Choose AireOS WLC or Catalyst 9800.");
            }
            k
        };
        match (errors.is_empty(), host_ok, port, kind) {
            (true, Ok(host), Some(port), Some(kind)) => Ok(NewController {
                name: name.to_string(),
                host,
                port,
                kind,
            }),
            _ => Err(errors),
        }
    }
}

/// Accepts an IPv4/IPv6 address or an RFC 1123 host name; returns it in
/// canonical form (addresses normalised, names lower-cased) so that
/// duplicates are found whatever the spelling.
fn validate_host(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("Enter the controller's IP address or host name.".into());
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(format!("{ip} cannot be a controller address."));
        }
        return Ok(ip.to_string());
    }
    let looks_numeric = host
        .split('.')
        .all(|l| l.chars().all(|c| c.is_ascii_digit()));
    if looks_numeric {
        return Err(format!("\"{host}\" is not a valid IPv4 address."));
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > MAX_HOST || !name.split('.').all(valid_label) {
        return Err(format!(
            "\"{host}\" is not a valid IP address or host name."
        ));
    }
    Ok(name.to_ascii_lowercase())
}

const COLUMNS: &str = "id, name, host, port, kind, enabled, created_at, cert_pin, pending_pin";

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
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Controller>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM controllers ORDER BY name COLLATE NOCASE"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
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
    let new = input.validate().map_err(ControllerError::Invalid)?;
    let tx = conn.transaction().map_err(DbError::from)?;
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
    fn accepts_addresses_and_names() {
        let ok = input("WLC 1", "10.0.0.1", "").validate().unwrap();
        assert_eq!(ok.port, DEFAULT_PORT);
        assert_eq!(input("a", "[::1]", "1").validate().unwrap().host, "::1");
        assert_eq!(
            input("a", "WLC-1.Example.com", "16113")
                .validate()
                .unwrap()
                .host,
            "wlc-1.example.com"
        );
    }

    #[test]
    fn rejects_bad_fields_with_messages_per_field() {
        let errs = input("", "10.0.0.300", "70000").validate().unwrap_err();
        assert!(errs.get("name").is_some());
        assert!(errs.get("host").unwrap().contains("10.0.0.300"));
        assert!(errs.get("port").is_some());
        assert!(input("a", "10.0.0.1", "0").validate().is_err());
        assert!(input("a", "bad host!", "1").validate().is_err());
        assert!(input("a", "0.0.0.0", "1").validate().is_err());
        let mut k = input("a", "10.0.0.1", "1");
        k.kind = "juniper".into();
        assert!(k.validate().unwrap_err().get("kind").is_some());
    }

    #[test]
    fn duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_in(dir.path(), "t.db").unwrap();
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
