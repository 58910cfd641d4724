//! The query side: a kameo actor that answers the fleet service's questions from the store,
//! in the shapes the wire wants. Reads do not go through the ingest path, so a long listing
//! never holds up a collector's acknowledgement.

use kameo::prelude::*;
use printwatch_proto::v1 as p;

use crate::policy::forecast::{self, Forecast};
use crate::policy::Policy;
use crate::store::alerts::AlertRecord;
use crate::store::devices::DeviceRecord;
use crate::store::levels::{supply_position, LevelPoint};
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
    forecasts: ForecastCache,
    board: BoardCache,
}

/// Forecasts already worked out, by device and supply, with the newest level point they
/// were made from. A supply whose newest point is the same, forecast less than
/// [`FORECAST_FRESH_SECONDS`] ago, is not forecast again: a listing of the whole fleet
/// then reads one record per device (its level heads) instead of every level point of
/// every supply. What it costs: a days-left figure up to five minutes old.
#[derive(Default)]
pub struct ForecastCache {
    by_supply: std::collections::HashMap<(String, String), (LevelPoint, i64, Forecast)>,
}

/// How long a cached forecast stands when its supply's level has not moved.
pub const FORECAST_FRESH_SECONDS: i64 = 300;

impl ForecastCache {
    /// The forecast of each of `device`'s supplies (by position) at `now`.
    fn of_device(
        &mut self,
        store: &StoreReader,
        device: &str,
        now: Timestamp,
    ) -> Result<std::collections::BTreeMap<String, Forecast>, StoreError> {
        let now = now.unix_seconds();
        let heads = store.level_heads(device)?;
        let mut out = std::collections::BTreeMap::new();
        let mut levels = None;
        for (at, &head) in heads.iter() {
            let key = (device.to_string(), at.to_string());
            match self.by_supply.get(&key) {
                Some((h, when, f)) if *h == head && now - *when < FORECAST_FRESH_SECONDS => {
                    out.insert(key.1, f.clone());
                }
                _ => {
                    if levels.is_none() {
                        levels = Some(store.device_levels(device)?);
                    }
                    let f = levels
                        .as_ref()
                        .and_then(|l| l.get(&key.1))
                        .map_or(Forecast::NotEnoughData, |points| {
                            forecast::forecast(points, now)
                        });
                    out.insert(key.1.clone(), f.clone());
                    self.by_supply.insert(key, (head, now, f));
                }
            }
        }
        Ok(out)
    }
}

impl Actor for Queries {
    type Args = (StoreReader, Policy);
    type Error = kameo::error::Infallible;

    async fn on_start(
        (store, policy): (StoreReader, Policy),
        _: ActorRef<Self>,
    ) -> Result<Self, Self::Error> {
        Ok(Queries {
            store,
            policy,
            forecasts: ForecastCache::default(),
            board: BoardCache::default(),
        })
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
    supply_rows_cached(store, policy, low_only, site, &mut ForecastCache::default())
}

/// [`supply_rows`] with forecasts from (and into) `cache`.
fn supply_rows_cached(
    store: &StoreReader,
    policy: &Policy,
    low_only: bool,
    site: &str,
    cache: &mut ForecastCache,
) -> Result<Vec<SupplyView>, StoreError> {
    let mut rows = Vec::new();
    let now = Timestamp::now();
    for d in store.device_records()? {
        if !site.is_empty() && d.site != site {
            continue;
        }
        let (d, latest) = store.with_latest(d)?;
        rows.extend(supply_views(
            store, policy, low_only, &d, latest, now, cache,
        )?);
    }
    rows.sort_by_key(|r| r.supply.percent.map_or(101, u16::from));
    Ok(rows)
}

/// One device's supplies (from its latest reading) with their forecasts: the level points
/// of all its supplies read in one scan.
fn supply_views(
    store: &StoreReader,
    policy: &Policy,
    low_only: bool,
    d: &DeviceRecord,
    latest: Option<agent_core::model::Reading>,
    now: Timestamp,
    cache: &mut ForecastCache,
) -> Result<Vec<SupplyView>, StoreError> {
    use agent_core::model::{SupplyClass, SupplyState};
    let Some(r) = latest else {
        return Ok(Vec::new());
    };
    let forecasts = cache.of_device(store, &d.id, now)?;
    let mut rows = Vec::with_capacity(r.supplies.len());
    for s in r.supplies {
        let point = policy.reorder_point(&d.site, &s.kind);
        let low = match s.percent {
            Some(p) => p <= point,
            None => matches!(s.state, SupplyState::Low | SupplyState::Empty),
        } || (s.class == SupplyClass::Receptacle && s.state == SupplyState::Empty);
        if low_only && !low {
            continue;
        }
        let forecast = forecasts
            .get(&supply_position(&s))
            .cloned()
            .unwrap_or(Forecast::NotEnoughData);
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
        self.device_with(d, latest.map(Into::into))
    }

    /// A device as the wire carries it, with its latest reading already read.
    fn device_with(
        &self,
        d: DeviceRecord,
        latest: Option<p::Reading>,
    ) -> Result<p::Device, QueryError> {
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
        let rows = supply_rows_cached(
            &self.store,
            &self.policy,
            q.low_only,
            &q.site,
            &mut self.forecasts,
        );
        Ok(rows
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
        let (record, latest) = self
            .store
            .with_latest(self.record(&m.0)?)
            .map_err(store_err)?;
        let views = supply_views(
            &self.store,
            &self.policy,
            false,
            &record,
            latest,
            Timestamp::now(),
            &mut self.forecasts,
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

/// One printer as the dashboard's board holds it: the device with its latest reading and
/// its supplies with their forecasts, as [`ListDevices`] and [`ListSupplies`] give them.
#[derive(Debug)]
pub struct BoardEntry {
    /// The device.
    pub device: p::Device,
    /// Its supplies, in the reading's order.
    pub supplies: Vec<p::SupplyRow>,
    /// When it was worked out (Unix seconds).
    made: i64,
}

/// The board: every device's [`BoardEntry`], kept between requests. Ingest's answers say
/// which devices a batch changed ([`Changed`]); a [`Refresh`] each second works out up to
/// [`BOARD_REFRESH_PER_TICK`] of them again, a request whatever is left, and entries older
/// than [`BOARD_REFRESH_SECONDS`] (a printer gone quiet, whose forecast still moves with
/// time) are redone at most [`BOARD_REFRESH_PER_REQUEST`] at a time. So the dashboard's
/// pages cost what changed since the last second, not the fleet's size; the first refresh
/// after a start builds it whole.
#[derive(Default)]
struct BoardCache {
    entries: std::collections::HashMap<String, std::sync::Arc<BoardEntry>>,
    dirty: std::collections::HashSet<String>,
    built: bool,
}

/// How old a board entry may get before it is worked out again with no change.
pub const BOARD_REFRESH_SECONDS: i64 = 3_600;
/// Old entries worked out again per request, at most.
pub const BOARD_REFRESH_PER_REQUEST: usize = 1_000;
/// Changed devices remembered one by one; past this the board is rebuilt whole.
const BOARD_DIRTY_MAX: usize = 100_000;

impl Queries {
    fn board_entry(
        &mut self,
        d: DeviceRecord,
        now: Timestamp,
    ) -> Result<std::sync::Arc<BoardEntry>, QueryError> {
        let (d, latest) = self.store.with_latest(d).map_err(store_err)?;
        let wire = latest.clone().map(Into::into);
        let supplies = supply_views(
            &self.store,
            &self.policy,
            false,
            &d,
            latest,
            now,
            &mut self.forecasts,
        )
        .map_err(store_err)?
        .into_iter()
        .map(supply_row)
        .collect();
        Ok(std::sync::Arc::new(BoardEntry {
            device: self.device_with(d, wire)?,
            supplies,
            made: now.unix_seconds(),
        }))
    }
}

/// These devices changed (a reading stored, a device moved): the board works them out
/// again when next asked.
pub struct Changed(pub Vec<String>);

impl Message<Changed> for Queries {
    type Reply = ();
    async fn handle(&mut self, m: Changed, _: &mut Context<Self, ()>) {
        let b = &mut self.board;
        if !b.built {
            return;
        }
        b.dirty.extend(m.0);
        if b.dirty.len() > BOARD_DIRTY_MAX {
            *b = BoardCache::default();
        }
    }
}

/// Devices a [`Refresh`] works out again, at most.
pub const BOARD_REFRESH_PER_TICK: usize = 2_000;

impl Queries {
    /// Builds the board whole if it is not built, else works out again up to `limit` of
    /// the devices changed and the entries grown old.
    fn refresh_board(&mut self, limit: usize) -> Result<(), QueryError> {
        let now = Timestamp::now();
        if !self.board.built {
            let mut entries = std::collections::HashMap::new();
            for d in self.store.device_records().map_err(store_err)? {
                let id = d.id.clone();
                entries.insert(id, self.board_entry(d, now)?);
            }
            self.board = BoardCache {
                entries,
                dirty: Default::default(),
                built: true,
            };
            return Ok(());
        }
        let mut again: Vec<String> = Vec::new();
        while again.len() < limit {
            let Some(id) = self.board.dirty.iter().next().cloned() else {
                break;
            };
            self.board.dirty.remove(&id);
            again.push(id);
        }
        let room = limit
            .saturating_sub(again.len())
            .min(BOARD_REFRESH_PER_REQUEST);
        again.extend(
            self.board
                .entries
                .iter()
                .filter(|(_, e)| now.unix_seconds() - e.made > BOARD_REFRESH_SECONDS)
                .map(|(id, _)| id.clone())
                .take(room),
        );
        for id in again {
            match self.store.device_record(&id).map_err(store_err)? {
                Some(d) => {
                    let e = self.board_entry(d, now)?;
                    self.board.entries.insert(id, e);
                }
                None => {
                    self.board.entries.remove(&id);
                }
            }
        }
        Ok(())
    }
}

/// Keeps the board current between requests: the service sends one a second, so a page
/// finds little left to work out. The first builds the board (at start, before anyone
/// asks). Failures are logged; the next request tries again.
pub struct Refresh;

impl Message<Refresh> for Queries {
    type Reply = ();
    async fn handle(&mut self, _: Refresh, _: &mut Context<Self, ()>) {
        if let Err(e) = self.refresh_board(BOARD_REFRESH_PER_TICK) {
            tracing::warn!("keeping the dashboard's board: {e}");
        }
    }
}

/// The fleet as the dashboard shows it: every device's [`BoardEntry`].
pub struct Board;

impl Message<Board> for Queries {
    type Reply = Result<Vec<std::sync::Arc<BoardEntry>>, QueryError>;
    async fn handle(&mut self, _: Board, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.refresh_board(usize::MAX)?;
        Ok(self.board.entries.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use agent_core::model::{Identity, Reading, Supply, SupplyClass, SupplyState};

    use super::*;
    use crate::ingest::{Incoming, Writer};
    use crate::store::testing::{dir, reopen};
    use crate::wire_reading::WireReading;

    fn reading(serial: &str, percent: u8, minutes_ago: i64) -> Reading {
        let at = Timestamp::now().plus(-time::Duration::minutes(minutes_ago));
        Reading {
            identity: Identity {
                address: format!("10.0.0.{}:161", serial.len()),
                model: Some("M404".into()),
                serial: Some(serial.into()),
                ..Identity::default()
            },
            supplies: vec![Supply {
                device_index: 1,
                index: 1,
                description: "Black Toner".into(),
                part_number: None,
                kind: "toner".into(),
                class: SupplyClass::Consumed,
                color: Some("black".into()),
                unit: None,
                level: i64::from(percent),
                max_capacity: 100,
                percent: Some(percent),
                percent_source: None,
                state: SupplyState::Ok,
            }],
            polled_at: at.rfc3339(),
            ..Reading::default()
        }
    }

    async fn store(w: &mut Writer, seq: u64, r: Reading) {
        let item = Incoming::Reading(Box::new(WireReading::new(r).unwrap()));
        assert!(w.ingest_batch("hq", &[(seq, item)]).await[0].is_ok());
    }

    fn percents(board: &[std::sync::Arc<BoardEntry>]) -> Vec<(String, Option<u32>)> {
        let mut v: Vec<_> = board
            .iter()
            .flat_map(|e| e.supplies.iter())
            .map(|s| {
                (
                    s.device_id.clone(),
                    s.supply.as_ref().and_then(|x| x.percent),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn the_board_works_out_again_what_changed_and_agrees_with_the_listings() {
        let d = dir("board");
        let mut w = Writer::new(reopen(&d), Policy::default());
        store(&mut w, 1, reading("A1", 50, 30)).await;
        let q = Queries::spawn((w.reader(), Policy::default()));
        let board = q.ask(Board).await.unwrap();
        assert_eq!(percents(&board), vec![("sn:A1".into(), Some(50))]);

        // A new reading is not looked for until ingest's answer names the device...
        store(&mut w, 2, reading("A1", 20, 20)).await;
        store(&mut w, 3, reading("B22", 70, 20)).await;
        assert_eq!(
            percents(&q.ask(Board).await.unwrap()),
            vec![("sn:A1".into(), Some(50))]
        );
        // ...then it is, and a new device joins.
        q.tell(Changed(vec!["sn:A1".into(), "sn:B22".into()]))
            .await
            .unwrap();
        let board = q.ask(Board).await.unwrap();
        let expect = vec![("sn:A1".into(), Some(20)), ("sn:B22".into(), Some(70))];
        assert_eq!(percents(&board), expect);
        // What the gRPC listings say, the board says.
        let listed: Vec<_> = q
            .ask(ListSupplies {
                low_only: false,
                site: String::new(),
            })
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.device_id, s.supply.and_then(|x| x.percent)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(listed, expect);
        let devices = q.ask(ListDevices(String::new())).await.unwrap();
        for e in &board {
            let d = devices.iter().find(|d| d.id == e.device.id).unwrap();
            assert_eq!(d, &e.device);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
