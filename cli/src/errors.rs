//! How the command line ends: exit codes, error messages with a hint on what to do, and
//! the quiet exit on a closed pipe.
//!
//! Exit codes: 0 success (also when the reader of stdout went away, as `head` does),
//! 1 failure, 2 usage error (clap's own code for a bad command line).

use std::io;
use std::process::ExitCode;

use rill_client::ClientError;
use rill_protocol::error_code::ErrorCode;

use super::output::Style;

/// Exit code for a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a bad command line (clap uses the same).
pub const EXIT_USAGE: u8 = 2;

/// A failure the command already explained with its own lines; `main` prints nothing
/// more and exits 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Reported(pub String);

/// True if the error, or anything it wraps, is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints `error` to stderr with its causes and a hint, and returns the exit code.
/// A closed stdout ends quietly with success.
pub fn report(error: &anyhow::Error, broker: &str) -> ExitCode {
    if is_broken_pipe(error) {
        return ExitCode::SUCCESS;
    }
    if error.downcast_ref::<Reported>().is_none() {
        eprint!("{}", render(error, broker, Style::stderr()));
    }
    ExitCode::from(EXIT_FAILURE)
}

/// The full message: `error: what happened: why`, then `hint: what to do` if known.
pub fn render(error: &anyhow::Error, broker: &str, style: Style) -> String {
    let causes: Vec<String> = error.chain().map(ToString::to_string).collect();
    let mut message = String::new();
    // Drop a cause whose text the previous line already includes (thiserror sources
    // often print their source inline).
    for (i, cause) in causes.iter().enumerate() {
        if i > 0 && causes[i - 1].contains(cause.as_str()) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(cause);
    }
    let mut out = format!("{} {message}\n", style.error("error:"));
    if let Some(hint) = hint(error, broker) {
        out.push_str(&format!("{} {hint}\n", style.hint("hint:")));
    }
    out
}

/// What the user can do about `error`, when we know.
pub fn hint(error: &anyhow::Error, broker: &str) -> Option<String> {
    let client = error
        .chain()
        .find_map(|e| e.downcast_ref::<ClientError>())?;
    match client {
        ClientError::Connect { .. } | ClientError::ConnectTimeout { .. }
            if broker.contains(',') =>
        {
            Some(format!(
                "none of {} answered: is rilld running at one of them? Check the addresses \
                 with --broker ADDR,ADDR or RILL_BROKER",
                broker.replace(',', ", ")
            ))
        }
        ClientError::Connect { .. } | ClientError::ConnectTimeout { .. } => Some(format!(
            "is rilld running at {broker}? Start one with `cargo run --release --bin rilld`, \
             or point rill at another broker with --broker ADDR or RILL_BROKER"
        )),
        ClientError::BrokerTooOld { .. } => Some(
            "upgrade the broker to this client's version, or use a client as old as the broker"
                .to_owned(),
        ),
        ClientError::Broker {
            code: ErrorCode::NotLeaderOrFollower | ErrorCode::LeaderNotAvailable,
            topic: Some(topic),
            ..
        } => Some(format!(
            "a partition has no leader right now (a broker is down or leadership is moving); \
             see leaders and replicas with `rill topic describe {topic}` and brokers with \
             `rill cluster status`, then try again"
        )),
        // An answer that is no Rill frame at all: something else listens there (the
        // broker's HTTP endpoint is the usual suspect).
        ClientError::ConnectionLost {
            cause: rill_client::Disconnect::Frame(_),
            ..
        } => Some(format!(
            "{broker} did not answer like a Rill broker: is it rilld's protocol port (default \
             9420) and not its HTTP port (default 9421)?"
        )),
        ClientError::ConnectionLost { .. } | ClientError::Timeout { .. } => Some(format!(
            "the broker at {broker} stopped answering; check that rilld is still running, \
             or allow longer with --timeout"
        )),
        ClientError::Broker { code, topic, .. } => broker_hint(*code, topic.as_deref()),
        ClientError::InvalidPartition { topic, .. } => Some(format!(
            "see the partitions with `rill topic describe {topic}`"
        )),
        ClientError::DeliveryTimeout { .. } => {
            Some("the broker did not acknowledge in time; allow longer with --timeout".to_owned())
        }
        ClientError::Authentication { .. } => Some(
            "log in with --sasl-username USER (or RILL_SASL_USERNAME), the password in \
             RILL_SASL_PASSWORD or a file given with --sasl-password-file, and \
             --sasl-mechanism if the broker does not offer SCRAM-SHA-256"
                .to_owned(),
        ),
        _ => None,
    }
}

fn broker_hint(code: ErrorCode, topic: Option<&str>) -> Option<String> {
    let topic = topic.unwrap_or("NAME");
    match code {
        ErrorCode::UnknownTopicOrPartition => Some(format!(
            "list topics with `rill topic list`, or create this one with `rill topic create {topic}`"
        )),
        ErrorCode::TopicAlreadyExists => Some(format!(
            "see it with `rill topic describe {topic}`, or pick another name"
        )),
        ErrorCode::InvalidConfig => Some(format!(
            "see the settings and their current values with `rill topic describe {topic}`"
        )),
        ErrorCode::GroupIdNotFound => Some("list the groups with `rill group list`".to_owned()),
        ErrorCode::NotController => Some(
            "the cluster has no controller right now (an election is under way, or this \
             broker is cut off from the others): try again in a few seconds; \
             `rill cluster status` shows the controller"
                .to_owned(),
        ),
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => Some(
            "the group's coordinator is moving or its broker is down: try again in a few \
             seconds; `rill cluster status` shows which brokers are alive"
                .to_owned(),
        ),
        ErrorCode::NonEmptyGroup => Some(
            "the group has members: stop its consumers first (see them with `rill group describe`)"
                .to_owned(),
        ),
        ErrorCode::TopicAuthorizationFailed
        | ErrorCode::GroupAuthorizationFailed
        | ErrorCode::ClusterAuthorizationFailed => Some(
            "the broker's ACLs do not allow this: an operator (a super user, or a principal with Alter on the cluster) can grant it with `rill acl add`, see `rill acl add --help`"
                .to_owned(),
        ),
        _ => None,
    }
}

/// Exit code for a clap error: 0 for `--help` / `--version`, 2 for usage errors.
pub fn clap_exit_code(error: &clap::Error) -> ExitCode {
    if error.use_stderr() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use anyhow::Context as _;

    use super::*;

    fn refused(addr: &str) -> anyhow::Error {
        let cause = Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        anyhow::Error::new(ClientError::Connect {
            addr: addr.to_owned(),
            cause,
        })
        .context(format!("cannot reach the broker at {addr}"))
    }

    #[test]
    fn unreachable_broker_names_the_address_and_how_to_start_rilld() {
        let text = render(&refused("127.0.0.1:1"), "127.0.0.1:1", Style::new(false));
        assert!(
            text.starts_with("error: cannot reach the broker at 127.0.0.1:1"),
            "{text}"
        );
        assert!(
            text.contains("hint: is rilld running at 127.0.0.1:1?"),
            "{text}"
        );
        assert!(text.contains("cargo run --release --bin rilld"), "{text}");
    }

    #[test]
    fn unreachable_broker_list_names_every_address() {
        let text = render(&refused("b:2"), "a:1,b:2", Style::new(false));
        assert!(text.contains("hint: none of a:1, b:2 answered"), "{text}");
    }

    #[test]
    fn leaderless_partition_points_at_describe_and_cluster_status() {
        let err = anyhow::Error::new(ClientError::Broker {
            code: ErrorCode::LeaderNotAvailable,
            topic: Some("orders".into()),
            partition: Some(3),
            message: None,
        });
        let text = render(&err, "b:1", Style::new(false));
        assert!(text.contains("rill topic describe orders"), "{text}");
        assert!(text.contains("rill cluster status"), "{text}");
    }

    #[test]
    fn unknown_topic_suggests_create() {
        let err = anyhow::Error::new(ClientError::Broker {
            code: ErrorCode::UnknownTopicOrPartition,
            topic: Some("orders".into()),
            partition: None,
            message: None,
        });
        let text = render(&err, "b:1", Style::new(false));
        assert!(text.contains("rill topic create orders"), "{text}");
    }

    #[test]
    fn broken_pipe_is_found_through_context() {
        let err = Err::<(), _>(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing a record")
            .unwrap_err();
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let inner = io::Error::other("disk full");
        let err = anyhow::Error::new(inner).context("cannot read input.txt");
        let text = render(&err, "b:1", Style::new(false));
        assert_eq!(text, "error: cannot read input.txt: disk full\n");
    }
}
