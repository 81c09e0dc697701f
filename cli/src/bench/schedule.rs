//! When a bench client sends: the warmup, the stop condition and the `--rate` schedule.
//!
//! With `--rate`, message number `n` of a client is due at `start + n / rate`, whatever
//! happened to the messages before it. Latency is measured from that due time, not
//! from when the client got around to sending: a stall delays every message queued
//! behind it, and those delays are counted (no coordinated omission, as in
//! wrk2 and HdrHistogram's guidance). Without `--rate` a message is due when it is sent.

use std::time::{Duration, Instant};

use super::args::{LoadArgs, Stop};

/// The shared timing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Messages sent before this are warmup.
    pub measure_from: Instant,
    /// Stop condition.
    pub stop: Stop,
    /// Messages per second for one client, if paced.
    pub rate_per_client: Option<f64>,
}

impl Window {
    /// The window of `load` split over `clients`, starting now.
    pub fn new(load: &LoadArgs, clients: u32) -> Window {
        Window {
            measure_from: Instant::now() + load.warmup,
            stop: load.stop(),
            rate_per_client: load.rate.map(|r| r as f64 / f64::from(clients.max(1))),
        }
    }

    /// Whether a client that has counted `counted` messages should send more.
    pub fn more(&self, counted: u64, now: Instant) -> bool {
        match self.stop {
            Stop::Count(count) => counted < count,
            Stop::After(d) => now < self.measure_from + d,
        }
    }

    /// When message number `sent` (since `start`) is due: on the `--rate` schedule,
    /// or now when unpaced.
    pub fn due(&self, start: Instant, sent: u64) -> Instant {
        match self.rate_per_client {
            Some(rate) => start + Duration::from_secs_f64(sent as f64 / rate),
            None => Instant::now(),
        }
    }

    /// Sleeps until message number `sent` is due and returns its due time, the instant
    /// its latency is measured from.
    pub async fn pace(&self, start: Instant, sent: u64) -> Instant {
        let due = self.due(start, sent);
        // Only a schedule sleeps: even a sleep already due waits for the timer's next
        // tick (1 ms), which would cap an unpaced client near 1,000 sends a second.
        if self.rate_per_client.is_some() && due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_the_schedule_not_the_sender() {
        let window = Window {
            measure_from: Instant::now(),
            stop: Stop::Count(10),
            rate_per_client: Some(1000.0),
        };
        let start = Instant::now();
        assert_eq!(window.due(start, 0), start);
        assert_eq!(window.due(start, 500), start + Duration::from_millis(500));
        let unpaced = Window {
            rate_per_client: None,
            ..window
        };
        assert!(unpaced.due(start, 500) >= start);
        assert!(window.more(9, start) && !window.more(10, start));
    }
}
