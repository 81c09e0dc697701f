//! The broker's side of a SCRAM exchange (RFC 5802 section 5):
//!
//! 1. client-first → [`ScramServer::first`]: looks the user up, answers server-first
//!    (client nonce + a fresh server nonce, the user's salt and iterations). An unknown
//!    user gets a stand-in salt, so the answer does not reveal which users exist.
//! 2. client-final → [`AwaitingFinal::finish`]: checks the nonce and channel binding,
//!    checks the proof against StoredKey in constant time, and answers server-final
//!    with the ServerSignature.

use rill_protocol::sasl::scram::{self, ScramCredential, ITERATIONS_DEFAULT};
use rill_protocol::sasl::scram_messages::{
    ClientFinal, ClientFirst, ScramError, ServerFinal, ServerFirst,
};
use rill_protocol::sasl::ScramMechanism;
use thiserror::Error;

use super::credentials::CredentialStore;

/// Why an exchange failed. Carries the user name (when known) for the log, never a proof.
#[derive(Debug, Error)]
pub enum ScramFailure {
    /// A message did not parse, or the exchange was not followed.
    #[error(transparent)]
    Protocol(#[from] ScramError),
    /// No such user, or a wrong password: the proof does not verify.
    #[error("wrong password or unknown user")]
    BadProof,
    /// The server nonce could not be made.
    #[error("cannot make a SCRAM nonce: {0}")]
    Nonce(#[from] scram::CredentialError),
}

/// Starts exchanges for one mechanism.
#[derive(Debug, Clone, Copy)]
pub struct ScramServer {
    mechanism: ScramMechanism,
}

/// An exchange waiting for the client's final message.
#[derive(Debug, Clone)]
pub struct AwaitingFinal {
    /// The user the client named.
    pub username: String,
    /// `None` for an unknown user: the exchange runs on and fails at the proof.
    credential: Option<ScramCredential>,
    gs2_header: String,
    nonce: String,
    /// `client-first-bare "," server-first`, the start of the AuthMessage.
    auth_prefix: String,
}

impl ScramServer {
    /// A server for `mechanism`.
    pub fn new(mechanism: ScramMechanism) -> Self {
        Self { mechanism }
    }

    /// Handles client-first: returns server-first and the exchange's next state.
    pub fn first(
        &self,
        store: &CredentialStore,
        client_first: &[u8],
    ) -> Result<(Vec<u8>, AwaitingFinal), ScramFailure> {
        let first = ClientFirst::parse(client_first)?;
        let credential = store.get(&first.username, self.mechanism);
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.clone(), c.iterations),
            None => (store.decoy_salt(&first.username), ITERATIONS_DEFAULT),
        };
        let nonce = format!("{}{}", first.nonce, scram::random_nonce()?);
        let server_first = ServerFirst {
            nonce: nonce.clone(),
            salt,
            iterations,
        }
        .to_text();
        let state = AwaitingFinal {
            username: first.username,
            credential,
            gs2_header: first.gs2_header,
            nonce,
            auth_prefix: format!("{},{server_first}", first.bare),
        };
        Ok((server_first.into_bytes(), state))
    }
}

impl AwaitingFinal {
    /// Handles client-final: the server-final message when the proof verifies.
    pub fn finish(self, client_final: &[u8]) -> Result<Vec<u8>, ScramFailure> {
        let last = ClientFinal::parse(client_final)?;
        if last.nonce != self.nonce {
            return Err(ScramError::NonceMismatch.into());
        }
        if last.gs2_header != self.gs2_header.as_bytes() {
            return Err(ScramError::Malformed {
                message: "client-final message",
                reason: "c= does not echo the gs2 header",
            }
            .into());
        }
        let auth_message = format!("{},{}", self.auth_prefix, last.without_proof);
        let Some(credential) = self.credential else {
            return Err(ScramFailure::BadProof);
        };
        if !credential.matches_proof(auth_message.as_bytes(), &last.proof) {
            return Err(ScramFailure::BadProof);
        }
        let signature = credential.server_signature(auth_message.as_bytes());
        Ok(ServerFinal::Verifier(signature).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::credentials::Change;
    use rill_protocol::sasl::scram_client::ScramClient;

    fn store_with(
        user: &str,
        password: &str,
        m: ScramMechanism,
    ) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        let credential = ScramCredential::from_password(m, password.as_bytes(), 4096).unwrap();
        store
            .alter(&[Change::Upsert {
                user: user.into(),
                credential,
            }])
            .unwrap();
        (dir, store)
    }

    fn exchange(
        store: &CredentialStore,
        m: ScramMechanism,
        user: &str,
        pw: &str,
    ) -> Result<(), ScramFailure> {
        let client = ScramClient::new(m, user, pw.as_bytes()).unwrap();
        let (server_first, state) = ScramServer::new(m).first(store, &client.client_first())?;
        let (client_final, awaiting) = client.client_final(&server_first).unwrap();
        let server_final = state.finish(&client_final)?;
        awaiting
            .verify(&server_final)
            .map_err(ScramFailure::Protocol)
    }

    #[test]
    fn client_and_server_agree_for_both_hashes() {
        for &m in ScramMechanism::ALL {
            let (_dir, store) = store_with("alice", "s3cret", m);
            exchange(&store, m, "alice", "s3cret").unwrap();
            assert!(matches!(
                exchange(&store, m, "alice", "wrong"),
                Err(ScramFailure::BadProof)
            ));
            assert!(matches!(
                exchange(&store, m, "mallory", "s3cret"),
                Err(ScramFailure::BadProof)
            ));
        }
        let (_dir, store) = store_with("alice", "s3cret", ScramMechanism::Sha256);
        assert!(matches!(
            exchange(&store, ScramMechanism::Sha512, "alice", "s3cret"),
            Err(ScramFailure::BadProof)
        ));
    }

    #[test]
    fn unknown_users_look_like_known_ones() {
        let (_dir, store) = store_with("alice", "s3cret", ScramMechanism::Sha256);
        let server = ScramServer::new(ScramMechanism::Sha256);
        let (a, _) = server.first(&store, b"n,,n=ghost,r=abc").unwrap();
        let (b, _) = server.first(&store, b"n,,n=ghost,r=abc").unwrap();
        let salt = |m: &[u8]| ServerFirst::parse(m).unwrap().salt;
        assert_eq!(salt(&a), salt(&b), "a stable stand-in salt");
        assert_eq!(salt(&a).len(), scram::SALT_BYTES_DEFAULT);
    }

    #[test]
    fn a_replayed_or_altered_final_message_fails() {
        let (_dir, store) = store_with("alice", "s3cret", ScramMechanism::Sha256);
        let m = ScramMechanism::Sha256;
        let client = ScramClient::new(m, "alice", b"s3cret").unwrap();
        let (server_first, state) = ScramServer::new(m)
            .first(&store, &client.client_first())
            .unwrap();
        let (client_final, _) = client.client_final(&server_first).unwrap();
        // A second exchange with a new server nonce refuses the first one's final message.
        let client2 = ScramClient::new(m, "alice", b"s3cret").unwrap();
        let (_, state2) = ScramServer::new(m)
            .first(&store, &client2.client_first())
            .unwrap();
        assert!(matches!(
            state2.finish(&client_final),
            Err(ScramFailure::Protocol(_))
        ));
        let altered = String::from_utf8(client_final)
            .unwrap()
            .replace("c=biws", "c=eSws");
        assert!(state.finish(altered.as_bytes()).is_err());
    }
}
