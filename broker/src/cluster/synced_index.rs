//! The applied index of the last metadata image a local store (ACLs, credentials)
//! followed, kept in a small file under the data directory. After a restart the state
//! machine's replay may publish older images for a moment; a store follows an image
//! only when it is at least as new as the last one it followed, so a replayed image
//! never resurrects a deleted entry or drops a newer one.

use std::path::{Path, PathBuf};

/// The last followed index and its file.
#[derive(Debug)]
pub struct SyncedIndex {
    path: PathBuf,
    synced: Option<u64>,
}

impl SyncedIndex {
    /// Reads `<data_dir>/<file_name>` (none yet: never followed). Blocking.
    pub fn load(data_dir: &Path, file_name: &str) -> Result<SyncedIndex, String> {
        let path = data_dir.join(file_name);
        let synced = match std::fs::read_to_string(&path) {
            Ok(text) => Some(
                text.trim()
                    .parse()
                    .map_err(|_| format!("{} is damaged: `{}`", path.display(), text.trim()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(SyncedIndex { path, synced })
    }

    /// Whether an image applied at `index` is older than the last one followed.
    pub fn is_older(&self, index: u64) -> bool {
        self.synced.is_some_and(|synced| index < synced)
    }

    /// Records that the store followed the image at `index` (written when the store
    /// `changed`, or on the first follow). Blocking.
    pub fn record(&mut self, index: u64, changed: bool) -> Result<(), String> {
        if changed || self.synced.is_none() {
            crate::durable_file::replace(
                &self.path,
                index.to_string().as_bytes(),
                crate::durable_file::Access::Default,
            )
            .map_err(|e| e.to_string())?;
        }
        self.synced = Some(index);
        Ok(())
    }
}
