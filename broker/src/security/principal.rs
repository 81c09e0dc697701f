//! A principal in Kafka's spelling: `Type:name`, e.g. `User:alice`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The principal type every authenticated user and the anonymous user have.
pub const USER_TYPE: &str = "User";

/// The name of the principal of a connection that has not authenticated.
pub const ANONYMOUS_NAME: &str = "ANONYMOUS";

/// An identity requests are checked against: a type (`User`) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    kind: String,
    name: String,
}

impl Principal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            kind: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated connection.
    pub fn anonymous() -> Self {
        Self::user(ANONYMOUS_NAME)
    }

    /// The type, e.g. `User`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The name, e.g. `alice`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is `User:ANONYMOUS`.
    pub fn is_anonymous(&self) -> bool {
        self.kind == USER_TYPE && self.name == ANONYMOUS_NAME
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// Why a string is not a principal.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid principal {input:?}: expected Type:name, e.g. User:alice")]
pub struct PrincipalParseError {
    input: String,
}

impl FromStr for Principal {
    type Err = PrincipalParseError;

    /// Parses `Type:name`; the name may itself contain `:` (a certificate DN may).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || PrincipalParseError {
            input: s.to_string(),
        };
        let (kind, name) = s.split_once(':').ok_or_else(invalid)?;
        if kind.is_empty() || name.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        Ok(Self {
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_type_and_name() {
        let p: Principal = "User:alice".parse().unwrap();
        assert_eq!((p.kind(), p.name()), ("User", "alice"));
        assert_eq!(p.to_string(), "User:alice");
        let dn: Principal = "User:CN=a:b,O=x".parse().unwrap();
        assert_eq!(dn.name(), "CN=a:b,O=x");
    }

    #[test]
    fn refuses_what_is_not_a_principal() {
        for bad in ["alice", ":alice", "User:", "Us er:alice", ""] {
            assert!(bad.parse::<Principal>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn anonymous_is_a_user() {
        assert!(Principal::anonymous().is_anonymous());
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(!Principal::user("bob").is_anonymous());
    }
}
