//! The APIs and versions the Kafka listener serves, and the ApiVersions answer built
//! from them. Clients switch features on this list, so it names only what the
//! dispatcher ([`super::dispatch`]) answers.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// Produce versions below this carry message format v0/v1, which Rill does not store:
/// they are answered UNSUPPORTED_VERSION per partition. They are still advertised
/// (minimum 0), since librdkafka before 2.11 turns compression off when Produce's
/// advertised minimum is above 0.
pub const PRODUCE_MODERN_VERSION_MIN: i16 = 3;

/// `(api, min_version, max_version)` for every API served.
const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    // v0's handshake is followed by unframed tokens, which this listener does not read:
    // clients that speak v1 (every current one) use SaslAuthenticate instead.
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
];

/// The version range served for `api`, or `None` when it is not served.
pub fn served(api: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|&(_, min, max)| (min, max))
}

/// The ApiVersions answer: every served API with its range, under `error_code`.
pub fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = error_code;
    response.api_keys = SERVED
        .iter()
        .map(|&(key, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = key as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    /// Every advertised range must be one the codec crate can decode (Produce below v3
    /// is decoded by hand).
    #[test]
    fn advertised_ranges_fit_the_codec() {
        for &(key, min, max) in SERVED {
            let valid = key.valid_versions();
            let min = if key == ApiKey::Produce {
                PRODUCE_MODERN_VERSION_MIN
            } else {
                min
            };
            assert!(
                valid.min <= min && max <= valid.max,
                "{key:?} {min}-{max} outside {valid:?}"
            );
        }
        assert_eq!(
            kafka_protocol::messages::ProduceRequest::VERSIONS.min,
            PRODUCE_MODERN_VERSION_MIN
        );
    }
}
