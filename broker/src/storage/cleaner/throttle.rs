//! The cleaner's rate limit: bytes of log read per second, enforced by sleeping the
//! cleaner's own (blocking-pool) thread, never an appender or a reader.

use std::time::{Duration, Instant};

/// Longest single sleep, so a stop request is noticed soon.
const SLEEP_MAX: Duration = Duration::from_millis(100);

/// Paces a stream of byte counts to at most `bytes_per_sec` on average.
#[derive(Debug)]
pub struct Throttle {
    bytes_per_sec: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    /// A throttle starting now; `None` never sleeps.
    pub fn new(bytes_per_sec: Option<u64>) -> Throttle {
        Throttle {
            bytes_per_sec: bytes_per_sec.filter(|&b| b > 0),
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `bytes` of I/O and sleeps (in steps of at most 100 ms, while `keep_going`)
    /// until the average rate is back under the limit.
    pub fn account(&mut self, bytes: u64, keep_going: impl Fn() -> bool) {
        self.bytes += bytes;
        let Some(rate) = self.bytes_per_sec else {
            return;
        };
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        while keep_going() {
            let elapsed = self.started.elapsed();
            if elapsed >= due {
                return;
            }
            std::thread::sleep((due - elapsed).min(SLEEP_MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_sleeps_and_limited_paces() {
        let mut free = Throttle::new(None);
        let start = Instant::now();
        free.account(u64::MAX / 2, || true);
        assert!(start.elapsed() < Duration::from_secs(1));
        let mut paced = Throttle::new(Some(1_000_000));
        paced.account(50_000, || true);
        assert!(paced.started.elapsed() >= Duration::from_millis(50));
    }
}
