//! Raising the open-file limit at startup.
//!
//! Every segment keeps its log file open (and mapped), so a broker with many partitions
//! or long retention needs many descriptors; the usual soft limit (1024) runs out long
//! before the hard one. Like the Go runtime and many servers, `rilld` raises its soft
//! `RLIMIT_NOFILE` to the hard limit when it starts; `ulimit -Hn` (or systemd's
//! `LimitNOFILE=`) is then the operator's knob.

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
}
