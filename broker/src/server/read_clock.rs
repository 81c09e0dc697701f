//! A connection's two read deadlines: a connection with nothing buffered may stay silent
//! for `idle_timeout`; once a frame has started, it must arrive whole within
//! `frame_timeout` of its first byte, however its bytes trickle in (a client sending a
//! byte a second cannot hold a connection's buffers). Time the broker spends not reading
//! (waiting for room in the buffer budgets) does not count against the client.

use std::time::Duration;

use tokio::time::Instant;

/// The deadlines of one connection's read side.
#[derive(Debug)]
pub struct ReadClock {
    idle: Duration,
    frame: Duration,
    /// When the connection last had nothing pending: start, or the last whole frame.
    quiet_since: Instant,
    /// When the frame now buffered in part started to arrive.
    frame_started: Option<Instant>,
}

impl ReadClock {
    /// A clock starting now.
    pub fn new(idle: Duration, frame: Duration) -> Self {
        ReadClock {
            idle,
            frame: frame.min(idle),
            quiet_since: Instant::now(),
            frame_started: None,
        }
    }

    /// When the connection is closed unless more bytes (or a whole frame) arrive.
    pub fn deadline(&self) -> Instant {
        match self.frame_started {
            Some(started) => started + self.frame,
            None => self.quiet_since + self.idle,
        }
    }

    /// Why the connection is closed at the deadline.
    pub fn reason(&self) -> &'static str {
        match self.frame_started {
            Some(_) => "a started frame did not arrive in time",
            None => "idle",
        }
    }

    /// Bytes were read; `partial` says whether part of a frame is now buffered.
    pub fn bytes_read(&mut self, partial: bool) {
        if partial && self.frame_started.is_none() {
            self.frame_started = Some(Instant::now());
        }
    }

    /// A whole frame arrived; `partial` says whether the next one has already started.
    pub fn frame_arrived(&mut self, partial: bool) {
        let now = Instant::now();
        self.quiet_since = now;
        self.frame_started = partial.then_some(now);
    }

    /// The broker did not read for `paused` (no room in its budgets): the deadlines move.
    pub fn paused(&mut self, paused: Duration) {
        self.quiet_since += paused;
        if let Some(started) = &mut self.frame_started {
            *started += paused;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickled_frame_is_due_one_frame_timeout_after_its_first_byte() {
        let before = Instant::now();
        let mut clock = ReadClock::new(Duration::from_secs(600), Duration::from_secs(30));
        assert!(clock.deadline() >= before + Duration::from_secs(600));
        assert_eq!(clock.reason(), "idle");
        clock.bytes_read(true);
        let due = clock.deadline();
        assert!(due >= before + Duration::from_secs(30) && due < before + Duration::from_secs(60));
        // More bytes of the same frame do not move its deadline.
        for _ in 0..10 {
            clock.bytes_read(true);
        }
        assert_eq!(clock.deadline(), due);
        assert_eq!(clock.reason(), "a started frame did not arrive in time");
        clock.paused(Duration::from_secs(5));
        assert_eq!(clock.deadline(), due + Duration::from_secs(5));
        clock.frame_arrived(false);
        assert!(clock.deadline() >= before + Duration::from_secs(600));
        assert_eq!(clock.reason(), "idle");
    }

    #[test]
    fn the_frame_timeout_never_exceeds_the_idle_timeout() {
        let mut clock = ReadClock::new(Duration::from_secs(1), Duration::from_secs(30));
        clock.bytes_read(true);
        assert!(clock.deadline() <= Instant::now() + Duration::from_secs(1));
    }
}
