//! Request and response types for every API, one file per API, and the envelopes that
//! carry them.
//!
//! A request frame is a [`RequestHeader`] then the request body; a response frame is the
//! request's `correlation_id u32` then the response body. Nothing in a response says which
//! API it answers, so the client decodes it with the api_key and version it sent
//! ([`Response::decode`]). Every message type implements [`Message`]: its API key, the
//! versions it speaks (all APIs start at 0), and `encode`/`decode` that reject any other
//! version with a typed error. Decoding a frame must consume it exactly; leftover bytes are
//! [`DecodeError::TrailingBytes`].

pub mod acls;
pub mod alter_partition_reassignments;
pub mod alter_topic_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod broker_status;
pub mod common;
pub mod create_acls;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_groups;
pub mod describe_topic_configs;
pub mod describe_user_scram_credentials;
pub mod fetch;
pub mod find_coordinator;
pub mod header;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod reset_offsets;
pub mod sasl_authenticate;
pub mod sasl_handshake;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod testing_acls;
#[cfg(test)]
mod testing_groups;
#[cfg(test)]
mod testing_security;
#[cfg(test)]
mod testing_topics;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Reader};

pub use header::RequestHeader;

/// A request or response body of one API.
pub trait Message: Sized {
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// Oldest version this build encodes and decodes.
    const MIN_VERSION: u16;
    /// Newest version this build encodes and decodes.
    const MAX_VERSION: u16;

    /// Appends the body as `version` lays it out (version already checked).
    fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError>;

    /// Reads the body as `version` lays it out (version already checked).
    fn decode_body(r: &mut Reader, version: u16) -> Result<Self, DecodeError>;

    /// Appends the body, or fails if `version` is not supported.
    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {
            return Err(EncodeError::UnsupportedVersion {
                api_key: Self::API_KEY,
                version,
                min_version: Self::MIN_VERSION,
                max_version: Self::MAX_VERSION,
            });
        }
        self.encode_body(version, out)
    }

    /// Reads the body, or fails if `version` is not supported.
    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        if !(Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion {
                api_key: Self::API_KEY,
                version,
                min_version: Self::MIN_VERSION,
                max_version: Self::MAX_VERSION,
            });
        }
        Self::decode_body(r, version)
    }
}

/// Implements [`Message`] at version 0 for a request with an empty body.
macro_rules! empty_request {
    ($request:ident, $api:ident) => {
        impl $crate::api::Message for $request {
            const API_KEY: $crate::api::ApiKey = $crate::api::ApiKey::$api;
            const MIN_VERSION: u16 = 0;
            const MAX_VERSION: u16 = 0;

            fn encode_body(
                &self,
                _version: u16,
                _out: &mut $crate::frame::FrameBuf,
            ) -> Result<(), $crate::wire::EncodeError> {
                Ok(())
            }

            fn decode_body(
                _r: &mut $crate::wire::Reader,
                _version: u16,
            ) -> Result<Self, $crate::wire::DecodeError> {
                Ok(Self)
            }
        }
    };
}
pub(crate) use empty_request;

/// Declares the API table: the [`ApiKey`] numbers and the [`Request`]/[`Response`] enums
/// with their dispatch, so adding an API is one line here plus its file.
macro_rules! apis {
    ($($variant:ident = $id:literal => $module:ident :: { $req:ident, $resp:ident };)*) => {
        /// Which API a frame belongs to; the numbers are stable (Kafka's where the API has
        /// a Kafka counterpart, 1000 and up for Rill's own).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ApiKey {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                $variant = $id,
            )*
        }

        $(
            const _: () = assert!(
                <$module::$req as Message>::MIN_VERSION == <$module::$resp as Message>::MIN_VERSION
                    && <$module::$req as Message>::MAX_VERSION
                        == <$module::$resp as Message>::MAX_VERSION,
                "request and response versions disagree"
            );
        )*

        impl ApiKey {
            /// Every API, in table order.
            pub const ALL: &'static [ApiKey] = &[$(ApiKey::$variant,)*];

            /// The wire number.
            pub fn as_u16(self) -> u16 {
                self as u16
            }

            /// The API for a wire number, if this build knows it.
            pub fn from_u16(id: u16) -> Option<Self> {
                match id {
                    $($id => Some(ApiKey::$variant),)*
                    _ => None,
                }
            }

            /// Oldest version this build speaks.
            pub fn min_version(self) -> u16 {
                match self {
                    $(ApiKey::$variant => <$module::$req as Message>::MIN_VERSION,)*
                }
            }

            /// Newest version this build speaks.
            pub fn max_version(self) -> u16 {
                match self {
                    $(ApiKey::$variant => <$module::$req as Message>::MAX_VERSION,)*
                }
            }
        }

        /// Any request body, one variant per API.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Request {
            $(
                #[doc = concat!("A [`", stringify!($module), "::", stringify!($req), "`].")]
                $variant($module::$req),
            )*
        }

        /// Any response body, one variant per API.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Response {
            $(
                #[doc = concat!("A [`", stringify!($module), "::", stringify!($resp), "`].")]
                $variant($module::$resp),
            )*
        }

        $(
            impl From<$module::$req> for Request {
                fn from(body: $module::$req) -> Self {
                    Request::$variant(body)
                }
            }

            impl From<$module::$resp> for Response {
                fn from(body: $module::$resp) -> Self {
                    Response::$variant(body)
                }
            }
        )*

        impl Request {
            /// The API of this request.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Request::$variant(_) => ApiKey::$variant,)*
                }
            }

            /// Reads the body of `api_key` at `version`.
            pub fn decode_body(api_key: ApiKey, version: u16, r: &mut Reader) -> Result<Self, DecodeError> {
                Ok(match api_key {
                    $(ApiKey::$variant => Request::$variant(<$module::$req as Message>::decode(r, version)?),)*
                })
            }

            /// Appends the body at `version`.
            pub fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
                match self {
                    $(Request::$variant(body) => body.encode(version, out),)*
                }
            }
        }

        impl Response {
            /// The API this response answers.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Response::$variant(_) => ApiKey::$variant,)*
                }
            }

            /// Reads the body of `api_key` at `version`.
            pub fn decode_body(api_key: ApiKey, version: u16, r: &mut Reader) -> Result<Self, DecodeError> {
                Ok(match api_key {
                    $(ApiKey::$variant => Response::$variant(<$module::$resp as Message>::decode(r, version)?),)*
                })
            }

            /// Appends the body at `version`.
            pub fn encode_body(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
                match self {
                    $(Response::$variant(body) => body.encode(version, out),)*
                }
            }
        }
    };
}

apis! {
    Produce = 0 => produce::{ProduceRequest, ProduceResponse};
    Fetch = 1 => fetch::{FetchRequest, FetchResponse};
    ListOffsets = 2 => list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
    Metadata = 3 => metadata::{MetadataRequest, MetadataResponse};
    OffsetCommit = 8 => offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
    OffsetFetch = 9 => offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
    FindCoordinator = 10 => find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
    JoinGroup = 11 => join_group::{JoinGroupRequest, JoinGroupResponse};
    Heartbeat = 12 => heartbeat::{HeartbeatRequest, HeartbeatResponse};
    LeaveGroup = 13 => leave_group::{LeaveGroupRequest, LeaveGroupResponse};
    DescribeGroups = 15 => describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
    ListGroups = 16 => list_groups::{ListGroupsRequest, ListGroupsResponse};
    SaslHandshake = 17 => sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
    ApiVersions = 18 => api_versions::{ApiVersionsRequest, ApiVersionsResponse};
    CreateTopics = 19 => create_topics::{CreateTopicsRequest, CreateTopicsResponse};
    DeleteTopics = 20 => delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
    InitProducerId = 22 => init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
    SaslAuthenticate = 36 => sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
    DescribeAcls = 29 => describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
    CreateAcls = 30 => create_acls::{CreateAclsRequest, CreateAclsResponse};
    DeleteAcls = 31 => delete_acls::{DeleteAclsRequest, DeleteAclsResponse};
    DeleteGroups = 42 => delete_groups::{DeleteGroupsRequest, DeleteGroupsResponse};
    AlterPartitionReassignments = 45 => alter_partition_reassignments::{AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse};
    DescribeCluster = 60 => describe_cluster::{DescribeClusterRequest, DescribeClusterResponse};
    DescribeUserScramCredentials = 50 => describe_user_scram_credentials::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};
    AlterUserScramCredentials = 51 => alter_user_scram_credentials::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};
    DescribeTopicConfigs = 1000 => describe_topic_configs::{DescribeTopicConfigsRequest, DescribeTopicConfigsResponse};
    AlterTopicConfigs = 1001 => alter_topic_configs::{AlterTopicConfigsRequest, AlterTopicConfigsResponse};
    ResetOffsets = 1002 => reset_offsets::{ResetOffsetsRequest, ResetOffsetsResponse};
    BrokerStatus = 1003 => broker_status::{BrokerStatusRequest, BrokerStatusResponse};
}

impl Request {
    /// Decodes a whole request frame payload: header, then the body it announces. The
    /// body's `Bytes` fields (produce records) are zero-copy slices of `frame`.
    /// At most [`crate::wire::REQUEST_ELEMENTS_MAX`] array elements are accepted.
    pub fn decode(frame: Bytes) -> Result<(RequestHeader, Request), DecodeError> {
        let mut r = Reader::with_elements_max(frame, crate::wire::REQUEST_ELEMENTS_MAX);
        let header = RequestHeader::decode(&mut r)?;
        let request = Request::decode_body(header.api_key, header.api_version, &mut r)?;
        r.finish()?;
        Ok((header, request))
    }
}

impl Response {
    /// Decodes a whole response frame payload for the request (`api_key`, `version`) it
    /// answers; returns the correlation id and the body.
    pub fn decode(
        api_key: ApiKey,
        version: u16,
        frame: Bytes,
    ) -> Result<(u32, Response), DecodeError> {
        let mut r = Reader::new(frame);
        let correlation_id = r.u32("correlation_id")?;
        let response = Response::decode_body(api_key, version, &mut r)?;
        r.finish()?;
        Ok((correlation_id, response))
    }
}

/// Appends a request frame payload: `header`, then `request` at `header.api_version`.
pub fn encode_request(
    header: &RequestHeader,
    request: &Request,
    out: &mut FrameBuf,
) -> Result<(), EncodeError> {
    if header.api_key != request.api_key() {
        return Err(EncodeError::ApiKeyMismatch {
            header: header.api_key,
            message: request.api_key(),
        });
    }
    header.encode(out)?;
    request.encode_body(header.api_version, out)
}

/// Appends a response frame payload: `correlation_id`, then `response` at `version`.
pub fn encode_response(
    correlation_id: u32,
    version: u16,
    response: &Response,
    out: &mut FrameBuf,
) -> Result<(), EncodeError> {
    out.put_u32(correlation_id);
    response.encode_body(version, out)
}
