//! How `rill tail` prints a consumed record: `text`, `json` or `hex`, one record a line.
//!
//! - text: optional tab-separated fields (`PARTITION:OFFSET`, RFC 3339 timestamp, key,
//!   headers as `k=v,k2=v2`) then the value. Bytes that are not valid UTF-8 print as
//!   `\xNN`; newlines, carriage returns and other control characters are escaped too, so
//!   a record is always exactly one line and cannot send escape codes to the terminal.
//!   A null key or value prints as nothing.
//! - hex: the same layout with key, header values and value in lowercase hex.
//! - json: one object per line with every field, whatever the `--print-*` flags say:
//!   `topic`, `partition`, `offset`, `timestamp` (ms since the epoch), `key`, `value`,
//!   `headers` (`[{"key": .., "value": ..}]`). Bytes that are valid UTF-8 are strings;
//!   others move to `key_base64` / `value_base64`; null is `null`.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;
use rill_client::ConsumerRecord;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::output::Style;

/// The `--format` of `rill tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum RecordFormat {
    /// The value as text, invalid UTF-8 and control characters escaped.
    #[default]
    Text,
    /// One JSON object per record with every field.
    Json,
    /// The value (and key, headers) in hex.
    Hex,
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

/// Renders records in one format with one set of fields.
#[derive(Debug, Clone, Copy)]
pub struct RecordPrinter {
    /// The output format.
    pub format: RecordFormat,
    /// Fields before the value (text and hex).
    pub fields: PrintFields,
    /// Styling for the fields before the value.
    pub style: Style,
}

impl RecordPrinter {
    /// Writes `record` as one line (newline included).
    pub fn write(&self, out: &mut impl Write, record: &ConsumerRecord) -> io::Result<()> {
        let line = self.render(record)?;
        out.write_all(line.as_bytes())
    }

    /// The line for `record`, newline included.
    pub fn render(&self, record: &ConsumerRecord) -> io::Result<String> {
        match self.format {
            RecordFormat::Json => {
                let mut line =
                    serde_json::to_string(&JsonRecord(record)).map_err(io::Error::other)?;
                line.push('\n');
                Ok(line)
            }
            RecordFormat::Text => Ok(self.render_fields(record, escape_text)),
            RecordFormat::Hex => Ok(self.render_fields(record, to_hex)),
        }
    }

    fn render_fields(&self, record: &ConsumerRecord, bytes: fn(&[u8], &mut String)) -> String {
        let mut prefix = String::new();
        if self.fields.offset {
            let _ = write!(prefix, "{}:{}\t", record.partition, record.offset);
        }
        if self.fields.timestamp {
            prefix.push_str(&format_timestamp_ms(record.timestamp));
            prefix.push('\t');
        }
        if self.fields.key {
            bytes(record.key.as_deref().unwrap_or_default(), &mut prefix);
            prefix.push('\t');
        }
        if self.fields.headers {
            for (i, (key, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    prefix.push(',');
                }
                escape_text(key.as_bytes(), &mut prefix);
                if let Some(value) = value {
                    prefix.push('=');
                    bytes(value, &mut prefix);
                }
            }
            prefix.push('\t');
        }
        let mut line = if prefix.is_empty() {
            prefix
        } else {
            self.style.dim(&prefix)
        };
        bytes(record.value.as_deref().unwrap_or_default(), &mut line);
        line.push('\n');
        line
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

/// Appends `bytes` as text: valid UTF-8 as is, except control characters (`\n`, `\r`,
/// `\t` in keys, others as `\xNN`); invalid bytes as `\xNN`.
pub fn escape_text(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && c.is_ascii() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

/// Appends `bytes` in lowercase hex.
pub fn to_hex(bytes: &[u8], out: &mut String) {
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
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

    #[test]
    fn text_prints_the_value_alone_by_default() {
        let line = printer(RecordFormat::Text, PrintFields::default())
            .render(&record())
            .unwrap();
        assert_eq!(line, "hello\n");
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
            "2:41\t2026-11-23T10:00:00.123Z\tk1\ttrace=abc,flag\thello\n"
        );
    }

    #[test]
    fn text_escapes_invalid_utf8_and_control_characters() {
        let mut out = String::new();
        escape_text(b"a\nb\r\x1b[31m\xff\xfe\xc3\xa9", &mut out);
        assert_eq!(out, "a\\nb\\r\\x1b[31m\\xff\\xfe\u{e9}");
    }

    #[test]
    fn null_key_and_value_print_empty() {
        let mut r = record();
        r.key = None;
        r.value = None;
        let fields = PrintFields {
            key: true,
            ..PrintFields::default()
        };
        assert_eq!(
            printer(RecordFormat::Text, fields).render(&r).unwrap(),
            "\t\n"
        );
    }

    #[test]
    fn hex_prints_bytes() {
        let fields = PrintFields {
            key: true,
            ..PrintFields::default()
        };
        let line = printer(RecordFormat::Hex, fields)
            .render(&record())
            .unwrap();
        assert_eq!(line, "6b31\t68656c6c6f\n");
    }

    #[test]
    fn json_has_every_field_and_base64_for_binary() {
        let mut r = record();
        r.value = Some(Bytes::from_static(b"\xff\x00"));
        r.key = None;
        let line = printer(RecordFormat::Json, PrintFields::default())
            .render(&r)
            .unwrap();
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
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
