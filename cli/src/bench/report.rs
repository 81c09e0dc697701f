//! Figures of a bench run: per-client counters and an HDR latency histogram, merged into
//! a total, printed as a table or (`--output json`) as one JSON object.
//!
//! Latencies are recorded in microseconds, 1 µs to 60 s at 3 significant digits; a
//! value outside that range is clamped, never dropped, so counts stay exact. A mode
//! that measures no latency (consume) reports `latency_us: null`, not a stand-in.
//! Records sent but never acknowledged (produce) or never received (e2e) are `lost`.

use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::topology::RunTopology;
use crate::output::{print_stdout, OutputFormat, Style, Table};

/// Largest latency the histogram tracks, in microseconds (60 s).
const LATENCY_US_MAX: u64 = 60_000_000;

/// What one client did during the measured part of the run.
#[derive(Debug, Clone)]
pub struct ClientStats {
    /// e.g. `producer 0`.
    pub name: String,
    /// Messages counted.
    pub messages: u64,
    /// Value bytes counted (message size × messages).
    pub bytes: u64,
    /// Measured time of this client.
    pub elapsed: Duration,
    /// Latency per message, microseconds.
    pub latency_us: Histogram<u64>,
    /// Messages sent but never acknowledged or never received.
    pub lost: u64,
}

impl ClientStats {
    /// An empty record for client `name`.
    pub fn new(name: impl Into<String>) -> anyhow::Result<ClientStats> {
        Ok(ClientStats {
            name: name.into(),
            messages: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            latency_us: new_histogram()?,
            lost: 0,
        })
    }

    /// Records `messages` that each took `latency`.
    pub fn record_latency(&mut self, latency: Duration, messages: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let us = us.clamp(1, LATENCY_US_MAX);
        // Cannot fail: the value is clamped into the histogram's range.
        let _ = self.latency_us.record_n(us, messages);
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).context("cannot create a histogram")
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value seen.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h`, or `None` if it recorded nothing.
    fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        (!h.is_empty()).then(|| Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }
}

/// Figures of one client, or of the total.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Client name, or `total`.
    pub name: String,
    /// Messages counted.
    pub messages: u64,
    /// Value bytes counted.
    pub bytes: u64,
    /// Measured seconds.
    pub elapsed_s: f64,
    /// Messages per second.
    pub msgs_per_sec: f64,
    /// Megabytes (10^6 bytes) of values per second.
    pub mb_per_sec: f64,
    /// Latency percentiles; `None` when the mode measures none.
    pub latency_us: Option<Percentiles>,
    /// Messages lost.
    pub lost: u64,
}

impl Figures {
    fn new(name: &str, stats: &ClientStats, elapsed: Duration, h: &Histogram<u64>) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Figures {
            name: name.to_owned(),
            messages: stats.messages,
            bytes: stats.bytes,
            elapsed_s: secs,
            msgs_per_sec: stats.messages as f64 / secs,
            mb_per_sec: stats.bytes as f64 / secs / 1e6,
            latency_us: Percentiles::of(h),
            lost: stats.lost,
        }
    }
}

/// The whole run: total first, then each client, and the parameters.
#[derive(Debug, Serialize)]
pub struct Report<P: Serialize> {
    /// `produce`, `consume`, `e2e` or `baseline`.
    pub mode: &'static str,
    /// Messages per second, all clients together.
    pub msgs_per_sec: f64,
    /// MB/s, all clients together.
    pub mb_per_sec: f64,
    /// Messages counted in total.
    pub messages: u64,
    /// Bytes counted in total.
    pub bytes: u64,
    /// Wall-clock seconds of the measured part.
    pub elapsed_s: f64,
    /// Latency percentiles over every client; `None` when the mode measures none.
    pub latency_us: Option<Percentiles>,
    /// Messages sent but never acknowledged (produce) or never received (e2e).
    pub lost: u64,
    /// Partitions that received records during the run (produce), to show the load
    /// reached every one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions_written: Option<usize>,
    /// The brokers and replicas behind the run's topic (modes that use a topic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<RunTopology>,
    /// What each client did.
    pub clients: Vec<Figures>,
    /// The options of the run.
    pub parameters: P,
}

impl<P: Serialize> Report<P> {
    /// Merges `clients` measured over `wall` (the slowest client's end).
    pub fn new(
        mode: &'static str,
        clients: &[ClientStats],
        wall: Duration,
        parameters: P,
    ) -> anyhow::Result<Self> {
        let mut merged = new_histogram()?;
        for c in clients {
            merged
                .add(&c.latency_us)
                .context("cannot merge histograms")?;
        }
        let mut sum = ClientStats::new("total")?;
        sum.messages = clients.iter().map(|c| c.messages).sum();
        sum.bytes = clients.iter().map(|c| c.bytes).sum();
        sum.lost = clients.iter().map(|c| c.lost).sum();
        let total = Figures::new("total", &sum, wall, &merged);
        Ok(Report {
            mode,
            msgs_per_sec: total.msgs_per_sec,
            mb_per_sec: total.mb_per_sec,
            messages: sum.messages,
            bytes: sum.bytes,
            elapsed_s: total.elapsed_s,
            latency_us: total.latency_us,
            lost: sum.lost,
            partitions_written: None,
            topology: None,
            clients: clients
                .iter()
                .map(|c| Figures::new(&c.name, c, c.elapsed, &c.latency_us))
                .collect(),
            parameters,
        })
    }

    /// Prints the report as one JSON line (`--output json`) or a table; then fails if
    /// messages were lost, so a lossy run never passes for a good one.
    pub fn print(&self, output: OutputFormat) -> anyhow::Result<()> {
        self.print_only(output)?;
        if self.lost > 0 {
            anyhow::bail!(
                "{} of {} messages were lost (never acknowledged or never received)",
                self.lost,
                self.messages + self.lost
            );
        }
        Ok(())
    }

    fn print_only(&self, output: OutputFormat) -> anyhow::Result<()> {
        if output == OutputFormat::Json {
            let mut line = serde_json::to_string(self).context("cannot encode the report")?;
            line.push('\n');
            return print_stdout(&line).context("cannot write the report");
        }
        let mut table = Table::new([
            "client",
            "msgs",
            "msgs/s",
            "MB/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "lost",
        ]);
        let total = Figures {
            name: "total".to_owned(),
            messages: self.messages,
            bytes: self.bytes,
            elapsed_s: self.elapsed_s,
            msgs_per_sec: self.msgs_per_sec,
            mb_per_sec: self.mb_per_sec,
            latency_us: self.latency_us,
            lost: self.lost,
        };
        for f in self.clients.iter().chain(std::iter::once(&total)) {
            let latency = |pick: fn(&Percentiles) -> u64| {
                f.latency_us
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| pick(l).to_string())
            };
            table.row([
                f.name.clone(),
                f.messages.to_string(),
                format!("{:.0}", f.msgs_per_sec),
                format!("{:.1}", f.mb_per_sec),
                latency(|l| l.p50),
                latency(|l| l.p90),
                latency(|l| l.p99),
                latency(|l| l.p999),
                latency(|l| l.max),
                f.lost.to_string(),
            ]);
        }
        let mut text = table.render(Style::stdout());
        if let Some(written) = self.partitions_written {
            text.push_str(&format!("partitions written: {written}\n"));
        }
        if let Some(topology) = &self.topology {
            text.push_str(&topology.describe());
            text.push('\n');
        }
        print_stdout(&text).context("cannot write the report")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_percentiles_order() {
        let mut a = ClientStats::new("producer 0").unwrap();
        a.messages = 1000;
        a.bytes = 100_000;
        a.elapsed = Duration::from_secs(1);
        a.record_latency(Duration::from_micros(100), 990);
        a.record_latency(Duration::from_millis(5), 10);
        let mut b = a.clone();
        b.name = "producer 1".to_owned();
        let report = Report::new("produce", &[a, b], Duration::from_secs(2), ()).unwrap();
        assert_eq!(report.messages, 2000);
        assert!((report.msgs_per_sec - 1000.0).abs() < 1e-6);
        assert!((report.mb_per_sec - 0.1).abs() < 1e-9);
        let l = report.latency_us.unwrap();
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
        assert!((99..=101).contains(&l.p50), "{l:?}");
        assert!(l.max >= 4990, "{l:?}");
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "msgs_per_sec",
            "mb_per_sec",
            "latency_us",
            "parameters",
            "clients",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        assert!(json["latency_us"]["p999"].is_u64());
        assert_eq!(json["lost"], 0);
    }

    #[test]
    fn no_latency_is_null_and_lost_messages_fail_the_run() {
        let mut a = ClientStats::new("consumer 0").unwrap();
        a.messages = 10;
        let report = Report::new("consume", &[a.clone()], Duration::from_secs(1), ()).unwrap();
        assert!(report.latency_us.is_none());
        assert!(serde_json::to_value(&report).unwrap()["latency_us"].is_null());
        a.lost = 2;
        let report = Report::new("e2e", &[a], Duration::from_secs(1), ()).unwrap();
        assert_eq!(report.lost, 2);
        let error = report.print(OutputFormat::Json).unwrap_err().to_string();
        assert!(error.contains("2 of 12"), "{error}");
    }

    #[test]
    fn out_of_range_latencies_are_clamped_not_lost() {
        let mut s = ClientStats::new("c").unwrap();
        s.record_latency(Duration::ZERO, 3);
        s.record_latency(Duration::from_secs(3600), 1);
        assert_eq!(s.latency_us.len(), 4);
    }
}
