//! `rilld`: the Rill broker.
//!
//! Starts with no flags (127.0.0.1:9420, ./rill-data); see `rilld --help`.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use rill_broker::config::{Args, BrokerConfig, LogFormat};
use rill_broker::server::Server;
use rill_broker::shutdown::ShutdownSignal;
use tracing::info;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = BrokerConfig::load(&args).context("invalid configuration")?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rilld")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let server = Server::bind(config)
        .await
        .with_context(|| format!("cannot start rilld with data dir {}", data_dir.display()))?;
    let (signal, listener) = ShutdownSignal::new();
    tokio::spawn(wait_for_signal(signal));
    server.run(listener).await?;
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

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
