//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, in one message.

use thiserror::Error;

use super::{PASSWORD_BYTES_MAX, USERNAME_BYTES_MAX};

/// A PLAIN message. Its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainMessage {
    /// The user logging in.
    pub username: String,
    /// The password, as sent.
    pub password: Vec<u8>,
}

impl std::fmt::Debug for PlainMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainMessage")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why a PLAIN message was refused (never carries the password).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed PLAIN message: {reason}")]
pub struct PlainError {
    /// What is wrong.
    pub reason: &'static str,
}

impl PlainMessage {
    /// Parses `[authzid] NUL user NUL password`; an authzid must name the same user.
    pub fn parse(raw: &[u8]) -> Result<Self, PlainError> {
        let err = |reason| PlainError { reason };
        let mut parts = raw.splitn(3, |b| *b == 0);
        let authzid = parts.next().unwrap_or_default();
        let user = parts
            .next()
            .ok_or(err("expected authzid NUL user NUL password"))?;
        let password = parts
            .next()
            .ok_or(err("expected authzid NUL user NUL password"))?;
        let username = std::str::from_utf8(user).map_err(|_| err("user name is not UTF-8"))?;
        if username.is_empty() || username.len() > USERNAME_BYTES_MAX {
            return Err(err("user name empty or too long"));
        }
        if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
            return Err(err("password empty or too long"));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(err("authzid differs from the user name"));
        }
        Ok(Self {
            username: username.to_string(),
            password: password.to_vec(),
        })
    }

    /// The bytes on the wire (no authzid).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.username.len() + self.password.len() + 2);
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.password);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_with_and_without_authzid() {
        let m = PlainMessage::parse(b"\0alice\0s3cret").unwrap();
        assert_eq!(
            (m.username.as_str(), &m.password[..]),
            ("alice", &b"s3cret"[..])
        );
        assert_eq!(PlainMessage::parse(&m.to_bytes()).unwrap(), m);
        assert!(PlainMessage::parse(b"alice\0alice\0pw").is_ok());
        for bad in [
            &b""[..],
            b"\0alice",
            b"bob\0alice\0pw",
            b"\0\0pw",
            b"\0alice\0",
        ] {
            assert!(PlainMessage::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{m:?}").contains("s3cret"));
    }

    proptest! {
        #[test]
        fn never_panics(raw in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = PlainMessage::parse(&raw);
        }
    }
}
