//! Broker configuration: defaults, an optional TOML file, environment variables and flags.
//!
//! Precedence, highest first: command-line flag, `RILL_*` environment variable, the TOML
//! file given with `--config`, the built-in default. Every limit has a named default
//! constant with its unit in the name.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::storage::FlushPolicy;

#[path = "config_cluster.rs"]
pub mod cluster;

/// Default listen address for the binary protocol.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:9420";
/// Default address of the HTTP endpoint (`/metrics`, `/health`, `/ready`).
pub const HTTP_LISTEN_DEFAULT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9421,
));
/// Default data directory.
pub const DATA_DIR_DEFAULT: &str = "./rill-data";
/// Default partition count of a new topic.
pub const PARTITIONS_DEFAULT: u32 = 1;
/// Most partitions one topic may have.
pub const PARTITIONS_MAX: u32 = 10_000;
/// Default segment size before a roll.
pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Default segment age before a roll (7 days).
pub const SEGMENT_MS_DEFAULT: u64 = 7 * 24 * 3600 * 1000;
/// Default retention by time (7 days), as Kafka.
pub const RETENTION_MS_DEFAULT: u64 = 7 * 24 * 3600 * 1000;
/// Default largest frame a client may send or receive (17 MiB), the client's own default:
/// batches up to 16 MiB, and every fetch response fits a default client's frame.
pub const MAX_FRAME_BYTES_DEFAULT: usize = rill_protocol::frame::MAX_FRAME_BYTES_DEFAULT;
/// Default cap on partitions across all topics.
pub const MAX_PARTITIONS_DEFAULT: usize = 20_000;
/// Default cap on open client connections (idle ones cost a few KiB each; the broker
/// lowers it at start if the open-file limit has no room for it).
pub const MAX_CONNECTIONS_DEFAULT: usize = 16_384;
/// Default cap on open connections from one client IP, so one host cannot take every slot.
pub const MAX_CONNECTIONS_PER_IP_DEFAULT: usize = 1000;
/// Default cap on requests one connection may have in flight.
pub const MAX_INFLIGHT_REQUESTS_DEFAULT: usize = 64;
/// Default cap on one connection's buffered bytes (requests read but not yet handled plus
/// responses not yet written); at the cap the connection stops reading.
pub const MAX_CONNECTION_BUFFER_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
/// What a connection's buffer budget needs beyond two largest frames (a frame's prefix
/// and read-ahead beside a largest response).
pub const CONNECTION_BUFFER_SLACK_BYTES: usize = 64 * 1024;
/// Default cap on the buffered bytes of all connections together.
pub const MAX_TOTAL_BUFFER_BYTES_DEFAULT: usize = 1024 * 1024 * 1024;
/// Default idle/read timeout of a connection (a half-sent frame is dropped after this).
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 10 * 60 * 1000;
/// Default time a started frame may take to arrive whole (slow-loris guard).
pub const FRAME_TIMEOUT_MS_DEFAULT: u64 = 30 * 1000;
/// Default interval of the background housekeeping (retention, interval flush, rolls).
pub const HOUSEKEEPING_INTERVAL_MS_DEFAULT: u64 = 1000;

/// Why the configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting `{key}` = `{value}`: {reason}")]
    Invalid {
        /// The setting's name.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The Rill broker.
///
/// Starts with no flags: listens on 127.0.0.1:9420, stores data in ./rill-data.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "rilld",
    version,
    about = "Rill: an event streaming log broker",
    after_help = "Examples:\n  rilld\n  rilld --listen 0.0.0.0:9420 --data-dir /var/lib/rill\n  rilld --config rill.toml --flush always\n  RILL_DATA_DIR=/tmp/rill rilld --default-partitions 8\n  rilld --node-id 1 --cluster 1@127.0.0.1:9431,2@127.0.0.1:9432,3@127.0.0.1:9433 --listen 127.0.0.1:9421 --http-listen 127.0.0.1:9641 --data-dir ./node1   # one broker of three on one machine\n  rilld --node-id 2 --cluster 1@10.0.0.1:9431,2@10.0.0.2:9431,3@10.0.0.3:9431 --rack eu-west-1b --default-replication-factor 3\n  rilld --kafka-listen 0.0.0.0:9092 --kafka-advertised kafka.example.com:9092   # also serve Kafka clients\n  rilld --tls-cert server.pem --tls-key server.key   # TLS on every listener\n  rilld --tls-cert server.pem --tls-key server.key --tls-client-ca ca.pem --tls-client-auth required   # mTLS\n  echo \"$PW\" | rilld user create admin --data-dir ./rill-data --password-stdin   # first SASL user\n  rilld --sasl-mechanisms SCRAM-SHA-256,SCRAM-SHA-512   # clients must authenticate"
)]
pub struct Args {
    /// TOML config file; flags and RILL_* variables override its settings.
    #[arg(long, env = "RILL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address for the binary protocol [default: 127.0.0.1:9420].
    #[arg(long, env = "RILL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory holding topics and their segments [default: ./rill-data].
    #[arg(long, env = "RILL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Partition count for new topics that do not give one [default: 1].
    #[arg(long, env = "RILL_DEFAULT_PARTITIONS")]
    pub default_partitions: Option<u32>,
    /// Segment size before a new segment starts: bytes, or with a unit like 512MiB or
    /// 1GiB [default: 1 GiB].
    #[arg(long, env = "RILL_SEGMENT_BYTES", value_parser = parse_bytes)]
    pub segment_bytes: Option<u64>,
    /// Segment age before a new segment starts, e.g. `7d`, `1h` [default: 7d].
    #[arg(long, env = "RILL_SEGMENT_AGE", value_parser = parse_duration)]
    pub segment_age: Option<Duration>,
    /// Delete closed segments older than this, e.g. `7d`, `12h`, or `none` [default: 7d].
    #[arg(long, env = "RILL_RETENTION", value_parser = parse_optional_duration)]
    pub retention: Option<OptionalDuration>,
    /// Delete closed segments while a partition is larger than this (bytes, or 10GiB...)
    /// [default: none].
    #[arg(long, env = "RILL_RETENTION_BYTES", value_parser = parse_bytes)]
    pub retention_bytes: Option<u64>,
    /// Flush policy: `always` (fsync each append), `os` (page cache), or an interval like `100ms` [default: os].
    #[arg(long, env = "RILL_FLUSH", value_parser = parse_flush)]
    pub flush: Option<FlushPolicy>,
    /// Largest frame accepted from a client, in bytes; batches may be 1 MiB smaller
    /// (a quarter smaller for frames under 4 MiB) [default: 17 MiB].
    #[arg(long, env = "RILL_MAX_FRAME_BYTES", value_parser = parse_bytes_usize)]
    pub max_frame_bytes: Option<usize>,
    /// Most client connections at once; further ones are refused. Lowered at start if
    /// the open-file limit has no room for it (logged) [default: 16384].
    #[arg(long, env = "RILL_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most connections from one client IP (an IPv6 /64 counts as one); further ones are
    /// refused [default: 1000].
    #[arg(long, env = "RILL_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Bytes one connection may hold (requests read but not yet handled plus responses
    /// not yet written); at this the broker stops reading from it. At least twice
    /// --max-frame-bytes plus 64 KiB [default: 64MiB].
    #[arg(long, env = "RILL_MAX_CONNECTION_BUFFER_BYTES", value_parser = parse_bytes_usize)]
    pub max_connection_buffer_bytes: Option<usize>,
    /// Bytes all connections together may hold, counted as for
    /// --max-connection-buffer-bytes; at this the broker stops reading requests
    /// [default: 1GiB].
    #[arg(long, env = "RILL_MAX_TOTAL_BUFFER_BYTES", value_parser = parse_bytes_usize)]
    pub max_total_buffer_bytes: Option<usize>,
    /// Most partitions on this broker, all topics together; creating more is refused
    /// (each partition keeps files open and maps segments) [default: 20000].
    #[arg(long, env = "RILL_MAX_PARTITIONS")]
    pub max_partitions: Option<usize>,
    /// Most requests one connection may have in flight [default: 64].
    #[arg(long, env = "RILL_MAX_INFLIGHT")]
    pub max_inflight: Option<usize>,
    /// Close a connection that sends nothing for this long, e.g. `10m` [default: 10m].
    #[arg(long, env = "RILL_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Close a connection whose started frame does not arrive whole within this, e.g. `30s` [default: 30s].
    #[arg(long, env = "RILL_FRAME_TIMEOUT", value_parser = parse_duration)]
    pub frame_timeout: Option<Duration>,
    /// Shortest session timeout a consumer group member may ask for, e.g. `1s` [default: 500ms].
    #[arg(long, env = "RILL_GROUP_MIN_SESSION_TIMEOUT", value_parser = parse_duration)]
    pub group_min_session_timeout: Option<Duration>,
    /// Longest session timeout a consumer group member may ask for, e.g. `5m` [default: 30m].
    #[arg(long, env = "RILL_GROUP_MAX_SESSION_TIMEOUT", value_parser = parse_duration)]
    pub group_max_session_timeout: Option<Duration>,
    /// Most members in one consumer group [default: 1000].
    #[arg(long, env = "RILL_GROUP_MAX_MEMBERS")]
    pub group_max_members: Option<usize>,
    /// A consumer group without members for this long loses its committed offsets (and
    /// so disappears), e.g. `7d`, `12h` [default: 7d].
    #[arg(long, env = "RILL_OFFSETS_RETENTION", value_parser = parse_duration)]
    pub offsets_retention: Option<Duration>,
    /// Create unknown topics on first produce or metadata request: true or false [default: true].
    #[arg(long, env = "RILL_AUTO_CREATE_TOPICS")]
    pub auto_create_topics: Option<bool>,
    /// Log format: text or json [default: text]. Filter with RUST_LOG (e.g. RUST_LOG=rill_broker=debug).
    #[arg(long, env = "RILL_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter when RUST_LOG is unset, e.g. `info` or `info,rill_broker=debug`; changes live on SIGHUP [default: info].
    #[arg(long, env = "RILL_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Address of the HTTP endpoint (/metrics, /health, /ready), or `none` [default: 127.0.0.1:9421].
    #[arg(long, env = "RILL_HTTP_LISTEN", value_parser = parse_http_listen)]
    pub http_listen: Option<OptionalAddr>,
    /// host:port that native clients are told to connect to (Metadata, FindCoordinator,
    /// the cluster's broker list), when the --listen address is not reachable for them
    /// (e.g. bound to 0.0.0.0) [default: the --listen address].
    #[arg(long, env = "RILL_ADVERTISED", value_parser = parse_host_port)]
    pub advertised: Option<HostPort>,
    /// Address for Kafka's wire protocol (unmodified Kafka clients), e.g. 127.0.0.1:9092 [default: off].
    #[arg(long, env = "RILL_KAFKA_LISTEN")]
    pub kafka_listen: Option<SocketAddr>,
    /// host:port that Kafka clients are told to connect to (Metadata), when the Kafka
    /// listener's own address is not reachable for them (e.g. bound to 0.0.0.0) [default: the Kafka listen address].
    #[arg(long, env = "RILL_KAFKA_ADVERTISED", value_parser = parse_host_port)]
    pub kafka_advertised: Option<HostPort>,
    /// TLS: certificate, key, client certificates, handshake timeout, listeners.
    #[command(flatten)]
    pub tls: crate::tls::config::TlsArgs,
    /// SASL authentication settings.
    #[command(flatten)]
    pub sasl: crate::security::sasl::SaslArgs,
    /// Offline commands (instead of serving).
    #[command(subcommand)]
    pub command: Option<crate::security::bootstrap::RilldCommand>,
    /// Authorization: `--authorization`, `--super-users`.
    #[command(flatten)]
    pub authorization: crate::security::acl::AuthorizationArgs,
    /// Cluster: `--node-id`, `--cluster`, `--rack`, the quorum's timeouts.
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
}

/// A `host:port` pair as clients should dial it (the host may be a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Parses `host:port` (IPv6 hosts in brackets, as `[::1]:9092`).
pub fn parse_host_port(s: &str) -> Result<HostPort, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not host:port (e.g. kafka.example.com:9092)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{s}` has no host (e.g. kafka.example.com:9092)"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` in `{s}` is not a port number (1-65535)"))?;
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// An address that may be switched off with `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<SocketAddr>);

/// A duration that may be switched off with `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalDuration(pub Option<Duration>);

/// The `rill.toml` schema: every key optional, names as in the sample file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    default_partitions: Option<u32>,
    segment_bytes: Option<u64>,
    segment_age: Option<String>,
    retention: Option<String>,
    retention_bytes: Option<u64>,
    flush: Option<String>,
    cleaner_offset_map_bytes: Option<usize>,
    cleaner_bytes_per_sec: Option<u64>,
    max_frame_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_connection_buffer_bytes: Option<usize>,
    max_total_buffer_bytes: Option<usize>,
    max_partitions: Option<usize>,
    max_inflight: Option<usize>,
    idle_timeout: Option<String>,
    frame_timeout: Option<String>,
    group_min_session_timeout: Option<String>,
    group_max_session_timeout: Option<String>,
    group_max_members: Option<usize>,
    offsets_retention: Option<String>,
    auto_create_topics: Option<bool>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    http_listen: Option<String>,
    advertised: Option<String>,
    kafka_listen: Option<SocketAddr>,
    kafka_advertised: Option<String>,
    tls: Option<crate::tls::config::TlsFileConfig>,
    sasl: Option<crate::security::sasl::SaslFileConfig>,
    authorization: Option<crate::security::acl::AuthorizationMode>,
    super_users: Option<Vec<String>>,
    default_replication_factor: Option<u16>,
    cluster: Option<cluster::ClusterFileConfig>,
}

/// The broker's effective configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address for the binary protocol.
    pub listen: SocketAddr,
    /// Directory holding topics and their segments.
    pub data_dir: PathBuf,
    /// Defaults that each topic may override.
    pub topic_defaults: TopicDefaults,
    /// Largest frame accepted or sent.
    pub max_frame_bytes: usize,
    /// Most client connections at once.
    pub max_connections: usize,
    /// Most client connections from one IP at once.
    pub max_connections_per_ip: usize,
    /// Most partitions on the broker, all topics together.
    pub max_partitions: usize,
    /// Most requests in flight per connection.
    pub max_inflight: usize,
    /// Bytes one connection may hold (requests not yet handled plus responses not yet
    /// written) before it stops reading new requests.
    pub max_connection_buffer_bytes: usize,
    /// The same, for all connections together.
    pub max_total_buffer_bytes: usize,
    /// Idle/read timeout per connection.
    pub idle_timeout: Duration,
    /// Longest a started frame may take to arrive whole.
    pub frame_timeout: Duration,
    /// Consumer group limits (session timeouts, members).
    pub groups: crate::group::GroupConfig,
    /// Create unknown topics on first use.
    pub auto_create_topics: bool,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter directives used when RUST_LOG is unset; `None` means `info`.
    pub log_level: Option<String>,
    /// Address of the HTTP endpoint; `None` turns it off.
    pub http_listen: Option<SocketAddr>,
    /// Interval of background housekeeping.
    pub housekeeping_interval: Duration,
    /// Memory and I/O limits of the log cleaner (compacted topics).
    pub cleaner: crate::storage::cleaner::CleanerConfig,
    /// What native clients are told to dial; `None` means the bound `listen` address.
    pub advertised: Option<HostPort>,
    /// Address of the Kafka-protocol listener; `None` (the default) turns it off.
    pub kafka_listen: Option<SocketAddr>,
    /// What Kafka clients are told to dial; `None` means the Kafka listener's address.
    pub kafka_advertised: Option<HostPort>,
    /// TLS on the listeners; off unless a certificate is given.
    pub tls: crate::tls::TlsSettings,
    /// SASL authentication (off unless mechanisms are set).
    pub sasl: crate::security::sasl::SaslConfig,
    /// When ACLs are checked, and the super users.
    pub authorization: crate::security::acl::AuthorizationConfig,
    /// Cluster membership and timeouts; `None` runs the single broker of old.
    pub cluster: Option<crate::cluster::ClusterConfig>,
    /// Copies of each partition of a topic created without a replication factor.
    pub default_replication_factor: u16,
}

/// Broker-wide defaults for topic settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    /// Partition count of a new topic.
    pub partitions: u32,
    /// Segment size before a roll.
    pub segment_bytes: u64,
    /// Segment age before a roll.
    pub segment_ms: u64,
    /// Retention by age; `None` keeps forever.
    pub retention_ms: Option<u64>,
    /// Retention by size per partition; `None` is unlimited.
    pub retention_bytes: Option<u64>,
    /// Durability policy.
    pub flush: FlushPolicy,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            partitions: PARTITIONS_DEFAULT,
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_ms: SEGMENT_MS_DEFAULT,
            retention_ms: Some(RETENTION_MS_DEFAULT),
            retention_bytes: None,
            flush: FlushPolicy::Os,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: LISTEN_DEFAULT.parse().unwrap_or_else(|_| {
                SocketAddr::from(([127, 0, 0, 1], 9420)) // unreachable: the constant parses
            }),
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            topic_defaults: TopicDefaults::default(),
            max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
            max_connections: MAX_CONNECTIONS_DEFAULT,
            max_connections_per_ip: MAX_CONNECTIONS_PER_IP_DEFAULT,
            max_partitions: MAX_PARTITIONS_DEFAULT,
            max_inflight: MAX_INFLIGHT_REQUESTS_DEFAULT,
            max_connection_buffer_bytes: MAX_CONNECTION_BUFFER_BYTES_DEFAULT,
            max_total_buffer_bytes: MAX_TOTAL_BUFFER_BYTES_DEFAULT,
            idle_timeout: Duration::from_millis(IDLE_TIMEOUT_MS_DEFAULT),
            frame_timeout: Duration::from_millis(FRAME_TIMEOUT_MS_DEFAULT),
            groups: crate::group::GroupConfig::default(),
            auto_create_topics: true,
            log_format: LogFormat::Text,
            log_level: None,
            http_listen: Some(HTTP_LISTEN_DEFAULT),
            housekeeping_interval: Duration::from_millis(HOUSEKEEPING_INTERVAL_MS_DEFAULT),
            cleaner: crate::storage::cleaner::CleanerConfig::default(),
            advertised: None,
            kafka_listen: None,
            kafka_advertised: None,
            tls: crate::tls::TlsSettings::default(),
            sasl: Default::default(),
            authorization: Default::default(),
            cluster: None,
            default_replication_factor: cluster::DEFAULT_REPLICATION_FACTOR_DEFAULT,
        }
    }
}

impl BrokerConfig {
    /// The largest record batch a producer may send, and the most record bytes one
    /// fetch response carries: a frame less room for the response around them (1 MiB,
    /// or a quarter of small frames), so that whatever is accepted can be fetched back.
    pub fn max_batch_bytes(&self) -> usize {
        let headroom = rill_protocol::frame::FRAME_HEADROOM_BYTES.min(self.max_frame_bytes / 4);
        self.max_frame_bytes - headroom
    }

    /// Builds the effective configuration from parsed flags (which already include the
    /// environment) and the TOML file they name, if any.
    pub fn load(args: &Args) -> Result<BrokerConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file_config(path)?,
            None => FileConfig::default(),
        };
        let mut config = BrokerConfig::default();
        config.apply_file(&file)?;
        config.apply_args(args);
        let mut settings = cluster::ClusterSettings::default();
        settings.apply_file(file.cluster.as_ref())?;
        settings.apply_args(&args.cluster);
        config.cluster = settings.build()?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, file: &FileConfig) -> Result<(), ConfigError> {
        set(&mut self.listen, file.listen);
        set(&mut self.data_dir, file.data_dir.clone());
        let d = &mut self.topic_defaults;
        set(&mut d.partitions, file.default_partitions);
        set(&mut d.segment_bytes, file.segment_bytes);
        if let Some(s) = &file.segment_age {
            d.segment_ms =
                duration_ms(parse_duration(s).map_err(|e| invalid("segment_age", s, e))?);
        }
        if let Some(s) = &file.retention {
            let OptionalDuration(v) =
                parse_optional_duration(s).map_err(|e| invalid("retention", s, e))?;
            d.retention_ms = v.map(duration_ms);
        }
        if file.retention_bytes.is_some() {
            d.retention_bytes = file.retention_bytes;
        }
        if let Some(s) = &file.flush {
            d.flush = parse_flush(s).map_err(|e| invalid("flush", s, e))?;
        }
        set(
            &mut self.cleaner.offset_map_bytes,
            file.cleaner_offset_map_bytes,
        );
        if file.cleaner_bytes_per_sec.is_some() {
            self.cleaner.bytes_per_sec = file.cleaner_bytes_per_sec;
        }
        set(&mut self.max_frame_bytes, file.max_frame_bytes);
        set(&mut self.max_connections, file.max_connections);
        set(
            &mut self.max_connections_per_ip,
            file.max_connections_per_ip,
        );
        set(
            &mut self.max_connection_buffer_bytes,
            file.max_connection_buffer_bytes,
        );
        set(
            &mut self.max_total_buffer_bytes,
            file.max_total_buffer_bytes,
        );
        set(&mut self.max_partitions, file.max_partitions);
        set(&mut self.max_inflight, file.max_inflight);
        if let Some(s) = &file.idle_timeout {
            self.idle_timeout = parse_duration(s).map_err(|e| invalid("idle_timeout", s, e))?;
        }
        if let Some(s) = &file.frame_timeout {
            self.frame_timeout = parse_duration(s).map_err(|e| invalid("frame_timeout", s, e))?;
        }
        if let Some(s) = &file.group_min_session_timeout {
            let d = parse_duration(s).map_err(|e| invalid("group_min_session_timeout", s, e))?;
            self.groups.session_timeout_ms_min = duration_ms_i32(d);
        }
        if let Some(s) = &file.group_max_session_timeout {
            let d = parse_duration(s).map_err(|e| invalid("group_max_session_timeout", s, e))?;
            self.groups.session_timeout_ms_max = duration_ms_i32(d);
        }
        set(
            &mut self.groups.members_per_group_max,
            file.group_max_members,
        );
        if let Some(s) = &file.offsets_retention {
            let d = parse_duration(s).map_err(|e| invalid("offsets_retention", s, e))?;
            self.groups.offsets_retention_ms = duration_ms_i64(d);
        }
        set(&mut self.auto_create_topics, file.auto_create_topics);
        set(&mut self.log_format, file.log_format);
        if file.log_level.is_some() {
            self.log_level = file.log_level.clone();
        }
        if let Some(s) = &file.http_listen {
            let OptionalAddr(v) = parse_http_listen(s).map_err(|e| invalid("http_listen", s, e))?;
            self.http_listen = v;
        }
        if file.kafka_listen.is_some() {
            self.kafka_listen = file.kafka_listen;
        }
        if let Some(s) = &file.advertised {
            self.advertised = Some(parse_host_port(s).map_err(|e| invalid("advertised", s, e))?);
        }
        if let Some(s) = &file.kafka_advertised {
            self.kafka_advertised =
                Some(parse_host_port(s).map_err(|e| invalid("kafka_advertised", s, e))?);
        }
        set(
            &mut self.default_replication_factor,
            file.default_replication_factor,
        );
        self.tls.apply_file(file.tls.as_ref())?;
        self.sasl.apply_file(file.sasl.as_ref())?;
        let authorization = crate::security::acl::AuthorizationFile {
            authorization: file.authorization,
            super_users: file.super_users.clone(),
        };
        self.authorization
            .apply_file(&authorization)
            .map_err(|(key, value, reason)| ConfigError::Invalid { key, value, reason })?;
        Ok(())
    }

    fn apply_args(&mut self, args: &Args) {
        set(&mut self.listen, args.listen);
        set(&mut self.data_dir, args.data_dir.clone());
        let d = &mut self.topic_defaults;
        set(&mut d.partitions, args.default_partitions);
        set(&mut d.segment_bytes, args.segment_bytes);
        set(&mut d.segment_ms, args.segment_age.map(duration_ms));
        if let Some(OptionalDuration(v)) = args.retention {
            d.retention_ms = v.map(duration_ms);
        }
        if args.retention_bytes.is_some() {
            d.retention_bytes = args.retention_bytes;
        }
        set(&mut d.flush, args.flush);
        set(&mut self.max_frame_bytes, args.max_frame_bytes);
        set(&mut self.max_connections, args.max_connections);
        set(
            &mut self.max_connections_per_ip,
            args.max_connections_per_ip,
        );
        set(
            &mut self.max_connection_buffer_bytes,
            args.max_connection_buffer_bytes,
        );
        set(
            &mut self.max_total_buffer_bytes,
            args.max_total_buffer_bytes,
        );
        set(&mut self.max_partitions, args.max_partitions);
        set(&mut self.max_inflight, args.max_inflight);
        set(&mut self.idle_timeout, args.idle_timeout);
        set(&mut self.frame_timeout, args.frame_timeout);
        set(
            &mut self.groups.session_timeout_ms_min,
            args.group_min_session_timeout.map(duration_ms_i32),
        );
        set(
            &mut self.groups.session_timeout_ms_max,
            args.group_max_session_timeout.map(duration_ms_i32),
        );
        set(
            &mut self.groups.members_per_group_max,
            args.group_max_members,
        );
        set(
            &mut self.groups.offsets_retention_ms,
            args.offsets_retention.map(duration_ms_i64),
        );
        set(&mut self.auto_create_topics, args.auto_create_topics);
        set(&mut self.log_format, args.log_format);
        if args.log_level.is_some() {
            self.log_level = args.log_level.clone();
        }
        if let Some(OptionalAddr(v)) = args.http_listen {
            self.http_listen = v;
        }
        if args.kafka_listen.is_some() {
            self.kafka_listen = args.kafka_listen;
        }
        if args.advertised.is_some() {
            self.advertised = args.advertised.clone();
        }
        if args.kafka_advertised.is_some() {
            self.kafka_advertised = args.kafka_advertised.clone();
        }
        set(
            &mut self.default_replication_factor,
            args.cluster.default_replication_factor,
        );
        self.tls.apply_args(&args.tls);
        self.sasl.apply_args(&args.sasl);
        self.authorization.apply_args(&args.authorization);
    }

    /// Whether clients must authenticate (SASL mechanisms, or TLS with required client
    /// certificates); `--authorization auto` turns ACL checks on with it.
    pub fn authentication_required(&self) -> bool {
        let client_certificates = self.tls.cert.is_some()
            && self.tls.client_auth == Some(crate::tls::config::ClientAuth::Required);
        !self.sasl.mechanisms.is_empty() || client_certificates
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.sasl.validate()?;
        let d = &self.topic_defaults;
        check(
            "default_partitions",
            d.partitions,
            1,
            u64::from(PARTITIONS_MAX),
        )?;
        check(
            "segment_bytes",
            d.segment_bytes,
            4096,
            crate::storage::SEGMENT_BYTES_MAX,
        )?;
        check(
            "max_frame_bytes",
            self.max_frame_bytes as u64,
            1024,
            1 << 30,
        )?;
        check("max_connections", self.max_connections as u64, 1, 1 << 20)?;
        check(
            "max_connections_per_ip",
            self.max_connections_per_ip as u64,
            1,
            1 << 20,
        )?;
        self.validate_buffers()?;
        self.tls.validate()?;
        check("max_partitions", self.max_partitions as u64, 1, 1 << 20)?;
        check(
            "default_replication_factor",
            self.default_replication_factor,
            1,
            u64::from(cluster::REPLICATION_FACTOR_MAX),
        )?;
        check("max_inflight", self.max_inflight as u64, 1, 1 << 16)?;
        check(
            "group_max_members",
            self.groups.members_per_group_max as u64,
            1,
            1 << 20,
        )?;
        let g = &self.groups;
        if g.session_timeout_ms_min < 1 || g.session_timeout_ms_min > g.session_timeout_ms_max {
            return Err(invalid(
                "group_min_session_timeout",
                &format!("{}ms", g.session_timeout_ms_min),
                format!(
                    "must be at least 1ms and at most group_max_session_timeout ({}ms)",
                    g.session_timeout_ms_max
                ),
            ));
        }
        if let Some(level) = &self.log_level {
            tracing_subscriber::EnvFilter::try_new(level)
                .map_err(|e| invalid("log_level", level, e))?;
        }
        Ok(())
    }
}

impl BrokerConfig {
    /// A connection must hold a largest request and a largest response at once, and the
    /// broker-wide budget at least one such connection.
    fn validate_buffers(&self) -> Result<(), ConfigError> {
        // A frame being read (with its read-ahead) beside room for a largest response.
        let per_connection_min = 2 * self.max_frame_bytes + CONNECTION_BUFFER_SLACK_BYTES;
        if self.max_connection_buffer_bytes < per_connection_min {
            return Err(invalid(
                "max_connection_buffer_bytes",
                &self.max_connection_buffer_bytes.to_string(),
                format!(
                    "must be at least twice max_frame_bytes plus 64 KiB ({per_connection_min} bytes): raise it or lower max_frame_bytes"
                ),
            ));
        }
        if self.max_total_buffer_bytes < self.max_connection_buffer_bytes {
            return Err(invalid(
                "max_total_buffer_bytes",
                &self.max_total_buffer_bytes.to_string(),
                format!(
                    "must be at least max_connection_buffer_bytes ({} bytes)",
                    self.max_connection_buffer_bytes
                ),
            ));
        }
        Ok(())
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn check(key: &str, value: impl Into<u64>, min: u64, max: u64) -> Result<(), ConfigError> {
    let value = value.into();
    if value < min || value > max {
        return Err(invalid(
            key,
            &value.to_string(),
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

fn invalid(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn read_file_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Milliseconds in a duration as the wire's `i32`, saturating.
fn duration_ms_i32(d: Duration) -> i32 {
    i32::try_from(duration_ms(d)).unwrap_or(i32::MAX)
}

fn duration_ms_i64(d: Duration) -> i64 {
    i64::try_from(duration_ms(d)).unwrap_or(i64::MAX)
}

/// Milliseconds in a duration, saturating.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses a byte size: a number of bytes, or one with a unit (`KiB`, `MiB`, `GiB`,
/// `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` powers of 1000; `B` bytes), with or
/// without a space and in any case: `1073741824`, `1GiB`, `512 MiB`, `10gb`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad = || format!("`{s}` is not a size like 1073741824, 512MiB or 1GiB");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "tib" | "t" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    number.checked_mul(factor).ok_or_else(bad)
}

/// [`parse_bytes`] for a size held in a `usize`.
pub fn parse_bytes_usize(s: &str) -> Result<usize, String> {
    let bytes = parse_bytes(s)?;
    usize::try_from(bytes).map_err(|_| format!("`{s}` is too large"))
}

/// Parses a human duration such as `100ms`, `10s`, `5m`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like 100ms, 10s, 5m or 7d ({e})"))
}

/// Parses a duration or `none`/`off`/`-1` (no limit).
pub fn parse_optional_duration(s: &str) -> Result<OptionalDuration, String> {
    match s.trim() {
        "none" | "off" | "-1" | "forever" => Ok(OptionalDuration(None)),
        other => parse_duration(other).map(|d| OptionalDuration(Some(d))),
    }
}

/// Parses a socket address or `none`/`off` (endpoint disabled).
pub fn parse_http_listen(s: &str) -> Result<OptionalAddr, String> {
    match s.trim() {
        "none" | "off" => Ok(OptionalAddr(None)),
        other => other.parse().map(|a| OptionalAddr(Some(a))).map_err(|_| {
            format!("`{s}` is not an address like 127.0.0.1:9421, or none to turn HTTP off")
        }),
    }
}

/// Parses a flush policy: `always`, `os`, or an interval such as `100ms`.
pub fn parse_flush(s: &str) -> Result<FlushPolicy, String> {
    match s.trim() {
        "always" => Ok(FlushPolicy::Always),
        "os" | "never" => Ok(FlushPolicy::Os),
        other => {
            let d = parse_duration(other.trim_start_matches("interval:")).map_err(|_| {
                format!("`{s}` is not a flush policy: use always, os, or an interval like 100ms")
            })?;
            if d.is_zero() {
                return Ok(FlushPolicy::Always);
            }
            Ok(FlushPolicy::Interval(d))
        }
    }
}

/// Renders a flush policy the way [`parse_flush`] reads it.
pub fn flush_to_string(flush: &FlushPolicy) -> String {
    match flush {
        FlushPolicy::Always => "always".to_string(),
        FlushPolicy::Os => "os".to_string(),
        FlushPolicy::Interval(d) => format!("{}ms", duration_ms(*d)),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
