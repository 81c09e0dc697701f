//! ACLs enforced over the native protocol, with two identities told apart by the
//! client's address (until SASL gives real ones): connections from 127.0.0.1 are the
//! operator (`User:ANONYMOUS` allowed everything from that host), connections from
//! 127.0.0.2 the restricted client. A super user and an authenticated principal are
//! tested in process, on a `Session` built the way authentication will build it.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use common::{batch, fetch, fetch_response, fetched_values, produce, produce_response, RawClient};
use rill_broker::security::acl::{
    AclBinding, AclFilter, AclOperation, AclPermission, AuthorizationMode, PatternType,
    ResourceType,
};
use rill_broker::security::{Principal, Session};
use rill_broker::server::handlers;
use rill_broker::testing::TestBroker;
use rill_protocol::api::acls::CLUSTER_RESOURCE_NAME;
use rill_protocol::api::common::TopicPartitions;
use rill_protocol::api::create_acls::CreateAclsRequest;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::delete_acls::DeleteAclsRequest;
use rill_protocol::api::describe_acls::DescribeAclsRequest;
use rill_protocol::api::join_group::JoinGroupRequest;
use rill_protocol::api::list_groups::ListGroupsRequest;
use rill_protocol::api::list_offsets::{ListOffsetsPartition, ListOffsetsRequest};
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const OPERATOR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const ANONYMOUS: &str = "User:ANONYMOUS";

fn acl(
    host: Ipv4Addr,
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    operation: AclOperation,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: ANONYMOUS.into(),
        host: host.to_string(),
        operation,
        permission,
    }
}

/// The restricted client (127.0.0.2) allowed `operation` on a topic name or prefix.
fn client_allowed(name: &str, pattern_type: PatternType, operation: AclOperation) -> AclBinding {
    let allow = AclPermission::Allow;
    acl(
        CLIENT_IP,
        ResourceType::Topic,
        name,
        pattern_type,
        operation,
        allow,
    )
}

/// A broker with authorization on, where the operator host may do everything.
async fn secured_broker(dir: Option<tempfile::TempDir>) -> TestBroker {
    let tweak = |c: &mut rill_broker::config::BrokerConfig| {
        c.authorization.mode = AuthorizationMode::On;
        c.authorization.super_users = vec![Principal::user("admin")];
    };
    let broker = match dir {
        Some(dir) => TestBroker::start_in(dir, tweak).await,
        None => TestBroker::start_with(tweak).await,
    };
    let all = |resource_type, name: &str| {
        let (literal, op) = (PatternType::Literal, AclOperation::All);
        acl(
            OPERATOR_IP,
            resource_type,
            name,
            literal,
            op,
            AclPermission::Allow,
        )
    };
    let operator = vec![
        all(ResourceType::Cluster, CLUSTER_RESOURCE_NAME),
        all(ResourceType::Topic, "*"),
        all(ResourceType::Group, "*"),
    ];
    let ctx = broker.ctx.clone();
    tokio::task::spawn_blocking(move || ctx.authorizer.store().create(operator))
        .await
        .unwrap()
        .unwrap();
    broker
}

/// A raw connection from `ip`.
async fn connect_from(ip: Ipv4Addr, broker: SocketAddr) -> RawClient {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).unwrap();
    RawClient::over(socket.connect(broker).await.unwrap())
}

async fn create_topic(client: &mut RawClient, name: &str) {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: name.into(),
            num_partitions: 1,
            configs: Vec::new(),
        }],
        timeout_ms: 5000,
        validate_only: false,
    };
    match client.call(Request::CreateTopics(request)).await {
        Response::CreateTopics(r) => assert_eq!(r.topics[0].error_code, ErrorCode::None, "{r:?}"),
        other => panic!("{other:?}"),
    }
}

/// Creates `name` and appends three records to it, as the operator.
async fn topic_with_records(broker: &TestBroker, name: &str) {
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    create_topic(&mut operator, name).await;
    let r = produce_response(operator.call(produce(name, 0, batch(name, 3, 1), -1)).await);
    assert_eq!(r.topics[0].partitions[0].error_code, ErrorCode::None);
}

async fn metadata(client: &mut RawClient, topics: Option<Vec<&str>>) -> MetadataResponse {
    let request = MetadataRequest {
        topics: topics.map(|t| t.into_iter().map(String::from).collect()),
        allow_auto_topic_creation: true,
    };
    match client.call(Request::Metadata(request)).await {
        Response::Metadata(m) => m,
        other => panic!("{other:?}"),
    }
}

fn listed(m: &MetadataResponse) -> Vec<String> {
    m.topics.iter().map(|t| t.name.clone()).collect()
}

async fn fetch_code(client: &mut RawClient, topic: &str) -> ErrorCode {
    let f = fetch_response(client.call(fetch(topic, 0, 0, 0, 0)).await);
    f.topics[0].partitions[0].error_code
}

async fn create_acls(client: &mut RawClient, creations: Vec<AclBinding>) -> Vec<ErrorCode> {
    match client
        .call(Request::CreateAcls(CreateAclsRequest { creations }))
        .await
    {
        Response::CreateAcls(r) => r.results.iter().map(|r| r.error_code).collect(),
        other => panic!("{other:?}"),
    }
}

async fn scrape(http: SocketAddr) -> String {
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_denied_topic_is_refused_and_cannot_be_seen() {
    let broker = secured_broker(None).await;
    topic_with_records(&broker, "secret").await;
    let mut client = connect_from(CLIENT_IP, broker.addr).await;

    assert_eq!(
        fetch_code(&mut client, "secret").await,
        ErrorCode::TopicAuthorizationFailed
    );
    let produced = produce_response(
        client
            .call(produce("secret", 0, batch("x", 1, 1), -1))
            .await,
    );
    let code = produced.topics[0].partitions[0].error_code;
    assert_eq!(code, ErrorCode::TopicAuthorizationFailed);
    let offsets = ListOffsetsRequest {
        isolation_level: 0,
        topics: vec![TopicPartitions {
            name: "secret".into(),
            partitions: vec![ListOffsetsPartition {
                partition: 0,
                timestamp: -1,
            }],
        }],
    };
    match client.call(Request::ListOffsets(offsets)).await {
        Response::ListOffsets(r) => {
            let code = r.topics[0].partitions[0].error_code;
            assert_eq!(code, ErrorCode::TopicAuthorizationFailed);
        }
        other => panic!("{other:?}"),
    }

    // Cannot learn it exists: absent from the listing, and asked for by name it gets
    // the same answer as a topic that does not exist, which is not auto-created.
    assert!(listed(&metadata(&mut client, None).await).is_empty());
    let named = metadata(&mut client, Some(vec!["secret", "no-such-topic"])).await;
    let codes: Vec<_> = named.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![ErrorCode::TopicAuthorizationFailed; 2]);
    assert!(named.topics.iter().all(|t| t.partitions.is_empty()));
    assert!(
        broker.ctx.topics.get("no-such-topic").is_none(),
        "auto-created without Create"
    );

    // The operator still sees and reads it.
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    assert_eq!(listed(&metadata(&mut operator, None).await), vec!["secret"]);
    let f = fetch_response(operator.call(fetch("secret", 0, 0, 0, 0)).await);
    assert_eq!(fetched_values(&f).len(), 3);

    let scraped = scrape(broker.http_addr.unwrap()).await;
    let line = scraped
        .lines()
        .find(|l| l.starts_with("rill_authorization_denied_total{resource=\"topic\"}"))
        .unwrap_or_else(|| panic!("no topic denial counter in:\n{scraped}"));
    let denied: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(denied >= 5, "{line}");
    broker.stop().await;
}

#[tokio::test]
async fn auto_creation_needs_create() {
    let broker = secured_broker(None).await;
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let describe = client_allowed("auto-", PatternType::Prefixed, AclOperation::Describe);
    let create = client_allowed("auto-ok", PatternType::Literal, AclOperation::Create);
    let codes = create_acls(&mut operator, vec![describe, create]).await;
    assert_eq!(codes, vec![ErrorCode::None; 2]);
    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    let m = metadata(&mut client, Some(vec!["auto-ok", "auto-no"])).await;
    let codes: Vec<_> = m
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("auto-ok", ErrorCode::None),
            ("auto-no", ErrorCode::TopicAuthorizationFailed)
        ]
    );
    assert!(broker.ctx.topics.get("auto-ok").is_some());
    assert!(broker.ctx.topics.get("auto-no").is_none());
    broker.stop().await;
}

#[tokio::test]
async fn deny_beats_allow_and_prefixed_acls_cover_their_names() {
    let broker = secured_broker(None).await;
    for topic in ["logs-app", "logs-private", "metrics"] {
        topic_with_records(&broker, topic).await;
    }
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let read = AclOperation::Read;
    let deny_private = acl(
        CLIENT_IP,
        ResourceType::Topic,
        "logs-private",
        PatternType::Literal,
        read,
        AclPermission::Deny,
    );
    let allow_logs = client_allowed("logs-", PatternType::Prefixed, read);
    let codes = create_acls(&mut operator, vec![allow_logs, deny_private]).await;
    assert_eq!(codes, vec![ErrorCode::None; 2]);

    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    let f = fetch_response(client.call(fetch("logs-app", 0, 0, 0, 0)).await);
    assert_eq!(
        fetched_values(&f),
        vec!["logs-app-0", "logs-app-1", "logs-app-2"]
    );
    let private = fetch_code(&mut client, "logs-private").await;
    assert_eq!(private, ErrorCode::TopicAuthorizationFailed);
    assert_eq!(
        fetch_code(&mut client, "metrics").await,
        ErrorCode::TopicAuthorizationFailed
    );
    // Read implies Describe (the deny names Read only); `metrics` stays hidden.
    let seen = listed(&metadata(&mut client, None).await);
    assert_eq!(seen, vec!["logs-app", "logs-private"]);
    broker.stop().await;
}

#[tokio::test]
async fn acl_changes_apply_to_open_connections_and_survive_a_restart() {
    let broker = secured_broker(None).await;
    topic_with_records(&broker, "orders").await;
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    let denied = ErrorCode::TopicAuthorizationFailed;
    assert_eq!(fetch_code(&mut client, "orders").await, denied);

    let grant = client_allowed("orders", PatternType::Literal, AclOperation::Read);
    assert_eq!(
        create_acls(&mut operator, vec![grant.clone()]).await,
        vec![ErrorCode::None]
    );
    assert_eq!(fetch_code(&mut client, "orders").await, ErrorCode::None);

    let remove = DeleteAclsRequest {
        filters: vec![AclFilter::exact(&grant)],
    };
    match operator.call(Request::DeleteAcls(remove)).await {
        Response::DeleteAcls(r) => assert_eq!(r.results[0].deleted, vec![grant.clone()]),
        other => panic!("{other:?}"),
    }
    assert_eq!(fetch_code(&mut client, "orders").await, denied);

    assert_eq!(
        create_acls(&mut operator, vec![grant.clone()]).await,
        vec![ErrorCode::None]
    );
    drop((operator, client));
    let dir = broker.stop().await;
    let broker = TestBroker::start_in(dir, |c| c.authorization.mode = AuthorizationMode::On).await;
    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    assert_eq!(fetch_code(&mut client, "orders").await, ErrorCode::None);
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let filter = AclFilter {
        principal: Some(ANONYMOUS.into()),
        host: Some(CLIENT_IP.to_string()),
        ..AclFilter::any()
    };
    match operator
        .call(Request::DescribeAcls(DescribeAclsRequest { filter }))
        .await
    {
        Response::DescribeAcls(r) => assert_eq!(r.acls, vec![grant]),
        other => panic!("{other:?}"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn managing_acls_needs_the_cluster() {
    let broker = secured_broker(None).await;
    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    let grant = client_allowed("*", PatternType::Literal, AclOperation::All);
    let codes = create_acls(&mut client, vec![grant]).await;
    assert_eq!(codes, vec![ErrorCode::ClusterAuthorizationFailed]);
    let filter = AclFilter::any();
    match client
        .call(Request::DescribeAcls(DescribeAclsRequest { filter }))
        .await
    {
        Response::DescribeAcls(r) => {
            assert_eq!(r.error_code, ErrorCode::ClusterAuthorizationFailed);
            assert!(r.acls.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let all = DeleteAclsRequest {
        filters: vec![AclFilter::any()],
    };
    match client.call(Request::DeleteAcls(all)).await {
        Response::DeleteAcls(r) => {
            assert_eq!(
                r.results[0].error_code,
                ErrorCode::ClusterAuthorizationFailed
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        broker.ctx.authorizer.store().snapshot().len(),
        3,
        "operator ACLs intact"
    );
    broker.stop().await;
}

#[tokio::test]
async fn groups_need_read_on_the_group() {
    let broker = secured_broker(None).await;
    topic_with_records(&broker, "orders").await;
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let read = client_allowed("orders", PatternType::Literal, AclOperation::Read);
    assert_eq!(
        create_acls(&mut operator, vec![read]).await,
        vec![ErrorCode::None]
    );
    let join = Request::JoinGroup(JoinGroupRequest {
        group_id: "billing".into(),
        member_id: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        topics: vec!["orders".into()],
        assignor: None,
    });
    let mut client = connect_from(CLIENT_IP, broker.addr).await;
    match client.call(join.clone()).await {
        Response::JoinGroup(r) => assert_eq!(r.error_code, ErrorCode::GroupAuthorizationFailed),
        other => panic!("{other:?}"),
    }
    let group = acl(
        CLIENT_IP,
        ResourceType::Group,
        "billing",
        PatternType::Literal,
        AclOperation::Read,
        AclPermission::Allow,
    );
    assert_eq!(
        create_acls(&mut operator, vec![group]).await,
        vec![ErrorCode::None]
    );
    match client.call(join).await {
        Response::JoinGroup(r) => {
            assert_eq!(r.error_code, ErrorCode::None);
            assert_eq!(r.assignment.len(), 1, "{r:?}");
        }
        other => panic!("{other:?}"),
    }
    // The operator lists every group; the client only those it may describe.
    let mut other = connect_from(OPERATOR_IP, broker.addr).await;
    let join_other = Request::JoinGroup(JoinGroupRequest {
        group_id: "audit".into(),
        member_id: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        topics: vec!["orders".into()],
        assignor: None,
    });
    other.call(join_other).await;
    let names = |r: Response| match r {
        Response::ListGroups(l) => {
            let mut ids: Vec<String> = l.groups.into_iter().map(|g| g.group_id).collect();
            ids.sort();
            ids
        }
        other => panic!("{other:?}"),
    };
    let all = names(operator.call(Request::ListGroups(ListGroupsRequest)).await);
    assert_eq!(all, vec!["audit", "billing"]);
    let visible = names(client.call(Request::ListGroups(ListGroupsRequest)).await);
    assert_eq!(visible, vec!["billing"]);
    broker.stop().await;
}

/// A session as authentication leaves it: `principal`, from the client address.
fn session_of(principal: &str) -> Session {
    let mut session = Session::new(SocketAddr::from((CLIENT_IP, 40_000)));
    session.authenticated_as(principal.parse().unwrap());
    session
}

#[tokio::test]
async fn a_super_user_may_do_anything_and_others_only_what_acls_allow() {
    let broker = TestBroker::start_with(|c| {
        c.authorization.mode = AuthorizationMode::On;
        c.authorization.super_users = vec![Principal::user("admin")];
    })
    .await;
    let ctx = Arc::clone(&broker.ctx);
    let create = |name: &str| CreateTopicsRequest {
        topics: vec![CreatableTopic {
            replication_factor: -1,
            name: name.into(),
            num_partitions: 1,
            configs: Vec::new(),
        }],
        timeout_ms: 5000,
        validate_only: false,
    };
    let admin = ctx.authorizer.access(&session_of("User:admin"));
    let created = handlers::admin::create_topics(&ctx, create("ledger"), &admin).await;
    assert_eq!(created.topics[0].error_code, ErrorCode::None);

    let alice = ctx.authorizer.access(&session_of("User:alice"));
    let refused = handlers::admin::create_topics(&ctx, create("mine"), &alice).await;
    assert_eq!(
        refused.topics[0].error_code,
        ErrorCode::TopicAuthorizationFailed
    );
    let everything = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
    };
    let seen = handlers::metadata::handle(&ctx, everything.clone(), &alice).await;
    assert!(seen.topics.is_empty(), "{seen:?}");

    let grant = AclBinding {
        resource_type: ResourceType::Topic,
        resource_name: "ledger".into(),
        pattern_type: PatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: AclOperation::Describe,
        permission: AclPermission::Allow,
    };
    let store_ctx = Arc::clone(&ctx);
    tokio::task::spawn_blocking(move || store_ctx.authorizer.store().create(vec![grant]))
        .await
        .unwrap()
        .unwrap();
    // A new request sees the new ACLs; another principal still sees nothing.
    let alice = ctx.authorizer.access(&session_of("User:alice"));
    let seen = handlers::metadata::handle(&ctx, everything.clone(), &alice).await;
    assert_eq!(seen.topics.len(), 1);
    let bob = ctx.authorizer.access(&session_of("User:bob"));
    assert!(handlers::metadata::handle(&ctx, everything, &bob)
        .await
        .topics
        .is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn one_delete_request_is_bounded() {
    let broker = secured_broker(None).await;
    let mut operator = connect_from(OPERATOR_IP, broker.addr).await;
    let many = DeleteAclsRequest {
        filters: vec![AclFilter::any(); handlers::acls::DELETE_FILTERS_MAX + 1],
    };
    match operator.call(Request::DeleteAcls(many)).await {
        Response::DeleteAcls(r) => {
            assert_eq!(r.results.len(), handlers::acls::DELETE_FILTERS_MAX + 1);
            assert!(r
                .results
                .iter()
                .all(|r| r.error_code == ErrorCode::InvalidRequest));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        broker.ctx.authorizer.store().snapshot().len(),
        3,
        "nothing removed"
    );
    broker.stop().await;
}
