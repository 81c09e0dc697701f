//! `rill user create|delete|list`: the users a broker with SASL authenticates. The
//! password is salted here: only the salt and the salted password reach the broker.
//! The first user (an admin) is made offline with `rilld user create`.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use rill_client::{Admin, ScramMechanism, UserListing};
use serde::Serialize;

use super::output::{print_json, print_stdout, OutputFormat};
use super::GlobalArgs;

const CREATE_EXAMPLES: &str = "\
Examples:
  rill user create alice                                  # prompts for the password
  echo \"$ALICE_PASSWORD\" | rill user create alice --password-stdin
  rill user create bob --mechanism SCRAM-SHA-512 --password-stdin < bob.txt";
const DELETE_EXAMPLES: &str = "\
Examples:
  rill user delete alice";
const LIST_EXAMPLES: &str = "\
Examples:
  rill user list
  rill user list --output json";

/// Arguments of `rill user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// `rill user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user, or change its password.
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// The user name.
        name: String,
        /// SCRAM mechanism to create a credential for; repeat for both [default: both].
        #[arg(long = "mechanism", value_parser = parse_scram)]
        mechanisms: Vec<ScramMechanism>,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user.
    #[command(after_help = DELETE_EXAMPLES)]
    Delete {
        /// The user name.
        name: String,
    },
    /// List users and their SCRAM mechanisms.
    #[command(after_help = LIST_EXAMPLES)]
    List,
}

fn parse_scram(s: &str) -> Result<ScramMechanism, String> {
    match s.to_ascii_uppercase().as_str() {
        "SCRAM-SHA-256" => Ok(ScramMechanism::Sha256),
        "SCRAM-SHA-512" => Ok(ScramMechanism::Sha512),
        _ => Err(format!("{s:?} is not SCRAM-SHA-256 or SCRAM-SHA-512")),
    }
}

/// One user in `rill user list --output json`.
#[derive(Debug, Serialize)]
struct UserView {
    name: String,
    mechanisms: Vec<MechanismView>,
}

#[derive(Debug, Serialize)]
struct MechanismView {
    mechanism: &'static str,
    iterations: u32,
}

/// Runs `rill user`.
pub async fn run(global: &GlobalArgs, args: UserArgs) -> anyhow::Result<()> {
    let password = match &args.command {
        UserCommand::Create { password_stdin, .. } => Some(read_password(*password_stdin)?),
        _ => None,
    };
    let admin = Admin::connect(global.connection_config())
        .await
        .context("cannot reach the broker")?;
    match args.command {
        UserCommand::Create {
            name, mechanisms, ..
        } => {
            let password = password.unwrap_or_default();
            admin
                .create_user(&name, &password, &mechanisms)
                .await
                .with_context(|| format!("cannot create user {name}"))?;
            print_stdout(&format!("created user {name}\n"))?;
        }
        UserCommand::Delete { name } => {
            admin
                .delete_user(&name)
                .await
                .with_context(|| format!("cannot delete user {name}"))?;
            print_stdout(&format!("deleted user {name}\n"))?;
        }
        UserCommand::List => {
            let users = admin.list_users().await.context("cannot list users")?;
            print_users(global.output, users)?;
        }
    }
    admin.close().await?;
    Ok(())
}

fn print_users(output: OutputFormat, users: Vec<UserListing>) -> anyhow::Result<()> {
    let views: Vec<UserView> = users
        .into_iter()
        .map(|u| UserView {
            name: u.name,
            mechanisms: u
                .mechanisms
                .into_iter()
                .map(|(m, iterations)| MechanismView {
                    mechanism: m.name(),
                    iterations,
                })
                .collect(),
        })
        .collect();
    match output {
        OutputFormat::Json => print_json(&views)?,
        OutputFormat::Text => {
            let mut out = String::from("USER\tMECHANISMS\n");
            for v in &views {
                let names: Vec<&str> = v.mechanisms.iter().map(|m| m.mechanism).collect();
                out.push_str(&format!("{}\t{}\n", v.name, names.join(",")));
            }
            print_stdout(&out)?;
        }
    }
    Ok(())
}

/// The new user's password: the first line of stdin, or typed twice at a prompt.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Password again: ").context("cannot read the password")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}
