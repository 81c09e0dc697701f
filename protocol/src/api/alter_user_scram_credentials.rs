//! AlterUserScramCredentials: add, replace or remove users' SCRAM credentials (Kafka's
//! API 51). The client salts the password itself and sends only the salt and the
//! salted password, so the password never crosses the wire; the broker derives and
//! keeps StoredKey and ServerKey.
//!
//! ```text
//! request:  deletions array<ScramCredentialDeletion> | upsertions array<ScramCredentialUpsertion>
//! ScramCredentialDeletion:  name string | mechanism i8
//! ScramCredentialUpsertion: name string | mechanism i8 | iterations i32 | salt bytes
//!                           | salted_password bytes
//! response: results array<AlterUserScramCredentialsResult>
//! AlterUserScramCredentialsResult: user string | error_code i16 | error_message string (nullable)
//! ```

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// The changes to make.
///
/// ```text
/// deletions array<ScramCredentialDeletion> | upsertions array<ScramCredentialUpsertion>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterUserScramCredentialsRequest {
    /// Credentials to remove.
    pub deletions: Vec<ScramCredentialDeletion>,
    /// Credentials to add or replace.
    pub upsertions: Vec<ScramCredentialUpsertion>,
}

/// Remove one user's credential for one mechanism.
///
/// ```text
/// name string | mechanism i8
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentialDeletion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism number (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512).
    pub mechanism: i8,
}

/// Add or replace one user's credential for one mechanism.
///
/// ```text
/// name string | mechanism i8 | iterations i32 | salt bytes | salted_password bytes
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentialUpsertion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism number.
    pub mechanism: i8,
    /// PBKDF2 iterations used.
    pub iterations: i32,
    /// The salt used.
    pub salt: Bytes,
    /// PBKDF2(password, salt, iterations): a secret, hidden from `Debug`.
    pub salted_password: Bytes,
}

impl std::fmt::Debug for ScramCredentialUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentialUpsertion")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// One result per user named in the request.
///
/// ```text
/// results array<AlterUserScramCredentialsResult>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterUserScramCredentialsResponse {
    /// Per user.
    pub results: Vec<AlterUserScramCredentialsResult>,
}

/// The outcome for one user.
///
/// ```text
/// user string | error_code i16 | error_message string (nullable)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterUserScramCredentialsResult {
    /// The user.
    pub user: String,
    /// e.g. [`ErrorCode::ResourceNotFound`], [`ErrorCode::UnacceptableCredential`].
    pub error_code: ErrorCode,
    /// Its explanation.
    pub error_message: Option<String>,
}

impl Wire for ScramCredentialDeletion {
    const MIN_BYTES: usize = 3;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("name", &self.name)?;
        out.put_i8(self.mechanism);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("name")?,
            mechanism: r.i8("mechanism")?,
        })
    }
}

impl Wire for ScramCredentialUpsertion {
    const MIN_BYTES: usize = 2 + 1 + 4 + 4 + 4;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("name", &self.name)?;
        out.put_i8(self.mechanism);
        out.put_i32(self.iterations);
        out.put_bytes("salt", &self.salt)?;
        out.put_bytes("salted_password", &self.salted_password)
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            name: r.string("name")?,
            mechanism: r.i8("mechanism")?,
            iterations: r.i32("iterations")?,
            salt: r.bytes("salt")?,
            salted_password: r.bytes("salted_password")?,
        })
    }
}

impl Wire for AlterUserScramCredentialsResult {
    const MIN_BYTES: usize = 2 + 2 + 2;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("user", &self.user)?;
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            user: r.string("user")?,
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
        })
    }
}

impl Message for AlterUserScramCredentialsRequest {
    const API_KEY: ApiKey = ApiKey::AlterUserScramCredentials;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("deletions", &self.deletions, version)?;
        out.put_array("upsertions", &self.upsertions, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            deletions: r.array("deletions", version)?,
            upsertions: r.array("upsertions", version)?,
        })
    }
}

impl Message for AlterUserScramCredentialsResponse {
    const API_KEY: ApiKey = ApiKey::AlterUserScramCredentials;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_array("results", &self.results, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            results: r.array("results", version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::{request_round_trip, response_round_trip};

    #[test]
    fn round_trips() {
        let upsertion = ScramCredentialUpsertion {
            name: "alice".into(),
            mechanism: 2,
            iterations: 8192,
            salt: Bytes::from_static(b"0123456789abcdef"),
            salted_password: Bytes::from(vec![7u8; 64]),
        };
        assert!(!format!("{upsertion:?}").contains("salted_password"));
        request_round_trip(AlterUserScramCredentialsRequest {
            deletions: vec![ScramCredentialDeletion {
                name: "bob".into(),
                mechanism: 1,
            }],
            upsertions: vec![upsertion],
        });
        response_round_trip(AlterUserScramCredentialsResponse {
            results: vec![AlterUserScramCredentialsResult {
                user: "bob".into(),
                error_code: ErrorCode::ResourceNotFound,
                error_message: Some("no such user".into()),
            }],
        });
    }
}
