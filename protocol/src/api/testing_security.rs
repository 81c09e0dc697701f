//! Proptest strategies for the security APIs (SASL, SCRAM credentials).

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use super::alter_user_scram_credentials::*;
use super::describe_user_scram_credentials::*;
use super::sasl_authenticate::*;
use super::sasl_handshake::*;
use super::testing::{error_code, list, name, opt_name, req, resp};
use super::{Request, Response};

fn token() -> impl Strategy<Value = Bytes> + Clone {
    vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn upsertion() -> impl Strategy<Value = ScramCredentialUpsertion> + Clone {
    (name(), any::<i8>(), any::<i32>(), token(), token()).prop_map(
        |(name, mechanism, iterations, salt, salted_password)| ScramCredentialUpsertion {
            name,
            mechanism,
            iterations,
            salt,
            salted_password,
        },
    )
}

fn user_credentials() -> impl Strategy<Value = UserScramCredentials> + Clone {
    let info =
        (any::<i8>(), any::<i32>()).prop_map(|(mechanism, iterations)| ScramCredentialInfo {
            mechanism,
            iterations,
        });
    (name(), error_code(), opt_name(), list(info)).prop_map(
        |(user, error_code, error_message, credentials)| UserScramCredentials {
            user,
            error_code,
            error_message,
            credentials,
        },
    )
}

/// Strategies for every security request.
pub(crate) fn requests() -> Vec<BoxedStrategy<Request>> {
    let deletion = (name(), any::<i8>())
        .prop_map(|(name, mechanism)| ScramCredentialDeletion { name, mechanism });
    vec![
        req(name().prop_map(|mechanism| SaslHandshakeRequest { mechanism })),
        req(token().prop_map(|auth_bytes| SaslAuthenticateRequest { auth_bytes })),
        req(proptest::option::of(list(name()))
            .prop_map(|users| DescribeUserScramCredentialsRequest { users })),
        req(
            (list(deletion), list(upsertion())).prop_map(|(deletions, upsertions)| {
                AlterUserScramCredentialsRequest {
                    deletions,
                    upsertions,
                }
            }),
        ),
    ]
}

/// Strategies for every security response.
pub(crate) fn responses() -> Vec<BoxedStrategy<Response>> {
    let result =
        (name(), error_code(), opt_name()).prop_map(|(user, error_code, error_message)| {
            AlterUserScramCredentialsResult {
                user,
                error_code,
                error_message,
            }
        });
    vec![
        resp(
            (error_code(), list(name())).prop_map(|(error_code, mechanisms)| {
                SaslHandshakeResponse {
                    error_code,
                    mechanisms,
                }
            }),
        ),
        resp((error_code(), opt_name(), token(), any::<i64>()).prop_map(
            |(error_code, error_message, auth_bytes, session_lifetime_ms)| {
                SaslAuthenticateResponse {
                    error_code,
                    error_message,
                    auth_bytes,
                    session_lifetime_ms,
                }
            },
        )),
        resp(
            (error_code(), opt_name(), list(user_credentials())).prop_map(
                |(error_code, error_message, results)| DescribeUserScramCredentialsResponse {
                    error_code,
                    error_message,
                    results,
                },
            ),
        ),
        resp(list(result).prop_map(|results| AlterUserScramCredentialsResponse { results })),
    ]
}
