//! One `trailsync sync` per SQLite database: SQLite has one writer at a time and no server to
//! share leases through across hosts, so a second process on the same file is refused (or
//! waits) instead of running beside the first.
//!
//! The lock is an advisory `flock` on a file beside the database (`<database>.lock`), not on
//! the database itself: SQLite's own POSIX locks on the database would be dropped by closing
//! any other descriptor of it. The lock file names its holder (pid and host) for the message.
//! The kernel releases the lock when the process exits, however it exits.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a waiting process tries again.
const WAIT_STEP: Duration = Duration::from_secs(1);

/// The database is locked by another process.
#[derive(Debug, thiserror::Error)]
#[error(
    "{database} is in use by {holder} (another `trailsync sync`); a SQLite database is written by one process at a time: stop it, or pass --wait"
)]
pub struct InUse {
    pub database: PathBuf,
    /// `pid N on HOST`, as the holder wrote it.
    pub holder: String,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    InUse(#[from] InUse),
    #[error("cannot lock {path}: {error}")]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

/// Held while this process writes the database; released when dropped or at exit.
#[derive(Debug)]
pub struct ProcessLock {
    _file: File,
    path: PathBuf,
}

impl ProcessLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of a database: `<database>.lock`.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// This machine's host name, as the kernel or `$HOSTNAME` says; `None` if neither does. Names
/// this process in a lock file and, in a fleet, the worker.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
}

/// This process, as the lock file names it.
fn holder() -> String {
    let host = host_name().unwrap_or_else(|| "this host".to_string());
    format!("pid {} on {host}", std::process::id())
}

/// Takes the lock of `database` without waiting: [`InUse`] if another process holds it.
pub fn try_lock(database: &Path) -> Result<ProcessLock, LockError> {
    let path = lock_path(database);
    let io = |error| LockError::Io {
        path: path.clone(),
        error,
    };
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            file.write_all(holder().as_bytes()).map_err(io)?;
            file.flush().map_err(io)?;
            Ok(ProcessLock { _file: file, path })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // The holder wrote its name when it took the lock; an empty file is a race with it.
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            Err(InUse {
                database: database.to_path_buf(),
                holder: if holder.is_empty() {
                    "another process".to_string()
                } else {
                    holder.to_string()
                },
            }
            .into())
        }
        Err(TryLockError::Error(error)) => Err(io(error)),
    }
}

/// Takes the lock of `database`, waiting for the holder to let go, logging who it waits for.
pub async fn lock(database: &Path) -> Result<ProcessLock, LockError> {
    let mut waiting_for: Option<String> = None;
    loop {
        match try_lock(database) {
            Ok(lock) => return Ok(lock),
            Err(LockError::InUse(in_use)) => {
                if waiting_for.as_deref() != Some(&in_use.holder) {
                    tracing::info!(database = %database.display(), holder = %in_use.holder, "waiting for the database to be free");
                    waiting_for = Some(in_use.holder);
                }
                tokio::time::sleep(WAIT_STEP).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The database file a SQLite connection string names, if it names one (not `:memory:`).
pub fn database_file(connection_string: &str) -> Option<PathBuf> {
    match super::Target::parse(connection_string).ok()? {
        super::Target::Memory => None,
        super::Target::File { file, .. } => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let folder = tempfile::tempdir().expect("temp dir");
        let database = folder.path().join("inventory.db");
        let first = try_lock(&database).expect("free");
        assert_eq!(first.path(), folder.path().join("inventory.db.lock"));
        let refused = try_lock(&database).expect_err("held");
        let message = refused.to_string();
        assert!(
            message.contains(&format!("in use by pid {} on ", std::process::id())),
            "{message}"
        );
        assert!(!message.contains('\n'));
        drop(first);
        try_lock(&database).expect("free again once dropped");
    }

    #[test]
    fn connection_strings_name_their_files() {
        assert_eq!(database_file("./x.db"), Some(PathBuf::from("./x.db")));
        assert_eq!(
            database_file("file:data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(database_file(":memory:"), None);
    }
}
