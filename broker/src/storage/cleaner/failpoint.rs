//! Crash points for tests: when the environment variable `RILL_CLEANER_CRASH_AT` names a
//! point the cleaner reaches, the process aborts there, as a `kill -9` would stop it.
//! Points: `cleaned-written` (new segment written and fsynced, nothing renamed),
//! `swap-renamed` (`.cleaned` renamed to `.swap`), `log-replaced` (`.swap` renamed over the
//! `.log`), `indexes-written`, `pass-done` (before the cleaner checkpoint moves).

/// Name of the environment variable holding the crash point.
pub const CRASH_AT_ENV: &str = "RILL_CLEANER_CRASH_AT";

/// Aborts the process if the crash point `name` is armed.
pub fn hit(name: &str) {
    if std::env::var(CRASH_AT_ENV).is_ok_and(|armed| armed == name) {
        tracing::error!(point = name, "cleaner crash point reached; aborting");
        std::process::abort();
    }
}
