//! Finds the `rilld` and `rill` binaries for tests of the umbrella package.
//!
//! Cargo only gives a test `CARGO_BIN_EXE_*` for its own package's binaries, and the
//! umbrella package has none. The binaries sit next to this test's `deps/` directory
//! when `cargo test --workspace` built them; if either is missing or older than any
//! source file of the crates it is built from, the first test that needs them runs
//! `cargo build` for both, into the same target directory with the same profile. That
//! way a test never runs a stale broker, and CI (which built them already) builds
//! nothing twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The two binaries, built once per test process.
struct Binaries {
    rilld: PathBuf,
    rill: PathBuf,
}

static BINARIES: OnceLock<Binaries> = OnceLock::new();

/// Path of `rilld`, built if needed.
pub fn rilld() -> &'static Path {
    &binaries().rilld
}

/// Path of the `rill` command line, built if needed.
pub fn rill() -> &'static Path {
    &binaries().rill
}

fn binaries() -> &'static Binaries {
    BINARIES.get_or_init(build)
}

/// `target/<profile>/` of this test binary (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf()
}

/// Prefixes of the variables Cargo sets for the crate under test.
const CRATE_VARIABLES: [&str; 8] = [
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Whether `bin` exists and is newer than every `.rs` and `Cargo.toml` file of the
/// workspace crates it is built from (and the lock file).
fn is_fresh(bin: &Path, crates: &[&str]) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newer = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_or(true, |m| m > built)
    };
    if newer(&root.join("Cargo.lock")) {
        return false;
    }
    let mut dirs: Vec<PathBuf> = crates.iter().map(|c| root.join(c)).collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return false;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                // Only sources: skip a crate's own tests and benches.
                if name != "tests" && name != "benches" {
                    dirs.push(path);
                }
            } else if (name == "Cargo.toml" || path.extension().is_some_and(|e| e == "rs"))
                && newer(&path)
            {
                return false;
            }
        }
    }
    true
}

fn build() -> Binaries {
    let profile_dir = profile_dir();
    let binaries = Binaries {
        rilld: profile_dir.join("rilld"),
        rill: profile_dir.join("rill"),
    };
    let fresh = is_fresh(&binaries.rilld, &["protocol", "broker"])
        && is_fresh(&binaries.rill, &["protocol", "client", "cli"]);
    if !fresh {
        cargo_build(&profile_dir);
    }
    for bin in [&binaries.rilld, &binaries.rill] {
        assert!(bin.is_file(), "{} missing after cargo build", bin.display());
    }
    binaries
}

/// Builds `rilld` and `rill` into the target directory `profile_dir` belongs to.
fn cargo_build(profile_dir: &Path) {
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("unexpected target layout: {}", profile_dir.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut command = Command::new(&cargo);
    // Cargo gives this test process the variables it gives a crate (CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, ...); build scripts that watch them (ring's) would see a change
    // and rebuild half the tree, twice per run. The nested build must not see them.
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if CRATE_VARIABLES.iter().any(|p| key_str.starts_with(p)) {
            command.env_remove(&key);
        }
    }
    let status = command
        .args(["build", "--quiet", "--profile", &profile])
        .args([
            "-p",
            "rill-broker",
            "--bin",
            "rilld",
            "-p",
            "rill-cli",
            "--bin",
            "rill",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?} to build rilld and rill: {e}"));
    assert!(
        status.success(),
        "`cargo build` of rilld and rill failed ({status}); see its output above"
    );
}
