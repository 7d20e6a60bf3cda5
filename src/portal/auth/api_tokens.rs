//! Bearer tokens for the JSON API and `/metrics`, created by the admin on
//! the system page. Shown once; only their hash is kept.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{random_secret, secret_hash};
use crate::clock::now_unix;
use crate::db::DbError;

/// Every API token starts with this, so a leaked one is recognisable.
pub const PREFIX: &str = "scapi_";

#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters, to tell tokens apart in lists.
    pub prefix: String,
    pub created_at: i64,
    pub last_used: Option<i64>,
}

impl ApiToken {
    pub fn last_used_text(&self) -> String {
        self.last_used
            .map(crate::clock::format_unix)
            .unwrap_or_else(|| "never".into())
    }
}

/// Creates a token; returns its one-time plain text and the stored record.
pub fn create(conn: &Connection, name: &str) -> Result<(String, ApiToken), DbError> {
    let secret = format!("{PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(PREFIX.len() + 6).collect();
    let now = now_unix();
    conn.execute(
        "INSERT INTO api_tokens (name, token_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, secret_hash(&secret), prefix, now],
    )?;
    let token = ApiToken {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
        prefix,
        created_at: now,
        last_used: None,
    };
    Ok((secret, token))
}

/// True when `secret` is a live token; records its use.
pub fn authenticate(conn: &Connection, secret: &str) -> Result<bool, DbError> {
    if !secret.starts_with(PREFIX) {
        return Ok(false);
    }
    let n = conn.execute(
        "UPDATE api_tokens SET last_used = ?1 WHERE token_hash = ?2",
        params![now_unix(), secret_hash(secret)],
    )?;
    Ok(n == 1)
}

pub fn list(conn: &Connection) -> Result<Vec<ApiToken>, DbError> {
    let mut stmt =
        conn.prepare("SELECT id, name, prefix, created_at, last_used FROM api_tokens ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(ApiToken {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            created_at: r.get(3)?,
            last_used: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn revoke(conn: &Connection, id: i64) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM api_tokens WHERE id = ?1", [id])? == 1)
}
