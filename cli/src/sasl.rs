//! The global SASL options: `--sasl-mechanism`, `--sasl-username`, and the password
//! from `--sasl-password-file` or `RILL_SASL_PASSWORD` (never a flag, so it does not
//! show in `ps`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use rill_client::{SaslConfig, SaslMechanism};

/// Environment variable holding the SASL password.
pub const PASSWORD_ENV: &str = "RILL_SASL_PASSWORD";

/// SASL options every subcommand accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct SaslArgs {
    /// SASL mechanism for brokers that require authentication: SCRAM-SHA-256,
    /// SCRAM-SHA-512 or PLAIN [default: SCRAM-SHA-256 when --sasl-username is set].
    #[arg(long, global = true, value_name = "MECHANISM", env = "RILL_SASL_MECHANISM", value_parser = parse_mechanism)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name; the password comes from --sasl-password-file or RILL_SASL_PASSWORD.
    #[arg(long, global = true, value_name = "USER", env = "RILL_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// File whose first line is the SASL password.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "RILL_SASL_PASSWORD_FILE"
    )]
    pub sasl_password_file: Option<PathBuf>,
}

fn parse_mechanism(s: &str) -> Result<SaslMechanism, String> {
    s.parse::<SaslMechanism>().map_err(|e| e.to_string())
}

impl SaslArgs {
    /// The credentials to authenticate with, or `None` when no user is given.
    pub fn config(&self) -> anyhow::Result<Option<SaslConfig>> {
        let Some(username) = &self.sasl_username else {
            if self.sasl_mechanism.is_some() || self.sasl_password_file.is_some() {
                bail!("--sasl-mechanism and --sasl-password-file need --sasl-username (or RILL_SASL_USERNAME)");
            }
            return Ok(None);
        };
        let password = self.password()?;
        let mechanism = self.sasl_mechanism.unwrap_or(SaslMechanism::ScramSha256);
        Ok(Some(SaslConfig::new(mechanism, username.clone(), password)))
    }

    fn password(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.sasl_password_file {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the SASL password file {}", path.display())
            })?;
            let password = text.lines().next().unwrap_or_default().to_owned();
            if password.is_empty() {
                bail!("the SASL password file {} is empty", path.display());
            }
            return Ok(password);
        }
        match std::env::var(PASSWORD_ENV) {
            Ok(password) if !password.is_empty() => Ok(password),
            _ => bail!(
                "--sasl-username needs a password: put it in a file given with --sasl-password-file, or in {PASSWORD_ENV}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_password_file_and_needs_a_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\nignored\n").unwrap();
        let args = SaslArgs {
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: Some("alice".into()),
            sasl_password_file: Some(path.clone()),
        };
        let config = args.config().unwrap().unwrap();
        assert_eq!(config.password(), "s3cret");
        assert_eq!(config.mechanism, SaslMechanism::ScramSha512);
        let no_user = SaslArgs {
            sasl_username: None,
            ..args
        };
        assert!(no_user.config().is_err());
        assert!(SaslArgs::default().config().unwrap().is_none());
    }
}
