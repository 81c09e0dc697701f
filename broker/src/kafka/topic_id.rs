//! Topic ids for Kafka clients (Metadata v10+, CreateTopics v7, DeleteTopics v6).
//!
//! In a cluster, ids come from the metadata image ([`id_of`], [`find_name`]). A single
//! broker's catalogue has no topic ids, so each topic's id is derived from its name: a
//! name-based UUID (version 5, SHA-1) in a namespace of Rill's own. It is stable across
//! restarts with nothing persisted; a topic deleted and created again under the same
//! name gets the same id (Kafka would give a new one), which clients treat as the same
//! topic and recover from through OFFSET_OUT_OF_RANGE.

use uuid::Uuid;

use crate::server::BrokerCtx;
use crate::topics::TopicRegistry;

/// Kafka's UNKNOWN_TOPIC_ID: a request named a topic id no topic has.
pub const UNKNOWN_TOPIC_ID: i16 = 100;

/// The namespace of Rill's topic ids (a fixed random UUID).
const TOPIC_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0c2e_55d4_4b8e_9a3c_7e21_d0f4_b913);

/// The id of the topic named `name`.
pub fn topic_id(name: &str) -> Uuid {
    Uuid::new_v5(&TOPIC_ID_NAMESPACE, name.as_bytes())
}

/// The name of the (client-visible) topic whose id is `id`.
pub fn name_of(topics: &TopicRegistry, id: Uuid) -> Option<String> {
    topics
        .list()
        .into_iter()
        .find(|t| !t.is_internal() && topic_id(&t.name) == id)
        .map(|t| t.name.to_string())
}

/// The id of `name` as this broker serves it: the metadata image's id in a cluster (a
/// random id chosen at creation, as Kafka's), the name-derived one on a single broker.
pub fn id_of(broker: &BrokerCtx, name: &str) -> Uuid {
    let from_image = broker
        .cluster
        .as_ref()
        .and_then(|c| c.image().topics.get(name).map(|t| Uuid::from_u128(t.id)));
    from_image.unwrap_or_else(|| topic_id(name))
}

/// The name of the client-visible topic whose id is `id`, as this broker serves ids.
pub fn find_name(broker: &BrokerCtx, id: Uuid) -> Option<String> {
    match &broker.cluster {
        Some(cluster) => cluster
            .image()
            .topics
            .iter()
            .find(|(_, t)| !t.internal && t.id == id.as_u128())
            .map(|(name, _)| name.clone()),
        None => name_of(&broker.topics, id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_never_nil() {
        assert_eq!(topic_id("orders"), topic_id("orders"));
        assert_ne!(topic_id("orders"), topic_id("orders2"));
        assert_ne!(topic_id(""), Uuid::nil());
    }
}
