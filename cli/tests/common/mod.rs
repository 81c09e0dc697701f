//! Shared helpers for the command line's end-to-end tests: a real broker in this process
//! on an ephemeral loopback port (on its own runtime thread, so tests can block on child
//! processes), and a runner for the real `rill` binary with a deadline on every call.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Longest any single `rill` invocation may take before the test fails.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

/// A broker ([`rill_broker::testing::TestBroker`]) running on its own runtime thread, so
/// tests can block on child processes; stopped cleanly when dropped.
pub struct TestBroker {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    dir: Option<mpsc::Receiver<tempfile::TempDir>>,
}

impl TestBroker {
    /// Starts a broker with default settings in a fresh data directory on 127.0.0.1:0.
    pub fn start() -> TestBroker {
        Self::start_in(tempfile::tempdir().expect("temporary directory"))
    }

    /// Starts a broker on an existing data directory (see [`TestBroker::stop`]).
    pub fn start_in(dir: tempfile::TempDir) -> TestBroker {
        Self::start_configured(dir, |_| {})
    }

    /// Starts a broker with settings changed by `tweak` (e.g. TLS) in a fresh directory.
    pub fn start_with(
        tweak: impl FnOnce(&mut rill_broker::config::BrokerConfig) + Send + 'static,
    ) -> TestBroker {
        Self::start_configured(tempfile::tempdir().expect("temporary directory"), tweak)
    }

    fn start_configured(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut rill_broker::config::BrokerConfig) + Send + 'static,
    ) -> TestBroker {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (dir_tx, dir_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("broker runtime");
            runtime.block_on(async move {
                let broker = rill_broker::testing::TestBroker::start_in(dir, tweak).await;
                ready_tx.send(broker.addr).expect("test is waiting");
                let _ = stop_rx.await;
                let _ = dir_tx.send(broker.stop().await);
            });
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("broker ready in time");
        TestBroker {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            dir: Some(dir_rx),
        }
    }

    /// Stops the broker cleanly and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("broker thread");
        }
        self.dir
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(30)).ok())
            .expect("the broker stopped cleanly")
    }

    /// A `rill` command aimed at this broker, without colour.
    pub fn rill(&self, args: &[&str]) -> Command {
        rill_at(&self.addr.to_string(), args)
    }

    /// Runs `rill args` with `input` on stdin; fails the test past the deadline.
    pub fn run(&self, args: &[&str], input: &str) -> Outcome {
        run_command(self.rill(args), input.as_bytes())
    }

    /// Runs `rill args` with `input` (any bytes) on stdin, asserts exit 0 and returns
    /// stdout exactly as printed.
    pub fn ok_bytes(&self, args: &[&str], input: &[u8]) -> Vec<u8> {
        let outcome = run_command(self.rill(args), input);
        assert!(
            outcome.status.success(),
            "rill {args:?} failed: {}\nstderr:\n{}",
            outcome.status,
            outcome.stderr
        );
        outcome.stdout_bytes
    }

    /// Runs `rill args`, asserts exit 0 and returns stdout.
    pub fn ok(&self, args: &[&str], input: &str) -> String {
        let outcome = self.run(args, input);
        assert!(
            outcome.status.success(),
            "rill {args:?} failed: {}\nstderr:\n{}",
            outcome.status,
            outcome.stderr
        );
        outcome.stdout
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A `rill` command for the broker at `addr`, with colour off.
pub fn rill_at(addr: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
    command
        .args(args)
        .env("RILL_BROKER", addr)
        .env("NO_COLOR", "1")
        .env_remove("RILL_LOG");
    command
}

/// What a finished `rill` printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Outcome {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `command` with `input` on stdin and waits for it, killing it past the deadline.
pub fn run_command(mut command: Command, input: &[u8]) -> Outcome {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rill");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = read_all(child.stdout.take().expect("stdout"));
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let status = wait_deadline(&mut child, COMMAND_DEADLINE);
    let _ = writer.join();
    let stdout_bytes = stdout.join().expect("stdout reader");
    Outcome {
        status,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&stderr.join().expect("stderr reader")).into_owned(),
    }
}

fn read_all(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit; kills it and fails the test after `deadline`.
pub fn wait_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rill did not exit within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of a running child's stdout, delivered through a channel so tests can wait for
/// each with a deadline.
pub struct LineReader {
    lines: mpsc::Receiver<String>,
}

impl LineReader {
    /// Starts reading `stdout` on a thread.
    pub fn new(stdout: ChildStdout) -> LineReader {
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader { lines }
    }

    /// The next line, or a test failure after `COMMAND_DEADLINE`.
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(COMMAND_DEADLINE)
            .expect("a line within the deadline")
    }
}
