//! The collector's configuration: defaults, then a TOML file, then `PRINTWATCH_*`
//! variables (`PRINTWATCH_COORDINATOR__ENDPOINT` sets `coordinator.endpoint`). A bad value
//! or an unknown key is an error naming the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How to reach the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorLink {
    /// `https://host:port`.
    pub endpoint: String,
    /// The name in the coordinator's certificate.
    pub server_name: String,
}

/// The certificate files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The fleet CA.
    pub ca: PathBuf,
    /// This collector's certificate (its CN is the site).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// SNMP settings for polling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snmp {
    /// Community string.
    pub community: String,
    /// "1" or "2c".
    pub version: String,
    /// First timeout, in milliseconds (doubled per retry).
    pub timeout_ms: u64,
    /// Retries.
    pub retries: u32,
    /// Packets per second, at most, for all SNMP traffic of this collector.
    pub rate: u32,
    /// The credentials to try, in order: `[[snmp.credentials]]` tables, each a v3 `user`
    /// or a `community`. Empty: the one `community` above.
    #[serde(default)]
    pub credentials: Vec<crate::credentials::CredentialConfig>,
}

/// IPP settings for `ipp://` and `ipps://` targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipp {
    /// The whole exchange (connect, TLS, request, answer), in milliseconds.
    pub timeout_ms: u64,
    /// A PEM file of CAs an `ipps://` printer's certificate must chain to; empty: trust
    /// each printer's first certificate and pin it.
    pub ca_file: String,
    /// Ask a printer given by address over IPP when its SNMP is silent or says nothing
    /// of its supplies, and keep reading it that way if it answers.
    pub fallback: bool,
    /// The port that fallback asks (IPP's own, 631, on every printer we know of).
    pub port: u16,
}

/// Cadences, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intervals {
    /// Status and supply levels.
    pub status_seconds: u64,
    /// Vendor page meters.
    pub meters_seconds: u64,
    /// A full re-read of each printer.
    pub identity_seconds: u64,
}

/// Sweeps the collector runs by itself, on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// What to sweep (CIDR blocks, spans, addresses, names); empty turns scheduled sweeps off.
    pub ranges: Vec<String>,
    /// What to leave alone.
    pub exclude: Vec<String>,
    /// How often, in seconds; the first sweep starts with the collector.
    pub every_seconds: u64,
    /// Probes per second (0: the default rate).
    pub rate: u32,
    /// SNMP port to probe.
    pub port: u16,
    /// Then ask the addresses that gave no SNMP answer over IPP.
    pub ipp: bool,
    /// Starting no IPP connection after this many seconds.
    pub ipp_budget_seconds: u64,
}

/// Everything the collector can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// The site this collector serves (must be the CN of its certificate).
    pub site: String,
    /// Where the outbox lives.
    pub data_dir: PathBuf,
    /// Printers to poll: addresses or host names, with an optional :port.
    pub targets: Vec<String>,
    /// At most this many polls at once.
    pub pollers: usize,
    /// The coordinator.
    pub coordinator: CoordinatorLink,
    /// Certificates.
    pub tls: TlsFiles,
    /// SNMP.
    pub snmp: Snmp,
    /// IPP.
    pub ipp: Ipp,
    /// Cadences.
    pub intervals: Intervals,
    /// Scheduled sweeps.
    pub discovery: Discovery,
    /// Where metrics go: a Prometheus scrape endpoint, an OTLP collector (both off unless set).
    pub metrics: printwatch_telemetry::MetricsConfig,
    /// How log lines look: `text` for people, `json` for a log shipper.
    pub log_format: printwatch_telemetry::logs::LogFormat,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            site: "site1".into(),
            data_dir: PathBuf::from("/var/lib/printwatch-collector"),
            targets: Vec::new(),
            pollers: 64,
            coordinator: CoordinatorLink {
                endpoint: "https://localhost:7443".into(),
                server_name: "localhost".into(),
            },
            tls: TlsFiles {
                ca: PathBuf::from("/etc/printwatch/pki/ca.pem"),
                cert: PathBuf::from("/etc/printwatch/pki/collector-site1.pem"),
                key: PathBuf::from("/etc/printwatch/pki/collector-site1.key"),
            },
            snmp: Snmp {
                community: "public".into(),
                version: "2c".into(),
                timeout_ms: 1000,
                retries: 2,
                rate: 500,
                credentials: Vec::new(),
            },
            ipp: Ipp {
                timeout_ms: 5000,
                ca_file: String::new(),
                fallback: true,
                port: 631,
            },
            intervals: Intervals {
                status_seconds: 300,
                meters_seconds: 86_400,
                identity_seconds: 7 * 86_400,
            },
            discovery: Discovery {
                ranges: Vec::new(),
                exclude: Vec::new(),
                every_seconds: 86_400,
                rate: 0,
                port: 161,
                ipp: false,
                ipp_budget_seconds: 60,
            },
            metrics: printwatch_telemetry::MetricsConfig::default(),
            log_format: Default::default(),
        }
    }
}

/// Why the configuration cannot be used.
pub use agent_core::settings::SettingsError as ConfigError;

/// Loads the configuration: defaults, `file` (if given), then the environment.
pub fn load(file: Option<&Path>) -> Result<CollectorConfig, ConfigError> {
    let c: CollectorConfig = agent_core::settings::load(CollectorConfig::default(), file)?;
    c.check()?;
    Ok(c)
}

impl CollectorConfig {
    /// Values of the right type that cannot be used, refused with the key named.
    pub fn check(&self) -> Result<(), ConfigError> {
        let within = |key: &str, v: u64, min: u64, max: u64| {
            if v < min || v > max {
                Err(ConfigError::out_of_range(
                    key,
                    v,
                    &format!("must be from {min} to {max}"),
                ))
            } else {
                Ok(())
            }
        };
        within("snmp.timeout_ms", self.snmp.timeout_ms, 10, 60_000)?;
        within("snmp.retries", u64::from(self.snmp.retries), 0, 10)?;
        within("snmp.rate", u64::from(self.snmp.rate), 1, 1_000_000)?;
        within("pollers", self.pollers as u64, 1, 4_096)?;
        within("ipp.timeout_ms", self.ipp.timeout_ms, 100, 120_000)?;
        within(
            "intervals.status_seconds",
            self.intervals.status_seconds,
            1,
            86_400 * 7,
        )?;
        within(
            "intervals.meters_seconds",
            self.intervals.meters_seconds,
            1,
            86_400 * 31,
        )?;
        within(
            "intervals.identity_seconds",
            self.intervals.identity_seconds,
            1,
            86_400 * 31,
        )?;
        within(
            "discovery.rate",
            u64::from(self.discovery.rate),
            0,
            1_000_000,
        )?;
        for t in &self.targets {
            crate::target::check(t)
                .map_err(|why| ConfigError::out_of_range("targets", format!("{t:?}"), &why))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_the_defaults_and_errors_name_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/collector.toml");
        assert_eq!(load(Some(&path)).unwrap(), CollectorConfig::default());
        let bad = std::env::temp_dir().join(format!(
            "printwatch-collector-bad-{}.toml",
            std::process::id()
        ));
        std::fs::write(&bad, "[snmp]\nretries = -1\n").unwrap();
        let e = load(Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("retries"), "{e}");
        std::fs::write(&bad, "[intervals]\nstatus_minutes = 5\n").unwrap();
        let e = load(Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("status_minutes"), "{e}");
        for (text, says) in [
            ("[snmp]\ntimeout_ms = 0\n", "snmp.timeout_ms = 0"),
            (
                "[snmp]\nretries = 4294967295\n",
                "snmp.retries = 4294967295",
            ),
            ("targets = [\"300.1.1.1\"]\n", "targets = \"300.1.1.1\""),
            ("[snmp]\ncommunity = 7\n", "snmp.community"),
            ("[[snmp.credentials]]\nusr = \"x\"\n", "usr"),
        ] {
            std::fs::write(&bad, text).unwrap();
            let e = load(Some(&bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        let _ = std::fs::remove_file(bad);
    }

    /// A list of a v3 user and a community, as the example shows it, loads in order.
    #[test]
    fn credentials_load_in_order() {
        let dir = std::env::temp_dir().join(format!("printwatch-cred-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("collector.toml");
        std::fs::write(
            &conf,
            "[[snmp.credentials]]\nuser = \"printwatch\"\nauth = \"SHA256\"\n\
             auth_pass_file = \"auth.pass\"\n\
             [[snmp.credentials]]\ncommunity = \"public\"\nversion = \"1\"\n",
        )
        .unwrap();
        let mut c = load(Some(&conf)).unwrap();
        assert_eq!(c.snmp.credentials.len(), 2);
        let pass = dir.join("auth.pass");
        std::fs::write(&pass, "a-long-passphrase\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        c.snmp.credentials[0].auth_pass_file = Some(pass);
        let list =
            crate::credentials::list(&c.snmp.credentials, &c.snmp.community, &c.snmp.version)
                .unwrap();
        let shown: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        assert_eq!(shown, ["v3 user printwatch (SHA256)", "v1 community"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
