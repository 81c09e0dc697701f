//! SASL user administration: create (or change the password of), delete and list the
//! users a broker authenticates. The password is salted here, in the client: only the
//! salt and the salted password go to the broker (Kafka's AlterUserScramCredentials).

use bytes::Bytes;
use rill_protocol::api::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResult, ScramCredentialDeletion,
    ScramCredentialUpsertion,
};
use rill_protocol::api::describe_user_scram_credentials::DescribeUserScramCredentialsRequest;
use rill_protocol::error_code::ErrorCode;
use rill_protocol::sasl::scram::{self, ITERATIONS_DEFAULT, SALT_BYTES_DEFAULT};
use rill_protocol::sasl::{ScramMechanism, PASSWORD_BYTES_MAX};

use super::Admin;
use crate::error::{ClientError, Result};

/// A user as [`Admin::list_users`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListing {
    /// The user name.
    pub name: String,
    /// The SCRAM mechanisms the user can log in with, and their iteration counts.
    pub mechanisms: Vec<(ScramMechanism, u32)>,
}

impl Admin {
    /// Creates `name` (or replaces its password) with a credential per mechanism in
    /// `mechanisms` (both SCRAM mechanisms when empty).
    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        mechanisms: &[ScramMechanism],
    ) -> Result<()> {
        if password.is_empty() || password.len() > PASSWORD_BYTES_MAX {
            return Err(ClientError::config(
                "password",
                format!("must be 1 to {PASSWORD_BYTES_MAX} bytes"),
            ));
        }
        let mechanisms = if mechanisms.is_empty() {
            ScramMechanism::ALL
        } else {
            mechanisms
        };
        let mut upsertions = Vec::with_capacity(mechanisms.len());
        for &mechanism in mechanisms {
            let salt = scram::random_bytes(SALT_BYTES_DEFAULT)
                .map_err(|e| ClientError::config("password", e.to_string()))?;
            let salted =
                scram::salted_password(mechanism, password.as_bytes(), &salt, ITERATIONS_DEFAULT);
            upsertions.push(ScramCredentialUpsertion {
                name: name.to_owned(),
                mechanism: mechanism.kafka_type(),
                iterations: ITERATIONS_DEFAULT as i32,
                salt: Bytes::from(salt),
                salted_password: Bytes::from(salted),
            });
        }
        let request = AlterUserScramCredentialsRequest {
            deletions: Vec::new(),
            upsertions,
        };
        check(self.slot.call(&request).await?.results)
    }

    /// Deletes `name` (every credential it has).
    pub async fn delete_user(&self, name: &str) -> Result<()> {
        let users = self.describe_users(Some(vec![name.to_owned()])).await?;
        let deletions = users
            .into_iter()
            .flat_map(|u| u.mechanisms)
            .map(|(mechanism, _)| ScramCredentialDeletion {
                name: name.to_owned(),
                mechanism: mechanism.kafka_type(),
            })
            .collect();
        let request = AlterUserScramCredentialsRequest {
            deletions,
            upsertions: Vec::new(),
        };
        check(self.slot.call(&request).await?.results)
    }

    /// Every user, sorted by name.
    pub async fn list_users(&self) -> Result<Vec<UserListing>> {
        self.describe_users(None).await
    }

    async fn describe_users(&self, users: Option<Vec<String>>) -> Result<Vec<UserListing>> {
        let response = self
            .slot
            .call(&DescribeUserScramCredentialsRequest { users })
            .await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::broker(
                response.error_code,
                "",
                None,
                response.error_message,
            ));
        }
        let mut listed = Vec::with_capacity(response.results.len());
        for user in response.results {
            if user.error_code != ErrorCode::None {
                return Err(ClientError::broker(
                    user.error_code,
                    user.user,
                    None,
                    user.error_message,
                ));
            }
            let mechanisms = user
                .credentials
                .iter()
                .filter_map(|c| {
                    let m = ScramMechanism::from_kafka_type(c.mechanism)?;
                    Some((m, u32::try_from(c.iterations).unwrap_or(0)))
                })
                .collect();
            listed.push(UserListing {
                name: user.user,
                mechanisms,
            });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
}

fn check(results: Vec<AlterUserScramCredentialsResult>) -> Result<()> {
    match results
        .into_iter()
        .find(|r| r.error_code != ErrorCode::None)
    {
        Some(r) => Err(ClientError::broker(
            r.error_code,
            r.user,
            None,
            r.error_message,
        )),
        None => Ok(()),
    }
}
