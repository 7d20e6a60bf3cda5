//! Server-side login sessions in the state file.
//!
//! The cookie holds a random id; the table holds its hash, the CSRF token
//! bound to it, and the times that drive idle and absolute expiry.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::{random_secret, secret_hash};
use crate::clock::now_unix;
use crate::db::DbError;

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long is over.
    pub idle: Duration,
    /// A session is over this long after login, used or not.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// A live session as seen by a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub csrf_token: String,
    pub created_at: i64,
}

/// Starts a session; returns the cookie value (the only copy of the id).
pub fn create(conn: &Connection, client_ip: &str) -> Result<(String, Session), DbError> {
    let id = random_secret();
    let session = Session {
        id_hash: secret_hash(&id),
        csrf_token: random_secret(),
        created_at: now_unix(),
    };
    conn.execute(
        "INSERT INTO sessions (id_hash, csrf_token, created_at, last_seen, client_ip)
         VALUES (?1, ?2, ?3, ?3, ?4)",
        params![
            session.id_hash,
            session.csrf_token,
            session.created_at,
            client_ip
        ],
    )?;
    Ok((id, session))
}

/// Looks up the session for a cookie value and marks it used; an expired
/// one is deleted and reported as absent.
pub fn touch(
    conn: &Connection,
    cookie_value: &str,
    policy: SessionPolicy,
) -> Result<Option<Session>, DbError> {
    let id_hash = secret_hash(cookie_value);
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT csrf_token, created_at, last_seen FROM sessions WHERE id_hash = ?1",
            [&id_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((csrf_token, created_at, last_seen)) = row else {
        return Ok(None);
    };
    let now = now_unix();
    let idle_over = now - last_seen >= policy.idle.as_secs() as i64;
    let absolute_over = now - created_at >= policy.absolute.as_secs() as i64;
    if idle_over || absolute_over {
        conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [&id_hash])?;
        return Ok(None);
    }
    if now != last_seen {
        // Marking the session used is best effort: a full disk must not
        // turn every page into an error (it is shown on the dashboard).
        if let Err(e) = conn.execute(
            "UPDATE sessions SET last_seen = ?1 WHERE id_hash = ?2",
            params![now, id_hash],
        ) {
            tracing::warn!(error = %e, "could not mark the session used");
        }
    }
    Ok(Some(Session {
        id_hash,
        csrf_token,
        created_at,
    }))
}

pub fn delete(conn: &Connection, id_hash: &str) -> Result<(), DbError> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

/// Removes sessions past either expiry; run periodically.
pub fn purge_expired(conn: &Connection, policy: SessionPolicy) -> Result<usize, DbError> {
    let now = now_unix();
    Ok(conn.execute(
        "DELETE FROM sessions WHERE last_seen <= ?1 OR created_at <= ?2",
        params![
            now - policy.idle.as_secs() as i64,
            now - policy.absolute.as_secs() as i64
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_touch_expire() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_in(dir.path(), "t.db", |c| {
            c.execute_batch(crate::auth_tables!())?;
            Ok(())
        })
        .unwrap();
        db.call_blocking(|c| {
            let (cookie, s) = create(c, "127.0.0.1")?;
            let live = touch(c, &cookie, SessionPolicy::default())?.unwrap();
            assert_eq!(live.csrf_token, s.csrf_token);
            assert!(touch(c, "not-a-session", SessionPolicy::default())?.is_none());
            let zero = SessionPolicy {
                idle: Duration::ZERO,
                absolute: Duration::from_secs(100),
            };
            assert!(touch(c, &cookie, zero)?.is_none());
            // Expired sessions are deleted, not just hidden.
            assert!(touch(c, &cookie, SessionPolicy::default())?.is_none());
            Ok::<_, crate::db::DbError>(())
        })
        .unwrap();
    }
}
