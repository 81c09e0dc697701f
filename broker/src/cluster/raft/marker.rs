//! Small checksummed JSON files of the metadata log (`vote`, `purged`, `committed`,
//! `snapshot`), each replaced atomically and durably with [`crate::durable_file`].
//! Blocking: call on the blocking pool.

use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::durable_file::{self, Access};

/// Writes `value` as checksummed JSON to `path`, atomically and durably.
pub fn write<T: Serialize>(path: &Path, prefix: &str, value: &T) -> io::Result<()> {
    let body = serde_json::to_string(value).map_err(io::Error::other)?;
    let text = durable_file::with_checksum(prefix, &body);
    durable_file::replace(path, text.as_bytes(), Access::OwnerOnly)
        .map_err(|e| io::Error::new(e.source.kind(), e.to_string()))
}

/// Reads what [`write()`] wrote: `None` if the file does not exist, an error naming the
/// file if it is damaged (a marker is never guessed).
pub fn read<T: DeserializeOwned>(path: &Path, prefix: &str) -> io::Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let damaged = |reason: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is damaged ({reason})", path.display()),
        )
    };
    let body = durable_file::checked_body(prefix, &text).map_err(damaged)?;
    serde_json::from_str(body)
        .map(Some)
        .map_err(|e| damaged(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        assert_eq!(read::<u64>(&path, "v crc32=").unwrap(), None);
        write(&path, "v crc32=", &42u64).unwrap();
        assert_eq!(read::<u64>(&path, "v crc32=").unwrap(), Some(42));
        let text = std::fs::read_to_string(&path).unwrap().replace("42", "43");
        std::fs::write(&path, text).unwrap();
        let err = read::<u64>(&path, "v crc32=").unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
