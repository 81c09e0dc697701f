//! Raising the open-file limit at startup.
//!
//! Every segment keeps its log file open (and mapped), so a broker with many partitions
//! or long retention needs many descriptors; the usual soft limit (1024) runs out long
//! before the hard one. Like the Go runtime and many servers, `rilld` raises its soft
//! `RLIMIT_NOFILE` to the hard limit when it starts; `ulimit -Hn` (or systemd's
//! `LimitNOFILE=`) is then the operator's knob.
//!
//! Client connections take descriptors too: [`connections_that_fit`] keeps the connection
//! limit inside the open-file limit, leaving room for the files the broker opens, so a
//! flood of connections cannot leave a segment roll without a descriptor.

/// Descriptors kept free for files the broker opens after start (new segments and their
/// indexes, checkpoints, the HTTP endpoint), beyond those open at start; a quarter of
/// the limit when that is less (a small limit is not given over to files alone).
pub const FILES_HEADROOM: u64 = 1024;

/// [`FILES_HEADROOM`], or a quarter of a small open-file limit.
fn files_headroom(open_files_limit: u64) -> u64 {
    FILES_HEADROOM.min(open_files_limit / 4)
}

/// How many client connections the open-file limit leaves room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionFit {
    /// The connection limit to enforce: the configured one, or less if files do not fit.
    pub max_connections: usize,
    /// The soft open-file limit it was computed from.
    pub open_files_limit: u64,
    /// Descriptors open when it was computed.
    pub open_files: u64,
}

impl ConnectionFit {
    /// True when the open-file limit forced a connection limit below the configured one.
    pub fn lowered(&self, configured: usize) -> bool {
        self.max_connections < configured
    }
}

/// The connection limit that fits the soft open-file limit: `configured`, or the limit
/// less the descriptors open now and the files' headroom when that is smaller (at least 1).
/// `None` when the limit cannot be read.
pub fn connections_that_fit(configured: usize) -> Option<ConnectionFit> {
    let (soft, _) = open_files_limit()?;
    let open = open_descriptors().unwrap_or(0);
    let room = soft
        .saturating_sub(open)
        .saturating_sub(files_headroom(soft))
        .max(1);
    let max_connections = usize::try_from(room).unwrap_or(usize::MAX).min(configured);
    Some(ConnectionFit {
        max_connections,
        open_files_limit: soft,
        open_files: open,
    })
}

/// Descriptors this process has open now (the entries of `/proc/self/fd`).
pub fn open_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(entries.count() as u64)
}

/// The soft and hard `RLIMIT_NOFILE` now.
pub fn open_files_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid, exclusive pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

/// Raises the soft open-file limit to the hard limit; returns `(before, after)`.
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    let (soft, hard) = open_files_limit().ok_or_else(std::io::Error::last_os_error)?;
    if soft >= hard {
        return Ok((soft, soft));
    }
    let raised = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one rlimit through a valid pointer; raising the soft limit
    // up to the hard one needs no privilege.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let (_, hard) = open_files_limit().unwrap();
        let (before, after) = raise_open_files_limit().unwrap();
        assert!(before <= after);
        assert_eq!(open_files_limit().unwrap(), (after, hard));
        assert_eq!(after, hard);
    }

    #[test]
    fn the_connection_limit_leaves_room_for_files() {
        let (soft, _) = open_files_limit().unwrap();
        let unlimited = connections_that_fit(usize::MAX).unwrap();
        assert_eq!(unlimited.open_files_limit, soft);
        assert!(
            unlimited.open_files > 0,
            "this process has descriptors open"
        );
        let headroom = files_headroom(soft);
        let expected = soft - unlimited.open_files - headroom;
        // Other test threads may open files in between: allow a little drift.
        let got = unlimited.max_connections as u64;
        assert!(
            got <= soft - headroom && got + 64 >= expected,
            "{got} vs {expected}"
        );
        assert!(unlimited.lowered(usize::MAX));
        let small = connections_that_fit(10).unwrap();
        assert_eq!(small.max_connections, 10);
        assert!(!small.lowered(10));
    }
}
