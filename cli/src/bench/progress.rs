//! Live progress of a bench run: counters every client bumps, and an indicatif bar on
//! stderr that shows msgs/s and MB/s over the last tick.
//!
//! The bar is hidden when stderr is not a terminal or `--json` is given, so scripted
//! runs print nothing but their report. Counters are relaxed atomics: they only feed
//! the display; the report comes from each client's own [`super::report::ClientStats`].

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

/// How often the bar redraws.
const TICK: Duration = Duration::from_millis(250);

/// Messages and bytes moved so far, all clients together.
#[derive(Debug, Default)]
pub struct Counters {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    /// Adds `messages` of `bytes` in total.
    pub fn add(&self, messages: u64, bytes: u64) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// The progress bar and the task that redraws it.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts a bar fed by `counters`; `total` messages if known. Hidden unless stderr
    /// is a terminal and `quiet` is false.
    pub fn start(label: &str, counters: Arc<Counters>, total: Option<u64>, quiet: bool) -> Self {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            return Progress { bar, ticker: None };
        }
        let template = match total {
            Some(_) => "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            None => "{prefix} [{elapsed_precise}] {spinner} {pos} msgs {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_owned());
        let ticker = tokio::spawn(tick(bar.clone(), counters));
        Progress {
            bar,
            ticker: Some(ticker),
        }
    }

    /// Stops redrawing and clears the bar.
    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        self.bar.finish_and_clear();
    }
}

async fn tick(bar: ProgressBar, counters: Arc<Counters>) {
    let mut last = (Instant::now(), counters.snapshot());
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let (messages, bytes) = counters.snapshot();
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let rate = (messages - last.1 .0) as f64 / secs;
        let mb = (bytes - last.1 .1) as f64 / secs / 1e6;
        bar.set_position(messages);
        bar.set_message(format!("{rate:>12.0} msgs/s {mb:>9.1} MB/s"));
        last = (now, (messages, bytes));
    }
}
