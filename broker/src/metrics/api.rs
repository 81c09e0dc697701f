//! Per-API request metrics: requests handled, error codes returned, and latency.
//!
//! One [`ApiStats`] per entry of [`ApiKey::ALL`], allocated up front, so recording a
//! request is an index scan over a short table and a few relaxed atomic adds. Error
//! codes are counted where they are returned: the top-level code of a response and every
//! per-topic, per-partition and per-group code in it that is not `NONE`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rill_protocol::api::{ApiKey, Response};
use rill_protocol::error_code::ErrorCode;

use super::histogram::{AtomicHistogram, REQUEST_SECONDS_BOUNDS};

/// Counters of one API.
#[derive(Debug)]
pub struct ApiStats {
    /// The API counted.
    pub api: ApiKey,
    requests: AtomicU64,
    /// Indexed like [`ErrorCode::ALL`], plus one slot for codes this build does not know.
    errors: Box<[AtomicU64]>,
    latency: AtomicHistogram,
}

impl ApiStats {
    fn new(api: ApiKey) -> Self {
        ApiStats {
            api,
            requests: AtomicU64::new(0),
            errors: (0..=ErrorCode::ALL.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            latency: AtomicHistogram::new(REQUEST_SECONDS_BOUNDS),
        }
    }

    /// Requests handled.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The latency histogram.
    pub fn latency(&self) -> &AtomicHistogram {
        &self.latency
    }

    /// Non-zero error counts by code name (`UNKNOWN` gathers codes this build lacks).
    pub fn errors(&self) -> Vec<(&'static str, u64)> {
        self.errors
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = ErrorCode::ALL.get(i).map_or("UNKNOWN", |c| c.name());
                (name, n.load(Ordering::Relaxed))
            })
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    fn error(&self, code: ErrorCode) {
        let slot = ErrorCode::ALL
            .iter()
            .position(|c| *c == code)
            .unwrap_or(ErrorCode::ALL.len());
        if let Some(counter) = self.errors.get(slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Request metrics of every API.
#[derive(Debug)]
pub struct ApiMetrics {
    apis: Box<[ApiStats]>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            apis: ApiKey::ALL.iter().map(|&api| ApiStats::new(api)).collect(),
        }
    }
}

impl ApiMetrics {
    /// The counters of `api`.
    pub fn get(&self, api: ApiKey) -> Option<&ApiStats> {
        self.apis.iter().find(|s| s.api == api)
    }

    /// Every API's counters, in [`ApiKey::ALL`] order.
    pub fn all(&self) -> &[ApiStats] {
        &self.apis
    }

    /// A request of `api` was answered after `elapsed`.
    pub fn handled(&self, api: ApiKey, elapsed: Duration) {
        if let Some(stats) = self.get(api) {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats.latency.observe(elapsed);
        }
    }

    /// Counts the error codes other than `NONE` in `response`, an answer to `api`.
    pub fn response(&self, api: ApiKey, response: &Response) {
        if let Some(stats) = self.get(api) {
            error_codes(response, &mut |code| {
                if code != ErrorCode::None {
                    stats.error(code);
                }
            });
        }
    }
}

/// Calls `f` with every error code in `response`: the top-level one and those per topic,
/// partition or group. Exhaustive over [`Response`], so a new API must say where its
/// codes are.
pub fn error_codes(response: &Response, f: &mut impl FnMut(ErrorCode)) {
    match response {
        Response::Produce(r) => partitions(&r.topics, f, |p| p.error_code),
        Response::Fetch(r) => {
            f(r.error_code);
            partitions(&r.topics, f, |p| p.error_code);
        }
        Response::ListOffsets(r) => partitions(&r.topics, f, |p| p.error_code),
        Response::Metadata(r) => {
            for t in &r.topics {
                f(t.error_code);
                t.partitions.iter().for_each(|p| f(p.error_code));
            }
        }
        Response::DescribeCluster(r) => f(r.error_code),
        Response::AlterPartitionReassignments(r) => {
            f(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| f(p.error_code));
        }
        Response::OffsetCommit(r) => partitions(&r.topics, f, |p| p.error_code),
        Response::OffsetFetch(r) => {
            f(r.error_code);
            partitions(&r.topics, f, |p| p.error_code);
        }
        Response::FindCoordinator(r) => f(r.error_code),
        Response::JoinGroup(r) => f(r.error_code),
        Response::Heartbeat(r) => f(r.error_code),
        Response::LeaveGroup(r) => f(r.error_code),
        Response::DescribeGroups(r) => r.groups.iter().for_each(|g| f(g.error_code)),
        Response::ListGroups(r) => f(r.error_code),
        Response::ApiVersions(r) => f(r.error_code),
        Response::CreateTopics(r) => r.topics.iter().for_each(|t| f(t.error_code)),
        Response::DeleteTopics(r) => r.topics.iter().for_each(|t| f(t.error_code)),
        Response::InitProducerId(r) => f(r.error_code),
        Response::DeleteGroups(r) => r.results.iter().for_each(|g| f(g.error_code)),
        Response::DescribeTopicConfigs(r) => r.topics.iter().for_each(|t| f(t.error_code)),
        Response::AlterTopicConfigs(r) => f(r.error_code),
        Response::BrokerStatus(r) => f(r.error_code),
        Response::SaslHandshake(r) => f(r.error_code),
        Response::SaslAuthenticate(r) => f(r.error_code),
        Response::DescribeUserScramCredentials(r) => {
            f(r.error_code);
            r.results.iter().for_each(|u| f(u.error_code));
        }
        Response::AlterUserScramCredentials(r) => r.results.iter().for_each(|u| f(u.error_code)),
        Response::ResetOffsets(r) => {
            f(r.error_code);
            partitions(&r.topics, f, |p| p.error_code);
        }
        Response::DescribeAcls(r) => f(r.error_code),
        Response::CreateAcls(r) => r.results.iter().for_each(|a| f(a.error_code)),
        Response::DeleteAcls(r) => r.results.iter().for_each(|a| f(a.error_code)),
    }
}

fn partitions<P>(
    topics: &[rill_protocol::api::common::TopicPartitions<P>],
    f: &mut impl FnMut(ErrorCode),
    code: impl Fn(&P) -> ErrorCode,
) {
    for t in topics {
        t.partitions.iter().for_each(|p| f(code(p)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::api::alter_topic_configs::AlterTopicConfigsResponse;

    #[test]
    fn counts_requests_and_non_none_codes() {
        let metrics = ApiMetrics::default();
        metrics.handled(ApiKey::AlterTopicConfigs, Duration::from_millis(1));
        let failed = Response::AlterTopicConfigs(AlterTopicConfigsResponse {
            error_code: ErrorCode::InvalidConfig,
            error_message: None,
        });
        metrics.response(ApiKey::AlterTopicConfigs, &failed);
        let ok = Response::AlterTopicConfigs(AlterTopicConfigsResponse {
            error_code: ErrorCode::None,
            error_message: None,
        });
        metrics.response(ApiKey::AlterTopicConfigs, &ok);
        let stats = metrics.get(ApiKey::AlterTopicConfigs).unwrap();
        assert_eq!(stats.requests(), 1);
        assert_eq!(stats.errors(), vec![(ErrorCode::InvalidConfig.name(), 1)]);
        assert_eq!(stats.latency().count(), 1);
    }
}
