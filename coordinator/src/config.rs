//! The coordinator's configuration: defaults, then a TOML file, then `PRINTWATCH_*`
//! environment variables (`PRINTWATCH_TLS__CA` sets `tls.ca`), through figment. A bad value
//! or an unknown key is an error that names the key and where it came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The TLS files: the fleet CA and the coordinator's own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The fleet CA certificate (PEM).
    pub ca: PathBuf,
    /// The coordinator's certificate (PEM).
    pub cert: PathBuf,
    /// The coordinator's private key (PEM).
    pub key: PathBuf,
}

/// Everything the coordinator can be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoordinatorConfig {
    /// Where collectors and operators connect (TCP).
    pub listen: SocketAddr,
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// The database's page cache, in MiB.
    pub cache_mb: u64,
    /// How long history is kept, in days.
    pub history_days: u32,
    /// The largest message accepted from a client, in KiB.
    pub max_message_kb: usize,
    /// The most connections open at once (collectors, operators, and whoever else
    /// connects); fewer if the process may open fewer files. Beyond it a connection is
    /// closed at once.
    pub max_connections: u32,
    /// The most printers one site may have; readings of more are refused (counted, and
    /// alerted as `over_quota`).
    pub max_devices_per_site: u32,
    /// Certificates.
    pub tls: TlsFiles,
    /// Reorder points and alert thresholds for the whole fleet.
    #[serde(default)]
    pub alerts: crate::policy::alert_rules::AlertRules,
    /// Per site: its mail contacts and its own reorder points.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteConfig>,
    /// The SMTP server.
    #[serde(default)]
    pub mail: crate::mail::MailConfig,
    /// The dealer's endpoint.
    #[serde(default)]
    pub dealer: crate::dealer::DealerConfig,
    /// When meter reads for billing are due.
    #[serde(default)]
    pub meter_reads: crate::schedule::MeterReadSchedule,
    /// Where metrics go: a Prometheus scrape endpoint, an OTLP collector (both off unless set).
    #[serde(default)]
    pub metrics: printwatch_telemetry::MetricsConfig,
    /// How log lines look: `text` for people, `json` for a log shipper.
    #[serde(default)]
    pub log_format: printwatch_telemetry::logs::LogFormat,
    /// The dashboard.
    #[serde(default)]
    pub web: crate::web::WebConfig,
}

/// One site's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    /// Who gets this site's alert mails and digest.
    pub contacts: Vec<String>,
    /// The site's reorder point for every supply kind it does not name.
    pub reorder_percent: Option<u8>,
    /// The site's reorder points by supply kind.
    pub reorder_by_kind: BTreeMap<String, u8>,
}

impl CoordinatorConfig {
    /// A configuration for a fleet whose certificates `printwatch certs init` made in
    /// `pki` (ca.pem, coordinator.pem and .key), with its database in `data_dir`,
    /// listening on `listen`; everything else as the defaults. What the demo and the tests
    /// run.
    pub fn with_pki(pki: &Path, data_dir: PathBuf, listen: SocketAddr) -> CoordinatorConfig {
        let files = printwatch_pki::paths(pki, printwatch_pki::Role::Coordinator, "coordinator");
        CoordinatorConfig {
            listen,
            data_dir,
            tls: TlsFiles {
                ca: pki.join("ca.pem"),
                cert: files.cert,
                key: files.key,
            },
            ..CoordinatorConfig::default()
        }
    }

    /// The alert policy this configuration sets.
    pub fn policy(&self) -> crate::policy::Policy {
        crate::policy::Policy {
            rules: self.alerts.clone(),
            sites: self
                .sites
                .iter()
                .map(|(name, s)| {
                    (
                        name.clone(),
                        crate::policy::alert_rules::SiteReorder {
                            reorder_percent: s.reorder_percent,
                            reorder_by_kind: s.reorder_by_kind.clone(),
                        },
                    )
                })
                .collect(),
            mail_sites: if self.mail.enabled {
                self.sites
                    .iter()
                    .filter(|(_, s)| !s.contacts.is_empty())
                    .map(|(n, _)| n.clone())
                    .collect()
            } else {
                Default::default()
            },
            uploads: self.dealer.enabled,
            device_quota: Some(self.max_devices_per_site as usize),
        }
    }

    /// Each site's contacts.
    pub fn contacts(&self) -> BTreeMap<String, Vec<String>> {
        self.sites
            .iter()
            .map(|(n, s)| (n.clone(), s.contacts.clone()))
            .collect()
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7443)),
            data_dir: PathBuf::from("/var/lib/printwatch"),
            cache_mb: 64,
            history_days: 400,
            max_message_kb: 1024,
            max_devices_per_site: 20_000,
            max_connections: 4_096,
            tls: TlsFiles {
                ca: PathBuf::from("/etc/printwatch/pki/ca.pem"),
                cert: PathBuf::from("/etc/printwatch/pki/coordinator.pem"),
                key: PathBuf::from("/etc/printwatch/pki/coordinator.key"),
            },
            alerts: Default::default(),
            sites: BTreeMap::new(),
            mail: Default::default(),
            dealer: Default::default(),
            meter_reads: Default::default(),
            metrics: Default::default(),
            log_format: Default::default(),
            web: Default::default(),
        }
    }
}

/// Why the configuration cannot be used.
pub use agent_core::settings::SettingsError as ConfigError;

/// Loads the configuration: defaults, `file` (if given), then the environment; values out
/// of range are refused with the key named.
pub fn load(file: Option<&Path>) -> Result<CoordinatorConfig, ConfigError> {
    let c: CoordinatorConfig = agent_core::settings::load(CoordinatorConfig::default(), file)?;
    c.check()?;
    Ok(c)
}

impl CoordinatorConfig {
    /// Values of the right type that cannot be used: `history_days = 0` would prune
    /// everything at start, a reorder point over 100 % would alert on full toner.
    pub fn check(&self) -> Result<(), ConfigError> {
        let at_least = |key: &str, v: u64, min: u64| {
            if v < min {
                Err(ConfigError::out_of_range(
                    key,
                    v,
                    &format!("must be at least {min}"),
                ))
            } else {
                Ok(())
            }
        };
        at_least("history_days", u64::from(self.history_days), 1)?;
        at_least("cache_mb", self.cache_mb, 1)?;
        at_least("max_message_kb", self.max_message_kb as u64, 64)?;
        if self.max_message_kb > 64 * 1024 {
            return Err(ConfigError::out_of_range(
                "max_message_kb",
                self.max_message_kb,
                "must be at most 65536 (64 MiB)",
            ));
        }
        at_least(
            "max_devices_per_site",
            u64::from(self.max_devices_per_site),
            1,
        )?;
        at_least("alerts.check_seconds", self.alerts.check_seconds, 1)?;
        if let Err(why) = self.web.check() {
            return Err(ConfigError::out_of_range(
                "web.listen",
                self.web.listen.map(|a| a.to_string()).unwrap_or_default(),
                &why,
            ));
        }
        let percent = |key: String, v: u8| {
            if v > 100 {
                Err(ConfigError::out_of_range(&key, v, "a percentage: 0 to 100"))
            } else {
                Ok(())
            }
        };
        percent("alerts.reorder_percent".into(), self.alerts.reorder_percent)?;
        percent("alerts.hysteresis".into(), self.alerts.hysteresis)?;
        for (kind, v) in &self.alerts.reorder_by_kind {
            percent(format!("alerts.reorder_by_kind.{kind}"), *v)?;
        }
        for (site, c) in &self.sites {
            if let Some(v) = c.reorder_percent {
                percent(format!("sites.{site}.reorder_percent"), v)?;
            }
            for (kind, v) in &c.reorder_by_kind {
                percent(format!("sites.{site}.reorder_by_kind.{kind}"), *v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tag: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "printwatch-config-{tag}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn layers_and_clear_errors() {
        let good = file("good", "listen = \"127.0.0.1:9000\"\ncache_mb = 8\n[tls]\nca = \"a.pem\"\ncert = \"b.pem\"\nkey = \"c.key\"\n");
        let c = load(Some(&good)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.cache_mb, 8);
        assert_eq!(
            c.history_days, 400,
            "defaults fill what the file leaves out"
        );
        assert_eq!(c.tls.ca, PathBuf::from("a.pem"));

        let bad = file("bad", "cache_mb = \"lots\"\n");
        let e = load(Some(&bad)).unwrap_err().to_string();
        assert!(e.contains("cache_mb"), "{e}");
        let typo = file("typo", "lisen = \"127.0.0.1:1\"\n");
        let e = load(Some(&typo)).unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
        let e = load(Some(Path::new("/nonexistent/pw.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not found"), "{e}");
        // Out of range: refused with the key named.
        let cases = [
            (
                "zero",
                "history_days = 0\n",
                "history_days = 0: must be at least 1",
            ),
            (
                "pct",
                "[alerts]\nreorder_percent = 150\n",
                "alerts.reorder_percent = 150",
            ),
            ("msg", "max_message_kb = 0\n", "max_message_kb = 0"),
            (
                "site",
                "[sites.hq]\nreorder_percent = 101\n",
                "sites.hq.reorder_percent = 101",
            ),
        ];
        for (tag, text, says) in cases {
            let f = file(tag, text);
            let e = load(Some(&f)).unwrap_err().to_string();
            let _ = std::fs::remove_file(f);
            assert!(e.contains(says), "{tag}: {e}");
        }
        // A password in the wrong place is not printed back.
        let secret = file("secret", "[mail]\nport = \"s3cr3t-passw0rd\"\n");
        let e = load(Some(&secret)).unwrap_err().to_string();
        assert!(e.contains("mail.port") && !e.contains("s3cr3t"), "{e}");
        for p in [good, bad, typo, secret] {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod example {
    /// deploy/coordinator.toml documents every key with its default: it must load, and
    /// give exactly the defaults.
    #[test]
    fn the_shipped_example_is_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/coordinator.toml");
        assert_eq!(
            super::load(Some(&path)).unwrap(),
            super::CoordinatorConfig::default()
        );
    }
}
