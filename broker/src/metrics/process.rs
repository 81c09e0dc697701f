//! Process gauges read from `/proc/self` at scrape time: resident memory and open file
//! descriptors. Off Linux (or when `/proc` is not mounted) they are simply absent.

use std::path::Path;

/// Bytes of the process resident in memory, from `/proc/self/statm`.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages.saturating_mul(page_size_bytes()))
}

/// File descriptors the process holds open, from `/proc/self/fd` (minus the one used to
/// list it).
pub fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir(Path::new("/proc/self/fd")).ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// The most file descriptors the process may open (soft `RLIMIT_NOFILE`).
pub fn max_fds() -> Option<u64> {
    crate::fd_limit::open_files_limit().map(|(soft, _)| soft)
}

fn page_size_bytes() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        assert!(resident_memory_bytes().is_some_and(|b| b > 0));
        let before = open_fds().unwrap();
        let _file = std::fs::File::open("/proc/self/statm").unwrap();
        assert!(open_fds().unwrap() >= 1);
        assert!(before < max_fds().unwrap());
    }
}
