//! `printwatch users`: the dashboard's sign-ins. A password is read here (a file, the
//! environment, or standard input), hashed here with argon2id, and only the hash goes to
//! the coordinator: the password never leaves the operator's machine.

use std::io::IsTerminal;

use agent_core::output::emit;
use anyhow::{bail, Context, Result};
use printwatch_proto::v1 as p;

use crate::client as c;

/// The dashboard's users.
#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user (or replace one of that name). The password comes from
    /// --password-file, else PRINTWATCH_USER_PASSWORD, else one line of standard input.
    ///
    /// Examples:
    ///   printwatch users add anna --role viewer --site branch1 --password-file anna.pw
    ///   printwatch users add it-admin --role admin < admin.pw
    #[command(verbatim_doc_comment)]
    Add {
        /// The sign-in name (letters, digits, '.', '-', '_', '@').
        name: String,
        /// viewer (reads) or admin (also changes the fleet and the users).
        #[arg(long, value_parser = ["viewer", "admin"])]
        role: String,
        /// A site the user sees (repeat for more); none: every site.
        #[arg(long)]
        site: Vec<String>,
        /// A file holding the password (its first line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
    },
    /// List the users, their roles and sites.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user: they can no longer sign in.
    Remove {
        /// The sign-in name.
        name: String,
    },
    /// Set a user's password (read as for `add`).
    Passwd {
        /// The sign-in name.
        name: String,
        /// A file holding the password (its first line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<std::path::PathBuf>,
    },
}

/// The password to set: a file's first line, the environment, or a line of stdin.
fn password(file: Option<&std::path::Path>) -> Result<String> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the password file {}", f.display()))?,
        None => match std::env::var("PRINTWATCH_USER_PASSWORD") {
            Ok(p) => p,
            Err(_) => {
                if std::io::stdin().is_terminal() {
                    eprint!("password (shown as typed; use --password-file to avoid that): ");
                }
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                line
            }
        },
    };
    let password = text.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        bail!("no password given: --password-file, PRINTWATCH_USER_PASSWORD or standard input");
    }
    Ok(password)
}

fn hashed(file: Option<&std::path::Path>) -> Result<String> {
    Ok(printwatch_coordinator::users::hash(&password(file)?)?)
}

/// Runs a `users` command against the coordinator.
pub async fn run(cmd: UsersCommand, connect: &c::ConnectArgs) -> Result<()> {
    // The password is read and hashed before connecting: a mistake costs no round trip.
    let hash = match &cmd {
        UsersCommand::Add { password_file, .. } | UsersCommand::Passwd { password_file, .. } => {
            Some(hashed(password_file.as_deref())?)
        }
        _ => None,
    };
    let mut client = c::connect(connect).await?;
    match cmd {
        UsersCommand::Add {
            name, role, site, ..
        } => {
            let u = client
                .put_user(p::User {
                    name,
                    role,
                    sites: site,
                    password_hash: hash.unwrap_or_default(),
                    created: String::new(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!(
                "user {} ({}) can sign in to the dashboard",
                u.name, u.role
            ));
        }
        UsersCommand::Passwd { name, .. } => {
            let u = client
                .set_password(p::SetPasswordRequest {
                    name,
                    password_hash: hash.unwrap_or_default(),
                })
                .await
                .map_err(c::ClientError::from)?
                .into_inner();
            emit(&format!("the password of {} is changed", u.name));
        }
        UsersCommand::List { json } => {
            let users = client
                .list_users(p::ListUsersRequest {})
                .await
                .map_err(c::ClientError::from)?
                .into_inner()
                .users;
            if !json {
                emit(&format!(
                    "{:<24} {:<8} {:<32} CREATED",
                    "NAME", "ROLE", "SITES"
                ));
            }
            for u in users {
                let sites = if u.sites.is_empty() {
                    "(all)".to_string()
                } else {
                    u.sites.join(",")
                };
                if json {
                    emit(
                        &serde_json::json!({"name": u.name, "role": u.role, "sites": u.sites, "created": u.created})
                            .to_string(),
                    );
                } else {
                    emit(&format!(
                        "{:<24} {:<8} {:<32} {}",
                        u.name, u.role, sites, u.created
                    ));
                }
            }
        }
        UsersCommand::Remove { name } => {
            client
                .remove_user(p::RemoveUserRequest { name: name.clone() })
                .await
                .map_err(c::ClientError::from)?;
            emit(&format!("user {name} removed"));
        }
    }
    Ok(())
}
