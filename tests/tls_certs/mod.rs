//! Certificates for the TLS tests, made fresh by each test with `rcgen` in a temporary
//! directory: a CA; a server certificate for 127.0.0.1 and localhost; an expired one; one
//! for another host; a client certificate (`CN=alice,O=Example`) for mTLS; and a second CA
//! that signed none of them. Shared by the TLS tests of several crates (`#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// Every file a TLS test needs, in a directory removed on drop.
#[derive(Debug)]
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The CA that signed the identities below (PEM).
    pub ca: PathBuf,
    /// A CA that signed nothing here (a "wrong CA" for clients to trust).
    pub other_ca: PathBuf,
    /// Valid for 127.0.0.1, ::1 and localhost.
    pub server: Identity,
    /// Valid for 127.0.0.1 and localhost, but expired in 2021.
    pub expired: Identity,
    /// Valid only for broker.elsewhere.example.
    pub wrong_host: Identity,
    /// A second server certificate for 127.0.0.1 (`CN=rill renewed`), to reload.
    pub renewed: Identity,
    /// A client certificate, subject `CN=alice,O=Example`.
    pub client: Identity,
    /// A client certificate signed by `other_ca`.
    pub untrusted_client: Identity,
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Pki {
    /// Generates everything (a few milliseconds).
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("Rill test CA");
        let other = ca_with_name("Some other CA");
        let local = ["127.0.0.1", "::1", "localhost"];
        let write_ca = |name: &str, ca: &Ca| write(dir.path(), name, &ca.cert.pem());
        Pki {
            ca: write_ca("ca.pem", &ca),
            other_ca: write_ca("other-ca.pem", &other),
            server: leaf(
                dir.path(),
                "server",
                &ca,
                &local,
                "rill server",
                false,
                None,
            ),
            expired: leaf(
                dir.path(),
                "expired",
                &ca,
                &local,
                "rill expired",
                false,
                Some((2020, 2021)),
            ),
            wrong_host: leaf(
                dir.path(),
                "wrong-host",
                &ca,
                &["broker.elsewhere.example"],
                "rill elsewhere",
                false,
                None,
            ),
            renewed: leaf(
                dir.path(),
                "renewed",
                &ca,
                &local,
                "rill renewed",
                false,
                None,
            ),
            client: leaf(dir.path(), "client", &ca, &[], "alice", true, None),
            untrusted_client: leaf(
                dir.path(),
                "untrusted-client",
                &other,
                &[],
                "mallory",
                true,
                None,
            ),
            dir,
        }
    }

    /// A path in the certificates' directory (for files a test writes).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn ca(name: &str) -> Ca {
    ca_with_name(name)
}

fn ca_with_name(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A leaf certificate signed by `ca`; `client` makes a client certificate (`O=Example`),
/// `years` sets the validity to those two years' first days.
fn leaf(
    dir: &Path,
    name: &str,
    ca: &Ca,
    hosts: &[&str],
    common_name: &str,
    client: bool,
    years: Option<(i32, i32)>,
) -> Identity {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    // rcgen's default subject holds a common name; start from an empty one so the
    // attributes keep the order pushed.
    params.distinguished_name = DistinguishedName::new();
    if client {
        // Most general first: the subject reads `CN=alice,O=Example` in RFC 4514 order.
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    } else {
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    }
    if let Some((from, to)) = years {
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Identity {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    }
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}
