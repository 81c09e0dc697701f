//! `rilld user create|delete|list --data-dir DIR`: managing users offline, with no
//! broker running, to bootstrap the first user (the admin in `super.users` who then
//! creates the others with `rill user create`), as Kafka's
//! `kafka-storage format --add-scram` does. Refused while a broker holds the data
//! directory's lock: a running broker must see every change, so use `rill user` then.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use rill_protocol::sasl::scram::{ScramCredential, ITERATIONS_DEFAULT};
use rill_protocol::sasl::{SaslMechanism, ScramMechanism, PASSWORD_BYTES_MAX};
use thiserror::Error;

use super::credentials::{Change, CredentialStore, StoreError};
use crate::data_dir_lock::{DataDirLock, DataDirLockError};

/// `rilld`'s subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RilldCommand {
    /// Manage SASL users offline (bootstrap the first admin before starting rilld).
    #[command(subcommand)]
    User(UserCommand),
}

/// `rilld user ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user, or replace its password.
    #[command(
        after_help = "Examples:\n  echo \"$ADMIN_PASSWORD\" | rilld user create admin --data-dir ./rill-data --password-stdin\n  rilld user create admin --data-dir ./rill-data            # prompts for the password"
    )]
    Create {
        /// The user name.
        name: String,
        /// The broker's data directory (rilld must not be running on it).
        #[arg(long, env = "RILL_DATA_DIR", default_value = crate::config::DATA_DIR_DEFAULT)]
        data_dir: PathBuf,
        /// SCRAM mechanism to create a credential for; repeat for both [default: both].
        #[arg(long = "mechanism", value_parser = parse_scram)]
        mechanisms: Vec<ScramMechanism>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user.
    Delete {
        /// The user name.
        name: String,
        /// The broker's data directory (rilld must not be running on it).
        #[arg(long, env = "RILL_DATA_DIR", default_value = crate::config::DATA_DIR_DEFAULT)]
        data_dir: PathBuf,
    },
    /// List users and their mechanisms.
    List {
        /// The broker's data directory (rilld must not be running on it).
        #[arg(long, env = "RILL_DATA_DIR", default_value = crate::config::DATA_DIR_DEFAULT)]
        data_dir: PathBuf,
    },
}

/// Why an offline user command failed.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// A broker runs on the data directory.
    #[error("a running rilld holds {dir}: manage users through it with `rill user create|delete|list`, or stop it first")]
    BrokerRunning {
        /// The data directory.
        dir: PathBuf,
    },
    /// The data directory cannot be locked.
    #[error(transparent)]
    Lock(DataDirLockError),
    /// The store refused the change or cannot be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No usable password was given.
    #[error("{0}")]
    Password(String),
    /// Deleting a user that does not exist.
    #[error("user {0:?} does not exist")]
    NoSuchUser(String),
}

fn parse_scram(s: &str) -> Result<ScramMechanism, String> {
    s.parse::<SaslMechanism>()
        .ok()
        .and_then(SaslMechanism::scram)
        .ok_or_else(|| format!("{s:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

/// Runs a `rilld user` command (blocking); returns what to print.
pub fn run(command: UserCommand) -> Result<String, BootstrapError> {
    match command {
        UserCommand::Create {
            name,
            data_dir,
            mechanisms,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            create(&data_dir, &name, &mechanisms, password.as_bytes())?;
            Ok(format!("created user {name} in {}", data_dir.display()))
        }
        UserCommand::Delete { name, data_dir } => {
            let (_lock, store) = open(&data_dir)?;
            let changes: Vec<Change> = ScramMechanism::ALL
                .iter()
                .map(|&mechanism| Change::Delete {
                    user: name.clone(),
                    mechanism,
                })
                .collect();
            if !store.alter(&changes)?.contains(&true) {
                return Err(BootstrapError::NoSuchUser(name));
            }
            Ok(format!("deleted user {name}"))
        }
        UserCommand::List { data_dir } => {
            let (_lock, store) = open(&data_dir)?;
            let lines: Vec<String> = store
                .list()
                .into_iter()
                .map(|(user, creds)| {
                    let names: Vec<&str> = creds.iter().map(|(m, _)| m.name()).collect();
                    format!("{user}\t{}", names.join(","))
                })
                .collect();
            Ok(lines.join("\n"))
        }
    }
}

/// Creates (or replaces) `name`'s credentials for `mechanisms` (both when empty).
pub fn create(
    data_dir: &Path,
    name: &str,
    mechanisms: &[ScramMechanism],
    password: &[u8],
) -> Result<(), BootstrapError> {
    let (_lock, store) = open(data_dir)?;
    let mechanisms = if mechanisms.is_empty() {
        ScramMechanism::ALL
    } else {
        mechanisms
    };
    let mut changes = Vec::with_capacity(mechanisms.len());
    for &mechanism in mechanisms {
        let credential = ScramCredential::from_password(mechanism, password, ITERATIONS_DEFAULT)
            .map_err(|source| StoreError::Credential {
                name: name.to_string(),
                source,
            })?;
        changes.push(Change::Upsert {
            user: name.to_string(),
            credential,
        });
    }
    store.alter(&changes)?;
    Ok(())
}

fn open(data_dir: &Path) -> Result<(DataDirLock, CredentialStore), BootstrapError> {
    let lock = DataDirLock::acquire(data_dir).map_err(|e| match e {
        DataDirLockError::InUse { dir, .. } => BootstrapError::BrokerRunning { dir },
        other => BootstrapError::Lock(other),
    })?;
    Ok((lock, CredentialStore::open(data_dir)?))
}

/// The password: the first line of stdin, or typed at a prompt without echo.
fn read_password(from_stdin: bool) -> Result<String, BootstrapError> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            BootstrapError::Password(format!("cannot read the password from stdin: {e}"))
        })?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| BootstrapError::Password(format!("cannot read the password: {e}")))?;
        let again = rpassword::prompt_password("Password again: ")
            .map_err(|e| BootstrapError::Password(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(BootstrapError::Password("the passwords differ".into()));
        }
        first
    };
    if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
        return Err(BootstrapError::Password(format!(
            "the password must be 1 to {PASSWORD_BYTES_MAX} bytes"
        )));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_while_a_broker_holds_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        create(dir.path(), "admin", &[], b"pw").unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        assert!(store.get("admin", ScramMechanism::Sha256).is_some());
        assert!(store.get("admin", ScramMechanism::Sha512).is_some());
        let _held = DataDirLock::acquire(dir.path()).unwrap();
        let err = create(dir.path(), "bob", &[], b"pw").unwrap_err();
        assert!(matches!(err, BootstrapError::BrokerRunning { .. }), "{err}");
        assert!(err.to_string().contains("rill user create"));
    }
}
