//! `rilld` as a child process, for tests that kill it or measure it from outside.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `rilld` on an ephemeral port and waits for its "ready" line.
pub async fn start_rilld(dir: &Path, flush: &str) -> (Child, std::net::SocketAddr) {
    start_rilld_with(dir, &["--flush", flush, "--segment-bytes", "65536"]).await
}

/// Starts `rilld` on an ephemeral port with extra flags and waits for its "ready" line.
pub async fn start_rilld_with(dir: &Path, args: &[&str]) -> (Child, std::net::SocketAddr) {
    start_rilld_env(dir, args, &[]).await
}

/// [`start_rilld_with`] with extra environment variables (crash points, for instance).
pub async fn start_rilld_env(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rilld"))
        .args(["--listen", "127.0.0.1:0", "--http-listen", "none"])
        .args(args)
        .envs(envs.iter().copied())
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rilld starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read rilld log") {
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest.split_whitespace().next().expect("address");
                return addr.parse().expect("listen address parses");
            }
        }
        panic!("rilld exited before it was ready");
    })
    .await
    .expect("rilld ready in time");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Resident memory of a process in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
