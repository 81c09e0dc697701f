//! Proptest strategies for the consumer group APIs.

use proptest::strategy::BoxedStrategy;

use super::{Request, Response};

/// One strategy per request type of these APIs.
pub(crate) fn requests() -> Vec<BoxedStrategy<Request>> {
    vec![]
}

/// One strategy per response type of these APIs.
pub(crate) fn responses() -> Vec<BoxedStrategy<Response>> {
    vec![]
}
