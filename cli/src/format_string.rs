//! `rill tail --format '%k %s\n'`: a record layout in the spirit of kcat's `-f`.
//!
//! Fields: `%t` topic, `%p` partition, `%o` offset, `%k` key, `%s` value, `%T`
//! timestamp (ms since the epoch), `%h` headers (`k=v,k2=v2`), `%K` / `%S` key / value
//! length in bytes (-1 for null), `%%` a percent sign. Escapes: `\n`, `\r`, `\t`, `\\`.
//! Keys, values and headers are written raw, as kcat does: the layout is the user's,
//! so nothing is escaped; `%K` / `%S` tell a null key or value from an empty one.
//! Nothing is added after a record: end the format with `\n` for one record a line.

use std::fmt;

use rill_client::ConsumerRecord;

/// One piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    Value,
    Timestamp,
    Headers,
    KeyLength,
    ValueLength,
}

/// A parsed `--format` string.
#[derive(Clone, PartialEq, Eq)]
pub struct FormatString {
    source: String,
    pieces: Vec<Piece>,
}

impl fmt::Debug for FormatString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FormatString({:?})", self.source)
    }
}

impl FormatString {
    /// Parses `source`; an unknown `%x` or `\x`, or a trailing `%` or `\`, is an error
    /// that names it.
    pub fn parse(source: &str) -> Result<FormatString, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let field = match chars.next() {
                        Some('%') => {
                            literal.push(b'%');
                            continue;
                        }
                        Some(f) => field_piece(f)?,
                        None => return Err("the format ends with a lone %".to_owned()),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(field);
                }
                '\\' => literal.push(escape_byte(chars.next())?),
                c => {
                    let mut buf = [0u8; 4];
                    literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(FormatString {
            source: source.to_owned(),
            pieces,
        })
    }

    /// Appends `record` laid out by this format.
    pub fn render(&self, record: &ConsumerRecord, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Topic => out.extend_from_slice(record.topic.as_bytes()),
                Piece::Partition => push_display(out, record.partition),
                Piece::Offset => push_display(out, record.offset),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::Timestamp => push_display(out, record.timestamp),
                Piece::Headers => raw_headers(record, out),
                Piece::KeyLength => push_display(out, length(record.key.as_deref())),
                Piece::ValueLength => push_display(out, length(record.value.as_deref())),
            }
        }
    }
}

fn field_piece(field: char) -> Result<Piece, String> {
    Ok(match field {
        't' => Piece::Topic,
        'p' => Piece::Partition,
        'o' => Piece::Offset,
        'k' => Piece::Key,
        's' => Piece::Value,
        'T' => Piece::Timestamp,
        'h' => Piece::Headers,
        'K' => Piece::KeyLength,
        'S' => Piece::ValueLength,
        other => {
            return Err(format!(
                "unknown field %{other} in the format (known: %t %p %o %k %s %T %h %K %S %%)"
            ))
        }
    })
}

fn escape_byte(next: Option<char>) -> Result<u8, String> {
    match next {
        Some('n') => Ok(b'\n'),
        Some('r') => Ok(b'\r'),
        Some('t') => Ok(b'\t'),
        Some('\\') => Ok(b'\\'),
        Some(other) => Err(format!(
            "unknown escape \\{other} in the format (known: \\n \\r \\t \\\\)"
        )),
        None => Err("the format ends with a lone \\".to_owned()),
    }
}

fn push_display(out: &mut Vec<u8>, value: impl fmt::Display) {
    out.extend_from_slice(value.to_string().as_bytes());
}

fn length(bytes: Option<&[u8]>) -> i64 {
    bytes.map_or(-1, |b| i64::try_from(b.len()).unwrap_or(i64::MAX))
}

/// Headers as `k=v,k2=v2`, raw; a null value prints as the key alone.
fn raw_headers(record: &ConsumerRecord, out: &mut Vec<u8>) {
    for (i, (key, value)) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_795_428_000_123,
            key: None,
            value: Some(Bytes::from_static(b"a\tb\\c")),
            headers: vec![
                ("trace".into(), Some(Bytes::from_static(b"abc"))),
                ("flag".into(), None),
            ],
        }
    }

    fn render(format: &str, record: &ConsumerRecord) -> Vec<u8> {
        let mut out = Vec::new();
        FormatString::parse(format)
            .unwrap()
            .render(record, &mut out);
        out
    }

    #[test]
    fn every_field() {
        let out = render("%t|%p|%o|%k|%s|%T|%h|%K|%S|%%\n", &record());
        assert_eq!(
            out,
            b"orders|2|41||a\tb\\c|1795428000123|trace=abc,flag|-1|5|%\n"
        );
    }

    #[test]
    fn escapes_in_the_format() {
        assert_eq!(render("%o\\t%s\\\\\\r\\n", &record()), b"41\ta\tb\\c\\\r\n");
    }

    #[test]
    fn empty_key_differs_from_null_by_length() {
        let mut r = record();
        r.key = Some(Bytes::new());
        assert_eq!(render("%K:%k.", &r), b"0:.");
        r.key = None;
        assert_eq!(render("%K:%k.", &r), b"-1:.");
    }

    #[test]
    fn unknown_fields_and_escapes_are_errors() {
        for bad in ["%x", "abc%", "\\q", "x\\"] {
            assert!(FormatString::parse(bad).is_err(), "{bad}");
        }
        let error = FormatString::parse("%z").unwrap_err();
        assert!(error.contains("%z"), "{error}");
    }

    #[test]
    fn utf8_literals_are_kept() {
        assert_eq!(render("é→%p", &record()), "é→2".as_bytes());
    }
}
