//! Parsers for the command line's own value syntaxes: `key=value` pairs, durations,
//! `--since` instants, acks and compression names.
//!
//! Each parser is a plain `fn(&str) -> Result<T, String>` so clap reports a bad value as
//! a usage error (exit code 2) that names the flag, and so each is unit-testable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rill_client::{Acks, Compression};

/// A `key=value` pair from `--config` or `--header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The text before the first `=`; never empty.
    pub key: String,
    /// The text after the first `=`; may be empty.
    pub value: String,
}

/// Parses `key=value`, splitting at the first `=` (the value may contain more).
pub fn parse_key_value(s: &str) -> Result<KeyValue, String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok(KeyValue {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
        Some(_) => Err(format!("{s:?} has an empty key (expected key=value)")),
        None => Err(format!("{s:?} has no '=' (expected key=value)")),
    }
}

/// Parses a human duration such as `500ms`, `10s`, `2m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); try 500ms, 10s or 2m"))
}

/// Port of a broker address given without one (`rilld`'s default).
pub const BROKER_PORT_DEFAULT: u16 = 9420;

/// Parses `--broker`: `host:port`, `host` (port 9420), `[v6]:port` or `[v6]`; a usage
/// error (exit 2) for an empty host or a port that is not a number.
pub fn parse_broker(s: &str) -> Result<String, String> {
    let s = s.trim();
    let (host, port) = match s.rsplit_once(':') {
        // A bare IPv6 address has colons but no brackets: it has no port.
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (s, None),
    };
    if host.is_empty() || host == "[]" {
        return Err(format!(
            "`{s}` has no host; give host:port, e.g. 127.0.0.1:9420"
        ));
    }
    match port {
        Some(port) => port.parse::<u16>().map(|_| s.to_owned()).map_err(|_| {
            format!("`{port}` is not a port number; give host:port, e.g. 127.0.0.1:9420")
        }),
        None if host.contains(':') && !host.starts_with('[') => {
            Ok(format!("[{host}]:{BROKER_PORT_DEFAULT}"))
        }
        None => Ok(format!("{host}:{BROKER_PORT_DEFAULT}")),
    }
}

/// Parses `--broker`'s list: one or more [`parse_broker`] addresses, comma-separated
/// (spaces around commas allowed); returns them normalised, comma-joined.
pub fn parse_brokers(s: &str) -> Result<String, String> {
    let addresses: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(parse_broker)
        .collect::<Result<_, _>>()?;
    if addresses.is_empty() {
        return Err("no broker address given; give host:port, e.g. 127.0.0.1:9420".to_owned());
    }
    Ok(addresses.join(","))
}

/// Parses a positive duration (a timeout of zero could never succeed).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let timeout = parse_duration(s)?;
    if timeout.is_zero() {
        return Err("the timeout must be longer than zero".to_owned());
    }
    Ok(timeout)
}

/// Where `--since` starts: a span back from now, or a wall-clock instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before the moment the command starts reading.
    Ago(Duration),
    /// A fixed instant.
    At(SystemTime),
}

impl Since {
    /// The instant in milliseconds since the Unix epoch, taking `now` for `Ago`.
    pub fn to_timestamp_ms(self, now: SystemTime) -> i64 {
        let instant = match self {
            Since::Ago(span) => now.checked_sub(span).unwrap_or(UNIX_EPOCH),
            Since::At(instant) => instant,
        };
        instant
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Parses `--since`: a duration (`10m`, `1h`) or an RFC 3339 time
/// (`2026-11-23T10:00:00Z`, also with a space instead of `T`).
pub fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(span) = humantime::parse_duration(s) {
        return Ok(Since::Ago(span));
    }
    humantime::parse_rfc3339_weak(s)
        .map(Since::At)
        .map_err(|_| {
            format!(
                "{s:?} is neither a duration (10m, 2h) nor an RFC 3339 time (2026-11-23T10:00:00Z)"
            )
        })
}

/// Parses `--acks`: `0`, `1` or `all` (also `-1`, Kafka's spelling of all).
pub fn parse_acks(s: &str) -> Result<Acks, String> {
    match s.to_ascii_lowercase().as_str() {
        "0" | "none" => Ok(Acks::None),
        "1" | "leader" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        _ => Err(format!("{s:?} is not an acks level (expected 0, 1 or all)")),
    }
}

/// Parses `--compression`: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
pub fn parse_compression(s: &str) -> Result<Compression, String> {
    match s.to_ascii_lowercase().as_str() {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err(format!(
            "{s:?} is not a codec (expected none, gzip, snappy, lz4 or zstd)"
        )),
    }
}

/// Parses a key separator, turning the escapes `\t` (tab) and `\\` (backslash) into
/// their characters so `--key-separator '\t'` works without shell tricks. Must not be
/// empty nor hold a newline.
pub fn parse_separator(s: &str) -> Result<String, String> {
    let unescaped = s.replace("\\t", "\t").replace("\\\\", "\\");
    if unescaped.is_empty() {
        return Err("the separator must not be empty".to_owned());
    }
    if unescaped.contains('\n') {
        return Err("the separator must not contain a newline (records are lines)".to_owned());
    }
    Ok(unescaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        let kv = parse_key_value("retention_ms=a=b").unwrap();
        assert_eq!(
            (kv.key.as_str(), kv.value.as_str()),
            ("retention_ms", "a=b")
        );
        assert_eq!(parse_key_value("k=").unwrap().value, "");
        assert!(parse_key_value("=v").unwrap_err().contains("empty key"));
        assert!(parse_key_value("novalue").unwrap_err().contains("no '='"));
    }

    #[test]
    fn durations_and_timeouts() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_timeout("0s").is_err());
        assert_eq!(parse_timeout("3s"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn since_accepts_spans_and_rfc3339() {
        assert_eq!(parse_since("10m"), Ok(Since::Ago(Duration::from_secs(600))));
        let at = parse_since("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(at.to_timestamp_ms(SystemTime::now()), 1_795_428_000_000);
        assert_eq!(
            parse_since("2026-11-23 10:00:00").unwrap(),
            parse_since("2026-11-23T10:00:00Z").unwrap()
        );
        assert!(parse_since("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn since_ago_is_relative_to_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            Since::Ago(Duration::from_secs(10)).to_timestamp_ms(now),
            990_000
        );
        assert_eq!(
            Since::Ago(Duration::from_secs(5_000)).to_timestamp_ms(now),
            0
        );
    }

    #[test]
    fn acks_and_compression_names() {
        assert_eq!(parse_acks("0"), Ok(Acks::None));
        assert_eq!(parse_acks("1"), Ok(Acks::Leader));
        assert_eq!(parse_acks("ALL"), Ok(Acks::All));
        assert_eq!(parse_acks("-1"), Ok(Acks::All));
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_compression("zstd"), Ok(Compression::Zstd));
        assert_eq!(parse_compression("LZ4"), Ok(Compression::Lz4));
        assert!(parse_compression("brotli")
            .unwrap_err()
            .contains("not a codec"));
    }

    #[test]
    fn separator_escapes() {
        assert_eq!(parse_separator("\\t"), Ok("\t".to_owned()));
        assert_eq!(parse_separator("::"), Ok("::".to_owned()));
        assert!(parse_separator("").is_err());
        assert!(parse_separator("\n").is_err());
    }
}

#[cfg(test)]
mod broker_tests {
    use super::*;

    #[test]
    fn broker_addresses_get_the_default_port() {
        assert_eq!(parse_broker("10.0.0.5:9500").unwrap(), "10.0.0.5:9500");
        assert_eq!(parse_broker("10.0.0.5").unwrap(), "10.0.0.5:9420");
        assert_eq!(parse_broker("kafka-1").unwrap(), "kafka-1:9420");
        assert_eq!(parse_broker("[::1]:9500").unwrap(), "[::1]:9500");
        assert_eq!(parse_broker("[::1]").unwrap(), "[::1]:9420");
        assert_eq!(parse_broker("::1").unwrap(), "[::1]:9420");
        assert!(parse_broker(":9420").is_err());
        assert!(parse_broker("host:port")
            .unwrap_err()
            .contains("not a port number"));
        assert!(parse_broker("").is_err());
    }

    #[test]
    fn broker_lists_are_normalised() {
        assert_eq!(parse_brokers("a:1,b").unwrap(), "a:1,b:9420");
        assert_eq!(parse_brokers(" a:1 , [::1]:2 ,").unwrap(), "a:1,[::1]:2");
        assert!(parse_brokers(",").is_err());
        assert!(parse_brokers("a:1,b:x")
            .unwrap_err()
            .contains("not a port number"));
    }
}
