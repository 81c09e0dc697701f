//! One `rilld` per data directory: an exclusive `flock` on `<data_dir>/.lock`, held for
//! the server's life and released by the kernel when the process ends (even by SIGKILL).
//! Two brokers on one directory would each append, checkpoint and recover the same
//! segments and corrupt them; the second is refused at start instead.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Name of the lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = ".lock";

/// Why the data directory could not be locked.
#[derive(Debug, Error)]
pub enum DataDirLockError {
    /// Another process holds the lock.
    #[error("data directory {dir} is in use by another rilld (lock file {path} held, by pid {holder}); stop it or pick another --data-dir")]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        path: PathBuf,
        /// What the lock file says about its holder (its pid), if readable.
        holder: String,
    },
    /// The directory or the lock file could not be created or locked.
    #[error("cannot lock data directory {dir}: {source}")]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and takes its lock without waiting. Blocking (file
    /// creation): call it off the async workers.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DataDirLockError> {
        let io = |source| DataDirLockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE_NAME);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        // SAFETY: `flock` on a descriptor this function owns; it touches no memory.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder = std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default();
                return Err(DataDirLockError::InUse {
                    dir: dir.to_path_buf(),
                    path,
                    holder: if holder.is_empty() {
                        "?".into()
                    } else {
                        holder
                    },
                });
            }
            return Err(io(error));
        }
        // For people reading the file: which process holds it.
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let refused = DataDirLock::acquire(dir.path()).unwrap_err();
        let message = refused.to_string();
        assert!(
            matches!(refused, DataDirLockError::InUse { .. }),
            "{message}"
        );
        assert!(
            message.contains(&std::process::id().to_string()),
            "{message}"
        );
        drop(first);
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let _lock = DataDirLock::acquire(&nested).unwrap();
        assert!(nested.join(LOCK_FILE_NAME).is_file());
    }
}
