//! The client side of a SCRAM exchange: client-first, then client-final computed from
//! the server's challenge, then a check of the server's signature.

use thiserror::Error;

use super::scram::{self, CredentialError, ScramCredential, ITERATIONS_MAX, ITERATIONS_MIN};
use super::scram_messages::{ClientFinal, ClientFirst, ScramError, ServerFinal, ServerFirst};
use super::ScramMechanism;

/// Why the client side of an exchange failed.
#[derive(Debug, Error)]
pub enum ScramClientError {
    /// A message was malformed, or the server's signature wrong.
    #[error(transparent)]
    Scram(#[from] ScramError),
    /// The server asked for an iteration count outside the accepted range.
    #[error("the server asked for {iterations} SCRAM iterations, outside {ITERATIONS_MIN}..={ITERATIONS_MAX}")]
    Iterations {
        /// The count asked for.
        iterations: u32,
    },
    /// The nonce or salt could not be made or used.
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

/// A SCRAM exchange before the server's challenge.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: Vec<u8>,
    first: ClientFirst,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.first.username)
            .finish_non_exhaustive()
    }
}

/// A SCRAM exchange waiting for the server's signature.
#[derive(Debug)]
pub struct AwaitingServerFinal {
    expected_signature: Vec<u8>,
}

impl ScramClient {
    /// Starts an exchange for `username` with a fresh random nonce.
    pub fn new(
        mechanism: ScramMechanism,
        username: &str,
        password: &[u8],
    ) -> Result<Self, CredentialError> {
        let nonce = scram::random_nonce()?;
        Ok(Self {
            mechanism,
            password: password.to_vec(),
            first: ClientFirst::new(username, &nonce),
        })
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        self.first.to_bytes()
    }

    /// The client-final message answering `server_first`.
    pub fn client_final(
        self,
        server_first: &[u8],
    ) -> Result<(Vec<u8>, AwaitingServerFinal), ScramClientError> {
        let challenge = ServerFirst::parse(server_first)?;
        if !challenge.nonce.starts_with(&self.first.nonce)
            || challenge.nonce.len() == self.first.nonce.len()
        {
            return Err(ScramError::NonceMismatch.into());
        }
        if !(ITERATIONS_MIN..=ITERATIONS_MAX).contains(&challenge.iterations) {
            return Err(ScramClientError::Iterations {
                iterations: challenge.iterations,
            });
        }
        let m = self.mechanism;
        let salted =
            scram::salted_password(m, &self.password, &challenge.salt, challenge.iterations);
        let credential = ScramCredential::from_salted_password(
            m,
            &challenge.salt,
            challenge.iterations,
            &salted,
        )?;
        let without_proof =
            ClientFinal::without_proof_for(&self.first.gs2_header, &challenge.nonce);
        let auth_message = format!(
            "{},{},{}",
            self.first.bare,
            std::str::from_utf8(server_first).unwrap_or_default(),
            without_proof
        );
        let client_key = scram::hmac_of(m, &salted, b"Client Key");
        let signature = scram::hmac_of(m, &credential.stored_key, auth_message.as_bytes());
        let proof = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let message = ClientFinal::new(&self.first.gs2_header, &challenge.nonce, proof);
        let awaiting = AwaitingServerFinal {
            expected_signature: credential.server_signature(auth_message.as_bytes()),
        };
        Ok((message.to_bytes(), awaiting))
    }
}

impl AwaitingServerFinal {
    /// Checks the server-final message: `Ok` when the server proved it holds the
    /// user's credential.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        match ServerFinal::parse(server_final)? {
            ServerFinal::Error(e) => Err(ScramError::ServerRefused(e)),
            ServerFinal::Verifier(v) if scram::constant_time_eq(&v, &self.expected_signature) => {
                Ok(())
            }
            ServerFinal::Verifier(_) => Err(ScramError::ServerSignature),
        }
    }
}
