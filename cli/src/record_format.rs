//! How `rill tail` prints a consumed record: `text`, `json`, `hex` or a format string.
//!
//! - text, the value alone (no `--print-*` flag): the value's bytes exactly as stored,
//!   then a newline, as kcat and kafka-console-consumer print it; so `rill produce`
//!   of a file and `rill tail --from-beginning --no-follow` give the file back byte
//!   for byte. A null value prints as an empty line.
//! - text with fields (`--print-offset`, `--print-timestamp`, `--print-key`,
//!   `--print-headers`): tab-separated fields (`PARTITION:OFFSET`, RFC 3339 timestamp,
//!   key, headers as `k=v,k2=v2`) then the value. Because fields share the line, key,
//!   value and headers are escaped, reversibly: `\\` for a backslash, `\t`, `\n`,
//!   `\r`, `\xNN` for other control bytes and bytes that are not UTF-8 (and for `,`
//!   and `=` inside headers); null is `\N`, so a null key differs from an empty one.
//! - hex: the same layout with key, header values and value in lowercase hex.
//! - json: one object per line with every field, whatever the `--print-*` flags say:
//!   `topic`, `partition`, `offset`, `timestamp` (ms since the epoch), `key`, `value`,
//!   `headers` (`[{"key": .., "value": ..}]`). Bytes that are valid UTF-8 are strings;
//!   others move to `key_base64` / `value_base64`; null is `null`.
//! - a format string such as `'%p:%o %k %s\n'` ([`FormatString`]): fields raw, laid out
//!   as the user wrote.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use rill_client::ConsumerRecord;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::format_string::FormatString;
use super::output::Style;

/// The `--format` of `rill tail`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// The value raw; escaped fields before it with `--print-*`.
    #[default]
    Text,
    /// One JSON object per record with every field.
    Json,
    /// The value (and key, headers) in hex.
    Hex,
    /// A kcat-style format string.
    Template(FormatString),
}

impl RecordFormat {
    /// Parses `text`, `json`, `hex` or a format string (anything with a `%` field).
    pub fn parse(source: &str) -> Result<RecordFormat, String> {
        match source {
            "text" => Ok(RecordFormat::Text),
            "json" => Ok(RecordFormat::Json),
            "hex" => Ok(RecordFormat::Hex),
            s if s.contains('%') => FormatString::parse(s).map(RecordFormat::Template),
            other => Err(format!(
                "unknown format {other:?}: expected text, json, hex or a format string \
                 with %-fields such as '%p:%o %k %s\\n'"
            )),
        }
    }
}

/// Which fields text and hex output print before the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrintFields {
    /// `PARTITION:OFFSET`.
    pub offset: bool,
    /// The timestamp in RFC 3339 (UTC, milliseconds).
    pub timestamp: bool,
    /// The key.
    pub key: bool,
    /// The headers as `k=v,k2=v2`.
    pub headers: bool,
}

impl PrintFields {
    fn any(self) -> bool {
        self.offset || self.timestamp || self.key || self.headers
    }
}

/// Renders records in one format with one set of fields.
#[derive(Debug, Clone)]
pub struct RecordPrinter {
    /// The output format.
    pub format: RecordFormat,
    /// Fields before the value (text and hex).
    pub fields: PrintFields,
    /// Styling for the fields before the value.
    pub style: Style,
}

/// How one byte field is written: escaped text or hex.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Text,
    Hex,
}

impl RecordPrinter {
    /// Writes `record` (with its line ending, except for a format string's own layout).
    pub fn write(&self, out: &mut impl Write, record: &ConsumerRecord) -> io::Result<()> {
        out.write_all(&self.render(record)?)
    }

    /// The bytes printed for `record`.
    pub fn render(&self, record: &ConsumerRecord) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        match &self.format {
            RecordFormat::Json => {
                serde_json::to_writer(&mut line, &JsonRecord(record)).map_err(io::Error::other)?;
                line.push(b'\n');
            }
            RecordFormat::Template(format) => format.render(record, &mut line),
            RecordFormat::Text if !self.fields.any() => {
                line.extend_from_slice(record.value.as_deref().unwrap_or_default());
                line.push(b'\n');
            }
            RecordFormat::Text => self.render_fields(record, Encoding::Text, &mut line),
            RecordFormat::Hex => self.render_fields(record, Encoding::Hex, &mut line),
        }
        Ok(line)
    }

    fn render_fields(&self, record: &ConsumerRecord, encoding: Encoding, line: &mut Vec<u8>) {
        let mut prefix = String::new();
        if self.fields.offset {
            prefix.push_str(&format!("{}:{}\t", record.partition, record.offset));
        }
        if self.fields.timestamp {
            prefix.push_str(&format_timestamp_ms(record.timestamp));
            prefix.push('\t');
        }
        if self.fields.key {
            encode(record.key.as_deref(), encoding, false, &mut prefix);
            prefix.push('\t');
        }
        if self.fields.headers {
            for (i, (key, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    prefix.push(',');
                }
                escape_field(Some(key.as_bytes()), true, &mut prefix);
                if let Some(value) = value {
                    prefix.push('=');
                    encode(Some(value), encoding, true, &mut prefix);
                }
            }
            prefix.push('\t');
        }
        if !prefix.is_empty() {
            line.extend_from_slice(self.style.dim(&prefix).as_bytes());
        }
        let mut value = String::new();
        encode(record.value.as_deref(), encoding, false, &mut value);
        line.extend_from_slice(value.as_bytes());
        line.push(b'\n');
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds; negative (unknown)
/// timestamps print as `-`.
pub fn format_timestamp_ms(timestamp_ms: i64) -> String {
    match u64::try_from(timestamp_ms) {
        Ok(ms) => {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        Err(_) => "-".to_owned(),
    }
}

/// The marker of a null key, value or header value among escaped fields.
pub const NULL_MARKER: &str = "\\N";

fn encode(bytes: Option<&[u8]>, encoding: Encoding, in_headers: bool, out: &mut String) {
    match (encoding, bytes) {
        (Encoding::Text, bytes) => escape_field(bytes, in_headers, out),
        (Encoding::Hex, None) => out.push_str(NULL_MARKER),
        (Encoding::Hex, Some(bytes)) => to_hex(bytes, out),
    }
}

/// Appends a field that shares its line with others, reversibly: valid UTF-8 as is,
/// except `\\` for a backslash, `\t` `\n` `\r`, `\xNN` for other ASCII control
/// bytes and for bytes that are not UTF-8, and (inside headers) `\x2c` for `,` and
/// `\x3d` for `=`. `None` (null) is [`NULL_MARKER`].
pub fn escape_field(bytes: Option<&[u8]>, in_headers: bool, out: &mut String) {
    let Some(bytes) = bytes else {
        out.push_str(NULL_MARKER);
        return;
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                ',' | '=' if in_headers => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
}

/// Appends `bytes` in lowercase hex.
pub fn to_hex(bytes: &[u8], out: &mut String) {
    for byte in bytes {
        out.push_str(&format!("{byte:02x}"));
    }
}

/// A consumed record in the JSON line layout.
struct JsonRecord<'a>(&'a ConsumerRecord);

impl Serialize for JsonRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("topic", &*r.topic)?;
        map.serialize_entry("partition", &r.partition)?;
        map.serialize_entry("offset", &r.offset)?;
        map.serialize_entry("timestamp", &r.timestamp)?;
        bytes_entry(&mut map, "key", r.key.as_ref())?;
        bytes_entry(&mut map, "value", r.value.as_ref())?;
        let headers: Vec<JsonHeader<'_>> = r.headers.iter().map(JsonHeader).collect();
        map.serialize_entry("headers", &headers)?;
        map.end()
    }
}

/// A header in the JSON line layout: `{"key": "k", "value": "v"}`.
struct JsonHeader<'a>(&'a (String, Option<Bytes>));

impl Serialize for JsonHeader<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (key, value) = self.0;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("key", key)?;
        bytes_entry(&mut map, "value", value.as_ref())?;
        map.end()
    }
}

/// Writes `name: "text"` for UTF-8 bytes, `name_base64: "..."` otherwise, `name: null`
/// for none.
fn bytes_entry<M: SerializeMap>(
    map: &mut M,
    name: &str,
    bytes: Option<&Bytes>,
) -> Result<(), M::Error> {
    match bytes.map(|b| std::str::from_utf8(b).map_err(|_| b)) {
        None => map.serialize_entry(name, &None::<&str>),
        Some(Ok(text)) => map.serialize_entry(name, text),
        Some(Err(raw)) => map.serialize_entry(
            &format!("{name}_base64"),
            &base64::engine::general_purpose::STANDARD.encode(raw),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_795_428_000_123,
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                ("trace".into(), Some(Bytes::from_static(b"abc"))),
                ("flag".into(), None),
            ],
        }
    }

    fn printer(format: RecordFormat, fields: PrintFields) -> RecordPrinter {
        RecordPrinter {
            format,
            fields,
            style: Style::new(false),
        }
    }

    fn key_only() -> PrintFields {
        PrintFields {
            key: true,
            ..PrintFields::default()
        }
    }

    /// The inverse of [`escape_field`]: proves the escaping is reversible.
    fn unescape(text: &str) -> Option<Vec<u8>> {
        if text == NULL_MARKER {
            return None;
        }
        let bytes = text.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < bytes.len() {
            if bytes[i] != b'\\' {
                out.push(bytes[i]);
                i += 1;
                continue;
            }
            match bytes[i + 1] {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                other => panic!("unexpected escape \\{}", other as char),
            }
            i += 2;
        }
        Some(out)
    }

    #[test]
    fn text_prints_the_value_alone_raw() {
        let mut r = record();
        r.value = Some(Bytes::from_static(b"a\tb\\c\xff\x1b[31m\xc3\xa9"));
        let line = printer(RecordFormat::Text, PrintFields::default())
            .render(&r)
            .unwrap();
        assert_eq!(line, b"a\tb\\c\xff\x1b[31m\xc3\xa9\n");
        r.value = None;
        let line = printer(RecordFormat::Text, PrintFields::default())
            .render(&r)
            .unwrap();
        assert_eq!(line, b"\n");
    }

    #[test]
    fn text_prints_requested_fields_tab_separated() {
        let all = PrintFields {
            offset: true,
            timestamp: true,
            key: true,
            headers: true,
        };
        let line = printer(RecordFormat::Text, all).render(&record()).unwrap();
        assert_eq!(
            line,
            b"2:41\t2026-11-23T10:00:00.123Z\tk1\ttrace=abc,flag\thello\n"
        );
    }

    #[test]
    fn escaping_is_reversible() {
        let cases: [&[u8]; 7] = [
            b"",
            b"plain",
            b"a\tb\nc\rd",
            b"back\\slash \\N \\t",
            b"\x00\x1b[31m\x7f",
            b"\xff\xfe\xc3\xa9 \xe2\x82",
            "caf\u{e9} \u{1f600}".as_bytes(),
        ];
        for bytes in cases {
            for in_headers in [false, true] {
                let mut out = String::new();
                escape_field(Some(bytes), in_headers, &mut out);
                assert!(!out.contains(['\t', '\n', '\r']), "{out:?}");
                assert_eq!(unescape(&out).as_deref(), Some(bytes), "{out:?}");
            }
        }
        let mut out = String::new();
        escape_field(Some(b"a,b=c"), true, &mut out);
        assert_eq!(out, "a\\x2cb\\x3dc");
    }

    #[test]
    fn null_key_differs_from_empty_key() {
        let mut r = record();
        r.key = None;
        let null = printer(RecordFormat::Text, key_only()).render(&r).unwrap();
        r.key = Some(Bytes::new());
        let empty = printer(RecordFormat::Text, key_only()).render(&r).unwrap();
        assert_eq!(null, b"\\N\thello\n");
        assert_eq!(empty, b"\thello\n");
        r.key = Some(Bytes::from_static(b"\\N"));
        let literal = printer(RecordFormat::Text, key_only()).render(&r).unwrap();
        assert_eq!(literal, b"\\\\N\thello\n");
    }

    #[test]
    fn hex_prints_bytes() {
        let line = printer(RecordFormat::Hex, key_only())
            .render(&record())
            .unwrap();
        assert_eq!(line, b"6b31\t68656c6c6f\n");
    }

    #[test]
    fn format_strings_parse_and_render() {
        let format = RecordFormat::parse("%p:%o %k=%s\\n").unwrap();
        let line = printer(format, PrintFields::default())
            .render(&record())
            .unwrap();
        assert_eq!(line, b"2:41 k1=hello\n");
        assert_eq!(RecordFormat::parse("json").unwrap(), RecordFormat::Json);
        let error = RecordFormat::parse("xml").unwrap_err();
        assert!(error.contains("format string"), "{error}");
    }

    #[test]
    fn json_has_every_field_and_base64_for_binary() {
        let mut r = record();
        r.value = Some(Bytes::from_static(b"\xff\x00"));
        r.key = None;
        let line = printer(RecordFormat::Json, PrintFields::default())
            .render(&r)
            .unwrap();
        assert!(line.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["topic"], "orders");
        assert_eq!(v["partition"], 2);
        assert_eq!(v["offset"], 41);
        assert_eq!(v["timestamp"], 1_795_428_000_123_i64);
        assert!(v["key"].is_null());
        assert!(v.get("value").is_none());
        assert_eq!(v["value_base64"], "/wA=");
        assert_eq!(v["headers"][0]["key"], "trace");
        assert_eq!(v["headers"][0]["value"], "abc");
        assert!(v["headers"][1]["value"].is_null());
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp_ms(-1), "-");
    }
}
