//! Waiting on conditions with deadlines, never sleeping and hoping.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Checks `condition` until it returns `Ok`, and returns its value and how long it
/// took; panics after `deadline` with `what` and the last `Err` it said (what it saw).
pub async fn wait_until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut condition: F,
) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        // A condition that hangs counts against the deadline too.
        let remaining = deadline.saturating_sub(started.elapsed());
        let last = match tokio::time::timeout(remaining, condition()).await {
            Ok(Ok(value)) => return (value, started.elapsed()),
            Ok(Err(seen)) => seen,
            Err(_) => "the last check did not finish".to_owned(),
        };
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting until {what}; last seen: {last}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
