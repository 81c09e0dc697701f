//! Small whole files the broker replaces atomically and durably (the topic catalogue,
//! the ACLs, the users' credentials), and the checksummed text format two of them use.
//!
//! [`replace`] writes a temporary file next to the target, fsyncs it, renames it over the
//! target and fsyncs the directory: a crash at any point leaves either the old or the new
//! file, whole. Blocking: call it on the blocking pool.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A step of [`replace`] failed.
#[derive(Debug, Error)]
#[error("cannot write {path}: {source}")]
pub struct ReplaceError {
    /// The file (or directory) the failing step touched.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// Who may read a replaced file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The process's umask decides.
    Default,
    /// Owner read/write only (secrets).
    OwnerOnly,
}

/// Replaces `path` with `contents`, atomically and durably (see the module docs).
pub fn replace(path: &Path, contents: &[u8], access: Access) -> Result<(), ReplaceError> {
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReplaceError { path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut file = File::create(&tmp).map_err(failed(&tmp))?;
    if access == Access::OwnerOnly {
        owner_only(&file).map_err(failed(&tmp))?;
    }
    file.write_all(contents).map_err(failed(&tmp))?;
    file.sync_all().map_err(failed(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(failed(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed(dir))
}

fn owner_only(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// `body` under a header line `<prefix><crc32 in hex>`, the checksummed text format.
pub fn with_checksum(prefix: &str, body: &str) -> String {
    let crc = crc32fast::hash(body.as_bytes());
    format!("{prefix}{crc:08x}\n{body}")
}

/// The body of checksummed `text` (see [`with_checksum`]), or why it is not one.
pub fn checked_body<'a>(prefix: &str, text: &'a str) -> Result<&'a str, String> {
    let (header, body) = text
        .split_once('\n')
        .ok_or_else(|| "no header line".to_string())?;
    let stored = header
        .strip_prefix(prefix)
        .and_then(|hex| u32::from_str_radix(hex.trim(), 16).ok())
        .ok_or_else(|| format!("bad header line `{header}`"))?;
    let computed = crc32fast::hash(body.as_bytes());
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_files_read_back_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        replace(&path, b"one", Access::Default).unwrap();
        replace(&path, b"two", Access::OwnerOnly).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!dir.path().join("f.json.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn checksummed_text_round_trips_and_damage_is_named() {
        let text = with_checksum("x v1 crc32=", "{\"a\":1}");
        assert_eq!(checked_body("x v1 crc32=", &text).unwrap(), "{\"a\":1}");
        let damaged = text.replace("\"a\"", "\"b\"");
        let reason = checked_body("x v1 crc32=", &damaged).unwrap_err();
        assert!(reason.contains("checksum mismatch"), "{reason}");
        assert!(checked_body("y v1 crc32=", &text)
            .unwrap_err()
            .contains("bad header"));
        assert!(checked_body("x", "no newline")
            .unwrap_err()
            .contains("no header"));
    }
}
