//! The SASL mechanisms Rill speaks, by their IANA names.

use std::fmt;
use std::str::FromStr;

use ring::{digest, hmac, pbkdf2};
use thiserror::Error;

/// A SASL mechanism, as named in SaslHandshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaslMechanism {
    /// User name and password in one message (RFC 4616); safe only over TLS.
    Plain,
    /// SCRAM with SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Every mechanism, in the order brokers list them.
    pub const ALL: &'static [SaslMechanism] = &[
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
        SaslMechanism::Plain,
    ];

    /// The IANA name, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The SCRAM variant, or `None` for PLAIN.
    pub fn scram(self) -> Option<ScramMechanism> {
        match self {
            SaslMechanism::Plain => None,
            SaslMechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramMechanism::Sha512),
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mechanism name Rill does not speak.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown SASL mechanism {name:?}: expected SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN")]
pub struct UnknownMechanism {
    /// The name given.
    pub name: String,
}

impl FromStr for SaslMechanism {
    type Err = UnknownMechanism;

    /// Parses an IANA name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SaslMechanism::ALL
            .iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMechanism {
                name: s.to_string(),
            })
    }
}

/// The hash a SCRAM exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramMechanism {
    /// Both SCRAM variants.
    pub const ALL: &'static [ScramMechanism] = &[ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism.
    pub fn sasl(self) -> SaslMechanism {
        match self {
            ScramMechanism::Sha256 => SaslMechanism::ScramSha256,
            ScramMechanism::Sha512 => SaslMechanism::ScramSha512,
        }
    }

    /// The IANA name, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> &'static str {
        self.sasl().name()
    }

    /// Kafka's number for it in Describe/AlterUserScramCredentials (1 or 2).
    pub fn kafka_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism for Kafka's number, if it is one.
    pub fn from_kafka_type(kafka_type: i8) -> Option<Self> {
        ScramMechanism::ALL
            .iter()
            .copied()
            .find(|m| m.kafka_type() == kafka_type)
    }

    /// Bytes of one hash (and of every key).
    pub fn key_bytes(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    pub(crate) fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    pub(crate) fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    pub(crate) fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for &m in SaslMechanism::ALL {
            assert_eq!(m.name().parse::<SaslMechanism>(), Ok(m));
            assert_eq!(m.name().to_lowercase().parse::<SaslMechanism>(), Ok(m));
        }
        assert!("GSSAPI".parse::<SaslMechanism>().is_err());
        for &m in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::from_kafka_type(m.kafka_type()), Some(m));
        }
        assert_eq!(ScramMechanism::from_kafka_type(0), None);
    }
}
