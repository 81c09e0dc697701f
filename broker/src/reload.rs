//! Config reload (SIGHUP): re-reads the `--config` file (flags and `RILL_*` variables from
//! start still win over it) and applies what can change while running.
//!
//! Live: the topic defaults (`retention`, `retention_bytes`, `flush`, `segment_bytes`,
//! `segment_age`, `default_partitions`), which reach every topic that does not override
//! the key, and `log_level` (through the logging filter the binary installs). Everything
//! else (addresses, data directory, limits, log format) keeps its running value and is
//! named in a "restart required" warning. A reload that fails validation changes nothing.
//!
//! TLS certificates (`tls_cert`, `tls_key`, `tls_client_ca`) are re-read on every
//! reload, with or without `--config` (a renewed certificate is usually written over the
//! old files): new handshakes use them, open connections keep theirs. Files that cannot
//! be used fail the reload and the running certificate stays.

use std::sync::Mutex;

use thiserror::Error;
use tracing::{info, warn};

use crate::config::{flush_to_string, Args, BrokerConfig, ConfigError, TopicDefaults};
use crate::server::BrokerCtx;
use crate::topics::TopicError;

/// Replaces the live log filter with new directives (e.g. `info,rill_broker=debug`).
pub type LogFilterSetter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Log filter when neither RUST_LOG nor `log_level` says otherwise.
pub const LOG_LEVEL_DEFAULT: &str = "info";

/// Why a reload changed nothing.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The file (or a value in it) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new defaults do not fit a topic.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// The new TLS certificate files cannot be used (the running ones stay).
    #[error("TLS certificates not reloaded: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The logging filter could not be replaced.
    #[error("cannot change the log filter: {0}")]
    LogFilter(String),
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Settings applied, as `name: old -> new`.
    pub changed: Vec<String>,
    /// Settings that differ from the running ones but need a restart.
    pub restart_required: Vec<String>,
}

/// Re-applies the config file on demand; one per broker process.
pub struct Reloader {
    args: Args,
    set_log_filter: Option<LogFilterSetter>,
    /// The `log_level` setting last applied (`None`: RUST_LOG or the default).
    log_level: Mutex<Option<String>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("config", &self.args.config)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for a broker started from `args` with `running` as its configuration;
    /// without `set_log_filter`, a changed `log_level` is reported as restart required.
    pub fn new(
        args: Args,
        running: &BrokerConfig,
        set_log_filter: Option<LogFilterSetter>,
    ) -> Self {
        Reloader {
            args,
            set_log_filter,
            log_level: Mutex::new(running.log_level.clone()),
        }
    }

    /// Reloads, logs one line naming what changed (and a warning for what needs a
    /// restart), and counts the reload in the metrics. Blocking (reads the file, writes
    /// the topic catalogue).
    pub fn reload(&self, ctx: &BrokerCtx) -> Result<ReloadReport, ReloadError> {
        let Some(path) = &self.args.config else {
            return reload_certificates_only(ctx);
        };
        let outcome = self.apply(ctx);
        ctx.metrics.config_reloaded(outcome.is_ok());
        match &outcome {
            Ok(report) if report.changed.is_empty() => {
                info!(path = %path.display(), "config reloaded: nothing changed")
            }
            Ok(report) => {
                info!(path = %path.display(), changed = %report.changed.join(", "), "config reloaded")
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "config reload failed; running settings unchanged")
            }
        }
        if let Ok(report) = &outcome {
            if !report.restart_required.is_empty() {
                warn!(settings = %report.restart_required.join(", "), "config reload: restart required for these changed settings; they keep their running values");
            }
        }
        outcome
    }

    fn apply(&self, ctx: &BrokerCtx) -> Result<ReloadReport, ReloadError> {
        let new = BrokerConfig::load(&self.args)?;
        let mut report = ReloadReport::default();
        // First: bad certificate files fail the reload before anything else changes.
        reload_tls(ctx, Some(&new.tls), &mut report)?;
        let running = ctx.topics.defaults();
        diff_defaults(&running, &new.topic_defaults, &mut report.changed);
        restart_required(&ctx.config, &new, &mut report.restart_required);
        if new.topic_defaults != running {
            ctx.topics.set_defaults(new.topic_defaults.clone())?;
        }
        let max_partitions = ctx.topics.max_partitions();
        if new.max_partitions != max_partitions {
            ctx.topics.set_max_partitions(new.max_partitions);
            report.changed.push(format!(
                "max_partitions: {max_partitions} -> {}",
                new.max_partitions
            ));
        }
        let mut level = self.log_level.lock().unwrap_or_else(|e| e.into_inner());
        if new.log_level != *level {
            let show = |l: &Option<String>| l.clone().unwrap_or_else(|| LOG_LEVEL_DEFAULT.into());
            match &self.set_log_filter {
                Some(set) => {
                    set(new.log_level.as_deref().unwrap_or(LOG_LEVEL_DEFAULT))
                        .map_err(ReloadError::LogFilter)?;
                    let change = format!("log_level: {} -> {}", show(&level), show(&new.log_level));
                    report.changed.push(change);
                    *level = new.log_level;
                }
                None => report.restart_required.push("log_level".into()),
            }
        }
        Ok(report)
    }
}

/// A reload without `--config`: only the TLS certificate files are re-read.
fn reload_certificates_only(ctx: &BrokerCtx) -> Result<ReloadReport, ReloadError> {
    if ctx.tls.is_none() {
        info!(
            "config reload: rilld was started without --config and without TLS; nothing to reload"
        );
        return Ok(ReloadReport::default());
    }
    let mut report = ReloadReport::default();
    let outcome = reload_tls(ctx, None, &mut report).map(|()| report);
    ctx.metrics.config_reloaded(outcome.is_ok());
    match &outcome {
        Ok(_) => info!("TLS certificates reloaded; new connections use them"),
        Err(e) => warn!(error = %e, "keeping the running TLS certificate"),
    }
    outcome
}

/// Re-reads the TLS files: those `new` names, else the running ones. Turning TLS on or
/// off, or changing which listeners use it, needs a restart.
fn reload_tls(
    ctx: &BrokerCtx,
    new: Option<&crate::tls::TlsSettings>,
    report: &mut ReloadReport,
) -> Result<(), ReloadError> {
    let Some(tls) = &ctx.tls else {
        if new.is_some_and(|new| new.enabled()) {
            report.restart_required.push("tls (turning TLS on)".into());
        }
        return Ok(());
    };
    let running = tls.settings();
    let mut settings = new.cloned().unwrap_or_else(|| running.clone());
    if !settings.enabled() {
        report.restart_required.push("tls (turning TLS off)".into());
        return Ok(());
    }
    if settings.listeners != running.listeners {
        report.restart_required.push("tls_listeners".into());
        settings.listeners = running.listeners;
    }
    tls.reload(&settings)?;
    report.changed.push("tls certificates: re-read".into());
    Ok(())
}

fn diff_defaults(old: &TopicDefaults, new: &TopicDefaults, out: &mut Vec<String>) {
    let limit = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    let pairs = [
        (
            "default_partitions",
            old.partitions.to_string(),
            new.partitions.to_string(),
        ),
        (
            "segment_bytes",
            old.segment_bytes.to_string(),
            new.segment_bytes.to_string(),
        ),
        (
            "segment_age_ms",
            old.segment_ms.to_string(),
            new.segment_ms.to_string(),
        ),
        (
            "retention_ms",
            limit(old.retention_ms),
            limit(new.retention_ms),
        ),
        (
            "retention_bytes",
            limit(old.retention_bytes),
            limit(new.retention_bytes),
        ),
        (
            "flush",
            flush_to_string(&old.flush),
            flush_to_string(&new.flush),
        ),
    ];
    for (name, before, after) in pairs {
        if before != after {
            out.push(format!("{name}: {before} -> {after}"));
        }
    }
}

fn restart_required(old: &BrokerConfig, new: &BrokerConfig, out: &mut Vec<String>) {
    let pairs = [
        (
            "listen",
            format!("{:?}", old.listen),
            format!("{:?}", new.listen),
        ),
        (
            "advertised",
            format!("{:?}", old.advertised),
            format!("{:?}", new.advertised),
        ),
        (
            "http_listen",
            format!("{:?}", old.http_listen),
            format!("{:?}", new.http_listen),
        ),
        (
            "data_dir",
            format!("{:?}", old.data_dir),
            format!("{:?}", new.data_dir),
        ),
        (
            "max_frame_bytes",
            old.max_frame_bytes.to_string(),
            new.max_frame_bytes.to_string(),
        ),
        (
            "max_connections",
            old.max_connections.to_string(),
            new.max_connections.to_string(),
        ),
        (
            "max_connections_per_ip",
            old.max_connections_per_ip.to_string(),
            new.max_connections_per_ip.to_string(),
        ),
        (
            "max_connection_buffer_bytes",
            old.max_connection_buffer_bytes.to_string(),
            new.max_connection_buffer_bytes.to_string(),
        ),
        (
            "max_total_buffer_bytes",
            old.max_total_buffer_bytes.to_string(),
            new.max_total_buffer_bytes.to_string(),
        ),
        (
            "max_inflight",
            old.max_inflight.to_string(),
            new.max_inflight.to_string(),
        ),
        (
            "idle_timeout",
            format!("{:?}", old.idle_timeout),
            format!("{:?}", new.idle_timeout),
        ),
        (
            "frame_timeout",
            format!("{:?}", old.frame_timeout),
            format!("{:?}", new.frame_timeout),
        ),
        (
            "auto_create_topics",
            old.auto_create_topics.to_string(),
            new.auto_create_topics.to_string(),
        ),
        (
            "log_format",
            format!("{:?}", old.log_format),
            format!("{:?}", new.log_format),
        ),
        (
            "group settings",
            format!("{:?}", old.groups),
            format!("{:?}", new.groups),
        ),
        (
            "cleaner settings",
            format!("{:?}", old.cleaner),
            format!("{:?}", new.cleaner),
        ),
        (
            "authorization, super_users",
            format!("{:?}", old.authorization),
            format!("{:?}", new.authorization),
        ),
        (
            "sasl settings",
            format!("{:?}", old.sasl),
            format!("{:?}", new.sasl),
        ),
        (
            "cluster settings",
            format!("{:?}", old.cluster),
            format!("{:?}", new.cluster),
        ),
        (
            "default_replication_factor",
            old.default_replication_factor.to_string(),
            new.default_replication_factor.to_string(),
        ),
    ];
    for (name, before, after) in pairs {
        if before != after {
            out.push(name.to_string());
        }
    }
}
