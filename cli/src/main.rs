//! `rill`: the Rill command line.
//!
//! Parses the command line (usage errors exit 2), runs the command on a single-threaded
//! tokio runtime (quick to start; the work is one connection; `rill bench` gets a
//! multi-threaded one for its many connections), and turns the outcome
//! into an exit code: 0 success or a closed stdout pipe, 1 failure with a message and a
//! hint on stderr.

use std::process::ExitCode;

use clap::Parser;

use rill_cli::errors::{clap_exit_code, report, EXIT_FAILURE};
use rill_cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Printing help to a closed pipe is not worth reporting.
            let _ = error.print();
            return clap_exit_code(&error);
        }
    };
    init_logging();
    let broker = cli.global.broker.clone();
    let mut builder = match cli.command.wants_all_cores() {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let outcome = runtime.block_on(rill_cli::run(cli));
    // Do not wait for a blocking stdin read that will never finish.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error, &broker),
    }
}

/// Library logs go to stderr, silent unless `RILL_LOG` asks (e.g. `RILL_LOG=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
