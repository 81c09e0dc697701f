//! Counters of SASL logins by mechanism and result, exposed as
//! `rill_sasl_authentications_total{mechanism,result}`.

use std::sync::atomic::{AtomicU64, Ordering};

use rill_protocol::sasl::SaslMechanism;

/// Logins by mechanism (in [`SaslMechanism::ALL`] order) and result.
#[derive(Debug, Default)]
pub struct SaslMetrics {
    succeeded: [AtomicU64; 3],
    failed: [AtomicU64; 3],
}

fn slot(mechanism: SaslMechanism) -> usize {
    SaslMechanism::ALL
        .iter()
        .position(|m| *m == mechanism)
        .unwrap_or(0)
}

impl SaslMetrics {
    /// Counts one login.
    pub fn record(&self, mechanism: SaslMechanism, ok: bool) {
        let counters = if ok { &self.succeeded } else { &self.failed };
        counters[slot(mechanism)].fetch_add(1, Ordering::Relaxed);
    }

    /// `(mechanism, result, count)` for every pair.
    pub fn rows(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut rows = Vec::with_capacity(6);
        for &m in SaslMechanism::ALL {
            let i = slot(m);
            rows.push((
                m.name(),
                "success",
                self.succeeded[i].load(Ordering::Relaxed),
            ));
            rows.push((m.name(), "failure", self.failed[i].load(Ordering::Relaxed)));
        }
        rows
    }
}
