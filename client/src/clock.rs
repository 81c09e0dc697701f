//! The wall clock for record timestamps: read once per record sent without one, so its
//! cost is on every `send`.
//!
//! On Unix it is `clock_gettime(CLOCK_REALTIME)` turned into milliseconds with one
//! multiply and one division by a constant; `SystemTime::now().duration_since(..)` did
//! the same read plus a checked subtraction and `Duration` normalisation (~45 of the
//! ~1,750 instructions per record `rill bench produce` spent in the client).

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970 or
/// cannot be read).
#[cfg(unix)]
#[inline]
pub(crate) fn now_ms() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` for the call's duration, and
    // CLOCK_REALTIME is a clock every Unix has.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    if status != 0 || now.tv_sec < 0 {
        return 0;
    }
    // `time_t` and `c_long` are narrower than i64 on some targets.
    #[allow(clippy::useless_conversion)]
    let (secs, nanos) = (i64::from(now.tv_sec), i64::from(now.tv_nsec));
    secs.min(i64::MAX / 1000) * 1000 + nanos / 1_000_000
}

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before 1970).
#[cfg(not(unix))]
pub(crate) fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => {
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 1000);
            secs * 1000 + i64::from(d.subsec_millis())
        }
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    fn system_ms() -> i64 {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        i64::try_from(since.as_millis()).unwrap()
    }

    #[test]
    fn agrees_with_system_time() {
        for _ in 0..1000 {
            let before = system_ms();
            let now = super::now_ms();
            let after = system_ms();
            assert!(
                before <= now && now <= after,
                "{before} <= {now} <= {after}"
            );
        }
    }
}
