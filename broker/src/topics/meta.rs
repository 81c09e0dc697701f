//! The persisted topic catalogue: `<data_dir>/topics.meta`.
//!
//! The file is one header line `rill-topics v1 crc32=XXXXXXXX` followed by the JSON list
//! of topics. It is replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new catalogue, never half of one;
//! the CRC catches anything else.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TopicError;
use crate::durable_file;

/// File name of the catalogue inside the data directory.
pub const CATALOGUE_FILE: &str = "topics.meta";
const HEADER_PREFIX: &str = "rill-topics v1 crc32=";

/// What is persisted about one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// The topic's name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
    /// Per-topic overrides of broker defaults (`retention.ms`, `segment.bytes`, ...).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// Reads the catalogue; a missing file is an empty catalogue.
pub fn load(data_dir: &Path) -> Result<Vec<TopicMeta>, TopicError> {
    let path = data_dir.join(CATALOGUE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TopicError::Io { path, source }),
    };
    let corrupt = |reason: String| TopicError::CorruptCatalogue {
        path: path.clone(),
        reason,
    };
    let body = durable_file::checked_body(HEADER_PREFIX, &text).map_err(corrupt)?;
    serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))
}

/// Replaces the catalogue atomically and durably.
pub fn store(data_dir: &Path, topics: &[TopicMeta]) -> Result<(), TopicError> {
    let path = data_dir.join(CATALOGUE_FILE);
    let body = serde_json::to_string_pretty(topics).map_err(|e| TopicError::CorruptCatalogue {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let text = durable_file::with_checksum(HEADER_PREFIX, &body);
    durable_file::replace(&path, text.as_bytes(), durable_file::Access::Default).map_err(|e| {
        TopicError::Io {
            path: e.path,
            source: e.source,
        }
    })
}

/// fsyncs a directory so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), TopicError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| TopicError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<TopicMeta> {
        vec![TopicMeta {
            name: "orders".into(),
            partitions: 3,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        }]
    }

    #[test]
    fn round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        store(dir.path(), &sample()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), sample());
    }

    #[test]
    fn corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), &sample()).unwrap();
        let path = dir.path().join(CATALOGUE_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("orders", "ordurs")).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        fs::write(&path, "garbage").unwrap();
        assert!(load(dir.path()).is_err());
    }
}
