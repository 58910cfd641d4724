//! `printwatch certs`: the fleet's CA and the certificates it issues (see
//! [`printwatch_pki`]).

use agent_core::output::emit;
use anyhow::Result;
use clap::Subcommand;

/// `printwatch certs` and its subcommands.
#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Create the fleet CA and the first certificates in DIR.
    ///
    /// Writes ca.pem and ca.key (keep ca.key offline if you can), coordinator.pem/.key
    /// valid for the --coordinator-name host names and addresses, collector-NAME.pem/.key
    /// for each --collector (NAME is the site), and operator-NAME.pem/.key. Keys are readable
    /// by their owner only. An existing CA is never overwritten.
    ///
    /// Examples:
    ///   printwatch certs init --dir /etc/printwatch/pki --coordinator-name pw.example.lan --collector hq --collector branch1
    ///   printwatch certs init --dir ./pki
    #[command(verbatim_doc_comment)]
    Init {
        /// Where the certificates go.
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        /// Host names and addresses the coordinator is reached at (default: localhost, 127.0.0.1).
        #[arg(long = "coordinator-name", value_name = "HOST")]
        coordinator_names: Vec<String>,
        /// A collector's site name (repeatable).
        #[arg(long = "collector", value_name = "SITE")]
        collectors: Vec<String>,
        /// The first operator's name.
        #[arg(long, default_value = "admin")]
        operator: String,
    },
    /// Issue another certificate from the fleet CA in --dir.
    ///
    /// Examples:
    ///   printwatch certs issue collector branch2 --dir /etc/printwatch/pki
    ///   printwatch certs issue operator alice --dir ./pki
    #[command(verbatim_doc_comment)]
    Issue {
        /// collector, operator or coordinator.
        role: printwatch_pki::Role,
        /// The site (collector) or person (operator); ignored for the coordinator.
        name: String,
        /// The directory holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR", default_value = "pki")]
        dir: std::path::PathBuf,
        /// For the coordinator: host names and addresses it is reached at.
        #[arg(long = "coordinator-name", value_name = "HOST")]
        coordinator_names: Vec<String>,
    },
}

/// Makes what the subcommand asks for and says where it went.
pub fn run(cmd: CertsCommand) -> Result<()> {
    use printwatch_pki as certs;
    let issued = match cmd {
        CertsCommand::Init {
            dir,
            coordinator_names,
            collectors,
            operator,
        } => {
            let issued = certs::init(&dir, &coordinator_names, &collectors, &operator)?;
            emit(&format!(
                "fleet CA: {} (its key: {})",
                dir.join("ca.pem").display(),
                dir.join("ca.key").display()
            ));
            issued
        }
        CertsCommand::Issue {
            role,
            name,
            dir,
            coordinator_names,
        } => vec![certs::issue(&dir, role, &name, &coordinator_names)?],
    };
    for i in issued {
        emit(&format!(
            "issued: {} (key: {})",
            i.cert.display(),
            i.key.display()
        ));
    }
    Ok(())
}
