//! `rilld`: the Rill broker.
//!
//! Starts with no flags (127.0.0.1:9420, ./rill-data, metrics on 127.0.0.1:9421); see
//! `rilld --help`. SIGINT/SIGTERM shut down cleanly; SIGHUP reloads the `--config` file.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use rill_broker::config::{Args, BrokerConfig, LogFormat};
use rill_broker::reload::{LogFilterSetter, Reloader, LOG_LEVEL_DEFAULT};
use rill_broker::security::bootstrap::RilldCommand;
use rill_broker::server::{self, BrokerCtx};
use rill_broker::shutdown::ShutdownSignal;
use tracing::info;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer};

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(RilldCommand::User(command)) = args.command.clone() {
        let out = rill_broker::security::bootstrap::run(command)?;
        if !out.is_empty() {
            println!("{out}");
        }
        return Ok(());
    }
    let config = BrokerConfig::load(&args).context("invalid configuration")?;
    let set_log_filter = init_logging(&config);
    let reloader = Reloader::new(args, &config, Some(set_log_filter));
    rill_broker::malloc_tuning::keep_large_buffers();
    match rill_broker::fd_limit::raise_open_files_limit() {
        Ok((before, after)) if before != after => {
            info!(
                before,
                after, "raised the open-file limit (each segment keeps a file open)"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rilld")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, reloader))
}

async fn serve(config: BrokerConfig, reloader: Reloader) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    // Installed before anything else, so an early SIGHUP cannot kill the process.
    let hangups = hangup_signals();
    let started = server::start(config)
        .await
        .with_context(|| format!("cannot start rilld with data dir {}", data_dir.display()))?;
    tokio::spawn(wait_for_signal(started.signal.clone()));
    tokio::spawn(reload_on_hangup(
        hangups,
        Arc::new(reloader),
        started.ctx.clone(),
    ));
    started.task.await.context("broker task failed")??;
    Ok(())
}

/// Triggers shutdown on SIGINT or SIGTERM.
async fn wait_for_signal(signal: ShutdownSignal) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal as unix_signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            unix_signal(SignalKind::terminate()),
            unix_signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; stop rilld with SIGKILL");
            return;
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: shutting down"),
            _ = int.recv() => info!("SIGINT: shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        info!("Ctrl-C: shutting down");
    }
    signal.trigger();
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

/// The stream of SIGHUPs (`None` if the handler cannot be installed).
fn hangup_signals() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal as unix_signal, SignalKind};
        let hangups = unix_signal(SignalKind::hangup());
        if let Err(e) = &hangups {
            tracing::warn!(error = %e, "cannot install the SIGHUP handler; config reload is off");
        }
        hangups.ok()
    }
}

/// Reloads the config file on every SIGHUP.
async fn reload_on_hangup(hangups: Hangups, reloader: Arc<Reloader>, ctx: Arc<BrokerCtx>) {
    #[cfg(unix)]
    {
        let Some(mut hangup) = hangups else {
            return;
        };
        while hangup.recv().await.is_some() {
            info!("SIGHUP: reloading config");
            let (reloader, ctx) = (reloader.clone(), ctx.clone());
            // The outcome is logged and counted by `reload` itself.
            let _ = tokio::task::spawn_blocking(move || reloader.reload(&ctx)).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (hangups, reloader, ctx);
}

/// Installs the log subscriber: RUST_LOG if set, else the configured `log_level`; the
/// returned setter swaps the filter on a config reload.
fn init_logging(config: &BrokerConfig) -> LogFilterSetter {
    let level = config.log_level.as_deref().unwrap_or(LOG_LEVEL_DEFAULT);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(quiet_raft(level)));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let lines = match config.log_format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .init();
    Box::new(move |directives: &str| {
        let filter = EnvFilter::try_new(quiet_raft(directives)).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}

/// `directives` with openraft's own logs at error level unless they name openraft: at
/// info it logs every vote, and at warn several lines a second while a peer is down
/// (the cluster layer logs what an operator needs: elections, fencing, lost peers).
fn quiet_raft(directives: &str) -> String {
    if directives.contains("openraft") {
        directives.to_string()
    } else {
        format!("{directives},openraft=error")
    }
}
