//! Running the `rill` command line against a cluster, with a deadline.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::binaries;

/// How long one `rill` command may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished `rill` command printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `rill --broker <bootstrap> <args>` with `stdin` as input; killed, and the test
/// failed, after [`CLI_TIMEOUT`].
pub async fn rill(bootstrap: &str, args: &[&str], stdin: &str) -> CliOutput {
    let mut command = Command::new(binaries::rill());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RILL_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .arg("--broker")
        .arg(bootstrap)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rill starts");
    let mut input = child.stdin.take().expect("stdin piped");
    let stdin = stdin.to_owned();
    // Fed from a task so a full stdout pipe cannot block the writer and the reader.
    let feeder = tokio::spawn(async move {
        let _ = input.write_all(stdin.as_bytes()).await;
    });
    let output = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`rill {}` ran past {CLI_TIMEOUT:?}", args.join(" ")))
        .expect("rill output");
    let _ = feeder.await;
    CliOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
