//! The query side: a kameo actor that answers the fleet service's questions from the store,
//! in the shapes the wire wants. Reads do not go through the ingest path, so a long listing
//! never holds up a collector's acknowledgement.

use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::store::{DeviceRecord, Store};

/// Why a question has no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// No such device.
    #[error("no device {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error("the store: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> QueryError {
    QueryError::Store(e.to_string())
}

/// The query actor's state: a handle on the store.
pub struct Queries {
    store: Store,
}

impl Actor for Queries {
    type Args = Store;
    type Error = kameo::error::Infallible;

    async fn on_start(store: Store, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Queries { store })
    }
}

impl Queries {
    fn device_message(&self, d: DeviceRecord) -> Result<p::Device, QueryError> {
        let latest = self.store.latest(&d.id).map_err(store_err)?.map(Into::into);
        Ok(p::Device {
            id: d.id,
            site: d.site,
            addresses: d.addresses,
            identity: Some(d.identity.into()),
            latest,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
        })
    }

    fn record(&self, id: &str) -> Result<DeviceRecord, QueryError> {
        self.store
            .device(id)
            .map_err(store_err)?
            .ok_or_else(|| QueryError::NotFound(id.to_string()))
    }
}

/// Every device (of one site, when given).
pub struct ListDevices(pub String);

impl Message<ListDevices> for Queries {
    type Reply = Result<Vec<p::Device>, QueryError>;
    async fn handle(&mut self, m: ListDevices, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.store
            .devices()
            .map_err(store_err)?
            .into_iter()
            .filter(|d| m.0.is_empty() || d.site == m.0)
            .map(|d| self.device_message(d))
            .collect()
    }
}

/// One device, with its latest reading.
pub struct GetDevice(pub String);

impl Message<GetDevice> for Queries {
    type Reply = Result<p::Device, QueryError>;
    async fn handle(&mut self, m: GetDevice, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let d = self.record(&m.0)?;
        self.device_message(d)
    }
}

/// One device's record (its site and addresses), for commands about it.
pub struct GetRecord(pub String);

impl Message<GetRecord> for Queries {
    type Reply = Result<DeviceRecord, QueryError>;
    async fn handle(&mut self, m: GetRecord, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.record(&m.0)
    }
}

/// Supplies across the fleet, lowest first.
pub struct ListSupplies {
    /// Only those at or under their reorder point, or empty.
    pub low_only: bool,
    /// Only this site's (empty: all).
    pub site: String,
}

impl Message<ListSupplies> for Queries {
    type Reply = Result<Vec<p::SupplyRow>, QueryError>;
    async fn handle(&mut self, q: ListSupplies, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        use agent_core::model::SupplyState;
        let mut supplies = Vec::new();
        for d in self.store.devices().map_err(store_err)? {
            if !q.site.is_empty() && d.site != q.site {
                continue;
            }
            let Some(r) = self.store.latest(&d.id).map_err(store_err)? else {
                continue;
            };
            for s in r.supplies {
                if q.low_only && !matches!(s.state, SupplyState::Low | SupplyState::Empty) {
                    continue;
                }
                supplies.push(p::SupplyRow {
                    device_id: d.id.clone(),
                    site: d.site.clone(),
                    identity: Some(d.identity.clone().into()),
                    supply: Some(s.into()),
                });
            }
        }
        supplies.sort_by_key(|row| row.supply.as_ref().and_then(|s| s.percent).unwrap_or(101));
        Ok(supplies)
    }
}

/// What each printer reports now: its prtAlertTable rows and hrPrinterDetectedErrorState
/// bits from the latest reading. (Alerts with a life of their own, opened and closed with
/// hysteresis, come from the alert engine.)
pub struct ListAlerts;

impl Message<ListAlerts> for Queries {
    type Reply = Result<Vec<p::FleetAlert>, QueryError>;
    async fn handle(&mut self, _: ListAlerts, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let mut alerts = Vec::new();
        for d in self.store.devices().map_err(store_err)? {
            let Some(r) = self.store.latest(&d.id).map_err(store_err)? else {
                continue;
            };
            let mut add = |kind: String, detail: String| {
                alerts.push(p::FleetAlert {
                    id: format!("{}/{kind}", d.id),
                    device_id: d.id.clone(),
                    site: d.site.clone(),
                    kind,
                    detail,
                    opened_at: r.polled_at.clone(),
                    closed_at: None,
                })
            };
            for a in &r.status.alerts {
                add(
                    a.code.clone(),
                    format!("{} {}: {}", a.severity, a.group, a.description),
                );
            }
            for e in &r.status.errors {
                add(e.clone(), "hrPrinterDetectedErrorState".into());
            }
        }
        Ok(alerts)
    }
}

/// A device's readings since a time (RFC 3339; empty for all).
pub struct History {
    /// The device.
    pub device_id: String,
    /// From when.
    pub since: String,
}

impl Message<History> for Queries {
    type Reply = Result<Vec<p::Reading>, QueryError>;
    async fn handle(&mut self, q: History, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        Ok(self
            .store
            .history(&q.device_id, &q.since)
            .map_err(store_err)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
