//! ACL administration: add, remove and list ACLs (Kafka's model; see [`AclBinding`]).
//!
//! Listing needs Describe on the cluster, changing needs Alter on it (or a super user);
//! a refusal comes back as [`ClientError::Broker`] with `CLUSTER_AUTHORIZATION_FAILED`.

use rill_protocol::api::acls::{AclBinding, AclFilter};
use rill_protocol::api::create_acls::CreateAclsRequest;
use rill_protocol::api::delete_acls::DeleteAclsRequest;
use rill_protocol::api::describe_acls::DescribeAclsRequest;
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

use super::Admin;
use crate::error::{ClientError, Result};

/// A broker error that concerns no topic.
fn refused(code: ErrorCode, message: Option<String>) -> ClientError {
    ClientError::Broker {
        code,
        topic: None,
        partition: None,
        message,
    }
}

impl Admin {
    /// Adds ACLs (one that exists already is no change); fails with the first refused.
    pub async fn create_acls(&self, acls: Vec<AclBinding>) -> Result<()> {
        let expected = acls.len();
        let response = self
            .slot
            .call(&CreateAclsRequest { creations: acls })
            .await?;
        if response.results.len() != expected {
            return Err(ClientError::MissingInResponse {
                api: ApiKey::CreateAcls,
                what: format!("{expected} results"),
            });
        }
        match response
            .results
            .into_iter()
            .find(|r| r.error_code != ErrorCode::None)
        {
            Some(r) => Err(refused(r.error_code, r.error_message)),
            None => Ok(()),
        }
    }

    /// Removes every ACL any of `filters` selects; returns those removed.
    pub async fn delete_acls(&self, filters: Vec<AclFilter>) -> Result<Vec<AclBinding>> {
        let response = self.slot.call(&DeleteAclsRequest { filters }).await?;
        let mut removed = Vec::new();
        for result in response.results {
            if result.error_code != ErrorCode::None {
                return Err(refused(result.error_code, result.error_message));
            }
            removed.extend(result.deleted);
        }
        removed.sort();
        removed.dedup();
        Ok(removed)
    }

    /// The ACLs `filter` selects, sorted ([`AclFilter::any`] for all).
    pub async fn describe_acls(&self, filter: AclFilter) -> Result<Vec<AclBinding>> {
        let response = self.slot.call(&DescribeAclsRequest { filter }).await?;
        if response.error_code != ErrorCode::None {
            return Err(refused(response.error_code, response.error_message));
        }
        Ok(response.acls)
    }
}
