//! Authorization settings: `--authorization`, `--super-users` (flags, `RILL_*`
//! variables and `rill.toml` keys, like every broker setting).

use std::str::FromStr;

use serde::Deserialize;

use super::store::ACLS_MAX_DEFAULT;
use crate::security::Principal;

/// When ACLs are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationMode {
    /// When clients must authenticate (SASL or client certificates are configured).
    #[default]
    Auto,
    /// Always.
    On,
    /// Never: every client may do everything.
    Off,
}

/// A comma-separated list of principals, e.g. `User:admin,User:ops`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalList(pub Vec<Principal>);

impl FromStr for PrincipalList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<Principal>().map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()
            .map(PrincipalList)
    }
}

/// The authorization flags of `rilld`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthorizationArgs {
    /// Check ACLs on every request: `auto` (when clients must authenticate), `on` or
    /// `off`. When on, a principal no ACL allows can do nothing [default: auto].
    #[arg(long, env = "RILL_AUTHORIZATION")]
    pub authorization: Option<AuthorizationMode>,
    /// Principals allowed everything whatever the ACLs, comma-separated, e.g.
    /// `User:admin,User:ops` [default: none].
    #[arg(long, env = "RILL_SUPER_USERS", value_parser = PrincipalList::from_str)]
    pub super_users: Option<PrincipalList>,
}

/// The authorization keys of `rill.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationFile {
    /// `auto`, `on` or `off`.
    pub authorization: Option<AuthorizationMode>,
    /// e.g. `["User:admin", "User:ops"]`.
    pub super_users: Option<Vec<String>>,
}

/// The effective authorization settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// When ACLs are checked.
    pub mode: AuthorizationMode,
    /// Principals allowed everything.
    pub super_users: Vec<Principal>,
    /// Most ACLs kept.
    pub acls_max: usize,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            mode: AuthorizationMode::Auto,
            super_users: Vec::new(),
            acls_max: ACLS_MAX_DEFAULT,
        }
    }
}

impl AuthorizationConfig {
    /// Applies the file's keys; an invalid principal is `(key, value, reason)`.
    pub fn apply_file(&mut self, file: &AuthorizationFile) -> Result<(), (String, String, String)> {
        if let Some(mode) = file.authorization {
            self.mode = mode;
        }
        if let Some(users) = &file.super_users {
            self.super_users = users
                .iter()
                .map(|u| {
                    u.parse::<Principal>()
                        .map_err(|e| ("super_users".into(), u.clone(), e.to_string()))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    /// Applies the flags (and `RILL_*` variables).
    pub fn apply_args(&mut self, args: &AuthorizationArgs) {
        if let Some(mode) = args.authorization {
            self.mode = mode;
        }
        if let Some(PrincipalList(users)) = &args.super_users {
            self.super_users = users.clone();
        }
    }

    /// Whether ACLs are checked, given whether clients must authenticate.
    pub fn enabled(&self, authentication_required: bool) -> bool {
        match self.mode {
            AuthorizationMode::Auto => authentication_required,
            AuthorizationMode::On => true,
            AuthorizationMode::Off => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_lists_parse_and_refuse_garbage() {
        let list: PrincipalList = "User:admin, User:ops".parse().unwrap();
        assert_eq!(
            list.0,
            vec![Principal::user("admin"), Principal::user("ops")]
        );
        assert!("admin".parse::<PrincipalList>().is_err());
    }

    #[test]
    fn rilld_reads_them_from_the_file_and_the_command_line() {
        use clap::Parser;

        use crate::config::{Args, BrokerConfig, ConfigError};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rill.toml");
        std::fs::write(
            &path,
            "authorization = \"on\"\nsuper_users = [\"User:a\"]\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let args = Args::try_parse_from(["rilld", "--config", file]).unwrap();
        let config = BrokerConfig::load(&args).unwrap().authorization;
        assert_eq!(config.mode, AuthorizationMode::On);
        assert_eq!(config.super_users, vec![Principal::user("a")]);
        let flags = ["rilld", "--config", file, "--super-users", "User:b,User:c"];
        let args = Args::try_parse_from(flags).unwrap();
        let config = BrokerConfig::load(&args).unwrap().authorization;
        let expected = vec![Principal::user("b"), Principal::user("c")];
        assert_eq!(config.super_users, expected);
        assert!(Args::try_parse_from(["rilld", "--super-users", "bob"]).is_err());
        assert!(Args::try_parse_from(["rilld", "--authorization", "maybe"]).is_err());
        std::fs::write(&path, "super_users = [\"bob\"]\n").unwrap();
        let args = Args::try_parse_from(["rilld", "--config", file]).unwrap();
        let err = BrokerConfig::load(&args).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { ref key, .. } if key == "super_users"),
            "{err}"
        );
    }

    #[test]
    fn flags_beat_the_file_and_auto_follows_authentication() {
        let mut config = AuthorizationConfig::default();
        assert!(!config.enabled(false) && config.enabled(true));
        let file = AuthorizationFile {
            authorization: Some(AuthorizationMode::Off),
            super_users: Some(vec!["User:file".into()]),
        };
        config.apply_file(&file).unwrap();
        assert!(!config.enabled(true));
        config.apply_args(&AuthorizationArgs {
            authorization: Some(AuthorizationMode::On),
            super_users: None,
        });
        assert!(config.enabled(false));
        assert_eq!(config.super_users, vec![Principal::user("file")]);
        let bad = AuthorizationFile {
            authorization: None,
            super_users: Some(vec!["nobody".into()]),
        };
        assert!(config.apply_file(&bad).is_err());
    }
}
