//! The dealer uplink: what leaves the site, and the actor that delivers it.
//!
//! Only what DESIGN.md allows leaves: serial, model, meter names and values, supply
//! descriptions, levels, part numbers, forecasts and times. The payload is built here from
//! an allow-list, field by field, never by serialising a reading, so a field added to the
//! reading later cannot leak by accident. A printer without a serial is not sent at all:
//! any other key for it would carry its address.
//!
//! Batches wait in the store's durable outbox under an idempotency key; the sender posts
//! them oldest first over HTTPS (TLS 1.2 or newer, through a proxy where one is set),
//! deletes each only when the endpoint accepts it, and backs off while the endpoint is
//! down. A restart resumes from the outbox.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use agent_core::model::{Meter, Reading};
use kameo::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::forecast::Forecast;
use crate::store::{DeviceRecord, Store};

/// The dealer endpoint's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DealerConfig {
    /// The one switch: false sends nothing at all, and queues nothing.
    pub enabled: bool,
    /// Where batches are POSTed (https only).
    pub url: String,
    /// An HTTP proxy (`http://proxy:3128`); empty: the `HTTPS_PROXY` environment variable,
    /// if any.
    pub proxy: String,
    /// A CA certificate (PEM) to trust instead of the system's, for a private endpoint.
    pub ca_file: Option<PathBuf>,
    /// Scheduled batches a day (each holds every printer); a supply crossing its reorder
    /// point sends one at once as well.
    pub batches_per_day: u32,
    /// The longest wait between retries while the endpoint is down, in seconds.
    pub max_backoff_seconds: u64,
}

impl Default for DealerConfig {
    fn default() -> Self {
        DealerConfig {
            enabled: false,
            url: String::new(),
            proxy: String::new(),
            ca_file: None,
            batches_per_day: 6,
            max_backoff_seconds: 600,
        }
    }
}

/// Why the uplink cannot start or a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DealerError {
    /// A setting that cannot work.
    #[error("dealer.{0}")]
    Config(String),
    /// The HTTP client failed.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The endpoint answered with an error status.
    #[error("the dealer endpoint answered {0}")]
    Status(reqwest::StatusCode),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn meter_json(m: &Meter, at: &str) -> Value {
    json!({ "name": m.name, "value": m.value, "read_at": at })
}

/// One printer as the dealer sees it, or `Value::Null` when it has no serial.
pub fn device_entry(
    device: &DeviceRecord,
    latest: Option<&Reading>,
    meters: Option<&(String, Vec<Meter>)>,
    forecasts: &BTreeMap<String, Forecast>,
) -> Value {
    let Some(serial) = device.identity.serial.as_deref().filter(|s| !s.is_empty()) else {
        return Value::Null;
    };
    let supplies: Vec<Value> = latest
        .map(|r| {
            r.supplies
                .iter()
                .map(|s| {
                    let at = crate::alerts::supply_position(s);
                    let (days_left, pages_left) = match forecasts.get(&at) {
                        Some(Forecast::Estimate {
                            days_left,
                            pages_left,
                            ..
                        }) => (json!((days_left * 10.0).round() / 10.0), json!(pages_left)),
                        _ => (Value::Null, Value::Null),
                    };
                    json!({
                        "description": s.description,
                        "kind": s.kind,
                        "color": s.color,
                        "part_number": s.part_number,
                        "level": s.level,
                        "max_capacity": s.max_capacity,
                        "percent": s.percent,
                        "days_left": days_left,
                        "pages_left": pages_left,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "serial": serial,
        "model": device.identity.model,
        "read_at": latest.map(|r| r.polled_at.clone()),
        "meters": meters.map(|(at, ms)| ms.iter().map(|m| meter_json(m, at)).collect::<Vec<_>>()).unwrap_or_default(),
        "supplies": supplies,
    })
}

/// A batch's body: its key, why it was sent, when, and the printers (those without a
/// serial left out).
pub fn batch_body(key: &str, reason: &str, printers: Vec<Value>) -> Value {
    let printers: Vec<Value> = printers.into_iter().filter(|p| !p.is_null()).collect();
    json!({
        "batch": key,
        "reason": reason,
        "created_at": agent_core::poll::now_rfc3339(),
        "agent": concat!("printwatch/", env!("CARGO_PKG_VERSION")),
        "printers": printers,
    })
}

/// Builds the HTTP client: TLS 1.2 or newer, https only, the proxy and CA configured.
pub fn client(c: &DealerConfig) -> Result<reqwest::Client, DealerError> {
    if !c.url.starts_with("https://") {
        return Err(DealerError::Config(format!(
            "url: {:?} is not an https:// URL",
            c.url
        )));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .https_only(true)
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("printwatch/", env!("CARGO_PKG_VERSION")));
    if !c.proxy.is_empty() {
        b = b.proxy(
            reqwest::Proxy::all(&c.proxy)
                .map_err(|e| DealerError::Config(format!("proxy: {:?}: {e}", c.proxy)))?,
        );
    }
    if let Some(path) = &c.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| DealerError::Config(format!("ca_file: {}: {e}", path.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| DealerError::Config(format!("ca_file: {}: {e}", path.display())))?;
        b = b.tls_certs_only([cert]);
    }
    Ok(b.build()?)
}

/// The sender: a kameo actor that owns the HTTP client and the retry state.
pub struct DealerUplink {
    store: Store,
    client: reqwest::Client,
    url: String,
    backoff: Duration,
    max_backoff: Duration,
    retry_pending: bool,
}

/// What the sender starts with.
pub struct DealerArgs {
    /// Where batches wait.
    pub store: Store,
    /// The endpoint's settings.
    pub config: DealerConfig,
    /// The client from [`client`].
    pub client: reqwest::Client,
}

impl Actor for DealerUplink {
    type Args = DealerArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: DealerArgs, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        // Whatever a previous run left in the outbox goes first.
        let _ = me.tell(Deliver).try_send();
        Ok(DealerUplink {
            store: a.store,
            client: a.client,
            url: a.config.url,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(a.config.max_backoff_seconds.max(1)),
            retry_pending: false,
        })
    }
}

/// Send what waits in the outbox.
#[derive(Debug, Clone, Copy)]
pub struct Deliver;

impl DealerUplink {
    async fn post(&self, key: &str, body: &Value) -> Result<(), DealerError> {
        let resp = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        // 409: the endpoint has this key already, which is delivery too.
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(DealerError::Status(status))
        }
    }
}

impl Message<Deliver> for DealerUplink {
    type Reply = ();
    async fn handle(&mut self, _: Deliver, ctx: &mut Context<Self, ()>) {
        self.retry_pending = false;
        // Nothing is sent that is not yet on disk: a crash cannot take back a sent batch.
        let batches = match self
            .store
            .sync()
            .await
            .and_then(|()| self.store.pending_batches())
        {
            Ok(b) => b,
            Err(e) => {
                eprintln!("printwatch-coordinator: dealer uplink: {e}");
                return;
            }
        };
        for b in batches {
            match self.post(&b.key, &b.body).await {
                Ok(()) => {
                    if let Err(e) = self.store.batch_delivered(&b.key).await {
                        eprintln!("printwatch-coordinator: dealer uplink: {e}");
                        return;
                    }
                    self.backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    eprintln!(
                        "printwatch-coordinator: dealer uplink: batch {}: {e}; retrying in {:?}",
                        b.key, self.backoff
                    );
                    if !self.retry_pending {
                        self.retry_pending = true;
                        let (me, wait) = (ctx.actor_ref().clone(), self.backoff);
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            let _ = me.tell(Deliver).await;
                        });
                    }
                    self.backoff = (self.backoff * 2).min(self.max_backoff);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_core::model::{Identity, Supply, SupplyClass, SupplyState};

    #[test]
    fn only_allowed_fields_leave_and_printers_without_serial_stay() {
        let identity = Identity {
            address: "10.1.2.3".into(),
            sys_object_id: Some("1.3.6.1.4.1.11.2.3.9.1".into()),
            sys_descr: Some("HP LaserJet at desk-42.corp.example".into()),
            vendor: Some("HP".into()),
            model: Some("M404".into()),
            serial: Some("PHB123".into()),
            firmware: Some("2409".into()),
            mac: Some("aa:bb:cc:dd:ee:ff".into()),
        };
        let device = DeviceRecord {
            id: "sn:PHB123".into(),
            site: "hq-building-7".into(),
            addresses: vec!["10.1.2.3".into()],
            identity: identity.clone(),
            first_seen: "t".into(),
            last_seen: "t".into(),
            last_meter_read: None,
        };
        let reading = Reading {
            identity,
            supplies: vec![Supply {
                device_index: 1,
                index: 1,
                description: "Black Cartridge HP 59A".into(),
                part_number: Some("CF259A".into()),
                kind: "toner".into(),
                class: SupplyClass::Consumed,
                color: Some("black".into()),
                unit: None,
                level: 40,
                max_capacity: 100,
                percent: Some(40),
                percent_source: None,
                state: SupplyState::Ok,
            }],
            polled_at: "2026-11-21T10:00:00Z".into(),
            ..Reading::default()
        };
        let e = device_entry(&device, Some(&reading), None, &BTreeMap::new());
        let text = batch_body("pw-1", "scheduled", vec![e.clone()]).to_string();
        for secret in [
            "10.1.2.3",
            "desk-42",
            "aa:bb",
            "hq-building-7",
            "2409",
            "1.3.6.1",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("PHB123") && text.contains("CF259A"));
        let mut no_serial = device.clone();
        no_serial.identity.serial = None;
        let body = batch_body(
            "pw-2",
            "scheduled",
            vec![device_entry(
                &no_serial,
                Some(&reading),
                None,
                &BTreeMap::new(),
            )],
        );
        assert_eq!(body["printers"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn a_plain_http_url_is_refused() {
        let c = DealerConfig {
            enabled: true,
            url: "http://dealer.example/api".into(),
            ..DealerConfig::default()
        };
        let e = client(&c).unwrap_err().to_string();
        assert!(e.contains("dealer.url"), "{e}");
    }
}
