//! DescribeUserScramCredentials: which SCRAM mechanisms (and iteration counts) each
//! user has (Kafka's API 50). Never returns a salt or key.
//!
//! ```text
//! request:  users array<string> (nullable: every user)
//! response: error_code i16 | error_message string (nullable) | results array<UserScramCredentials>
//! UserScramCredentials: user string | error_code i16 | error_message string (nullable)
//!                       | credentials array<ScramCredentialInfo>
//! ScramCredentialInfo:  mechanism i8 (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512) | iterations i32
//! ```

use crate::error_code::ErrorCode;
use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader, Wire};

use super::{ApiKey, Message};

/// Which users to describe.
///
/// ```text
/// users array<string> (nullable: every user)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeUserScramCredentialsRequest {
    /// The users; `None` describes every user.
    pub users: Option<Vec<String>>,
}

/// The users and their mechanisms.
///
/// ```text
/// error_code i16 | error_message string (nullable) | results array<UserScramCredentials>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeUserScramCredentialsResponse {
    /// A request-level error (e.g. not authorized).
    pub error_code: ErrorCode,
    /// Its explanation.
    pub error_message: Option<String>,
    /// One entry per user.
    pub results: Vec<UserScramCredentials>,
}

/// One user's mechanisms, or why they cannot be described
/// ([`ErrorCode::ResourceNotFound`] for an unknown user).
///
/// ```text
/// user string | error_code i16 | error_message string (nullable) | credentials array<ScramCredentialInfo>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserScramCredentials {
    /// The user.
    pub user: String,
    /// The outcome for this user.
    pub error_code: ErrorCode,
    /// Its explanation.
    pub error_message: Option<String>,
    /// The user's mechanisms.
    pub credentials: Vec<ScramCredentialInfo>,
}

/// One mechanism of one user.
///
/// ```text
/// mechanism i8 | iterations i32
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    /// Kafka's mechanism number (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512).
    pub mechanism: i8,
    /// PBKDF2 iterations.
    pub iterations: i32,
}

impl Wire for ScramCredentialInfo {
    const MIN_BYTES: usize = 5;

    fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_i8(self.mechanism);
        out.put_i32(self.iterations);
        Ok(())
    }

    fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            mechanism: r.i8("mechanism")?,
            iterations: r.i32("iterations")?,
        })
    }
}

impl Wire for UserScramCredentials {
    const MIN_BYTES: usize = 2 + 2 + 2 + 4;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_string("user", &self.user)?;
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_array("credentials", &self.credentials, version)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            user: r.string("user")?,
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
            credentials: r.array("credentials", version)?,
        })
    }
}

impl Message for DescribeUserScramCredentialsRequest {
    const API_KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        out.put_nullable_array("users", self.users.as_deref(), version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            users: r.nullable_array("users", version)?,
        })
    }
}

impl Message for DescribeUserScramCredentialsResponse {
    const API_KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
    const MIN_VERSION: u16 = 0;
    const MAX_VERSION: u16 = 0;

    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.error_code.encode(version, out)?;
        out.put_nullable_string("error_message", self.error_message.as_deref())?;
        out.put_array("results", &self.results, version)
    }

    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            error_code: ErrorCode::decode(r, version)?,
            error_message: r.nullable_string("error_message")?,
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
        request_round_trip(DescribeUserScramCredentialsRequest { users: None });
        request_round_trip(DescribeUserScramCredentialsRequest {
            users: Some(vec!["alice".into()]),
        });
        response_round_trip(DescribeUserScramCredentialsResponse {
            error_code: ErrorCode::None,
            error_message: None,
            results: vec![UserScramCredentials {
                user: "alice".into(),
                error_code: ErrorCode::None,
                error_message: None,
                credentials: vec![ScramCredentialInfo {
                    mechanism: 1,
                    iterations: 4096,
                }],
            }],
        });
    }
}
