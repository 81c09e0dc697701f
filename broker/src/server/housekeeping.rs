//! Background housekeeping on a fixed schedule: interval flushes, segment rolls by age,
//! retention (whole closed segments, oldest first), group member expiry, and the expiry of
//! the committed offsets of groups without members.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::BrokerCtx;
use crate::shutdown::ShutdownListener;

/// Runs housekeeping every `housekeeping_interval` until shutdown.
pub async fn run(ctx: Arc<BrokerCtx>, mut shutdown: ShutdownListener) {
    let mut tick = tokio::time::interval(ctx.config.housekeeping_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = tick.tick() => {}
        }
        let round = ctx.clone();
        if tokio::task::spawn_blocking(move || sweep(&round))
            .await
            .is_err()
        {
            warn!("housekeeping round failed");
        }
    }
}

/// One round over every partition. Blocking.
pub fn sweep(ctx: &BrokerCtx) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ctx.groups.housekeeping(&ctx.topics, now_ms);
    if let Err(e) = ctx.groups.expire_offsets(&ctx.topics, now_ms) {
        warn!(error = %e, "expiring the offsets of groups without members failed");
    }
    for topic in ctx.topics.list() {
        for p in &topic.partitions {
            let Ok(log) = p.log() else {
                continue; // offline
            };
            if let Err(e) = log.flush_if_due() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "interval flush failed");
            }
            match log.enforce_retention(now_ms) {
                Ok(report) => p.stats.retention(&report),
                Err(e) => {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }
}
