//! The progress bar of `rill produce` on a terminal: input bytes read out of the file's
//! size (a spinner when the size is unknown), records sent, and the rate.
//!
//! Shown only when stderr is a terminal, `--quiet` is not given, and the input is
//! large (at least [`PROGRESS_MIN_BYTES`]) or of unknown size (a pipe), so small and
//! scripted runs print nothing but their summary. indicatif limits redraws, so
//! updating per record costs an atomic add.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this finish too fast for a bar to help.
pub const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// Records between two updates of the record count in the bar's message.
const MESSAGE_EVERY_RECORDS: u64 = 4096;

/// Whether to show progress for an input of `total_bytes` (`None`: unknown size).
pub fn visible(stderr_is_terminal: bool, quiet: bool, total_bytes: Option<u64>) -> bool {
    stderr_is_terminal && !quiet && total_bytes.is_none_or(|total| total >= PROGRESS_MIN_BYTES)
}

/// The size of the input: the file's, or stdin's when it is redirected from a file.
pub fn input_size(file: Option<&Path>) -> Option<u64> {
    let metadata = match file {
        Some(path) => std::fs::metadata(path).ok()?,
        None => std::fs::metadata("/dev/stdin").ok()?,
    };
    metadata.is_file().then_some(metadata.len())
}

/// The bar (hidden when not [`visible`]).
#[derive(Debug)]
pub struct ProduceProgress {
    bar: ProgressBar,
    records: u64,
}

impl ProduceProgress {
    /// Starts the bar for an input of `total_bytes`, hidden unless it should show.
    pub fn start(quiet: bool, total_bytes: Option<u64>) -> Self {
        let bar = match total_bytes {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new_spinner(),
        };
        if !visible(std::io::stderr().is_terminal(), quiet, total_bytes) {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        } else {
            let template = match total_bytes {
                Some(_) => "produce [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                None => "produce [{elapsed_precise}] {spinner} {bytes} {bytes_per_sec} {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
        }
        ProduceProgress { bar, records: 0 }
    }

    /// Counts one record of `line_bytes` input bytes.
    pub fn record(&mut self, line_bytes: u64) {
        self.bar.inc(line_bytes);
        self.records += 1;
        if self.records.is_multiple_of(MESSAGE_EVERY_RECORDS) {
            self.bar.set_message(format!("{} records", self.records));
        }
    }

    /// Clears the bar (the summary line follows).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_only_on_a_terminal_for_large_or_unknown_inputs() {
        assert!(visible(true, false, None));
        assert!(visible(true, false, Some(PROGRESS_MIN_BYTES)));
        assert!(!visible(true, false, Some(PROGRESS_MIN_BYTES - 1)));
        assert!(!visible(false, false, None));
        assert!(!visible(true, true, None));
    }

    #[test]
    fn input_size_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, b"abc\n").unwrap();
        assert_eq!(input_size(Some(&path)), Some(4));
        assert_eq!(input_size(Some(dir.path())), None);
    }
}
