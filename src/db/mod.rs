//! The SQLite state-file helper every program uses: one file in WAL mode,
//! migrated to its program's schema when opened.
//!
//! A `Db` wraps one connection behind a mutex and runs every statement on
//! tokio's blocking pool, so no SQLite call (which may wait on the busy
//! timeout while a console command writes) ever stalls the async runtime.
//! The console opens its own `Db` on the same file; WAL plus the busy
//! timeout make that safe while the service runs.
//!
//! May import `clock` only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub mod faults;
pub mod settings;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
    #[error(
        "the state file {path} is damaged ({reason}); it was kept as {aside}. \
         Restore a backup into {path}, or move {aside} out of the directory to start as a new appliance"
    )]
    Damaged {
        path: PathBuf,
        reason: String,
        aside: PathBuf,
    },
}

/// Every SQLite error enters the store's errors here, where storage
/// faults are counted (`faults`).
impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        faults::note(&e);
        DbError::Sqlite(e)
    }
}

impl DbError {
    /// Whether the state file itself failed (see `faults::is_storage`).
    pub fn is_storage(&self) -> bool {
        matches!(self, DbError::Sqlite(e) if faults::is_storage(e))
    }

    /// SQLite's "database or disk is full", or the OS's "no space left".
    pub fn is_disk_full(&self) -> bool {
        match self {
            DbError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            other => other.to_string().contains("No space left"),
        }
    }
}

/// Brings a freshly opened database to its program's current schema.
pub type Migrate = fn(&mut Connection) -> Result<(), DbError>;

/// Shared handle to the state file.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) `<data_dir>/<file>` and brings it to the
    /// program's current schema with `migrate`.
    pub fn open_in(data_dir: &Path, file: &str, migrate: Migrate) -> Result<Db, DbError> {
        std::fs::create_dir_all(data_dir).map_err(|source| DbError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        restrict_permissions(data_dir);
        let path = data_dir.join(file);
        // A state file that exists but cannot be trusted is never silently
        // replaced by a first boot: that would forget the identity, token
        // and controllers and open setup to anyone.
        if let Some(aside) = damaged_sibling(data_dir, file) {
            return Err(DbError::Damaged {
                path,
                reason: "an earlier start found it damaged".into(),
                aside,
            });
        }
        if let Err(reason) = check_header(&path) {
            return Err(set_aside(path, reason));
        }
        let mut conn = Connection::open(&path)?;
        // Waiting on a console command's write is not damage.
        conn.busy_timeout(Duration::from_secs(5))?;
        if let Err(e) = quick_check(&conn).and_then(|()| configure(&conn)) {
            return match corruption(&e) {
                Some(reason) => {
                    drop(conn);
                    Err(set_aside(path, reason))
                }
                None => Err(e),
            };
        }
        migrate(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool. `f` may fail with
    /// any error of a layer above the store (`E: From<DbError>`).
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs `f` with the connection on the current thread: for the console
    /// and for start-up, where no runtime is serving requests yet.
    pub fn call_blocking<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Checkpoints the WAL into the main file; called on clean shutdown so
    /// the state file is complete on its own.
    pub fn checkpoint(&self) -> Result<(), DbError> {
        self.call_blocking(|c| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
    }
}

/// Suffix of a damaged state file kept aside.
const DAMAGED: &str = ".damaged-";

fn damaged_sibling(dir: &Path, file: &str) -> Option<PathBuf> {
    let prefix = format!("{file}{DAMAGED}");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
}

/// A file that exists must be a whole SQLite database: not empty, and
/// starting with SQLite's header. A missing file is a first boot.
fn check_header(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    let mut header = [0u8; 16];
    match f.read(&mut header) {
        Ok(0) => Err("it is empty".into()),
        Ok(16) if &header == b"SQLite format 3\0" => Ok(()),
        Ok(_) => Err("it is not an SQLite database".into()),
        Err(e) => Err(format!("cannot be read: {e}")),
    }
}

/// SQLite's own consistency check, quick form (pages and indexes).
fn quick_check(conn: &Connection) -> Result<(), DbError> {
    let result: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if result == "ok" {
        Ok(())
    } else {
        Err(DbError::Task(format!("SQLite's check failed: {result}")))
    }
}

/// Why `e` means the file itself is damaged, if it does (a busy or
/// unwritable file is not damage).
fn corruption(e: &DbError) -> Option<String> {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e {
        DbError::Task(check) => Some(check.clone()),
        DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, DatabaseCorrupt | NotADatabase) =>
        {
            Some(format!("SQLite cannot read it: {e}"))
        }
        _ => None,
    }
}

/// Moves a damaged state file (and its WAL) aside; the error says where.
fn set_aside(path: PathBuf, reason: String) -> DbError {
    let aside = PathBuf::from(format!(
        "{}{DAMAGED}{}",
        path.display(),
        crate::clock::now_unix()
    ));
    if let Err(e) = std::fs::rename(&path, &aside) {
        return DbError::Damaged {
            reason: format!("{reason}; moving it aside failed: {e}"),
            aside: path.clone(),
            path,
        };
    }
    for ext in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{ext}", path.display()));
        let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
    }
    tracing::error!(path = %path.display(), aside = %aside.display(), %reason, "damaged state file set aside");
    DbError::Damaged {
        path,
        reason,
        aside,
    }
}

fn configure(conn: &Connection) -> Result<(), DbError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Give the log's space back after each checkpoint: a log that kept the
    // size of its largest burst would hold disk the spool is counting on.
    conn.pragma_update(None, "journal_size_limit", 2 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Reads through the page cache and a memory map instead of a read()
    // per page: under ingest load the cloud spent most of its time copying
    // index pages in and out of the kernel.
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    Ok(())
}

/// The state holds private keys and password hashes: keep it to its owner.
fn restrict_permissions(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrate(c: &mut Connection) -> Result<(), DbError> {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT) STRICT;
             PRAGMA user_version = 1;",
        )?;
        Ok(())
    }

    #[test]
    fn opens_in_wal_mode_with_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_in(dir.path(), "t.db", migrate).unwrap();
        db.call_blocking(|c| {
            let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            assert_eq!(mode, "wal");
            let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            assert_eq!(fk, 1);
            Ok::<_, DbError>(())
        })
        .unwrap();
    }

    #[test]
    fn reopening_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open_in(dir.path(), "t.db", migrate).unwrap();
            db.call_blocking(|c| {
                c.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", [])?;
                Ok::<_, DbError>(())
            })
            .unwrap();
        }
        let db = Db::open_in(dir.path(), "t.db", migrate).unwrap();
        let v: String = db
            .call_blocking(|c| {
                Ok::<_, DbError>(c.query_row(
                    "SELECT value FROM settings WHERE key = 'k'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(v, "v");
    }
}
