//! `rill_authorization_denied_total{resource}`: requests (or items of one) refused by
//! the ACLs, per resource type, from the authorizer's counters.

use prometheus_client::metrics::MetricType;

use super::collector::{family, Enc};
use crate::server::BrokerCtx;

/// Writes the denial counters.
pub(super) fn encode(enc: Enc, broker: &BrokerCtx) -> std::fmt::Result {
    let rows = broker.authorizer.denied().snapshot();
    family(
        enc,
        MetricType::Counter,
        (
            "rill_authorization_denied",
            "Operations refused by the ACLs, per resource type (topic, group, cluster).",
        ),
        &rows,
        |(resource, _)| [("resource", *resource)],
        |(_, denied)| i64::try_from(*denied).unwrap_or(i64::MAX),
    )
}
