//! SCRAM key derivation (RFC 5802 section 3) and the credential a server stores.
//!
//! ```text
//! SaltedPassword = PBKDF2-HMAC-H(password, salt, iterations)
//! ClientKey      = HMAC(SaltedPassword, "Client Key")
//! StoredKey      = H(ClientKey)
//! ServerKey      = HMAC(SaltedPassword, "Server Key")
//! ClientProof    = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```
//!
//! A server keeps only salt, iterations, StoredKey and ServerKey: enough to check a
//! proof and sign its answer, not enough to log in as the user elsewhere.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use thiserror::Error;

use super::ScramMechanism;

/// Fewest PBKDF2 iterations accepted (RFC 7677's minimum; Kafka's too).
pub const ITERATIONS_MIN: u32 = 4096;
/// Most iterations accepted: bounds the work one login or one credential costs.
pub const ITERATIONS_MAX: u32 = 16_384;
/// Iterations new credentials get.
pub const ITERATIONS_DEFAULT: u32 = 4096;
/// Bytes of salt new credentials get.
pub const SALT_BYTES_DEFAULT: usize = 24;
/// Shortest salt accepted.
pub const SALT_BYTES_MIN: usize = 8;
/// Longest salt accepted.
pub const SALT_BYTES_MAX: usize = 128;
/// Random bytes in a nonce (base64-encoded on the wire).
pub const NONCE_BYTES: usize = 24;

/// What one user's login is checked against, for one SCRAM mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// Which hash.
    pub mechanism: ScramMechanism,
    /// The salt the password was salted with.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// H(ClientKey): checks the client's proof.
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key"): signs the server's answer.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: whoever holds StoredKey and a sniffed exchange can
        // recover ClientKey.
        f.debug_struct("ScramCredential")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a credential cannot be made from what was given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CredentialError {
    /// Iterations outside [`ITERATIONS_MIN`]..=[`ITERATIONS_MAX`].
    #[error("{iterations} iterations is outside {ITERATIONS_MIN}..={ITERATIONS_MAX}")]
    Iterations {
        /// The count given.
        iterations: u32,
    },
    /// A salt shorter or longer than allowed.
    #[error("a salt of {bytes} bytes is outside {SALT_BYTES_MIN}..={SALT_BYTES_MAX}")]
    Salt {
        /// Its length.
        bytes: usize,
    },
    /// A salted password, or a key, of the wrong length for the hash.
    #[error("{field} is {bytes} bytes; {mechanism} needs {need}")]
    KeyLength {
        /// Which value.
        field: &'static str,
        /// Its length.
        bytes: usize,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// The length it needs.
        need: usize,
    },
    /// The system's random source failed.
    #[error("the system random number generator failed")]
    Random,
}

impl ScramCredential {
    /// The credential for `salted_password` (computed by the client, so the password
    /// itself never travels), checking every length and the iteration count.
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        iterations: u32,
        salted_password: &[u8],
    ) -> Result<Self, CredentialError> {
        check_salt_and_iterations(salt, iterations)?;
        check_key("salted password", mechanism, salted_password)?;
        let client_key = hmac_of(mechanism, salted_password, b"Client Key");
        Ok(Self {
            mechanism,
            salt: salt.to_vec(),
            iterations,
            stored_key: hash_of(mechanism, &client_key),
            server_key: hmac_of(mechanism, salted_password, b"Server Key"),
        })
    }

    /// The credential for `password` with a fresh random salt.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &[u8],
        iterations: u32,
    ) -> Result<Self, CredentialError> {
        let salt = random_bytes(SALT_BYTES_DEFAULT)?;
        check_salt_and_iterations(&salt, iterations)?;
        let salted = salted_password(mechanism, password, &salt, iterations);
        Self::from_salted_password(mechanism, &salt, iterations, &salted)
    }

    /// A credential read back from storage: lengths and iterations checked.
    pub fn from_parts(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        iterations: u32,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    ) -> Result<Self, CredentialError> {
        check_salt_and_iterations(&salt, iterations)?;
        check_key("stored key", mechanism, &stored_key)?;
        check_key("server key", mechanism, &server_key)?;
        Ok(Self {
            mechanism,
            salt,
            iterations,
            stored_key,
            server_key,
        })
    }

    /// Whether `password` is this credential's (PLAIN's check): derives with the stored
    /// salt and compares StoredKeys in constant time. Costs `iterations` HMACs.
    pub fn matches_password(&self, password: &[u8]) -> bool {
        let salted = salted_password(self.mechanism, password, &self.salt, self.iterations);
        let client_key = hmac_of(self.mechanism, &salted, b"Client Key");
        constant_time_eq(&hash_of(self.mechanism, &client_key), &self.stored_key)
    }

    /// Whether `proof` is a valid ClientProof for `auth_message` (constant time).
    pub fn matches_proof(&self, auth_message: &[u8], proof: &[u8]) -> bool {
        if proof.len() != self.stored_key.len() {
            return false;
        }
        let signature = hmac_of(self.mechanism, &self.stored_key, auth_message);
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        constant_time_eq(&hash_of(self.mechanism, &client_key), &self.stored_key)
    }

    /// ServerSignature for `auth_message`.
    pub fn server_signature(&self, auth_message: &[u8]) -> Vec<u8> {
        hmac_of(self.mechanism, &self.server_key, auth_message)
    }
}

fn check_salt_and_iterations(salt: &[u8], iterations: u32) -> Result<(), CredentialError> {
    if !(ITERATIONS_MIN..=ITERATIONS_MAX).contains(&iterations) {
        return Err(CredentialError::Iterations { iterations });
    }
    if !(SALT_BYTES_MIN..=SALT_BYTES_MAX).contains(&salt.len()) {
        return Err(CredentialError::Salt { bytes: salt.len() });
    }
    Ok(())
}

fn check_key(
    field: &'static str,
    mechanism: ScramMechanism,
    key: &[u8],
) -> Result<(), CredentialError> {
    if key.len() != mechanism.key_bytes() {
        return Err(CredentialError::KeyLength {
            field,
            bytes: key.len(),
            mechanism,
            need: mechanism.key_bytes(),
        });
    }
    Ok(())
}

/// PBKDF2 of `password` with `salt` (Hi() in RFC 5802). `iterations` of 0 is taken as 1.
pub fn salted_password(
    mechanism: ScramMechanism,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Vec<u8> {
    let mut out = vec![0u8; mechanism.key_bytes()];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(mechanism.pbkdf2(), iterations, salt, password, &mut out);
    out
}

/// HMAC-H(key, data).
pub fn hmac_of(mechanism: ScramMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(mechanism.hmac(), key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// H(data).
pub fn hash_of(mechanism: ScramMechanism, data: &[u8]) -> Vec<u8> {
    digest::digest(mechanism.digest(), data).as_ref().to_vec()
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `n` bytes from the system's secure random source.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CredentialError> {
    let mut out = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CredentialError::Random)?;
    Ok(out)
}

/// A fresh nonce: [`NONCE_BYTES`] random bytes, base64 (printable, no comma).
pub fn random_nonce() -> Result<String, CredentialError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::STANDARD.encode(random_bytes(NONCE_BYTES)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3's example: user "user", password "pencil".
    #[test]
    fn rfc7677_keys() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = salted_password(ScramMechanism::Sha256, b"pencil", &salt, 4096);
        let cred =
            ScramCredential::from_salted_password(ScramMechanism::Sha256, &salt, 4096, &salted)
                .unwrap();
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = b64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert!(cred.matches_proof(auth.as_bytes(), &proof));
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(!cred.matches_proof(auth.as_bytes(), &wrong));
        assert_eq!(
            b64.encode(cred.server_signature(auth.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(cred.matches_password(b"pencil"));
        assert!(!cred.matches_password(b"pencil2"));
    }

    #[test]
    fn refuses_weak_or_malformed_credentials() {
        let m = ScramMechanism::Sha512;
        assert!(ScramCredential::from_password(m, b"pw", 1000).is_err());
        let salted = vec![0u8; 32];
        assert!(matches!(
            ScramCredential::from_salted_password(m, &[1; 16], 4096, &salted),
            Err(CredentialError::KeyLength { .. })
        ));
        assert!(matches!(
            ScramCredential::from_salted_password(m, &[1; 2], 4096, &[0; 64]),
            Err(CredentialError::Salt { .. })
        ));
        let cred = ScramCredential::from_password(m, b"secret", 4096).unwrap();
        assert!(cred.matches_password(b"secret"));
        assert!(!format!("{cred:?}").contains("stored"));
    }
}
