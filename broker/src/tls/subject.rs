//! A certificate's subject as an RFC 4514 string (`CN=alice,O=Example`), the form Kafka
//! gives an mTLS principal (`User:CN=alice,O=Example`).
//!
//! RFC 4514 writes the relative distinguished names last-to-first (the most specific
//! first), joins attributes of one multi-valued RDN with `+`, names well-known attribute
//! types by keyword and others by dotted OID, escapes the special characters of string
//! values and writes values that are not strings as `#` and their DER in hex.

use std::fmt::Write;

use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// Keywords of the attribute types RFC 4514 (section 3) names, by OID.
const KEYWORDS: [(&str, &str); 9] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject of a DER certificate in RFC 4514 form; `None` if the certificate cannot
/// be parsed (a verified peer certificate always can).
pub fn subject_rfc4514(certificate_der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    let rdns: Vec<_> = certificate.subject().iter().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attribute);
        }
    }
    Some(out)
}

fn write_attribute(out: &mut String, attribute: &AttributeTypeAndValue) {
    let oid = attribute.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(id, _)| *id == oid).map(|(_, k)| *k);
    out.push_str(keyword.unwrap_or(&oid));
    out.push('=');
    match (keyword, attribute.as_str()) {
        (Some(_), Ok(value)) => escape_value(out, value),
        _ => {
            out.push('#');
            let der = attribute.attr_value().to_der_vec().unwrap_or_default();
            for byte in der {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

/// Appends `value` escaped as RFC 4514 section 2.4 says.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    use super::*;

    fn certificate_with(subject: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["alice.example".to_string()]).unwrap();
        let mut name = DistinguishedName::new();
        for (kind, value) in subject {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_is_written_most_specific_first() {
        let der = certificate_with(&[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Example"),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(
            subject_rfc4514(&der).as_deref(),
            Some("CN=alice,O=Example,C=DE")
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        let der = certificate_with(&[(DnType::CommonName, " a,b+c=\"d\"#")]);
        assert_eq!(
            subject_rfc4514(&der).as_deref(),
            Some("CN=\\ a\\,b\\+c=\\\"d\\\"#")
        );
        let mut escaped = String::new();
        escape_value(&mut escaped, "#x ");
        assert_eq!(escaped, "\\#x\\ ");
    }

    #[test]
    fn garbage_is_not_a_subject() {
        assert_eq!(subject_rfc4514(b"not a certificate"), None);
    }
}
