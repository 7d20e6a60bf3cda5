//! The connector token as stored on this appliance: only a token that
//! parsed is ever written, and the claims shown on pages come from the row.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::now_unix;
use crate::contract::token::Token;
use crate::db::DbError;

#[derive(Debug, Clone, Serialize)]
pub struct StoredToken {
    pub tenant_id: String,
    pub tenant_name: String,
    pub group_id: String,
    pub connector_name: String,
    pub kind: String,
    pub cloud_url: String,
    pub stored_at: i64,
    pub registered_at: Option<i64>,
}

/// Stores a token that parsed (and, when the cloud answered, the credential
/// it gave) in place of any earlier one.
pub fn set(
    conn: &Connection,
    token: &Token,
    credential: Option<&str>,
) -> Result<StoredToken, DbError> {
    let c = &token.claims;
    conn.execute(
        "INSERT INTO cloud_token (id, token, tenant_id, tenant_name, group_id, group_name, kind, cloud_url, stored_at, credential, registered_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, CASE WHEN ?9 IS NULL THEN NULL ELSE ?8 END)
         ON CONFLICT (id) DO UPDATE SET token = excluded.token, tenant_id = excluded.tenant_id,
           tenant_name = excluded.tenant_name, group_id = excluded.group_id,
           group_name = excluded.group_name, kind = excluded.kind,
           cloud_url = excluded.cloud_url, stored_at = excluded.stored_at,
           credential = excluded.credential, registered_at = excluded.registered_at",
        params![
            token.raw,
            c.tenant_id,
            c.tenant_name,
            c.group_id,
            c.group_name,
            c.kind.as_str(),
            c.cloud_url,
            now_unix(),
            credential
        ],
    )?;
    get(conn)?.ok_or_else(|| DbError::Task("token vanished".into()))
}

/// What the cloud link needs: the token and the credential, if registered.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub token: Token,
    pub credential: Option<String>,
}

pub fn link_config(conn: &Connection) -> Result<Option<LinkConfig>, DbError> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT token, credential FROM cloud_token WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(raw, credential)| {
        // Only parsed tokens are ever stored; one that no longer parses
        // (a newer format read by an older build) is as good as none.
        Token::parse(&raw)
            .ok()
            .map(|token| LinkConfig { token, credential })
    }))
}

/// Records the credential from a registration with the stored token.
pub fn set_credential(
    conn: &Connection,
    token_raw: &str,
    credential: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE cloud_token SET credential = ?2, registered_at = CASE WHEN ?2 IS NULL THEN NULL ELSE ?3 END
         WHERE id = 1 AND token = ?1",
        params![token_raw, credential, now_unix()],
    )?;
    Ok(())
}

pub fn get(conn: &Connection) -> Result<Option<StoredToken>, DbError> {
    Ok(conn
        .query_row(
            "SELECT tenant_id, tenant_name, group_id, group_name, kind, cloud_url, stored_at, registered_at
             FROM cloud_token WHERE id = 1",
            [],
            |r| {
                Ok(StoredToken {
                    tenant_id: r.get(0)?,
                    tenant_name: r.get(1)?,
                    group_id: r.get(2)?,
                    connector_name: r.get(3)?,
                    kind: r.get(4)?,
                    cloud_url: r.get(5)?,
                    stored_at: r.get(6)?,
                    registered_at: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// Removes the token; true if there was one.
pub fn clear(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM cloud_token", [])? > 0)
}
