//! The audit trail: every change made through the web UI or the API,
//! with when, who (the admin's session or the API token's name), from
//! which address and what changed; and changes made at the console.
//!
//! One layer (`record_changes`) records every state-changing request that
//! succeeded, so a route added later cannot escape it. The authenticating
//! extractors name the actor in the request's [`ActorSlot`]; a handler
//! says what changed by attaching an [`Audited`] to its response (and may
//! do so on a refusal worth keeping, such as a failed login). A change
//! with no `Audited` is still recorded, by its route.
//!
//! Bounded: the newest [`KEEP`] entries are kept. Never holds a secret:
//! handlers name what changed, never a password, token or key.

use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::Method;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::Portal;
use crate::clock::now_unix;
use crate::db::DbError;

/// Entries kept: years of an admin's changes, a few MB at most.
pub const KEEP: i64 = 5000;
/// Longest detail stored; longer ones are cut.
const MAX_DETAIL: usize = 500;

/// The table, for each program's migrations.
pub const AUDIT_TABLE: &str = r#"
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
"#;

/// Who made a change and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub who: String,
    pub source: String,
}

impl Actor {
    /// A root shell at the appliance (the console menu or a script).
    pub fn console() -> Actor {
        Actor {
            who: "console".into(),
            source: "local".into(),
        }
    }
}

/// One recorded change.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub detail: String,
}

impl AuditEntry {
    pub fn when(&self) -> String {
        crate::clock::format_unix(self.at)
    }
}

/// What a handler changed: a short action name (`controller.add`) and
/// the detail an admin reads later.
#[derive(Clone, Debug)]
pub struct Audited {
    pub action: &'static str,
    pub detail: String,
    /// Who, when the request had no authenticated actor (a login).
    pub actor: Option<String>,
}

impl Audited {
    pub fn new(action: &'static str, detail: impl Into<String>) -> Audited {
        Audited {
            action,
            detail: detail.into(),
            actor: None,
        }
    }

    pub fn by(mut self, actor: impl Into<String>) -> Audited {
        self.actor = Some(actor.into());
        self
    }

    /// Attaches itself to `response`.
    pub fn on(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Filled by the extractor that authenticated the request.
#[derive(Clone, Default)]
pub struct ActorSlot(Arc<Mutex<Option<String>>>);

impl ActorSlot {
    pub fn set(&self, who: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(who);
    }
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Records one change, keeping only the newest [`KEEP`].
pub fn record(conn: &Connection, actor: &Actor, action: &str, detail: &str) -> Result<(), DbError> {
    let detail: String = detail.chars().take(MAX_DETAIL).collect();
    conn.execute(
        "INSERT INTO audit_log (at, actor, source, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_unix(), actor.who, actor.source, action, detail],
    )?;
    conn.execute(
        "DELETE FROM audit_log WHERE id <= (SELECT MAX(id) FROM audit_log) - ?1",
        params![KEEP],
    )?;
    Ok(())
}

/// The newest `limit` entries, newest first.
pub fn recent(conn: &Connection, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, source, action, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit.clamp(0, KEEP)], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            source: r.get(3)?,
            action: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The layer: records each state-changing request that succeeded, and
/// each response that carries an [`Audited`] whatever its status.
pub async fn record_changes<S: Portal>(
    State(state): State<S>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = ActorSlot::default();
    req.extensions_mut().insert(slot.clone());
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Cheap clones only: most requests (pages, polled figures) record
    // nothing, and what is recorded is put into words afterwards.
    let method = req.method().clone();
    let path = req.extensions().get::<MatchedPath>().cloned();
    let uri_path = path.is_none().then(|| req.uri().path().to_string());
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let mut response = next.run(req).await;
    let audited = response.extensions_mut().remove::<Audited>();
    let succeeded = response.status().is_success() || response.status().is_redirection();
    let (action, detail, named) = match audited {
        Some(a) => (a.action.to_string(), a.detail, a.actor),
        None if changes && succeeded => {
            let route = path
                .as_ref()
                .map(|p| p.as_str())
                .or(uri_path.as_deref())
                .unwrap_or("");
            (format!("{method} {route}"), String::new(), None)
        }
        None => return response,
    };
    let source = peer
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    let actor = Actor {
        who: named
            .or_else(|| slot.take())
            .unwrap_or_else(|| "unknown".into()),
        source,
    };
    let kept = state
        .db()
        .call(move |c| record(c, &actor, &action, &detail))
        .await;
    if let Err(e) = kept {
        // The change is made; losing its record is a fault to see (the
        // state file's faults are counted and on the dashboard), not a
        // reason to report the change as failed.
        tracing::error!(error = %e, "could not record a change in the audit trail");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(AUDIT_TABLE).unwrap();
        c
    }

    #[test]
    fn keeps_the_newest_entries_only() {
        let c = db();
        for i in 0..(KEEP + 10) {
            record(&c, &Actor::console(), "test", &format!("change {i}")).unwrap();
        }
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, KEEP);
        let newest = recent(&c, 1).unwrap();
        assert_eq!(newest[0].detail, format!("change {}", KEEP + 9));
        assert_eq!(newest[0].actor, "console");
    }

    #[test]
    fn a_long_detail_is_cut() {
        let c = db();
        record(&c, &Actor::console(), "test", &"x".repeat(2000)).unwrap();
        assert_eq!(recent(&c, 5).unwrap()[0].detail.len(), MAX_DETAIL);
    }
}
