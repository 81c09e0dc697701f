//! Background housekeeping on a fixed schedule: interval flushes, segment rolls by age,
//! retention (whole closed segments, oldest first, for topics whose `cleanup.policy`
//! deletes), group member expiry, the expiry of the committed offsets of groups without
//! members, and the log cleaner for compacted topics. A cleaner round runs on its own
//! blocking thread, started by a tick when the previous round has ended, so a long pass
//! never delays flushes or retention.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::warn;

use super::BrokerCtx;
use crate::shutdown::ShutdownListener;
use crate::storage::cleaner::stats as cleaner_stats;

/// Runs housekeeping every `housekeeping_interval` until shutdown.
pub async fn run(ctx: Arc<BrokerCtx>, mut shutdown: ShutdownListener) {
    let mut tick = tokio::time::interval(ctx.config.housekeeping_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop_cleaner = Arc::new(AtomicBool::new(false));
    let mut cleaner: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = shutdown.recv() => {
                stop_cleaner.store(true, Ordering::Relaxed);
                if let Some(round) = cleaner {
                    let _ = round.await;
                }
                return;
            }
            _ = tick.tick() => {}
        }
        if cleaner.as_ref().is_none_or(|round| round.is_finished()) {
            let (round, stop) = (ctx.clone(), stop_cleaner.clone());
            cleaner = Some(tokio::task::spawn_blocking(move || clean(&round, &stop)));
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
    ctx.groups.housekeeping(&ctx.group_topics(), now_ms);
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
            if !log.config().compaction.policy.deletes() {
                continue;
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

/// One cleaner round: a pass over every compacted partition that is due. Blocking; ends
/// early once `stop` is set.
pub fn clean(ctx: &BrokerCtx, stop: &AtomicBool) {
    for topic in ctx.topics.list() {
        for p in &topic.partitions {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let Ok(log) = p.log() else {
                continue;
            };
            if !log.config().compaction.policy.compacts() {
                continue;
            }
            match log.clean(&ctx.config.cleaner, now_ms(), stop) {
                Ok(Some(report)) => {
                    cleaner_stats::record(&report);
                    tracing::info!(topic = %p.topic, partition = p.index, segments = report.segments_cleaned, records_removed = report.records_removed, bytes_removed = report.bytes_removed, "compacted partition");
                }
                Ok(None) => {}
                Err(e) => {
                    cleaner_stats::failed();
                    warn!(topic = %p.topic, partition = p.index, error = %e, "log cleaning failed");
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
