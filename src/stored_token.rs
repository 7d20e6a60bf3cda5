//! The connector token as stored on this appliance: only a token that
//! parsed is ever written, and the claims shown on pages come from the row.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::clock::now_unix;
use crate::db::DbError;
use crate::token::{Token, TokenError};

#[derive(Debug, Clone, Serialize)]
pub struct StoredToken {
    pub tenant_id: String,
    pub tenant_name: String,
    pub group_id: String,
    pub connector_name: String,
    pub kind: String,
    pub cloud_url: String,
    pub stored_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreTokenError {
    #[error(transparent)]
    Invalid(#[from] TokenError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Parses `input` and, only if it is a well-formed token, stores it in place
/// of any earlier one.
pub fn set(conn: &Connection, input: &str) -> Result<StoredToken, StoreTokenError> {
    let token = Token::parse(input)?;
    let c = &token.claims;
    conn.execute(
        "INSERT INTO cloud_token (id, token, tenant_id, tenant_name, group_id, group_name, kind, cloud_url, stored_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET token = excluded.token, tenant_id = excluded.tenant_id,
           tenant_name = excluded.tenant_name, group_id = excluded.group_id,
           group_name = excluded.group_name, kind = excluded.kind,
           cloud_url = excluded.cloud_url, stored_at = excluded.stored_at",
        params![
            token.raw,
            c.tenant_id,
            c.tenant_name,
            c.group_id,
            c.group_name,
            c.kind.as_str(),
            c.cloud_url,
            now_unix()
        ],
    )
    .map_err(DbError::from)?;
    get(conn)?.ok_or_else(|| StoreTokenError::Db(DbError::Task("token vanished".into())))
}

pub fn get(conn: &Connection) -> Result<Option<StoredToken>, DbError> {
    Ok(conn
        .query_row(
            "SELECT tenant_id, tenant_name, group_id, group_name, kind, cloud_url, stored_at
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
                })
            },
        )
        .optional()?)
}

/// Removes the token; true if there was one.
pub fn clear(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM cloud_token", [])? > 0)
}
