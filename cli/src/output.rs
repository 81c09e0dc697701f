//! Where and how the command line prints: the `--output` choice, colour detection,
//! aligned text tables, JSON lines, and the stdout writer that flushes per record on a
//! terminal and buffers in a pipe.
//!
//! Data goes to stdout, everything else (summaries, errors) to stderr, so pipes carry
//! only data. Writes return `io::Result` instead of panicking like `println!`, so a
//! closed pipe surfaces as `BrokenPipe` and `main` can end quietly.

use std::ffi::OsStr;
use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use clap::ValueEnum;
use serde::Serialize;

/// How commands that describe things (topics, groups) print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables for people.
    #[default]
    Text,
    /// One JSON document, for scripts (`jq`).
    Json,
}

/// True when colour should be used on a stream: it is a terminal and `NO_COLOR` is unset
/// or empty (<https://no-color.org>).
pub fn colour_enabled(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Styling for stdout, decided from the environment.
    pub fn stdout() -> Self {
        Self::new(colour_enabled(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
    }

    /// Styling for stderr, decided from the environment.
    pub fn stderr() -> Self {
        Self::new(colour_enabled(
            io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
    }

    /// Styling on or off.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Bold (table headers).
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Dimmed (record metadata before the value).
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Red and bold (the `error:` prefix).
    pub fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    /// Yellow (the `hint:` prefix).
    pub fn hint(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Green (success lines).
    pub fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }
}

/// A text table: a header row and rows of cells, printed with columns padded to the
/// widest cell and two spaces between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(headers: I) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are kept.
    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as lines, headers styled with `style`, no trailing spaces.
    pub fn render(&self, style: Style) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        out.push_str(&render_row(&self.headers, &widths, |h| style.bold(h)));
        for row in &self.rows {
            out.push_str(&render_row(row, &widths, str::to_owned));
        }
        out
    }
}

fn render_row(cells: &[String], widths: &[usize], paint: impl Fn(&str) -> String) -> String {
    let mut line = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.get(i).map_or("", String::as_str);
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(&paint(cell));
        let pad = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    let trimmed = line.trim_end().len();
    line.truncate(trimmed);
    line.push('\n');
    line
}

/// Stdout for data: buffered, flushed after every record on a terminal so a person sees
/// records as they arrive, and only when the buffer fills in a pipe (fast).
#[derive(Debug)]
pub struct DataOut {
    inner: BufWriter<Stdout>,
    flush_each_record: bool,
}

impl DataOut {
    /// Stdout, flushing per record when it is a terminal.
    pub fn stdout() -> Self {
        let stdout = io::stdout();
        let flush_each_record = stdout.is_terminal();
        Self {
            inner: BufWriter::with_capacity(64 * 1024, stdout),
            flush_each_record,
        }
    }

    /// The buffered writer, to write one record's bytes.
    pub fn writer(&mut self) -> &mut impl Write {
        &mut self.inner
    }

    /// Marks the end of a record: flushes on a terminal.
    pub fn end_record(&mut self) -> io::Result<()> {
        if self.flush_each_record {
            self.inner.flush()?;
        }
        Ok(())
    }

    /// Writes everything still buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `text` to stdout and flushes (one-shot outputs such as tables).
pub fn print_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes `value` to stdout as pretty JSON with a trailing newline.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    print_stdout(&text)
}

/// True if stdout is a pipe whose reader went away (`rill tail t | head -n 1` after
/// `head` exited), so a follow with nothing new to print still ends.
#[cfg(unix)]
pub fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: `fd` is a valid, exclusively borrowed pollfd array of length 1, and a
    // zero timeout makes the call return at once.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Elsewhere a closed stdout is found at the next write.
#[cfg(not(unix))]
pub fn stdout_closed() -> bool {
    false
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(colour_enabled(true, None));
        assert!(colour_enabled(true, Some(OsStr::new(""))));
        assert!(!colour_enabled(true, Some(OsStr::new("1"))));
        assert!(!colour_enabled(false, None));
    }

    #[test]
    fn style_off_is_plain() {
        assert_eq!(Style::new(false).bold("x"), "x");
        assert_eq!(Style::new(true).bold("x"), "\x1b[1mx\x1b[0m");
    }

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut table = Table::new(["NAME", "PARTITIONS"]);
        table.row(["orders", "3"]);
        table.row(["a", "12"]);
        table.row(["only-name"]);
        assert_eq!(
            table.render(Style::new(false)),
            "NAME       PARTITIONS\norders     3\na          12\nonly-name\n"
        );
    }

    #[test]
    fn table_pads_by_characters_not_bytes() {
        let mut table = Table::new(["K", "V"]);
        table.row(["é", "1"]);
        assert_eq!(table.render(Style::new(false)), "K  V\né  1\n");
    }

    #[test]
    fn human_byte_counts() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
