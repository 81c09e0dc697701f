//! SCRAM's four messages (RFC 5802 section 7), parsed strictly and formatted.
//!
//! ```text
//! client-first: gs2-header client-first-bare
//!               gs2-header = ("n" | "y") "," ["a=" authzid] ","
//!               client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
//! server-first: "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
//! client-final: "c=" base64(gs2-header) ",r=" nonce ["," extensions] ",p=" base64(proof)
//! server-final: "v=" base64(ServerSignature) | "e=" error
//! ```
//!
//! Channel binding (`p=` in the gs2 header) is refused: TLS channel binding is not
//! offered. A `saslname` escapes `,` as `=2C` and `=` as `=3D`; any other `=` is an
//! error. Every message is bounded by [`super::TOKEN_BYTES_MAX`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use thiserror::Error;

use super::{TOKEN_BYTES_MAX, USERNAME_BYTES_MAX};

/// Why a SCRAM message was refused. Never carries a proof or a password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScramError {
    /// The message does not follow the grammar.
    #[error("malformed SCRAM {message}: {reason}")]
    Malformed {
        /// Which message.
        message: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The client asked for channel binding, which is not offered.
    #[error("SCRAM channel binding is not supported")]
    ChannelBinding,
    /// A nonce that does not continue the exchange's.
    #[error("SCRAM nonce does not match the exchange")]
    NonceMismatch,
    /// The server's signature is wrong: it does not know the password.
    #[error("the server's SCRAM signature is wrong (not the broker that holds this user's credentials?)")]
    ServerSignature,
    /// The server ended the exchange with `e=`.
    #[error("the server refused the SCRAM exchange: {0}")]
    ServerRefused(String),
}

fn malformed(message: &'static str, reason: &'static str) -> ScramError {
    ScramError::Malformed { message, reason }
}

/// The client's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The gs2 header, e.g. `n,,` (echoed base64-encoded in the final message).
    pub gs2_header: String,
    /// The user, unescaped.
    pub username: String,
    /// The client's nonce.
    pub nonce: String,
    /// `client-first-bare`, the part the AuthMessage includes.
    pub bare: String,
}

impl ClientFirst {
    /// The message a client sends for `username` with `nonce` (no channel binding).
    pub fn new(username: &str, nonce: &str) -> Self {
        let bare = format!("n={},r={nonce}", escape_saslname(username));
        Self {
            gs2_header: "n,,".to_string(),
            username: username.to_string(),
            nonce: nonce.to_string(),
            bare,
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    /// Parses a client-first message.
    pub fn parse(raw: &[u8]) -> Result<Self, ScramError> {
        const MSG: &str = "client-first message";
        let text = as_text(MSG, raw)?;
        let mut parts = text.splitn(3, ',');
        let cbind = parts.next().unwrap_or_default();
        let authzid = parts.next().ok_or(malformed(MSG, "no gs2 header"))?;
        let bare = parts.next().ok_or(malformed(MSG, "no client-first-bare"))?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(malformed(MSG, "gs2 flag must be n or y")),
        }
        let mut attrs = bare.split(',');
        let username = match attrs.next().and_then(|a| a.strip_prefix("n=")) {
            Some(name) => unescape_saslname(MSG, name)?,
            None => return Err(malformed(MSG, "must start with n=")),
        };
        if !authzid.is_empty() {
            let requested = authzid
                .strip_prefix("a=")
                .ok_or(malformed(MSG, "authzid must start with a="))?;
            if unescape_saslname(MSG, requested)? != username {
                return Err(malformed(MSG, "authzid differs from the user name"));
            }
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(malformed(MSG, "n= must be followed by r="))?;
        check_nonce(MSG, nonce)?;
        attrs.try_for_each(|ext| check_extension(MSG, ext))?;
        Ok(Self {
            gs2_header: format!("{cbind},{authzid},"),
            username,
            nonce: nonce.to_string(),
            bare: bare.to_string(),
        })
    }
}

/// The server's first message: the combined nonce, the salt and the iteration count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// Client nonce followed by the server's.
    pub nonce: String,
    /// The user's salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

impl ServerFirst {
    /// The message text (also part of the AuthMessage).
    pub fn to_text(&self) -> String {
        format!(
            "r={},s={},i={}",
            self.nonce,
            BASE64.encode(&self.salt),
            self.iterations
        )
    }

    /// Parses a server-first message.
    pub fn parse(raw: &[u8]) -> Result<Self, ScramError> {
        const MSG: &str = "server-first message";
        let text = as_text(MSG, raw)?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRefused(error.to_string()));
        }
        let mut attrs = text.split(',');
        let mut next = |prefix: &str| attrs.next().and_then(|a| a.strip_prefix(prefix));
        let nonce = next("r=").ok_or(malformed(MSG, "must start with r="))?;
        let salt = next("s=").ok_or(malformed(MSG, "r= must be followed by s="))?;
        let iterations = next("i=").ok_or(malformed(MSG, "s= must be followed by i="))?;
        check_nonce(MSG, nonce)?;
        Ok(Self {
            nonce: nonce.to_string(),
            salt: BASE64
                .decode(salt)
                .map_err(|_| malformed(MSG, "salt is not base64"))?,
            iterations: iterations
                .parse()
                .map_err(|_| malformed(MSG, "iterations is not a number"))?,
        })
    }
}

/// The client's final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The gs2 header the client echoes (decoded from `c=`).
    pub gs2_header: Vec<u8>,
    /// The combined nonce.
    pub nonce: String,
    /// The client's proof.
    pub proof: Vec<u8>,
    /// `client-final-message-without-proof`, the part the AuthMessage includes.
    pub without_proof: String,
}

impl ClientFinal {
    /// The message for `gs2_header` and `nonce` with `proof`.
    pub fn new(gs2_header: &str, nonce: &str, proof: Vec<u8>) -> Self {
        let without_proof = format!("c={},r={nonce}", BASE64.encode(gs2_header));
        Self {
            gs2_header: gs2_header.as_bytes().to_vec(),
            nonce: nonce.to_string(),
            proof,
            without_proof,
        }
    }

    /// `client-final-message-without-proof` for `gs2_header` and `nonce`.
    pub fn without_proof_for(gs2_header: &str, nonce: &str) -> String {
        format!("c={},r={nonce}", BASE64.encode(gs2_header))
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{},p={}", self.without_proof, BASE64.encode(&self.proof)).into_bytes()
    }

    /// Parses a client-final message.
    pub fn parse(raw: &[u8]) -> Result<Self, ScramError> {
        const MSG: &str = "client-final message";
        let text = as_text(MSG, raw)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(malformed(MSG, "must end with p="))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(malformed(MSG, "must start with c="))?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(malformed(MSG, "c= must be followed by r="))?;
        check_nonce(MSG, nonce)?;
        attrs.try_for_each(|ext| check_extension(MSG, ext))?;
        Ok(Self {
            gs2_header: BASE64
                .decode(cbind)
                .map_err(|_| malformed(MSG, "c= is not base64"))?,
            nonce: nonce.to_string(),
            proof: BASE64
                .decode(proof)
                .map_err(|_| malformed(MSG, "p= is not base64"))?,
            without_proof: without_proof.to_string(),
        })
    }
}

/// The server's final message: its signature, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFinal {
    /// `v=`: proves the server knows the user's ServerKey.
    Verifier(Vec<u8>),
    /// `e=`: the exchange failed.
    Error(String),
}

impl ServerFinal {
    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            ServerFinal::Verifier(v) => format!("v={}", BASE64.encode(v)).into_bytes(),
            ServerFinal::Error(e) => format!("e={e}").into_bytes(),
        }
    }

    /// Parses a server-final message.
    pub fn parse(raw: &[u8]) -> Result<Self, ScramError> {
        const MSG: &str = "server-final message";
        let text = as_text(MSG, raw)?;
        if let Some(error) = text.strip_prefix("e=") {
            return Ok(ServerFinal::Error(error.to_string()));
        }
        let verifier = text
            .strip_prefix("v=")
            .ok_or(malformed(MSG, "must start with v= or e="))?;
        let verifier = verifier.split(',').next().unwrap_or_default();
        BASE64
            .decode(verifier)
            .map(ServerFinal::Verifier)
            .map_err(|_| malformed(MSG, "v= is not base64"))
    }
}

/// Escapes `,` and `=` in a user name (`saslname`).
pub fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn unescape_saslname(message: &'static str, raw: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(malformed(message, "bad escape in the user name")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() || out.len() > USERNAME_BYTES_MAX {
        return Err(malformed(message, "user name empty or too long"));
    }
    Ok(out)
}

fn as_text<'a>(message: &'static str, raw: &'a [u8]) -> Result<&'a str, ScramError> {
    if raw.len() > TOKEN_BYTES_MAX {
        return Err(malformed(message, "longer than the SASL token limit"));
    }
    std::str::from_utf8(raw).map_err(|_| malformed(message, "not UTF-8"))
}

fn check_nonce(message: &'static str, nonce: &str) -> Result<(), ScramError> {
    let printable = |b: u8| (0x21..=0x7e).contains(&b) && b != b',';
    if nonce.is_empty() || !nonce.bytes().all(printable) {
        return Err(malformed(message, "nonce empty or not printable ASCII"));
    }
    Ok(())
}

/// An extension attribute (`x=value`); `m=` (mandatory extensions) is refused.
fn check_extension(message: &'static str, ext: &str) -> Result<(), ScramError> {
    match ext.split_once('=') {
        Some(("m", _)) => Err(malformed(message, "mandatory extensions are not supported")),
        Some((key, _)) if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(())
        }
        _ => Err(malformed(message, "malformed attribute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc_examples() {
        let first = ClientFirst::parse(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
        assert_eq!(first.username, "user");
        assert_eq!(first.nonce, "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(first.bare, "n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(first.gs2_header, "n,,");
        let fin =
            ClientFinal::parse(b"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
                .unwrap();
        assert_eq!(fin.gs2_header, b"n,,");
        assert_eq!(fin.without_proof, "c=biws,r=abc");
        assert_eq!(fin.proof.len(), 32);
        let sf = ServerFirst {
            nonce: "abc".into(),
            salt: vec![1, 2, 3],
            iterations: 4096,
        };
        assert_eq!(ServerFirst::parse(sf.to_text().as_bytes()).unwrap(), sf);
    }

    #[test]
    fn escapes_round_trip() {
        let first = ClientFirst::new("a=b,c", "nonce");
        let parsed = ClientFirst::parse(&first.to_bytes()).unwrap();
        assert_eq!(parsed.username, "a=b,c");
        assert_eq!(parsed, first);
    }

    #[test]
    fn refuses_malformed_messages() {
        for bad in [
            &b""[..],
            b"n,,",
            b"x,,n=u,r=a",
            b"n,,r=a,n=u",
            b"n,,n=,r=a",
            b"n,,n=u=41,r=a",
            b"n,,n=u,r=",
            b"n,,n=u,r=a,m=ext",
            b"n,a=other,n=u,r=a",
            b"n,,n=u,r=a b",
            b"n,,n=\xff,r=a",
        ] {
            assert!(ClientFirst::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ClientFirst::parse(b"p=tls-unique,,n=u,r=a"),
            Err(ScramError::ChannelBinding)
        );
        for bad in [&b"c=biws,r=a"[..], b"r=a,c=biws,p=AA==", b"c=biws,r=a,p=!!"] {
            assert!(ClientFinal::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClientFirst::parse(&vec![b'a'; TOKEN_BYTES_MAX + 1]).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ClientFirst::parse(&raw);
            let _ = ClientFinal::parse(&raw);
            let _ = ServerFirst::parse(&raw);
            let _ = ServerFinal::parse(&raw);
        }

        #[test]
        fn structured_garbage_never_panics(s in "[nyp=a-z0-9,=+/]{0,60}") {
            let _ = ClientFirst::parse(s.as_bytes());
            let _ = ClientFinal::parse(s.as_bytes());
        }

        #[test]
        fn any_name_round_trips(name in "[^\u{0}]{1,40}", nonce in "[!-+--~]{1,30}") {
            let first = ClientFirst::new(&name, &nonce);
            prop_assert_eq!(ClientFirst::parse(&first.to_bytes()).unwrap().username, name);
        }
    }
}
