//! The credentials file: JSON, one object per user, keys base64-encoded.
//!
//! ```text
//! {"format": 1, "users": [{"name": "alice", "scram": [{"mechanism": "SCRAM-SHA-256",
//!   "iterations": 4096, "salt": b64, "stored_key": b64, "server_key": b64}]}]}
//! ```
//!
//! Written whole: to `credentials.tmp`, fsynced, renamed over `credentials`, then the
//! directory fsynced, so a crash at any point leaves one complete file. Read strictly:
//! unknown fields, a bad mechanism, a key of the wrong length or a weak iteration count
//! make the whole file corrupt, which stops the broker with a clear error.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rill_protocol::sasl::scram::ScramCredential;
use rill_protocol::sasl::SaslMechanism;
use serde::{Deserialize, Serialize};

use super::{check_name, StoreError, UserCredentials, USERS_MAX};
use crate::durable_file;

/// The format this build writes and reads.
const FORMAT: u32 = 1;
/// Largest credentials file read (10,000 users with both mechanisms fit well inside).
const FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    format: u32,
    users: Vec<FileUser>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: String,
    scram: Vec<FileCredential>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCredential {
    mechanism: String,
    iterations: u32,
    salt: String,
    stored_key: String,
    server_key: String,
}

/// Reads the file at `path`; no file is an empty store.
pub fn read(path: &Path) -> Result<BTreeMap<String, UserCredentials>, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io(e)),
    };
    if len > FILE_BYTES_MAX {
        return Err(corrupt(format!("{len} bytes, more than {FILE_BYTES_MAX}")));
    }
    let bytes = fs::read(path).map_err(io)?;
    let body: FileBody = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if body.format != FORMAT {
        return Err(corrupt(format!(
            "format {}, this build reads {FORMAT}",
            body.format
        )));
    }
    if body.users.len() > USERS_MAX {
        return Err(corrupt(format!(
            "{} users, at most {USERS_MAX}",
            body.users.len()
        )));
    }
    let mut users = BTreeMap::new();
    for user in body.users {
        check_name(&user.name).map_err(|e| corrupt(e.to_string()))?;
        let mut creds = UserCredentials::new();
        for c in user.scram {
            let credential = decode_credential(c)
                .map_err(|reason| corrupt(format!("user {:?}: {reason}", user.name)))?;
            creds.insert(credential.mechanism, credential);
        }
        if creds.is_empty() || users.insert(user.name.clone(), creds).is_some() {
            return Err(corrupt(format!(
                "user {:?} is empty or listed twice",
                user.name
            )));
        }
    }
    Ok(users)
}

fn decode_credential(c: FileCredential) -> Result<ScramCredential, String> {
    let mechanism = c
        .mechanism
        .parse::<SaslMechanism>()
        .ok()
        .and_then(SaslMechanism::scram)
        .ok_or_else(|| format!("unknown SCRAM mechanism {:?}", c.mechanism))?;
    let b64 = |field: &str, v: &str| {
        BASE64
            .decode(v)
            .map_err(|_| format!("{field} is not base64"))
    };
    ScramCredential::from_parts(
        mechanism,
        b64("salt", &c.salt)?,
        c.iterations,
        b64("stored_key", &c.stored_key)?,
        b64("server_key", &c.server_key)?,
    )
    .map_err(|e| e.to_string())
}

fn encode(users: &BTreeMap<String, UserCredentials>) -> Vec<u8> {
    let encode_one = |c: &ScramCredential| FileCredential {
        mechanism: c.mechanism.name().to_string(),
        iterations: c.iterations,
        salt: BASE64.encode(&c.salt),
        stored_key: BASE64.encode(&c.stored_key),
        server_key: BASE64.encode(&c.server_key),
    };
    let body = FileBody {
        format: FORMAT,
        users: users
            .iter()
            .map(|(name, creds)| FileUser {
                name: name.clone(),
                scram: creds.values().map(encode_one).collect(),
            })
            .collect(),
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_vec_pretty(&body).unwrap_or_default()
}

/// Writes `users` to `path` durably (blocking), readable by the owner only: the keys
/// are secrets (they allow an offline guessing attack).
pub fn write(path: &Path, users: &BTreeMap<String, UserCredentials>) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io)?;
    durable_file::replace(path, &encode(users), durable_file::Access::OwnerOnly).map_err(|e| {
        StoreError::Io {
            path: e.path,
            source: e.source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::sasl::ScramMechanism;

    #[test]
    fn strict_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let cred = ScramCredential::from_password(ScramMechanism::Sha256, b"pw", 4096).unwrap();
        let users = BTreeMap::from([(
            "alice".to_string(),
            UserCredentials::from([(cred.mechanism, cred)]),
        )]);
        write(&path, &users).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
        let text = fs::read_to_string(&path).unwrap();
        for (from, to) in [
            ("\"iterations\": 4096", "\"iterations\": 10"),
            ("SCRAM-SHA-256", "PLAIN"),
            ("\"format\": 1", "\"format\": 2"),
            ("\"name\": \"alice\"", "\"name\": \"alice\", \"x\": 1"),
        ] {
            assert!(text.contains(from), "{from}");
            fs::write(&path, text.replace(from, to)).unwrap();
            assert!(
                matches!(read(&path), Err(StoreError::Corrupt { .. })),
                "{to}"
            );
        }
    }
}
