//! Bearer tokens for the JSON API and `/metrics`, created by the admin on
//! the system page. Shown once; only their hash is kept. Each has a scope:
//! `read` may only read (a metrics scraper, a dashboard), `admin` may also
//! change things (a provisioning script).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{random_secret, secret_hash};
use crate::clock::now_unix;
use crate::db::DbError;

/// Every API token starts with this, so a leaked one is recognisable.
pub const PREFIX: &str = "scapi_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `GET` only: the API's reads and `/metrics`.
    Read,
    /// Everything the admin can do through the API.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Read => "Read only (metrics, status)",
            Scope::Admin => "Admin (may change settings)",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters, to tell tokens apart in lists.
    pub prefix: String,
    pub created_at: i64,
    pub last_used: Option<i64>,
    pub scope: Scope,
}

impl ApiToken {
    pub fn last_used_text(&self) -> String {
        self.last_used
            .map(crate::clock::format_unix)
            .unwrap_or_else(|| "never".into())
    }
}

/// Creates a token; returns its one-time plain text and the stored record.
pub fn create(conn: &Connection, name: &str, scope: Scope) -> Result<(String, ApiToken), DbError> {
    let secret = format!("{PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(PREFIX.len() + 6).collect();
    let now = now_unix();
    conn.execute(
        "INSERT INTO api_tokens (name, token_hash, prefix, created_at, scope) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, secret_hash(&secret), prefix, now, scope.as_str()],
    )?;
    let token = ApiToken {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
        prefix,
        created_at: now,
        last_used: None,
        scope,
    };
    Ok((secret, token))
}

/// The scope and name of `secret` when it is a live token; records its
/// use.
pub fn authenticate(conn: &Connection, secret: &str) -> Result<Option<(Scope, String)>, DbError> {
    if !secret.starts_with(PREFIX) {
        return Ok(None);
    }
    let found: Option<(String, String)> = conn
        .query_row(
            "UPDATE api_tokens SET last_used = ?1 WHERE token_hash = ?2 RETURNING scope, name",
            params![now_unix(), secret_hash(secret)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // An unknown scope (a newer version's) is treated as the least one.
    Ok(found.map(|(s, name)| (Scope::parse(&s).unwrap_or(Scope::Read), name)))
}

pub fn list(conn: &Connection) -> Result<Vec<ApiToken>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, prefix, created_at, last_used, scope FROM api_tokens ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ApiToken {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            created_at: r.get(3)?,
            last_used: r.get(4)?,
            scope: Scope::parse(&r.get::<_, String>(5)?).unwrap_or(Scope::Read),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a token; its name, if there was one.
pub fn revoke(conn: &Connection, id: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "DELETE FROM api_tokens WHERE id = ?1 RETURNING name",
            [id],
            |r| r.get(0),
        )
        .optional()?)
}
