//! DescribeUserScramCredentials and AlterUserScramCredentials for Kafka clients
//! (`kafka-configs --alter --add-config 'SCRAM-SHA-256=[password=...]'`), mapped onto
//! the native handlers in `server::handlers::users`.

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use rill_protocol::api::alter_user_scram_credentials as native_alter;
use rill_protocol::api::describe_user_scram_credentials as native_describe;

use super::kstr;
use crate::kafka::KafkaCtx;
use crate::security::Access;
use crate::server::handlers::users;

/// Answers DescribeUserScramCredentials.
pub fn describe(
    ctx: &KafkaCtx,
    req: DescribeUserScramCredentialsRequest,
    access: &Access,
) -> DescribeUserScramCredentialsResponse {
    let native = native_describe::DescribeUserScramCredentialsRequest {
        users: req
            .users
            .map(|users| users.into_iter().map(|u| u.name.to_string()).collect()),
    };
    let answer = users::describe(&ctx.broker, native, access);
    let mut response = DescribeUserScramCredentialsResponse::default();
    response.error_code = answer.error_code.code();
    response.error_message = answer.error_message.map(kstr);
    response.results = answer
        .results
        .into_iter()
        .map(|r| {
            let mut result = DescribeUserScramCredentialsResult::default();
            result.user = kstr(r.user);
            result.error_code = r.error_code.code();
            result.error_message = r.error_message.map(kstr);
            result.credential_infos = r
                .credentials
                .into_iter()
                .map(|c| {
                    let mut info = CredentialInfo::default();
                    info.mechanism = c.mechanism;
                    info.iterations = c.iterations;
                    info
                })
                .collect();
            result
        })
        .collect();
    response
}

/// Answers AlterUserScramCredentials.
pub async fn alter(
    ctx: &KafkaCtx,
    req: AlterUserScramCredentialsRequest,
    access: &Access,
) -> AlterUserScramCredentialsResponse {
    let native = native_alter::AlterUserScramCredentialsRequest {
        deletions: req
            .deletions
            .into_iter()
            .map(|d| native_alter::ScramCredentialDeletion {
                name: d.name.to_string(),
                mechanism: d.mechanism,
            })
            .collect(),
        upsertions: req
            .upsertions
            .into_iter()
            .map(|u| native_alter::ScramCredentialUpsertion {
                name: u.name.to_string(),
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: Bytes::copy_from_slice(&u.salt),
                salted_password: Bytes::copy_from_slice(&u.salted_password),
            })
            .collect(),
    };
    let answer = users::alter(&ctx.broker, native, access).await;
    let mut response = AlterUserScramCredentialsResponse::default();
    response.results = answer
        .results
        .into_iter()
        .map(|r| {
            let mut result = AlterUserScramCredentialsResult::default();
            result.user = kstr(r.user);
            result.error_code = r.error_code.code();
            result.error_message = r.error_message.map(kstr);
            result
        })
        .collect();
    response
}
