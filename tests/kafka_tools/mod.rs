//! Where the Kafka clients the tests drive are installed (by the Kafka clients block of
//! `.ci/run`): the Python virtualenvs, kcat and the client scripts' directory. A missing
//! client fails the test unless the run opted out with `RILL_KAFKA_CLIENTS_OPTIONAL=1`.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

/// `tests/kafka_clients`: the client scripts, their virtualenvs and node modules.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka_clients")
}

/// The client at `path`, or `None` when it is missing and the run opted out of them;
/// panics when it is missing otherwise.
pub fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if std::env::var("RILL_KAFKA_CLIENTS_OPTIONAL").as_deref() == Ok("1") {
        eprintln!("skipping: {what} not installed at {}", path.display());
        return None;
    }
    panic!(
        "{what} is not installed at {}: run the Kafka clients block of .ci/run, or set \
         RILL_KAFKA_CLIENTS_OPTIONAL=1 to skip the Kafka client tests",
        path.display()
    );
}

/// The python of the virtualenv `venv` (`kp2`, `kp3` or `ck`).
pub fn python(venv: &str) -> Option<PathBuf> {
    let path = clients_dir().join(".venv").join(venv).join("bin/python");
    require(path, &format!("the `{venv}` Python virtualenv"))
}

/// kcat (or its old name, kafkacat).
pub fn kcat() -> Option<PathBuf> {
    let found = ["/usr/bin/kcat", "/usr/bin/kafkacat", "/usr/local/bin/kcat"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    require(
        found.unwrap_or_else(|| PathBuf::from("/usr/bin/kcat")),
        "kcat",
    )
}
