//! Storage faults this process met: every SQLite error that means the
//! state file cannot be read or written (damage, I/O error, disk full,
//! permissions) is counted here as it is converted into a `DbError`,
//! whichever path met it, so pages, the API and `/metrics` can show it
//! instead of an empty list or someone else's error.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

static COUNT: AtomicU64 = AtomicU64::new(0);
static LAST: Mutex<Option<LastFault>> = Mutex::new(None);

/// The most recent fault: when (ms since the epoch) and what SQLite said.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastFault {
    pub at_ms: u64,
    pub error: String,
}

/// Faults so far, and the last one.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StoreFaults {
    pub count: u64,
    pub last: Option<LastFault>,
}

/// Whether `e` says the file itself failed, rather than a statement (a
/// constraint, a busy wait, a bug in a query).
pub fn is_storage(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(
        f.code,
        DatabaseCorrupt | NotADatabase | SystemIoFailure | DiskFull | CannotOpen | ReadOnly | PermissionDenied
    ))
}

/// Counts `e` if it is a storage fault.
pub fn note(e: &rusqlite::Error) {
    if !is_storage(e) {
        return;
    }
    COUNT.fetch_add(1, Relaxed);
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastFault {
        at_ms: crate::clock::now_ms(),
        error: e.to_string(),
    });
}

pub fn snapshot() -> StoreFaults {
    StoreFaults {
        count: COUNT.load(Relaxed),
        last: LAST.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}
