//! TLS metrics: handshakes completed, failed and timed out, and certificate reloads that
//! kept the old certificate (only when TLS is on).

use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::server::BrokerCtx;

/// The handshake counters of the broker's TLS acceptor, if TLS is on.
pub fn encode(enc: &mut DescriptorEncoder, broker: &BrokerCtx) -> std::fmt::Result {
    let Some(tls) = &broker.tls else {
        return Ok(());
    };
    let stats = tls.stats();
    let counters = [
        (
            "rill_tls_handshakes",
            "TLS handshakes completed",
            &stats.handshakes,
        ),
        (
            "rill_tls_handshake_failures",
            "TLS handshakes that failed (bad or missing certificate, not TLS, closed)",
            &stats.failures,
        ),
        (
            "rill_tls_handshake_timeouts",
            "Connections closed for not completing the TLS handshake in time",
            &stats.timeouts,
        ),
        (
            "rill_tls_reload_failures",
            "Certificate reloads that kept the running certificate",
            &stats.reload_failures,
        ),
    ];
    for (name, help, value) in counters {
        enc.encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&value.load(Ordering::Relaxed), None)?;
    }
    Ok(())
}
