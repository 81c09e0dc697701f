//! One `rilld` process of a test cluster: started with its data directory, addresses
//! and flags, its stdout and stderr appended to a log file; killed (-9), paused
//! (SIGSTOP), resumed (SIGCONT), stopped (SIGTERM) and restarted on the same directory
//! and ports. Dropping a node kills its process.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::binaries;
use super::ports::NodeAddrs;

/// How long a broker may take to listen after it starts.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a broker may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the process of a node is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Started and not stopped.
    Running,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed or stopped; `restart` brings it back.
    Down,
}

/// One broker process.
#[derive(Debug)]
pub struct Node {
    /// The broker's node id.
    pub id: u64,
    /// Where it listens.
    pub addrs: NodeAddrs,
    /// Its data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// The file its output goes to (appended across restarts).
    pub log_path: PathBuf,
    args: Vec<OsString>,
    netns: Option<String>,
    child: Option<Child>,
    state: NodeState,
}

impl Node {
    /// A node not started yet: `args` are every `rilld` flag.
    pub fn new(
        id: u64,
        addrs: NodeAddrs,
        data_dir: PathBuf,
        log_path: PathBuf,
        args: Vec<OsString>,
        netns: Option<String>,
    ) -> Node {
        Node {
            id,
            addrs,
            data_dir,
            log_path,
            args,
            netns,
            child: None,
            state: NodeState::Down,
        }
    }

    /// The process state.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// Whether the broker runs (not paused, not down).
    pub fn is_running(&self) -> bool {
        self.state == NodeState::Running
    }

    /// The process id, while there is a process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The network namespace the broker runs in, if any.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Starts the process (it must be down) and waits until its native port accepts
    /// connections; fails with the log if it exits or takes longer than
    /// [`START_TIMEOUT`].
    pub async fn start(&mut self) {
        self.spawn();
        self.wait_listening().await;
    }

    /// Starts the process (it must be down) without waiting for it to listen.
    pub fn spawn(&mut self) {
        assert_eq!(
            self.state,
            NodeState::Down,
            "node {} already started",
            self.id
        );
        let log = self.open_log("start");
        let mut command = match &self.netns {
            Some(ns) => {
                // `ip netns exec` execs the broker: the child's pid is the broker's.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binaries::rilld());
                c
            }
            None => Command::new(binaries::rilld()),
        };
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RILL_") {
                command.env_remove(key);
            }
        }
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // prctl(2), which is async-signal-safe. PR_SET_PDEATHSIG kills the broker if
        // the thread that started it dies without running the drops (the test process
        // killed or aborted); tests start brokers from their own thread.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = command
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rilld for node {}: {e}", self.id));
        self.child = Some(child);
        self.state = NodeState::Running;
    }

    /// Waits until the native port accepts connections; fails with the log if the
    /// process exits or takes longer than [`START_TIMEOUT`].
    pub async fn wait_listening(&mut self) {
        let started = Instant::now();
        let addr = self.addrs.native();
        loop {
            if let Some(status) = self.try_exit_status() {
                self.state = NodeState::Down;
                panic!(
                    "rilld node {} exited before listening ({status}):\n{}",
                    self.id,
                    self.log_tail(60)
                );
            }
            let connect = tokio::net::TcpStream::connect(addr);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), connect).await {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "rilld node {} not listening on {addr} after {START_TIMEOUT:?}:\n{}",
                self.id,
                self.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.pid().expect("a process to signal");
        let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet (so it cannot
        // have been reused) and a valid signal number; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// SIGKILL, as a crash: nothing is flushed or closed cleanly.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL works on a stopped process too.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.note(&format!("killed with SIGKILL (was {:?})", self.state));
        self.state = NodeState::Down;
    }

    /// SIGSTOP: the process freezes with its sockets open, as a long GC pause or a
    /// stalled VM would. Returns once every thread is stopped (the signal alone only
    /// asks the kernel to stop them).
    pub async fn pause(&mut self) {
        assert_eq!(self.state, NodeState::Running, "pause node {}", self.id);
        self.signal(libc::SIGSTOP);
        let pid = self.pid().expect("a paused process");
        let started = Instant::now();
        while !all_threads_stopped(pid) {
            assert!(
                started.elapsed() < START_TIMEOUT,
                "node {} not stopped {START_TIMEOUT:?} after SIGSTOP",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.note("paused with SIGSTOP");
        self.state = NodeState::Paused;
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&mut self) {
        assert_eq!(self.state, NodeState::Paused, "resume node {}", self.id);
        self.signal(libc::SIGCONT);
        self.note("resumed with SIGCONT");
        self.state = NodeState::Running;
    }

    /// SIGTERM and waits for the exit (the broker's clean shutdown); returns its status.
    pub async fn stop(&mut self) -> ExitStatus {
        if self.state == NodeState::Paused {
            self.resume();
        }
        assert_eq!(self.state, NodeState::Running, "stop node {}", self.id);
        self.signal(libc::SIGTERM);
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_exit_status() {
                self.child = None;
                self.state = NodeState::Down;
                self.note(&format!("stopped with SIGTERM: {status}"));
                return status;
            }
            if started.elapsed() > STOP_TIMEOUT {
                self.kill9();
                panic!(
                    "node {} did not exit within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                    self.id,
                    self.log_tail(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the broker again on the same data directory and addresses.
    pub async fn restart(&mut self) {
        if self.state != NodeState::Down {
            self.kill9();
        }
        self.start().await;
    }

    fn open_log(&self, what: &str) -> File {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", self.log_path.display()));
        let _ = writeln!(file, "==== harness: {what} node {} ====", self.id);
        file
    }

    /// Writes what the harness did into the node's log, so the log reads in order.
    fn note(&self, what: &str) {
        if let Ok(mut file) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(file, "==== harness: {what} ====");
        }
    }

    /// The last `lines` lines of the node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path, lines)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether every thread of `pid` is in state `T` (stopped), from /proc.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // `pid (comm) S ...`: the state follows the last `)`.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "T")
        })
    })
}

/// The last `lines` lines of the file at `path`.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
