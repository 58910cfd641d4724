//! The query side: a kameo actor that answers the fleet service's questions from the store,
//! in the shapes the wire wants. Reads do not go through the ingest path, so a long listing
//! never holds up a collector's acknowledgement.

use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::policy::forecast::{self, Forecast};
use crate::policy::Policy;
use crate::store::alerts::AlertRecord;
use crate::store::devices::DeviceRecord;
use crate::store::levels::supply_position;
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

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

/// The query actor's state: a handle on the store, and the reorder points (which decide
/// what "low" means at each site).
pub struct Queries {
    store: StoreReader,
    policy: Policy,
}

impl Actor for Queries {
    type Args = (StoreReader, Policy);
    type Error = kameo::error::Infallible;

    async fn on_start(
        (store, policy): (StoreReader, Policy),
        _: ActorRef<Self>,
    ) -> Result<Self, Self::Error> {
        Ok(Queries { store, policy })
    }
}

/// A supply as listings, the digest and the CLI show it.
#[derive(Debug, Clone)]
pub struct SupplyView {
    /// The printer.
    pub device: DeviceRecord,
    /// The supply as last read.
    pub supply: agent_core::model::Supply,
    /// Its forecast.
    pub forecast: Forecast,
    /// Its reorder point at its site.
    pub reorder_percent: u8,
    /// "M404 (SN X)".
    pub printer: String,
    /// "Black Toner 12 % (CF259A), 9 days left".
    pub line: String,
    /// Its site.
    pub site: String,
}

/// Every supply (of one site, or at or under its reorder point), lowest first, with its
/// forecast.
pub fn supply_rows(
    store: &StoreReader,
    policy: &Policy,
    low_only: bool,
    site: &str,
) -> Result<Vec<SupplyView>, StoreError> {
    let devices = store
        .devices()?
        .into_iter()
        .filter(|d| site.is_empty() || d.site == site);
    supply_rows_of(store, policy, low_only, devices)
}

/// [`supply_rows`] of the given devices.
fn supply_rows_of(
    store: &StoreReader,
    policy: &Policy,
    low_only: bool,
    devices: impl Iterator<Item = DeviceRecord>,
) -> Result<Vec<SupplyView>, StoreError> {
    use agent_core::model::{SupplyClass, SupplyState};
    let mut rows = Vec::new();
    let now = Timestamp::now();
    for d in devices {
        let Some(r) = store.latest(&d.id)? else {
            continue;
        };
        for s in r.supplies {
            let point = policy.reorder_point(&d.site, &s.kind);
            let low = match s.percent {
                Some(p) => p <= point,
                None => matches!(s.state, SupplyState::Low | SupplyState::Empty),
            } || (s.class == SupplyClass::Receptacle && s.state == SupplyState::Empty);
            if low_only && !low {
                continue;
            }
            let forecast = forecast::of(store, &d.id, &supply_position(&s), now)?;
            let level = s.percent.map_or_else(
                || format!("{:?}", s.state).to_lowercase(),
                |p| format!("{p} %"),
            );
            let part = s
                .part_number
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            let line = format!(
                "{} {level}{part}, {} left",
                s.description,
                forecast.describe()
            );
            rows.push(SupplyView {
                printer: d.identity.printer_name(),
                site: d.site.clone(),
                device: d.clone(),
                supply: s,
                forecast,
                reorder_percent: point,
                line,
            });
        }
    }
    rows.sort_by_key(|r| r.supply.percent.map_or(101, u16::from));
    Ok(rows)
}

/// An alert as the wire carries it.
pub fn alert_message(a: AlertRecord) -> p::FleetAlert {
    p::FleetAlert {
        id: a.id,
        device_id: a.device_id,
        site: a.site,
        kind: a.kind.name().into(),
        detail: a.detail,
        opened_at: a.opened_at.rfc3339(),
        closed_at: a.closed_at.map(Timestamp::rfc3339),
        printer: a.printer,
        supply: a
            .supply
            .as_ref()
            .map(|s| s.description.clone())
            .unwrap_or_default(),
        percent: a.supply.as_ref().and_then(|s| s.percent).map(u32::from),
        part_number: a.supply.as_ref().and_then(|s| s.part_number.clone()),
        days_left: a.days_left,
    }
}

impl Queries {
    fn device_message(&self, d: DeviceRecord) -> Result<p::Device, QueryError> {
        let (d, latest) = self.store.with_latest(d).map_err(store_err)?;
        let latest = latest.map(Into::into);
        let conflicts = self
            .store
            .observations(&d.id)
            .map_err(store_err)?
            .into_iter()
            .map(|o| p::Observation {
                site: o.site,
                address: o.address,
                identity: Some(o.identity.into()),
                first_seen: o.first_seen.rfc3339(),
                last_seen: o.last_seen.rfc3339(),
                readings: o.readings,
            })
            .collect();
        Ok(p::Device {
            conflicts,
            id: d.id,
            site: d.site,
            addresses: d.addresses,
            identity: Some(d.identity.into()),
            latest,
            first_seen: d.first_seen.rfc3339(),
            last_seen: d.last_seen.rfc3339(),
        })
    }

    /// A device's record as written (its site and addresses; [`Self::device_message`]
    /// adds when it was last seen).
    fn record(&self, id: &str) -> Result<DeviceRecord, QueryError> {
        self.store
            .device_record(id)
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
            .device_records()
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
        Ok(supply_rows(&self.store, &self.policy, q.low_only, &q.site)
            .map_err(store_err)?
            .into_iter()
            .map(supply_row)
            .collect())
    }
}

/// A supply as the wire carries it.
fn supply_row(v: SupplyView) -> p::SupplyRow {
    let (days_left, pages_left) = match v.forecast {
        Forecast::Estimate {
            days_left,
            pages_left,
            ..
        } => (Some(days_left), pages_left),
        Forecast::NotEnoughData => (None, None),
    };
    p::SupplyRow {
        device_id: v.device.id.clone(),
        site: v.site,
        identity: Some(v.device.identity.into()),
        supply: Some(v.supply.into()),
        days_left,
        pages_left,
        forecast: v.forecast.describe(),
        reorder_percent: u32::from(v.reorder_percent),
    }
}

/// The alerts the engine opened: open ones, or all with `include_closed`, newest first.
pub struct ListAlerts {
    /// Closed ones too.
    pub include_closed: bool,
}

impl Message<ListAlerts> for Queries {
    type Reply = Result<Vec<p::FleetAlert>, QueryError>;
    async fn handle(&mut self, q: ListAlerts, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        Ok(self
            .store
            .alerts(q.include_closed)
            .map_err(store_err)?
            .into_iter()
            .map(alert_message)
            .collect())
    }
}

/// Per printer, its usage and problems since a time (see [`crate::export`]).
pub struct Export {
    /// From when (`None`: everything retained).
    pub since: Option<Timestamp>,
}

impl Message<Export> for Queries {
    type Reply = Result<Vec<p::ExportRow>, QueryError>;
    async fn handle(&mut self, q: Export, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        crate::export::rows(&self.store, q.since).map_err(store_err)
    }
}

/// A device's readings since a time.
pub struct History {
    /// The device.
    pub device_id: String,
    /// From when (`None`: all).
    pub since: Option<Timestamp>,
}

impl Message<History> for Queries {
    type Reply = Result<Vec<p::Reading>, QueryError>;
    async fn handle(&mut self, q: History, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        // An unknown device is an error, not an empty history.
        self.record(&q.device_id)?;
        Ok(self
            .store
            .history(&q.device_id, q.since)
            .map_err(store_err)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// The dashboard's users, or one of them (by name).
pub struct Users(pub Option<String>);

impl Message<Users> for Queries {
    type Reply = Result<Vec<crate::store::users::UserRecord>, QueryError>;
    async fn handle(&mut self, m: Users, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        match m.0 {
            Some(name) => Ok(self
                .store
                .user(&name)
                .map_err(store_err)?
                .into_iter()
                .collect()),
            None => self.store.users().map_err(store_err),
        }
    }
}

/// Everything a printer's own page shows: the device, its supplies as [`ListSupplies`]
/// gives them, each supply's level over time, replacements, pages per day and alerts.
#[derive(Debug, Clone)]
pub struct PrinterDetail {
    /// The device with its latest reading.
    pub device: p::Device,
    /// Its supplies, lowest first, with forecasts and reorder points.
    pub supplies: Vec<p::SupplyRow>,
    /// Each supply's level points (by position, `device_index.index`), oldest first.
    pub levels: std::collections::BTreeMap<String, Vec<crate::store::levels::LevelPoint>>,
    /// Supplies replaced, oldest first.
    pub replacements: Vec<crate::store::levels::Replacement>,
    /// Pages printed per day over the last [`PAGES_PER_DAY_SPAN`] days, from the total
    /// meter; `None` with less than a day of meters.
    pub pages_per_day: Option<f64>,
    /// Its alerts, open and closed, newest first.
    pub alerts: Vec<p::FleetAlert>,
}

/// How far back pages per day look.
pub const PAGES_PER_DAY_SPAN: i64 = 30;

/// A printer's page.
pub struct GetPrinterDetail(pub String);

impl Message<GetPrinterDetail> for Queries {
    type Reply = Result<PrinterDetail, QueryError>;
    async fn handle(
        &mut self,
        m: GetPrinterDetail,
        _: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        let record = self.record(&m.0)?;
        let views = supply_rows_of(
            &self.store,
            &self.policy,
            false,
            std::iter::once(record.clone()),
        )
        .map_err(store_err)?;
        let mut levels = std::collections::BTreeMap::new();
        for v in &views {
            let at = supply_position(&v.supply);
            let points = self.store.levels(&record.id, &at).map_err(store_err)?;
            levels.insert(at, points);
        }
        let since = Timestamp::now().plus(-time::Duration::days(PAGES_PER_DAY_SPAN));
        let totals: Vec<(Timestamp, u64)> = self
            .store
            .history(&record.id, Some(since))
            .map_err(store_err)?
            .iter()
            .filter_map(|r| {
                let total = r.meters.iter().find(|m| m.name == "total")?.value;
                Some((crate::store::history::reading_time(r).ok()?, total))
            })
            .collect();
        let pages_per_day = match (totals.first(), totals.last()) {
            (Some((t0, p0)), Some((t1, p1))) if t1.since(*t0) >= time::Duration::days(1) => {
                Some(p1.saturating_sub(*p0) as f64 / t1.since(*t0).as_seconds_f64() * 86_400.0)
            }
            _ => None,
        };
        let alerts = self
            .store
            .alerts(true)
            .map_err(store_err)?
            .into_iter()
            .filter(|a| a.device_id == record.id)
            .map(alert_message)
            .collect();
        let replacements = self
            .store
            .replacements(Some(&record.id))
            .map_err(store_err)?;
        Ok(PrinterDetail {
            device: self.device_message(record)?,
            supplies: views.into_iter().map(supply_row).collect(),
            levels,
            replacements,
            pages_per_day,
            alerts,
        })
    }
}
