//! The ACL model shared by DescribeAcls, CreateAcls and DeleteAcls: Kafka's, with Kafka's
//! numbers for every enum, so a binding means the same on both listeners.
//!
//! An [`AclBinding`] says who (principal, host) may or may not (permission) do what
//! (operation) to which resources (type, name, pattern). An [`AclFilter`] selects
//! bindings; its `Any` values and null strings match everything.
//!
//! ```text
//! binding: resource_type i8 | resource_name string | pattern_type i8
//!          | principal string | host string | operation i8 | permission i8
//! filter:  resource_type i8 | resource_name nullable string | pattern_type i8
//!          | principal nullable string | host nullable string | operation i8 | permission i8
//! ```

use std::fmt;
use std::str::FromStr;

use crate::frame::FrameBuf;
use crate::wire::{DecodeError, EncodeError, Invalid, Reader, Wire};

/// The name of the one cluster resource (Kafka's `kafka-cluster`).
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// A literal resource name, principal name or host matching every one.
pub const WILDCARD: &str = "*";
/// The principal matching every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Declares an enum with Kafka's wire numbers, names for `Display`/`FromStr` and a wire
/// encoding as `i8` (an unknown number is a decode error).
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident = $code:literal, $text:literal, $vdoc:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(#[doc = $vdoc] $variant,)*
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The wire (Kafka) number.
            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            /// The value for a wire number.
            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// Kafka's name, e.g. `Read`.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Parses a name case-insensitively, ignoring `_` and `-` (`describe_configs`).
            fn from_str(s: &str) -> Result<Self, String> {
                let wanted: String = s.chars().filter(|c| *c != '_' && *c != '-').collect();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name().eq_ignore_ascii_case(&wanted))
                    .ok_or_else(|| {
                        let names: Vec<_> = $name::ALL.iter().map(|v| v.name()).collect();
                        format!("unknown {} `{s}` (one of: {})", $field, names.join(", "))
                    })
            }
        }

        impl Wire for $name {
            const MIN_BYTES: usize = 1;

            fn encode(&self, _version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
                out.put_i8(self.code());
                Ok(())
            }

            fn decode(r: &mut Reader, _version: u16) -> Result<Self, DecodeError> {
                let offset = r.offset();
                let code = r.i8($field)?;
                $name::from_code(code)
                    .ok_or_else(|| Reader::invalid($field, offset, Invalid::UnknownTag(code.into())))
            }
        }
    };
}

wire_enum! {
    /// The kind of resource an ACL protects.
    ResourceType, "resource type" {
        Any = 1, "Any", "Any type (filters only).";
        Topic = 2, "Topic", "A topic.";
        Group = 3, "Group", "A consumer group.";
        Cluster = 4, "Cluster", "The cluster (the broker itself).";
    }
}

wire_enum! {
    /// How an ACL's resource name matches resource names.
    PatternType, "pattern type" {
        Any = 1, "Any", "Any pattern type (filters only).";
        Match = 2, "Match", "Every binding that applies to the filter's name (filters only).";
        Literal = 3, "Literal", "The exact name (`*` matches every name).";
        Prefixed = 4, "Prefixed", "Every name that starts with it.";
    }
}

wire_enum! {
    /// What an ACL allows or denies.
    AclOperation, "operation" {
        Any = 1, "Any", "Any operation (filters only).";
        All = 2, "All", "Every operation.";
        Read = 3, "Read", "Read (fetch, consume in a group); implies Describe.";
        Write = 4, "Write", "Write (produce); implies Describe.";
        Create = 5, "Create", "Create topics.";
        Delete = 6, "Delete", "Delete topics or groups; implies Describe.";
        Alter = 7, "Alter", "Alter (on the cluster: manage ACLs); implies Describe.";
        Describe = 8, "Describe", "See that it exists and its metadata.";
        ClusterAction = 9, "ClusterAction", "Broker-to-broker actions.";
        DescribeConfigs = 10, "DescribeConfigs", "Read settings.";
        AlterConfigs = 11, "AlterConfigs", "Change settings; implies DescribeConfigs.";
        IdempotentWrite = 12, "IdempotentWrite", "Obtain an idempotent producer id.";
    }
}

wire_enum! {
    /// Whether an ACL allows or denies.
    AclPermission, "permission" {
        Any = 1, "Any", "Either (filters only).";
        Deny = 2, "Deny", "Denies; a matching deny wins over every allow.";
        Allow = 3, "Allow", "Allows.";
    }
}

impl AclOperation {
    /// The operations an ACL may name when it grants `self`: itself, `All`, and (Kafka's
    /// implications) Read/Write/Delete/Alter for Describe, AlterConfigs for
    /// DescribeConfigs.
    pub fn granted_by(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            Describe => &[Describe, All, Read, Write, Delete, Alter],
            DescribeConfigs => &[DescribeConfigs, All, AlterConfigs],
            Read => &[Read, All],
            Write => &[Write, All],
            Create => &[Create, All],
            Delete => &[Delete, All],
            Alter => &[Alter, All],
            ClusterAction => &[ClusterAction, All],
            AlterConfigs => &[AlterConfigs, All],
            IdempotentWrite => &[IdempotentWrite, All],
            All => &[All],
            Any => &[],
        }
    }
}

/// One ACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// Topic, Group or Cluster.
    pub resource_type: ResourceType,
    /// The resource's name or prefix (`kafka-cluster` for the cluster, `*` for all).
    pub resource_name: String,
    /// Literal or Prefixed.
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// The client's IP address, or `*` for any.
    pub host: String,
    /// What is allowed or denied.
    pub operation: AclOperation,
    /// Allow or Deny.
    pub permission: AclPermission,
}

/// Why a binding cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclBindingError {
    /// A filter-only value (`Any`, `Match`) in a binding.
    #[error("{field} `{value}` is only valid in a filter; give a concrete value")]
    FilterOnly {
        /// The field.
        field: &'static str,
        /// The value.
        value: &'static str,
    },
    /// An empty resource name.
    #[error("empty resource name")]
    EmptyName,
    /// A cluster binding naming something other than the cluster.
    #[error("a cluster ACL's resource is `{CLUSTER_RESOURCE_NAME}` (literal), not `{0}`")]
    ClusterName(String),
    /// Not `Type:name`.
    #[error("invalid principal `{0}`: expected Type:name, e.g. User:alice or User:*")]
    Principal(String),
    /// Not an IP address or `*`.
    #[error("invalid host `{0}`: expected an IP address or *")]
    Host(String),
}

impl AclBinding {
    /// Checks that every field is concrete and well-formed.
    pub fn validate(&self) -> Result<(), AclBindingError> {
        let filter_only = |field, value| Err(AclBindingError::FilterOnly { field, value });
        if self.resource_type == ResourceType::Any {
            return filter_only("resource type", "Any");
        }
        if matches!(self.pattern_type, PatternType::Any | PatternType::Match) {
            return filter_only("pattern type", self.pattern_type.name());
        }
        if self.operation == AclOperation::Any {
            return filter_only("operation", "Any");
        }
        if self.permission == AclPermission::Any {
            return filter_only("permission", "Any");
        }
        if self.resource_name.is_empty() {
            return Err(AclBindingError::EmptyName);
        }
        if self.resource_type == ResourceType::Cluster
            && (self.resource_name != CLUSTER_RESOURCE_NAME
                || self.pattern_type != PatternType::Literal)
        {
            return Err(AclBindingError::ClusterName(self.resource_name.clone()));
        }
        match self.principal.split_once(':') {
            Some((kind, name))
                if !kind.is_empty()
                    && !name.is_empty()
                    && kind.chars().all(|c| c.is_ascii_alphanumeric()) => {}
            _ => return Err(AclBindingError::Principal(self.principal.clone())),
        }
        if self.host != WILDCARD && self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(AclBindingError::Host(self.host.clone()));
        }
        Ok(())
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} on {} {}:{} from {}",
            self.permission,
            self.principal,
            self.operation,
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.host
        )
    }
}

/// Selects bindings: `Any` and null match every value of that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    /// A type, or Any.
    pub resource_type: ResourceType,
    /// A name, or null for any.
    pub resource_name: Option<String>,
    /// Literal/Prefixed (that pattern and name exactly), Any (any pattern, name exactly)
    /// or Match (every binding that applies to the name).
    pub pattern_type: PatternType,
    /// A principal, or null for any.
    pub principal: Option<String>,
    /// A host, or null for any.
    pub host: Option<String>,
    /// An operation, or Any.
    pub operation: AclOperation,
    /// A permission, or Any.
    pub permission: AclPermission,
}

impl AclFilter {
    /// The filter matching every binding.
    pub fn any() -> Self {
        Self {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// The filter matching exactly `binding`.
    pub fn exact(binding: &AclBinding) -> Self {
        Self {
            resource_type: binding.resource_type,
            resource_name: Some(binding.resource_name.clone()),
            pattern_type: binding.pattern_type,
            principal: Some(binding.principal.clone()),
            host: Some(binding.host.clone()),
            operation: binding.operation,
            permission: binding.permission,
        }
    }

    /// Whether `binding` is selected by this filter (Kafka's semantics).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let field = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        (self.resource_type == ResourceType::Any || self.resource_type == binding.resource_type)
            && self.matches_pattern(binding)
            && field(&self.principal, &binding.principal)
            && field(&self.host, &binding.host)
            && (self.operation == AclOperation::Any || self.operation == binding.operation)
            && (self.permission == AclPermission::Any || self.permission == binding.permission)
    }

    fn matches_pattern(&self, binding: &AclBinding) -> bool {
        let Some(name) = self.resource_name.as_deref() else {
            return matches!(self.pattern_type, PatternType::Any | PatternType::Match)
                || self.pattern_type == binding.pattern_type;
        };
        match self.pattern_type {
            PatternType::Any => binding.resource_name == name,
            PatternType::Match => match binding.pattern_type {
                PatternType::Literal => {
                    binding.resource_name == name || binding.resource_name == WILDCARD
                }
                PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
                PatternType::Any | PatternType::Match => false,
            },
            literal_or_prefixed => {
                binding.pattern_type == literal_or_prefixed && binding.resource_name == name
            }
        }
    }
}

impl Wire for AclBinding {
    const MIN_BYTES: usize = 1 + 2 + 1 + 2 + 2 + 1 + 1;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.resource_type.encode(version, out)?;
        out.put_string("resource_name", &self.resource_name)?;
        self.pattern_type.encode(version, out)?;
        out.put_string("principal", &self.principal)?;
        out.put_string("host", &self.host)?;
        self.operation.encode(version, out)?;
        self.permission.encode(version, out)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            resource_type: ResourceType::decode(r, version)?,
            resource_name: r.string("resource_name")?,
            pattern_type: PatternType::decode(r, version)?,
            principal: r.string("principal")?,
            host: r.string("host")?,
            operation: AclOperation::decode(r, version)?,
            permission: AclPermission::decode(r, version)?,
        })
    }
}

impl Wire for AclFilter {
    const MIN_BYTES: usize = AclBinding::MIN_BYTES;

    fn encode(&self, version: u16, out: &mut FrameBuf) -> Result<(), EncodeError> {
        self.resource_type.encode(version, out)?;
        out.put_nullable_string("resource_name", self.resource_name.as_deref())?;
        self.pattern_type.encode(version, out)?;
        out.put_nullable_string("principal", self.principal.as_deref())?;
        out.put_nullable_string("host", self.host.as_deref())?;
        self.operation.encode(version, out)?;
        self.permission.encode(version, out)
    }

    fn decode(r: &mut Reader, version: u16) -> Result<Self, DecodeError> {
        Ok(Self {
            resource_type: ResourceType::decode(r, version)?,
            resource_name: r.nullable_string("resource_name")?,
            pattern_type: PatternType::decode(r, version)?,
            principal: r.nullable_string("principal")?,
            host: r.nullable_string("host")?,
            operation: AclOperation::decode(r, version)?,
            permission: AclPermission::decode(r, version)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, pattern: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn names_parse_loosely_and_print_as_kafka() {
        assert_eq!(
            "describe_configs".parse::<AclOperation>(),
            Ok(AclOperation::DescribeConfigs)
        );
        assert_eq!("READ".parse::<AclOperation>(), Ok(AclOperation::Read));
        assert_eq!(AclOperation::IdempotentWrite.to_string(), "IdempotentWrite");
        assert!("reed".parse::<AclOperation>().unwrap_err().contains("Read"));
    }

    #[test]
    fn match_filter_selects_what_applies_to_a_name() {
        let filter = AclFilter {
            resource_name: Some("orders-eu".into()),
            pattern_type: PatternType::Match,
            ..AclFilter::any()
        };
        assert!(filter.matches(&binding("orders-eu", PatternType::Literal)));
        assert!(filter.matches(&binding("*", PatternType::Literal)));
        assert!(filter.matches(&binding("orders-", PatternType::Prefixed)));
        assert!(!filter.matches(&binding("orders-", PatternType::Literal)));
        assert!(!filter.matches(&binding("orders-eu-x", PatternType::Prefixed)));
    }

    #[test]
    fn literal_filter_selects_that_pattern_only() {
        let filter = AclFilter::exact(&binding("orders", PatternType::Literal));
        assert!(filter.matches(&binding("orders", PatternType::Literal)));
        assert!(!filter.matches(&binding("orders", PatternType::Prefixed)));
        assert!(AclFilter::any().matches(&binding("x", PatternType::Prefixed)));
    }

    #[test]
    fn validation_refuses_filter_values_and_bad_fields() {
        assert!(binding("t", PatternType::Literal).validate().is_ok());
        assert!(binding("t", PatternType::Match).validate().is_err());
        let mut b = binding("t", PatternType::Literal);
        b.host = "not-an-ip".into();
        assert!(matches!(b.validate(), Err(AclBindingError::Host(_))));
        let mut b = binding("t", PatternType::Literal);
        b.principal = "alice".into();
        assert!(matches!(b.validate(), Err(AclBindingError::Principal(_))));
        let mut b = binding("t", PatternType::Literal);
        b.resource_type = ResourceType::Cluster;
        assert!(matches!(b.validate(), Err(AclBindingError::ClusterName(_))));
    }

    #[test]
    fn implications_follow_kafka() {
        assert!(AclOperation::Describe
            .granted_by()
            .contains(&AclOperation::Write));
        assert!(!AclOperation::Read
            .granted_by()
            .contains(&AclOperation::Describe));
        assert!(AclOperation::DescribeConfigs
            .granted_by()
            .contains(&AclOperation::AlterConfigs));
    }
}
