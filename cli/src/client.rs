//! The operator's side of the fleet service: connecting with an operator certificate, and
//! the tables `printwatch` prints.

use std::fmt::Write;
use std::path::PathBuf;

use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Where the coordinator is and which certificate to show it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The coordinator's address.
    #[arg(
        long,
        env = "PRINTWATCH_COORDINATOR",
        default_value = "https://localhost:7443",
        global = true
    )]
    pub coordinator: String,
    /// The name in the coordinator's certificate.
    #[arg(
        long,
        env = "PRINTWATCH_SERVER_NAME",
        default_value = "localhost",
        global = true
    )]
    pub server_name: String,
    /// The directory made by `printwatch certs init` (ca.pem, operator-NAME.pem/.key).
    #[arg(long, env = "PRINTWATCH_PKI", default_value = "pki", global = true)]
    pub pki: PathBuf,
    /// Whose operator certificate to use.
    #[arg(
        long,
        env = "PRINTWATCH_OPERATOR",
        default_value = "admin",
        global = true
    )]
    pub operator: String,
}

/// Why the fleet could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate file.
    #[error("reading {0}: {1} (make certificates with `printwatch certs init`, or give --pki)")]
    File(PathBuf, std::io::Error),
    /// Connecting.
    #[error("connecting to the coordinator at {0}: {1}")]
    Connect(String, String),
    /// The coordinator's answer.
    #[error("the coordinator: {}", .0.message())]
    Status(#[from] tonic::Status),
}

/// Connects to the fleet service as an operator.
pub async fn connect(a: &ConnectArgs) -> Result<FleetClient<Channel>, ClientError> {
    let read = |name: String| {
        let path = a.pki.join(name);
        std::fs::read_to_string(&path).map_err(|e| ClientError::File(path, e))
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem".into())?))
        .identity(Identity::from_pem(
            read(format!("operator-{}.pem", a.operator))?,
            read(format!("operator-{}.key", a.operator))?,
        ))
        .domain_name(a.server_name.clone());
    let fail =
        |e: &dyn std::fmt::Display| ClientError::Connect(a.coordinator.clone(), e.to_string());
    let channel = Channel::from_shared(a.coordinator.clone())
        .map_err(|e| fail(&e))?
        .tls_config(tls)
        .map_err(|e| fail(&e))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| {
            fail(&std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string()))
        })?;
    Ok(FleetClient::new(channel))
}

fn or(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn lowest(r: &Option<p::Reading>) -> String {
    r.as_ref()
        .and_then(|r| {
            r.supplies
                .iter()
                .filter_map(|s| s.percent.map(|pc| (pc, s.description.clone())))
                .min()
        })
        .map_or("-".into(), |(pc, d)| {
            format!("{} {pc}%", d.chars().take(18).collect::<String>())
        })
}

/// The device list as a table.
pub fn devices_table(devices: &[p::Device]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<10} {:<15} {:<26} {:<16} {:<22} LOWEST SUPPLY",
        "ID", "SITE", "VENDOR", "MODEL", "SERIAL", "ADDRESS"
    );
    for d in devices {
        let id = d.identity.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:<15} {:<26} {:<16} {:<22} {}",
            d.id,
            d.site,
            or(&id.vendor),
            or(&id.model).chars().take(26).collect::<String>(),
            or(&id.serial),
            d.addresses.last().cloned().unwrap_or_default(),
            lowest(&d.latest)
        );
        if !d.conflicts.is_empty() {
            let sites: Vec<&str> = d.conflicts.iter().map(|o| o.site.as_str()).collect();
            let _ = writeln!(
                out,
                "{:<28} ^ also read by site {}: a conflict, see `printwatch device {}`",
                "",
                sites.join(", "),
                d.id
            );
        }
    }
    out
}

/// The supply list as a table, lowest first.
pub fn supplies_table(rows: &[p::SupplyRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:<10} {:<24} {:<30} {:>6}  {:<12} {:<14} {:<16} STATE",
        "DEVICE", "SITE", "MODEL", "SUPPLY", "LEVEL", "PART", "REORDER AT", "DAYS LEFT"
    );
    for r in rows {
        let s = r.supply.clone().unwrap_or_default();
        let model = r.identity.as_ref().and_then(|i| i.model.clone());
        let level = s
            .percent
            .map_or(format!("({})", s.level), |pc| format!("{pc}%"));
        let state = p::SupplyState::try_from(s.state).map_or("?".to_string(), |st| {
            st.as_str_name()
                .trim_start_matches("SUPPLY_STATE_")
                .to_lowercase()
        });
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:<24} {:<30} {:>6}  {:<12} {:<14} {:<16} {}",
            r.device_id,
            r.site,
            or(&model).chars().take(24).collect::<String>(),
            s.description.chars().take(30).collect::<String>(),
            level,
            or(&s.part_number),
            format!("{}%", r.reorder_percent),
            r.forecast,
            state
        );
    }
    out
}

/// A device's history: one line per reading, with each supply's level.
pub fn history_table(readings: &[p::Reading]) -> String {
    let mut out = String::new();
    for r in readings {
        let levels: Vec<String> = r
            .supplies
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.description,
                    s.percent
                        .map_or(format!("({})", s.level), |pc| format!("{pc}%"))
                )
            })
            .collect();
        let total = r
            .meters
            .iter()
            .find(|m| m.name == "total")
            .map_or("-".into(), |m| m.value.to_string());
        let _ = writeln!(out, "{}  pages {total}  {}", r.polled_at, levels.join(", "));
    }
    out
}
