//! Turning one input line of `rill produce` into a record's key, value and headers.
//!
//! Text lines are bytes: the value is the line without its line ending, split at the
//! first `--key-separator` into key and value when one is given. JSON lines are objects
//! with `key`, `value`, `headers` (and optionally `timestamp` in ms, `key_base64`,
//! `value_base64`), the same layout `rill tail --format json` prints, so one command's
//! output is the other's input. Other fields (topic, partition, offset) are ignored.

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;
use serde::Deserialize;
use thiserror::Error;

/// The `--format` of `rill produce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum InputFormat {
    /// One record per line: the value, or KEY<sep>VALUE with --key-separator.
    #[default]
    Text,
    /// One JSON object per line: {"key": .., "value": .., "headers": ..}.
    Json,
}

/// A record's parts, read from one line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedRecord {
    /// The key, if the line had one.
    pub key: Option<Bytes>,
    /// The value (`None` only from JSON `"value": null`, a tombstone).
    pub value: Option<Bytes>,
    /// Headers from the line, then those of `--header`.
    pub headers: Vec<(String, Bytes)>,
    /// The create time from JSON `timestamp`, else the producer's clock.
    pub timestamp_ms: Option<i64>,
}

/// Why a line could not become a record.
#[derive(Debug, Error)]
pub enum InputError {
    /// `--key-separator` was given but the line does not contain it.
    #[error("no key separator {separator:?} in the line (expected KEY{separator}VALUE)")]
    NoSeparator {
        /// The separator looked for.
        separator: String,
    },
    /// The line is not a JSON object of the expected shape.
    #[error(
        "not a JSON record ({0}); expected {{\"key\": .., \"value\": .., \"headers\": {{..}}}}"
    )]
    Json(#[from] serde_json::Error),
    /// A `*_base64` field is not valid base64.
    #[error("{field} is not valid base64: {source}")]
    Base64 {
        /// The field.
        field: &'static str,
        /// The decoder's complaint.
        source: base64::DecodeError,
    },
}

/// Parses lines according to the produce flags.
#[derive(Debug, Clone, Default)]
pub struct LineParser {
    /// Text or JSON lines.
    pub format: InputFormat,
    /// Splits text lines into key and value at its first occurrence.
    pub key_separator: Option<String>,
    /// Headers added to every record (`--header`).
    pub headers: Vec<(String, Bytes)>,
}

impl LineParser {
    /// The record in `line` (without its line ending).
    pub fn parse(&self, line: &[u8]) -> Result<ParsedRecord, InputError> {
        let mut record = match self.format {
            InputFormat::Text => self.parse_text(line)?,
            InputFormat::Json => parse_json(line)?,
        };
        record.headers.extend(self.headers.iter().cloned());
        Ok(record)
    }

    fn parse_text(&self, line: &[u8]) -> Result<ParsedRecord, InputError> {
        let Some(separator) = &self.key_separator else {
            return Ok(ParsedRecord {
                value: Some(Bytes::copy_from_slice(line)),
                ..ParsedRecord::default()
            });
        };
        let sep = separator.as_bytes();
        let at = line
            .windows(sep.len())
            .position(|window| window == sep)
            .ok_or_else(|| InputError::NoSeparator {
                separator: separator.clone(),
            })?;
        Ok(ParsedRecord {
            key: Some(Bytes::copy_from_slice(&line[..at])),
            value: Some(Bytes::copy_from_slice(&line[at + sep.len()..])),
            ..ParsedRecord::default()
        })
    }
}

/// Strips one trailing `\n` or `\r\n` from a line as read.
pub fn trim_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The JSON line layout; `value` may be any JSON (non-strings are stored as JSON text).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_base64: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    value_base64: Option<String>,
    #[serde(default)]
    headers: Option<JsonHeaders>,
    #[serde(default)]
    timestamp: Option<i64>,
    // Fields `rill tail --format json` prints that have no meaning on input.
    #[serde(default, rename = "topic")]
    _topic: serde::de::IgnoredAny,
    #[serde(default, rename = "partition")]
    _partition: serde::de::IgnoredAny,
    #[serde(default, rename = "offset")]
    _offset: serde::de::IgnoredAny,
}

/// Headers as an object (`{"k": "v"}`) or as tail prints them (`[{"key", "value"}]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JsonHeaders {
    Map(serde_json::Map<String, serde_json::Value>),
    List(Vec<JsonHeader>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHeader {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_base64: Option<String>,
}

fn parse_json(line: &[u8]) -> Result<ParsedRecord, InputError> {
    let parsed: JsonLine = serde_json::from_slice(line)?;
    let key = match (parsed.key, parsed.key_base64) {
        (_, Some(b64)) => Some(decode_base64("key_base64", &b64)?),
        (Some(text), None) => Some(Bytes::from(text)),
        (None, None) => None,
    };
    let value = match (parsed.value, parsed.value_base64) {
        (_, Some(b64)) => Some(decode_base64("value_base64", &b64)?),
        (Some(serde_json::Value::String(text)), None) => Some(Bytes::from(text)),
        (Some(serde_json::Value::Null) | None, None) => None,
        (Some(other), None) => Some(Bytes::from(other.to_string())),
    };
    let headers = match parsed.headers {
        None => Vec::new(),
        Some(JsonHeaders::Map(map)) => map
            .into_iter()
            .map(|(k, v)| (k, Bytes::from(json_text(v))))
            .collect(),
        Some(JsonHeaders::List(list)) => list
            .into_iter()
            .map(|h| {
                let value = match (h.value, h.value_base64) {
                    (_, Some(b64)) => decode_base64("headers[].value_base64", &b64)?,
                    (Some(text), None) => Bytes::from(text),
                    (None, None) => Bytes::new(),
                };
                Ok((h.key, value))
            })
            .collect::<Result<_, InputError>>()?,
    };
    Ok(ParsedRecord {
        key,
        value,
        headers,
        timestamp_ms: parsed.timestamp,
    })
}

/// A JSON header value as bytes: strings as they are, null as empty, others as JSON.
fn json_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn decode_base64(field: &'static str, text: &str) -> Result<Bytes, InputError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .map_err(|source| InputError::Base64 { field, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(separator: Option<&str>) -> LineParser {
        LineParser {
            key_separator: separator.map(str::to_owned),
            ..LineParser::default()
        }
    }

    fn json() -> LineParser {
        LineParser {
            format: InputFormat::Json,
            ..LineParser::default()
        }
    }

    #[test]
    fn text_line_is_the_value() {
        let r = text(None).parse(b"hello:world").unwrap();
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_deref(), Some(&b"hello:world"[..]));
    }

    #[test]
    fn key_separator_splits_at_first_occurrence() {
        let r = text(Some("::")).parse(b"user-1::a::b").unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"a::b"[..]));
        let empty = text(Some(":")).parse(b":v").unwrap();
        assert_eq!(empty.key.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn missing_separator_is_an_error() {
        let err = text(Some("\t")).parse(b"no tab here").unwrap_err();
        assert!(err.to_string().contains("no key separator"), "{err}");
    }

    #[test]
    fn flag_headers_are_added_after_line_headers() {
        let mut parser = json();
        parser.headers = vec![("src".into(), Bytes::from_static(b"cli"))];
        let r = parser
            .parse(br#"{"value":"v","headers":{"a":"1"}}"#)
            .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("a".into(), Bytes::from_static(b"1")),
                ("src".into(), Bytes::from_static(b"cli"))
            ]
        );
    }

    #[test]
    fn json_line_with_key_value_headers_and_timestamp() {
        let r = json()
            .parse(
                br#"{"key":"k","value":{"n":1},"headers":[{"key":"h","value":"v"}],"timestamp":5}"#,
            )
            .unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&br#"{"n":1}"#[..]));
        assert_eq!(r.headers, vec![("h".into(), Bytes::from_static(b"v"))]);
        assert_eq!(r.timestamp_ms, Some(5));
    }

    #[test]
    fn json_accepts_tail_output_with_base64() {
        let line = br#"{"topic":"t","partition":0,"offset":3,"timestamp":9,"key":null,"value_base64":"/wA=","headers":[]}"#;
        let r = json().parse(line).unwrap();
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_deref(), Some(&b"\xff\x00"[..]));
        assert!(json().parse(br#"{"value":null}"#).unwrap().value.is_none());
    }

    #[test]
    fn json_errors_say_what_is_expected() {
        assert!(json()
            .parse(b"plain text")
            .unwrap_err()
            .to_string()
            .contains("not a JSON record"));
        assert!(json().parse(br#"{"vlaue":"typo"}"#).is_err());
        let err = json().parse(br#"{"value_base64":"***"}"#).unwrap_err();
        assert!(err.to_string().contains("value_base64"), "{err}");
    }

    #[test]
    fn line_endings() {
        assert_eq!(trim_line_ending(b"a\r\n"), b"a");
        assert_eq!(trim_line_ending(b"a\n"), b"a");
        assert_eq!(trim_line_ending(b"a"), b"a");
        assert_eq!(trim_line_ending(b"a\r"), b"a");
    }
}
