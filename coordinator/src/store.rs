//! The coordinator's state in sled: devices, their latest reading, history, and the last
//! sequence number stored for each collector.
//!
//! Two promises live here. A reading is stored durably (flushed) before `ingest` returns,
//! so an acknowledgement sent after it can never be for something a crash loses. And a
//! sequence number a collector replays after a lost ack is recognised and not stored twice
//! (and were it stored again after a crash between writes, it would land on the same keys).
//! Devices are deduplicated: one printer is one device whatever address or collector
//! reports it (serial first, then MAC, then vendor, model and address).

use std::path::Path;

use std::collections::{BTreeMap, BTreeSet};

use agent_core::model::{Identity, Reading};
use serde::{Deserialize, Serialize};

use crate::alerts::{self, AlertKind, AlertRules, SiteReorder, SupplyRef};
use crate::forecast::{self, Forecast, LevelPoint};
use crate::wire_reading::{read_stored, reshaped, Stored, WireReading};
use crate::working_set::{LevelHeads, MeterMemo, WorkingSet};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, corruption, another process holding the database).
    #[error("the database: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record that does not decode (a bug or corruption).
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
    /// A batch that may not be stored now.
    #[error("refused: {0}")]
    Refused(String),
}

impl From<crate::wire_reading::UnreadableReading> for StoreError {
    fn from(e: crate::wire_reading::UnreadableReading) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// A printer as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Stable id: `sn:SERIAL`, `mac:MAC` or `at:SITE/VENDOR/MODEL/ADDRESS`.
    pub id: String,
    /// The site whose collector reported it last.
    pub site: String,
    /// Every address it was seen at, most recent last.
    pub addresses: Vec<String>,
    /// Its identity from the latest reading.
    pub identity: Identity,
    /// When it was first seen (the reading's time).
    pub first_seen: String,
    /// When it was last seen.
    pub last_seen: String,
    /// When a reading last carried its page meters (None: never).
    #[serde(default)]
    pub last_meter_read: Option<String>,
}

/// What `ingest` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    /// Stored, for this device.
    Stored {
        /// The device's id.
        device_id: String,
        /// True when the device is new.
        new_device: bool,
        /// What changed in its alerts and supplies.
        changes: Changes,
    },
    /// This collector's sequence number was stored before: nothing written.
    Duplicate,
}

/// A collector's report that it could not read a printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    /// The printer's address as the collector polls it.
    pub address: String,
    /// Polls of it that failed in a row, this one included.
    pub consecutive: u32,
    /// Why.
    pub error: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One thing a collector sent that the store keeps, in a batch.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A reading, with the bytes history keeps for it.
    Reading(Box<WireReading>),
    /// A failed poll.
    PollFailed(PollFailure),
}

/// What the store did with one item of a batch.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The reading: stored (with what it changed) or a duplicate.
    Reading(Ingested),
    /// The failure, and the unreachable alert it opened if it did.
    PollFailed(Option<Box<AlertRecord>>),
}

/// An alert to open: what condition it is for and what it says.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The condition's key (see [`alerts::device_key`]); one open alert per key.
    pub key: String,
    /// Its kind.
    pub kind: AlertKind,
    /// What it says.
    pub detail: String,
    /// The supply, for a supply's alert.
    pub supply: Option<SupplyRef>,
    /// The supply's forecast days left, when it has one.
    pub days_left: Option<f64>,
}

impl NewAlert {
    /// An alert about a whole printer (or a site): no supply.
    pub fn about_printer(key: String, kind: AlertKind, detail: String) -> NewAlert {
        NewAlert {
            key,
            kind,
            detail,
            supply: None,
            days_left: None,
        }
    }
}

/// Alerts opened and closed, and supplies replaced, by one stored message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Alerts opened.
    pub opened: Vec<AlertRecord>,
    /// Alerts closed.
    pub closed: Vec<AlertRecord>,
    /// Supplies replaced (a level that jumped up).
    pub replaced: Vec<Replacement>,
    /// True when a dealer batch or a mail was queued.
    pub queued: bool,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty() && self.closed.is_empty() && self.replaced.is_empty()
    }
}

/// An alert as stored: opened once, closed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// `A` and a number, in the order alerts opened.
    pub id: String,
    /// The condition's key (see [`crate::alerts`]).
    pub key: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The printer ("" for a site's collector).
    pub device_id: String,
    /// The site.
    pub site: String,
    /// The printer as people name it: model and serial.
    pub printer: String,
    /// A line for people.
    pub detail: String,
    /// The supply concerned.
    pub supply: Option<SupplyRef>,
    /// Days until the supply is empty, when an estimate existed at opening.
    pub days_left: Option<f64>,
    /// When it opened (RFC 3339).
    pub opened_at: String,
    /// When it closed.
    pub closed_at: Option<String>,
}

/// A supply replaced: its level jumped up by more than [`forecast::REFILL_JUMP`] points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replacement {
    /// The printer.
    pub device_id: String,
    /// Its site.
    pub site: String,
    /// The supply (`device_index.index`).
    pub supply: String,
    /// Its description.
    pub description: String,
    /// The level before, in percent.
    pub from: u8,
    /// The level after.
    pub to: u8,
    /// When it was seen.
    pub at: String,
}

/// What the store must do about alerts besides recording them: the rules, the sites'
/// reorder points, which sites get mail, and whether the dealer gets batches.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Thresholds.
    pub rules: AlertRules,
    /// Reorder points by site.
    pub sites: BTreeMap<String, SiteReorder>,
    /// Sites with e-mail contacts: their alerts are mailed.
    pub mail_sites: BTreeSet<String>,
    /// Whether anything is uploaded to the dealer.
    pub uploads: bool,
}

/// A mail to send: an alert opened or closed. Queued durably with the alert itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailJob {
    /// True for an alert opening, false for it closing.
    pub opened: bool,
    /// The alert as it stood then.
    pub alert: AlertRecord,
}

/// A batch for the dealer, queued durably; its key is its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealerBatch {
    /// `pw-` and a number: the idempotency key, unique and never reused.
    pub key: String,
    /// The JSON body, fixed when queued so that every retry sends the same bytes.
    pub body: serde_json::Value,
}

/// The store. Cheap to clone (sled trees are handles).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    devices: sled::Tree,
    history: sled::Tree,
    shapes: sled::Tree,
    index: sled::Tree,
    sequences: sled::Tree,
    alerts: sled::Tree,
    open: sled::Tree,
    levels: sled::Tree,
    /// Each device's supplies' newest level points (see [`LevelHeads`]).
    level_heads: sled::Tree,
    events: sled::Tree,
    meters: sled::Tree,
    mail_out: sled::Tree,
    dealer_out: sled::Tree,
    meta: sled::Tree,
    /// One ingest at a time, and what ingest keeps in memory (see [`WorkingSet`]).
    ingest_lock: std::sync::Arc<tokio::sync::Mutex<WorkingSet>>,
    /// How many device records there are. sled counts a tree by walking it, which a
    /// metrics scrape of a large fleet would pay for every time; ingest, which alone adds
    /// devices, keeps this count instead.
    device_total: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Counts changes to the open alerts made outside ingest (by the watchdog): ingest keeps
    /// each device's open alerts in memory, changes them as it opens and closes alerts
    /// itself, and reads them again when this moves.
    alert_changes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The keys under which a device may be found, strongest first.
fn identity_keys(site: &str, id: &Identity) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(s) = id.serial.as_deref().filter(|s| !s.is_empty()) {
        keys.push(format!("sn:{s}"));
    }
    if let Some(m) = id.mac.as_deref().filter(|m| !m.is_empty()) {
        keys.push(format!("mac:{m}"));
    }
    keys.push(format!(
        "at:{site}/{}/{}/{}",
        id.vendor.as_deref().unwrap_or(""),
        id.model.as_deref().unwrap_or(""),
        id.address
    ));
    keys
}

/// True when two identities cannot be the same printer: both give a serial and they
/// differ, or both give a MAC and they differ.
fn contradicts(a: &Identity, b: &Identity) -> bool {
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() && x != y);
    differ(&a.serial, &b.serial) || differ(&a.mac, &b.mac)
}

impl Store {
    /// Opens (or creates) the database at `path` with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()?;
        // Earlier versions kept each device's latest reading apart; it is history's newest.
        db.drop_tree("latest")?;
        let levels = db.open_tree("level_points")?;
        upgrade_levels(&db, &levels)?;
        let devices = db.open_tree("devices")?;
        Ok(Store {
            device_total: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(devices.len())),
            alert_changes: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            devices,
            history: db.open_tree("history")?,
            shapes: db.open_tree("shapes")?,
            index: db.open_tree("index")?,
            sequences: db.open_tree("sequences")?,
            alerts: db.open_tree("alerts")?,
            open: db.open_tree("open_alerts")?,
            levels,
            level_heads: db.open_tree("level_heads")?,
            events: db.open_tree("events")?,
            meters: db.open_tree("meters")?,
            mail_out: db.open_tree("mail_out")?,
            dealer_out: db.open_tree("dealer_out")?,
            meta: db.open_tree("meta")?,
            db,
            ingest_lock: std::sync::Arc::new(tokio::sync::Mutex::new(WorkingSet::default())),
        })
    }

    /// The last sequence number stored for a collector (0 before any).
    pub fn last_sequence(&self, collector: &str) -> Result<u64, StoreError> {
        Ok(self
            .sequences
            .get(collector.as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Stores a reading that `collector` (of `site`) sent under `seq`, durably, unless that
    /// sequence number was stored before. Sequence numbers of one collector only grow.
    pub async fn ingest(
        &self,
        collector: &str,
        site: &str,
        seq: u64,
        reading: &Reading,
    ) -> Result<Ingested, StoreError> {
        self.ingest_with(collector, site, seq, reading, &Policy::default())
            .await
    }

    /// [`Store::ingest`], raising and closing alerts by `policy` and queueing the mail and
    /// dealer batches they call for, all written before the sequence number.
    pub async fn ingest_with(
        &self,
        collector: &str,
        site: &str,
        seq: u64,
        reading: &Reading,
        policy: &Policy,
    ) -> Result<Ingested, StoreError> {
        let item = [(
            seq,
            Incoming::Reading(Box::new(WireReading::new(reading.clone()))),
        )];
        match self.only_answer(collector, site, &item, policy).await? {
            Answer::Reading(outcome) => Ok(outcome),
            Answer::PollFailed(_) => Err(StoreError::Corrupt(
                "a reading was answered as a failed poll".into(),
            )),
        }
    }

    /// [`Store::ingest_batch`] of one item.
    async fn only_answer(
        &self,
        collector: &str,
        site: &str,
        item: &[(u64, Incoming); 1],
        policy: &Policy,
    ) -> Result<Answer, StoreError> {
        self.ingest_batch(collector, site, item, policy)
            .await
            .pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("no answer for the item".into())))
    }

    /// Stores a batch of what one collector sent, in order, and makes it durable with one
    /// flush: the coordinator's group commit. It stops at the first item that fails; the
    /// answers are for the items before it, and the error last.
    pub async fn ingest_batch(
        &self,
        collector: &str,
        site: &str,
        items: &[(u64, Incoming)],
        policy: &Policy,
    ) -> Vec<Result<Answer, StoreError>> {
        let answers = self.write_batch(collector, site, items, policy, None).await;
        self.made_durable(answers).await
    }

    /// Writes a batch as [`Store::ingest_batch`] does, but does not flush: nothing in it
    /// may be acknowledged before [`Store::made_durable`]. Ingest writes the next batch
    /// while this one's flush is under way.
    ///
    /// `follows` is the highest sequence number of the batch written before this one on the
    /// same stream, if any: when that batch was not wholly stored (it failed part way), this
    /// one is refused whole, or its higher numbers would mark the failed ones as stored.
    ///
    /// One batch at a time: device records are read, changed and written back. No sled
    /// transaction (they switch sled 0.34 into a process-wide read/write lock that can
    /// deadlock against its own flusher); instead the writes are ordered so that a crash at
    /// any point leaves a state a replay repairs: data first, the sequence number last, and
    /// every key of the data a function of the reading, so writing it again changes nothing.
    pub async fn write_batch(
        &self,
        collector: &str,
        site: &str,
        items: &[(u64, Incoming)],
        policy: &Policy,
        follows: Option<u64>,
    ) -> Vec<Result<Answer, StoreError>> {
        let mut ws = self.ingest_lock.lock().await;
        if let Some(before) = follows {
            match self.known_sequence(&mut ws, collector) {
                Ok(stored) if stored >= before => {}
                Ok(stored) => {
                    return vec![Err(StoreError::Refused(format!(
                        "the batch before it on this stream was stored only up to {stored}, not {before}"
                    )))]
                }
                Err(e) => return vec![Err(e)],
            }
        }
        let mut answers = Vec::with_capacity(items.len());
        // The collector's sequence number is written once, after the data of the whole
        // batch: the last thing before the flush, as the crash order wants.
        let mut stored_upto = None;
        for (seq, item) in items {
            let answer = match item {
                Incoming::Reading(r) => self
                    .write_reading(&mut ws, collector, site, *seq, r, policy)
                    .map(Answer::Reading),
                Incoming::PollFailed(f) => self
                    .write_poll_failed(&mut ws, collector, site, *seq, f, policy)
                    .map(|opened| Answer::PollFailed(opened.map(Box::new))),
            };
            let failed = answer.is_err();
            if !failed && *seq > self.known_sequence(&mut ws, collector).unwrap_or(u64::MAX) {
                ws.sequences.insert(collector.to_string(), *seq);
                stored_upto = Some(*seq);
            }
            answers.push(answer);
            if failed {
                self.forget(&mut ws);
                break;
            }
        }
        if let Some(seq) = stored_upto {
            if let Err(e) = self
                .sequences
                .insert(collector.as_bytes(), &seq.to_be_bytes())
            {
                self.forget(&mut ws);
                let e = e.to_string();
                return answers
                    .into_iter()
                    .map(|_| {
                        Err(StoreError::Corrupt(format!(
                            "writing the sequence number: {e}"
                        )))
                    })
                    .collect();
            }
        }
        answers
    }

    /// Flushes what [`Store::write_batch`] wrote and returns its answers, or, when the
    /// flush failed, the error in place of each (nothing in the batch is durable then).
    pub async fn made_durable(
        &self,
        answers: Vec<Result<Answer, StoreError>>,
    ) -> Vec<Result<Answer, StoreError>> {
        if !answers.iter().any(|a| a.is_ok()) {
            return answers;
        }
        match flush(&self.db).await {
            Ok(()) => answers,
            Err(e) => {
                self.forget(&mut *self.ingest_lock.lock().await);
                let e = e.to_string();
                answers
                    .into_iter()
                    .map(|_| Err(StoreError::Corrupt(format!("flushing: {e}"))))
                    .collect()
            }
        }
    }

    /// After a failed write: what ingest kept in memory is dropped and the device count
    /// taken again, so that sled is the only truth.
    fn forget(&self, ws: &mut WorkingSet) {
        ws.clear();
        self.device_total
            .store(self.devices.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The writes of one reading, in the order that makes a crash safe (see
    /// [`Store::ingest_with`]); durable only after the caller flushes.
    fn write_reading(
        &self,
        ws: &mut WorkingSet,
        collector: &str,
        site: &str,
        seq: u64,
        arrived: &WireReading,
        policy: &Policy,
    ) -> Result<Ingested, StoreError> {
        let reading = arrived.reading();
        if seq <= self.known_sequence(ws, collector)? {
            return Ok(Ingested::Duplicate);
        }
        let keys = identity_keys(site, &reading.identity);
        // The device: the first identity key already known whose device the stronger fields
        // do not contradict (a new printer at an old printer's address, with another serial,
        // is another device), else a new one under the strongest key.
        let mut found = None;
        for k in &keys {
            let Some(id) = self.known_key(ws, k)? else {
                continue;
            };
            if let Some(d) = self.known_device(ws, &id)? {
                if !contradicts(&d.identity, &reading.identity) {
                    found = Some(id);
                    break;
                }
            }
        }
        let new_device = found.is_none();
        let device_id = found.unwrap_or_else(|| keys[0].clone());
        // Taken out of the working set while it changes; put back once written.
        let mut changed = false;
        let mut record = match self.take_device(ws, &device_id)? {
            Some(d) => d,
            None => {
                changed = true;
                self.device_total
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                DeviceRecord {
                    id: device_id.clone(),
                    site: site.to_string(),
                    addresses: Vec::new(),
                    identity: reading.identity.clone(),
                    first_seen: reading.polled_at.clone(),
                    last_seen: reading.polled_at.clone(),
                    last_meter_read: None,
                }
            }
        };
        if !reading.meters.is_empty() {
            record.last_meter_read = Some(reading.polled_at.clone());
        }
        self.mark_meters(ws, &device_id, reading)?;
        // The record is written when what it says changes, not for every reading: when a
        // device was last seen is its newest reading's time (see `with_seen`).
        changed |= record.site != site
            || record.identity != reading.identity
            || record.addresses.last() != Some(&reading.identity.address);
        if changed {
            record.site = site.to_string();
            record.identity = reading.identity.clone();
            record.addresses.retain(|a| *a != reading.identity.address);
            record.addresses.push(reading.identity.address.clone());
        }
        record.last_seen = reading.polled_at.clone();

        let mut hkey = device_id.as_bytes().to_vec();
        hkey.push(0);
        hkey.extend_from_slice(reading.polled_at.as_bytes());
        hkey.push(0);
        hkey.extend_from_slice(collector.as_bytes());
        hkey.extend_from_slice(&seq.to_be_bytes());
        let shape = self.shape_number(ws, &device_id, arrived)?;
        self.history.insert(hkey, arrived.stored(shape))?;
        if changed {
            self.devices.insert(device_id.as_bytes(), encode(&record))?;
        }
        let address = address_key(site, &reading.identity.address);
        for k in keys.iter().chain(std::iter::once(&address)) {
            // Rewriting an index entry that already says the same is a write for nothing.
            if ws.index.get(k).and_then(Option::as_ref) != Some(&device_id) {
                self.index.insert(k.as_bytes(), device_id.as_bytes())?;
                ws.index.insert(k.clone(), Some(device_id.clone()));
            }
        }
        let replaced = self.record_levels(ws, &record, reading)?;
        let mut changes = self.apply_alerts(ws, &record, reading, policy)?;
        changes.replaced = replaced;
        ws.devices.insert(device_id.clone(), record);
        Ok(Ingested::Stored {
            device_id,
            new_device,
            changes,
        })
    }

    /// Keeps the device's meter read in the `meters` tree, exact whenever its newest reading
    /// carries no meters (then the tree is the answer; see [`Store::meter_read`]). A reading
    /// with meters is written there when the values changed, or a day after the last one
    /// kept; otherwise its time only goes into the working set, and reaches the tree when a
    /// reading without meters follows. Called before the reading joins history.
    fn mark_meters(
        &self,
        ws: &mut WorkingSet,
        device: &str,
        reading: &Reading,
    ) -> Result<(), StoreError> {
        let memo = match ws.meters.remove(device) {
            Some(memo) => memo,
            None => self.meter_memo(device, reading.meters.is_empty())?,
        };
        let memo = if reading.meters.is_empty() {
            match memo {
                Some(m) if m.kept.as_deref() != Some(m.newest.as_str()) => {
                    self.meters
                        .insert(device.as_bytes(), encode(&(&m.newest, &m.values)))?;
                    Some(MeterMemo {
                        kept: Some(m.newest.clone()),
                        ..m
                    })
                }
                other => other,
            }
        } else {
            let at = &reading.polled_at;
            let due = match &memo {
                Some(m) => {
                    m.values != reading.meters
                        || m.kept.as_deref().and_then(seconds).is_none_or(|kept| {
                            seconds(at).unwrap_or(i64::MAX) - kept >= METER_MARK_EVERY
                        })
                }
                None => true,
            };
            if due {
                self.meters
                    .insert(device.as_bytes(), encode(&(at, &reading.meters)))?;
            }
            Some(MeterMemo {
                kept: if due {
                    Some(at.clone())
                } else {
                    memo.and_then(|m| m.kept)
                },
                values: reading.meters.clone(),
                newest: at.clone(),
            })
        };
        ws.meters.insert(device.to_string(), memo);
        Ok(())
    }

    /// The number of the device's shape that is the reading's (see [`crate::wire_reading`]):
    /// its newest, or, when the reading's differs, a new one, written before the history
    /// that names it. A replay finds the shape it wrote and takes it again.
    fn shape_number(
        &self,
        ws: &mut WorkingSet,
        device: &str,
        arrived: &WireReading,
    ) -> Result<u32, StoreError> {
        if let Some((n, shape)) = ws.shapes.get(device) {
            if shape == arrived.shape() {
                return Ok(*n);
            }
        }
        let newest = match ws.shapes.remove(device) {
            Some(known) => Some(known),
            None => self.newest_shape(device)?,
        };
        let n = match newest {
            Some((n, shape)) if shape == *arrived.shape() => n,
            newest => {
                let n = match newest {
                    Some((n, _)) => n.checked_add(1).ok_or_else(|| {
                        StoreError::Refused(format!("{device} has changed shape too often"))
                    })?,
                    None => 0,
                };
                self.shapes
                    .insert(shape_key(device, n), arrived.shape_bytes())?;
                n
            }
        };
        ws.shapes
            .insert(device.to_string(), (n, arrived.shape().clone()));
        Ok(n)
    }

    /// A device's newest shape and its number, from sled.
    fn newest_shape(
        &self,
        device: &str,
    ) -> Result<Option<(u32, printwatch_proto::v1::Reading)>, StoreError> {
        let Some(kv) = self.shapes.scan_prefix(shape_prefix(device)).next() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let n = k
            .last_chunk::<4>()
            .map(|n| !u32::from_be_bytes(*n))
            .ok_or_else(|| StoreError::Corrupt("a shape's key cut short".into()))?;
        let shape = prost::Message::decode(&v[..])
            .map_err(|e| StoreError::Corrupt(format!("a shape: {e}")))?;
        Ok(Some((n, shape)))
    }

    /// A reading as history holds it for `device`, whole again. `shape` keeps the shape
    /// last read, which the device's next readings most likely share.
    fn read_history(
        &self,
        device: &str,
        value: &[u8],
        shape: &mut Option<(u32, sled::IVec)>,
    ) -> Result<Reading, StoreError> {
        match read_stored(value)? {
            Stored::Whole(r) => Ok(*r),
            Stored::Shaped { shape: n, rest } => {
                let bytes = match shape.take() {
                    Some((m, bytes)) if m == n => bytes,
                    _ => self.shapes.get(shape_key(device, n))?.ok_or_else(|| {
                        StoreError::Corrupt(format!("{device} has no shape number {n}"))
                    })?,
                };
                let r = reshaped(rest, &bytes)?;
                *shape = Some((n, bytes));
                Ok(r)
            }
        }
    }

    /// What the working set lacks of a device's meter reads, from sled: the one kept, and,
    /// when the reading at hand has no meters, the newest reading if it had some.
    fn meter_memo(&self, device: &str, newest_too: bool) -> Result<Option<MeterMemo>, StoreError> {
        let kept: Option<(String, Vec<agent_core::model::Meter>)> = self
            .meters
            .get(device.as_bytes())?
            .map(|b| decode(&b))
            .transpose()?;
        let newest = match newest_too {
            true => self.latest(device)?.filter(|r| !r.meters.is_empty()),
            false => None,
        };
        Ok(match (kept, newest) {
            (kept, Some(r)) => Some(MeterMemo {
                kept: kept.map(|(at, _)| at),
                values: r.meters,
                newest: r.polled_at,
            }),
            (Some((at, values)), None) => Some(MeterMemo {
                kept: Some(at.clone()),
                values,
                newest: at,
            }),
            (None, None) => None,
        })
    }

    /// A collector's last stored sequence number, from the working set.
    fn known_sequence(&self, ws: &mut WorkingSet, collector: &str) -> Result<u64, StoreError> {
        if let Some(&seq) = ws.sequences.get(collector) {
            return Ok(seq);
        }
        let seq = self.last_sequence(collector)?;
        ws.sequences.insert(collector.to_string(), seq);
        Ok(seq)
    }

    /// A device's record, taken out of the working set to be changed and put back.
    fn take_device(
        &self,
        ws: &mut WorkingSet,
        id: &str,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        match ws.devices.remove(id) {
            Some(d) => Ok(Some(d)),
            None => self
                .devices
                .get(id.as_bytes())?
                .map(|b| decode(&b))
                .transpose(),
        }
    }

    /// The device an identity key names, from the working set.
    fn known_key(&self, ws: &mut WorkingSet, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(id) = ws.index.get(key) {
            return Ok(id.clone());
        }
        let id = self
            .index
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        ws.index.insert(key.to_string(), id.clone());
        Ok(id)
    }

    /// A device's record, from the working set.
    fn known_device<'w>(
        &self,
        ws: &'w mut WorkingSet,
        id: &str,
    ) -> Result<Option<&'w DeviceRecord>, StoreError> {
        if !ws.devices.contains_key(id) {
            match self.devices.get(id.as_bytes())? {
                Some(b) => {
                    ws.devices.insert(id.to_string(), decode(&b)?);
                }
                None => return Ok(None),
            }
        }
        Ok(ws.devices.get(id))
    }

    /// Keeps each supply's level history as change points (a point only when the percent
    /// moves), the input of [`forecast`]; a jump up is a replacement.
    fn record_levels(
        &self,
        ws: &mut WorkingSet,
        device: &DeviceRecord,
        reading: &Reading,
    ) -> Result<Vec<Replacement>, StoreError> {
        let Some(at) = seconds(&reading.polled_at) else {
            return Ok(Vec::new());
        };
        let pages = reading
            .meters
            .iter()
            .find(|m| m.name == "total")
            .map(|m| m.value);
        let mut replaced = Vec::new();
        let mut heads = match ws.levels.remove(&device.id) {
            Some(heads) => heads,
            None => self.newest_levels(&device.id)?,
        };
        let mut moved = false;
        for s in &reading.supplies {
            let Some(percent) = s.percent else { continue };
            let supply = crate::alerts::supply_position(s);
            let last = heads.get(&supply).copied();
            if last.is_some_and(|l| l.percent == percent || l.at >= at) {
                continue;
            }
            if let Some(l) = last {
                if i32::from(percent) - i32::from(l.percent) > forecast::REFILL_JUMP {
                    let r = Replacement {
                        device_id: device.id.clone(),
                        site: device.site.clone(),
                        supply: supply.clone(),
                        description: s.description.clone(),
                        from: l.percent,
                        to: percent,
                        at: reading.polled_at.clone(),
                    };
                    let mut k = device.id.as_bytes().to_vec();
                    k.push(0);
                    k.extend_from_slice(reading.polled_at.as_bytes());
                    k.push(0);
                    k.extend_from_slice(supply.as_bytes());
                    self.events.insert(k, encode(&r))?;
                    replaced.push(r);
                }
            }
            let point = LevelPoint { at, percent, pages };
            self.levels.insert(
                level_key(&level_prefix(&device.id, &supply), at),
                encode(&point),
            )?;
            heads.insert(supply, point);
            moved = true;
        }
        if moved {
            self.level_heads
                .insert(device.id.as_bytes(), encode(&heads))?;
        }
        ws.levels.insert(device.id.clone(), heads);
        Ok(replaced)
    }

    /// A device's supplies' newest level points, from sled: its `level_heads` record, or,
    /// for a device whose points an earlier version wrote, the newest of each supply in
    /// level history (one pass over the device's points, once; the record follows with
    /// the next point written).
    fn newest_levels(&self, device: &str) -> Result<LevelHeads, StoreError> {
        if let Some(b) = self.level_heads.get(device.as_bytes())? {
            return decode(&b);
        }
        let mut prefix = device.as_bytes().to_vec();
        prefix.push(0);
        let mut heads = LevelHeads::new();
        for kv in self.levels.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let supply = k[prefix.len()..]
                .split(|&b| b == 0)
                .next()
                .unwrap_or_default();
            let supply = String::from_utf8_lossy(supply);
            // Newest first within each supply: the first point met is its newest.
            if !heads.contains_key(supply.as_ref()) {
                heads.insert(supply.into_owned(), decode(&v)?);
            }
        }
        Ok(heads)
    }

    /// A supply's level history (change points), oldest first.
    pub fn levels(&self, device: &str, supply: &str) -> Result<Vec<LevelPoint>, StoreError> {
        let mut points = self
            .levels
            .scan_prefix(level_prefix(device, supply))
            .values()
            .map(|v| decode(&v?))
            .collect::<Result<Vec<LevelPoint>, StoreError>>()?;
        points.reverse();
        Ok(points)
    }

    /// The forecast for a supply now.
    pub fn forecast(&self, device: &str, supply: &str) -> Result<Forecast, StoreError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(forecast::forecast(&self.levels(device, supply)?, now))
    }

    /// Supplies replaced, for one device or all (""), oldest first per device.
    pub fn replacements(&self, device: &str) -> Result<Vec<Replacement>, StoreError> {
        let mut prefix = device.as_bytes().to_vec();
        if !device.is_empty() {
            prefix.push(0);
        }
        self.events
            .scan_prefix(prefix)
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// Written after a change to the open alerts made outside ingest, so that ingest reads
    /// them again.
    fn alerts_changed(&self) {
        self.alert_changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// A device's open alerts, from the working set while no alert opened or closed since
    /// it read them (the count is taken before reading, so a change during the read is
    /// seen at the next reading).
    fn known_open(
        &self,
        ws: &mut WorkingSet,
        device: &str,
    ) -> Result<BTreeMap<String, AlertKind>, StoreError> {
        let changes = self
            .alert_changes
            .load(std::sync::atomic::Ordering::Acquire);
        if ws.open_as_of != changes {
            ws.open.clear();
            ws.open_as_of = changes;
        }
        if let Some(open) = ws.open.get(device) {
            return Ok(open.clone());
        }
        let open = self.open_for(device)?;
        ws.open.insert(device.to_string(), open.clone());
        Ok(open)
    }

    /// The open alerts of one device (key to kind).
    fn open_for(&self, device: &str) -> Result<BTreeMap<String, AlertKind>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.open.scan_prefix(format!("{device}/").as_bytes()) {
            let (k, id) = kv?;
            if let Some(a) = self.alerts.get(&id)? {
                let a: AlertRecord = decode(&a)?;
                out.insert(String::from_utf8_lossy(&k).into_owned(), a.kind);
            }
        }
        Ok(out)
    }

    fn apply_alerts(
        &self,
        ws: &mut WorkingSet,
        device: &DeviceRecord,
        reading: &Reading,
        policy: &Policy,
    ) -> Result<Changes, StoreError> {
        let open = self.known_open(ws, &device.id)?;
        let keys: BTreeSet<String> = open.keys().cloned().collect();
        let holding = alerts::conditions(
            &device.id,
            reading,
            &keys,
            &policy.rules,
            policy.sites.get(&device.site),
        );
        let t = alerts::transitions(holding, &open, reading);
        let mut changes = Changes::default();
        for c in t.open {
            let days_left = match &c.supply {
                Some(s) => self.forecast(&device.id, &s.at)?.days_left(),
                None => None,
            };
            let alert = NewAlert {
                key: c.key,
                kind: c.kind,
                detail: c.detail,
                supply: c.supply,
                days_left,
            };
            let (record, _) = self.write_open_alert(alert, device, &reading.polled_at, policy)?;
            changes.opened.push(record);
        }
        for key in &t.close {
            if let (Some(r), _) = self.write_close_alert(key, &reading.polled_at, policy)? {
                changes.closed.push(r);
            }
        }
        ws.alerts_changed(&device.id, &changes.opened, &t.close);
        if policy.uploads
            && changes
                .opened
                .iter()
                .any(|a| a.kind == AlertKind::SupplyLow)
        {
            let entry = self.dealer_entry(device)?;
            self.queue_batch("reorder", vec![entry])?;
            changes.queued = true;
        }
        changes.queued |= !changes.opened.is_empty() || !changes.closed.is_empty();
        Ok(changes)
    }

    /// Opens an alert for a condition unless one is open for it; queues its mail.
    pub fn open_alert(
        &self,
        alert: NewAlert,
        device: &DeviceRecord,
        at: &str,
        policy: &Policy,
    ) -> Result<AlertRecord, StoreError> {
        let (record, opened) = self.write_open_alert(alert, device, at, policy)?;
        if opened {
            self.alerts_changed();
        }
        Ok(record)
    }

    /// [`Store::open_alert`] without telling ingest, and whether it opened one (not
    /// finding it open).
    fn write_open_alert(
        &self,
        alert: NewAlert,
        device: &DeviceRecord,
        at: &str,
        policy: &Policy,
    ) -> Result<(AlertRecord, bool), StoreError> {
        let NewAlert {
            key,
            kind,
            detail,
            supply,
            days_left,
        } = alert;
        if let Some(id) = self.open.get(key.as_bytes())? {
            if let Some(a) = self.alerts.get(&id)? {
                return Ok((decode(&a)?, false));
            }
        }
        // The number is written before the alert, so a crash between leaves a gap, never
        // a number used twice.
        let n = self.next_number(b"alert_seq")?;
        let record = AlertRecord {
            id: format!("A{n}"),
            key: key.clone(),
            kind,
            device_id: device.id.clone(),
            site: device.site.clone(),
            printer: printer_name(&device.identity),
            detail,
            supply,
            days_left,
            opened_at: at.to_string(),
            closed_at: None,
        };
        self.alerts.insert(record.id.as_bytes(), encode(&record))?;
        self.open.insert(key.as_bytes(), record.id.as_bytes())?;
        if policy.mail_sites.contains(&record.site) {
            self.mail_out.insert(
                format!("{}/opened", record.id).as_bytes(),
                encode(&MailJob {
                    opened: true,
                    alert: record.clone(),
                }),
            )?;
        }
        Ok((record, true))
    }

    /// Closes the open alert for a condition, if any; queues its mail.
    pub fn close_alert(
        &self,
        key: &str,
        at: &str,
        policy: &Policy,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let (record, changed) = self.write_close_alert(key, at, policy)?;
        if changed {
            self.alerts_changed();
        }
        Ok(record)
    }

    /// [`Store::close_alert`] without telling ingest, and whether the open alerts changed
    /// (a key whose alert record is missing is removed, and nothing is closed).
    fn write_close_alert(
        &self,
        key: &str,
        at: &str,
        policy: &Policy,
    ) -> Result<(Option<AlertRecord>, bool), StoreError> {
        let Some(id) = self.open.get(key.as_bytes())? else {
            return Ok((None, false));
        };
        let Some(a) = self.alerts.get(&id)? else {
            self.open.remove(key.as_bytes())?;
            return Ok((None, true));
        };
        let mut record: AlertRecord = decode(&a)?;
        record.closed_at = Some(at.to_string());
        self.alerts.insert(&id, encode(&record))?;
        if policy.mail_sites.contains(&record.site) {
            self.mail_out.insert(
                format!("{}/closed", record.id).as_bytes(),
                encode(&MailJob {
                    opened: false,
                    alert: record.clone(),
                }),
            )?;
        }
        self.open.remove(key.as_bytes())?;
        Ok((Some(record), true))
    }

    /// Every alert, newest first; only open ones unless `include_closed`.
    pub fn alerts(&self, include_closed: bool) -> Result<Vec<AlertRecord>, StoreError> {
        let mut all: Vec<AlertRecord> = self
            .alerts
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect::<Result<_, _>>()?;
        all.retain(|a| include_closed || a.closed_at.is_none());
        all.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// True when an alert is open for this key.
    pub fn is_open(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.open.contains_key(key.as_bytes())?)
    }

    /// The device last seen at an address of a site.
    pub fn device_at(&self, site: &str, address: &str) -> Result<Option<DeviceRecord>, StoreError> {
        match self.index.get(address_key(site, address).as_bytes())? {
            Some(id) => self.device(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// A device's latest meter read: when, and the meters. Its newest reading's, when that
    /// carries meters; else the last one kept (see `mark_meters`).
    pub fn meter_read(
        &self,
        device: &str,
    ) -> Result<Option<(String, Vec<agent_core::model::Meter>)>, StoreError> {
        self.meter_read_after(device, self.latest(device)?)
    }

    fn meter_read_after(
        &self,
        device: &str,
        latest: Option<Reading>,
    ) -> Result<Option<(String, Vec<agent_core::model::Meter>)>, StoreError> {
        match latest {
            Some(r) if !r.meters.is_empty() => Ok(Some((r.polled_at, r.meters))),
            _ => self
                .meters
                .get(device.as_bytes())?
                .map(|b| decode(&b))
                .transpose(),
        }
    }

    /// A device record with when it was last seen and last had its meters read, which
    /// ingest does not rewrite the record for: from its newest reading.
    fn with_seen(&self, mut d: DeviceRecord) -> Result<DeviceRecord, StoreError> {
        let latest = self.latest(&d.id)?;
        if let Some(r) = &latest {
            d.last_seen.clone_from(&r.polled_at);
        }
        if let Some((at, _)) = self.meter_read_after(&d.id, latest)? {
            d.last_meter_read = Some(at);
        }
        Ok(d)
    }

    /// Collectors that ever stored anything (their sites).
    pub fn collectors(&self) -> Result<Vec<String>, StoreError> {
        self.sequences
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    fn next_number(&self, name: &[u8]) -> Result<u64, StoreError> {
        let n = self.number(name)? + 1;
        self.meta.insert(name, &n.to_be_bytes())?;
        Ok(n)
    }

    fn number(&self, name: &[u8]) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(name)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// A time kept in the store's metadata (when a schedule last ran).
    pub fn mark(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get(format!("mark/{name}").as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Sets such a time, durably.
    pub async fn set_mark(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.meta
            .insert(format!("mark/{name}").as_bytes(), value.as_bytes())?;
        flush(&self.db).await
    }

    /// What the dealer may know of one printer (see [`crate::dealer`]).
    pub fn dealer_entry(&self, device: &DeviceRecord) -> Result<serde_json::Value, StoreError> {
        let latest = self.latest(&device.id)?;
        let meters = self.meter_read(&device.id)?;
        let mut forecasts = BTreeMap::new();
        if let Some(r) = &latest {
            for s in &r.supplies {
                let at = crate::alerts::supply_position(s);
                let f = self.forecast(&device.id, &at)?;
                forecasts.insert(at, f);
            }
        }
        Ok(crate::dealer::device_entry(
            device,
            latest.as_ref(),
            meters.as_ref(),
            &forecasts,
        ))
    }

    /// Queues a batch for the dealer under the next idempotency key. The number is written
    /// first: a crash between leaves a gap, never a key used twice.
    pub fn queue_batch(
        &self,
        reason: &str,
        printers: Vec<serde_json::Value>,
    ) -> Result<String, StoreError> {
        let n = self.next_number(b"batch_seq")?;
        let key = format!("pw-{n:012}");
        let body = crate::dealer::batch_body(&key, reason, printers);
        self.dealer_out.insert(
            key.as_bytes(),
            encode(&DealerBatch {
                key: key.clone(),
                body,
            }),
        )?;
        Ok(key)
    }

    /// How many dealer batches were ever queued (the last idempotency number).
    pub fn batches_queued(&self) -> Result<u64, StoreError> {
        self.number(b"batch_seq")
    }

    /// Makes everything queued so far durable (what a sender does before it sends).
    pub async fn sync(&self) -> Result<(), StoreError> {
        flush(&self.db).await
    }

    /// Dealer batches not yet delivered, oldest first.
    pub fn pending_batches(&self) -> Result<Vec<DealerBatch>, StoreError> {
        self.dealer_out
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// A batch the dealer accepted: deleted, durably.
    pub async fn batch_delivered(&self, key: &str) -> Result<(), StoreError> {
        self.dealer_out.remove(key.as_bytes())?;
        flush(&self.db).await
    }

    /// Mails not yet sent, oldest first.
    pub fn pending_mail(&self) -> Result<Vec<(String, MailJob)>, StoreError> {
        self.mail_out
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode(&v)?))
            })
            .collect()
    }

    /// A mail sent: deleted, durably.
    pub async fn mail_sent(&self, key: &str) -> Result<(), StoreError> {
        self.mail_out.remove(key.as_bytes())?;
        flush(&self.db).await
    }

    /// A printer's collector could not read it: after `unreachable_after_polls` failures in
    /// a row an alert opens (a later reading closes it). Sequence numbers as in `ingest`.
    pub async fn poll_failed(
        &self,
        collector: &str,
        site: &str,
        seq: u64,
        failure: &PollFailure,
        policy: &Policy,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let item = [(seq, Incoming::PollFailed(failure.clone()))];
        match self.only_answer(collector, site, &item, policy).await? {
            Answer::PollFailed(opened) => Ok(opened.map(|a| *a)),
            Answer::Reading(_) => Err(StoreError::Corrupt(
                "a failed poll was answered as a reading".into(),
            )),
        }
    }

    fn write_poll_failed(
        &self,
        ws: &mut WorkingSet,
        collector: &str,
        site: &str,
        seq: u64,
        failure: &PollFailure,
        policy: &Policy,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let PollFailure {
            address,
            consecutive,
            error,
            at,
        } = failure;
        let consecutive = *consecutive;
        if seq <= self.known_sequence(ws, collector)? {
            return Ok(None);
        }
        let mut opened = None;
        if consecutive >= policy.rules.unreachable_after_polls {
            if let Some(device) = self.device_at(site, address)? {
                let key = alerts::device_key(&device.id, AlertKind::Unreachable);
                if !self.is_open(&key)? {
                    let alert = NewAlert::about_printer(
                        key,
                        AlertKind::Unreachable,
                        format!("no answer to {consecutive} polls in a row: {error}"),
                    );
                    let (record, _) = self.write_open_alert(alert, &device, at, policy)?;
                    ws.alerts_changed(&device.id, std::slice::from_ref(&record), &[]);
                    opened = Some(record);
                }
            }
        }
        Ok(opened)
    }

    /// How many devices there are.
    pub fn device_count(&self) -> usize {
        self.device_total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many alerts are open.
    pub fn open_alert_count(&self) -> usize {
        self.open.len()
    }

    /// Mails and dealer batches waiting to be accepted.
    pub fn queued(&self) -> (usize, usize) {
        (self.mail_out.len(), self.dealer_out.len())
    }

    /// Every device.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.devices
            .iter()
            .values()
            .map(|v| self.with_seen(decode(&v?)?))
            .collect()
    }

    /// One device by id.
    pub fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.devices
            .get(id.as_bytes())?
            .map(|b| self.with_seen(decode(&b)?))
            .transpose()
    }

    /// A device's latest reading: the newest in its history (which pruning always keeps).
    pub fn latest(&self, id: &str) -> Result<Option<Reading>, StoreError> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        self.history
            .scan_prefix(prefix)
            .next_back()
            .map(|kv| self.read_history(id, &kv?.1, &mut None))
            .transpose()
    }

    /// A device's readings since `since` (RFC 3339; empty for all), oldest first.
    pub fn history(&self, id: &str, since: &str) -> Result<Vec<Reading>, StoreError> {
        let mut start = id.as_bytes().to_vec();
        start.push(0);
        let prefix = start.clone();
        start.extend_from_slice(since.as_bytes());
        let mut shape = None;
        self.history
            .range(start..)
            .take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| self.read_history(id, &kv?.1, &mut shape))
            .collect()
    }

    /// Deletes history older than `before` (RFC 3339), for every device, except each
    /// device's newest reading, which is its latest. Returns how many readings went.
    pub fn prune_history(&self, before: &str) -> Result<usize, StoreError> {
        let mut gone = 0;
        let mut keys = self.history.iter().keys().peekable();
        while let Some(k) = keys.next() {
            let k = k?;
            let Some(sep) = k.iter().position(|&b| b == 0) else {
                continue;
            };
            let newest = match keys.peek() {
                Some(Ok(next)) => !next.starts_with(&k[..=sep]),
                _ => true,
            };
            let rest = &k[sep + 1..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if !newest && &rest[..end] < before.as_bytes() {
                self.history.remove(&k)?;
                gone += 1;
            }
        }
        self.db.flush()?;
        Ok(gone)
    }
}

/// Where a device's shapes are kept: newest first, so the newest is a forward seek.
fn shape_prefix(device: &str) -> Vec<u8> {
    let mut k = device.as_bytes().to_vec();
    k.push(0);
    k
}

fn shape_key(device: &str, n: u32) -> Vec<u8> {
    let mut k = shape_prefix(device);
    k.extend_from_slice(&(!n).to_be_bytes());
    k
}

fn address_key(site: &str, address: &str) -> String {
    format!("addr:{site}/{address}")
}

fn level_prefix(device: &str, supply: &str) -> Vec<u8> {
    let mut k = device.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(supply.as_bytes());
    k.push(0);
    k
}

/// Where a supply's level point taken at `at` is kept: after the supply's prefix, newest
/// first, so that ingest finds the newest with a forward seek (sled's reverse iteration
/// costs ten times as much, and ingest asks once per supply of every device it meets).
fn level_key(prefix: &[u8], at: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&(!(at as u64)).to_be_bytes());
    k
}

/// Moves level points kept oldest first, in the `levels` tree of earlier versions, into
/// `points`, newest first. Safe to repeat: a crash before the old tree is dropped only means
/// it is copied again onto the same keys.
fn upgrade_levels(db: &sled::Db, points: &sled::Tree) -> Result<(), StoreError> {
    if !db.tree_names().iter().any(|n| n.as_ref() == b"levels") {
        return Ok(());
    }
    let old = db.open_tree("levels")?;
    for kv in old.iter() {
        let (k, v) = kv?;
        let point: LevelPoint = decode(&v)?;
        let prefix = k
            .len()
            .checked_sub(8)
            .map(|n| &k[..n])
            .ok_or_else(|| StoreError::Corrupt("a level point's key is too short".into()))?;
        points.insert(level_key(prefix, point.at), v)?;
    }
    points.flush()?;
    db.drop_tree("levels")?;
    Ok(())
}

/// How long a device's kept meter read may go unrewritten while its values stand still.
const METER_MARK_EVERY: i64 = 86_400;

/// Seconds since the epoch of an RFC 3339 time.
pub fn seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// "HP LaserJet M404 (SN PHB1234)": how mail and listings name a printer.
pub fn printer_name(id: &Identity) -> String {
    let model = match (&id.vendor, &id.model) {
        (_, Some(m)) => m.clone(),
        (Some(v), None) => v.clone(),
        (None, None) => "printer".into(),
    };
    match &id.serial {
        Some(s) if !s.is_empty() => format!("{model} (SN {s})"),
        _ => model,
    }
}

/// Makes everything written so far durable. sled 0.34's `flush_async` waits on sled's own
/// small I/O pool, and the writes it waits for need that pool too: enough concurrent
/// flushes take every thread and nothing is ever written (seen here, in the demo). The
/// blocking flush runs on tokio's blocking pool instead, leaving sled's to sled.
async fn flush(db: &sled::Db) -> Result<(), StoreError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.flush().map(|_| ()))
        .await
        .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("printwatch-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// sled's flusher thread lets go of the lock a moment after the last handle drops; a
    /// restart in production is a new process, here it is the same one.
    fn reopen(dir: &std::path::Path) -> Store {
        for _ in 0..50 {
            if let Ok(s) = Store::open(dir, 8 << 20) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the store did not reopen");
    }

    /// A black toner at `percent`, its state ok.
    fn black_toner(percent: u8) -> agent_core::model::Supply {
        agent_core::model::Supply {
            device_index: 1,
            index: 1,
            description: "Black Toner".into(),
            part_number: None,
            kind: "toner".into(),
            class: agent_core::model::SupplyClass::Consumed,
            color: Some("black".into()),
            unit: Some("percent".into()),
            level: i64::from(percent),
            max_capacity: 100,
            percent: Some(percent),
            percent_source: Some(agent_core::model::PercentSource::LevelOfMax),
            state: agent_core::model::SupplyState::Ok,
        }
    }

    fn reading(address: &str, serial: Option<&str>, mac: Option<&str>, at: &str) -> Reading {
        Reading {
            identity: Identity {
                address: address.into(),
                vendor: Some("HP".into()),
                model: Some("M404".into()),
                serial: serial.map(Into::into),
                mac: mac.map(Into::into),
                ..Identity::default()
            },
            polled_at: at.into(),
            ..Reading::default()
        }
    }

    #[tokio::test]
    async fn level_points_of_earlier_versions_are_moved_and_the_newest_found() {
        let dir = tempdir("levels-upgrade");
        let prefix = level_prefix("sn:SN1", "1.1");
        {
            // Oldest first, as earlier versions kept them.
            let db = sled::open(&dir).unwrap();
            let old = db.open_tree("levels").unwrap();
            for (at, percent) in [(1_000i64, 80u8), (2_000, 70), (3_000, 60)] {
                let mut k = prefix.clone();
                k.extend_from_slice(&at.to_be_bytes());
                let point = LevelPoint {
                    at,
                    percent,
                    pages: None,
                };
                old.insert(k, encode(&point)).unwrap();
            }
            db.flush().unwrap();
        }
        let s = reopen(&dir);
        let points = s.levels("sn:SN1", "1.1").unwrap();
        assert_eq!(
            points.iter().map(|p| (p.at, p.percent)).collect::<Vec<_>>(),
            vec![(1_000, 80), (2_000, 70), (3_000, 60)],
            "oldest first, as before"
        );
        assert!(!s.db.tree_names().iter().any(|n| n.as_ref() == b"levels"));
        // Ingest compares a reading with the newest point: the same percent adds none.
        let mut r = reading("10.0.0.1", Some("SN1"), None, "2026-01-01T00:00:00Z");
        r.supplies.push(black_toner(60));
        s.ingest("hq", "hq", 1, &r).await.unwrap();
        assert_eq!(s.levels("sn:SN1", "1.1").unwrap().len(), 3);
        r.polled_at = "2026-01-01T01:00:00Z".into();
        r.supplies[0].percent = Some(55);
        s.ingest("hq", "hq", 2, &r).await.unwrap();
        drop(s);
        // Opening again finds nothing more to move, and the new point is the newest.
        let s = reopen(&dir);
        let points = s.levels("sn:SN1", "1.1").unwrap();
        assert_eq!(points.len(), 4);
        assert_eq!(points.last().map(|p| p.percent), Some(55));
    }

    #[tokio::test]
    async fn after_a_restart_a_refill_is_seen_from_the_devices_level_heads() {
        let dir = tempdir("heads");
        let at = |h: u32| format!("2026-11-22T{h:02}:00:00Z");
        let cyan = |percent| agent_core::model::Supply {
            index: 2,
            description: "Cyan Toner".into(),
            color: Some("cyan".into()),
            ..black_toner(percent)
        };
        let mut r = reading("10.0.0.5", Some("SN5"), None, &at(1));
        r.supplies = vec![black_toner(30), cyan(50)];
        {
            let s = reopen(&dir);
            s.ingest("hq", "hq", 1, &r).await.unwrap();
            // The cyan toner is missing from the next reading: its newest point stays.
            r.polled_at = at(2);
            r.supplies = vec![black_toner(10)];
            s.ingest("hq", "hq", 2, &r).await.unwrap();
        }
        let s = reopen(&dir);
        let heads = s.newest_levels("sn:SN5").unwrap();
        assert_eq!(
            heads
                .iter()
                .map(|(k, p)| (k.as_str(), p.percent))
                .collect::<Vec<_>>(),
            vec![("1.1", 10), ("1.2", 50)]
        );
        r.polled_at = at(3);
        r.supplies = vec![black_toner(95), cyan(50)];
        let Ingested::Stored { changes, .. } = s.ingest("hq", "hq", 3, &r).await.unwrap() else {
            panic!("not stored");
        };
        assert_eq!(
            changes
                .replaced
                .iter()
                .map(|x| (x.from, x.to))
                .collect::<Vec<_>>(),
            vec![(10, 95)],
            "the refill, measured from the level before the restart"
        );
        assert_eq!(
            s.levels("sn:SN5", "1.2").unwrap().len(),
            1,
            "cyan did not move"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn readings_read_back_whole_and_json_from_earlier_versions_still_reads() {
        let dir = tempdir("encoding");
        let s = reopen(&dir);
        let mut r = reading("10.0.0.9", Some("SN9"), None, "2026-01-01T00:00:00Z");
        r.supplies.push(agent_core::model::Supply {
            part_number: Some("CF259A".into()),
            ..black_toner(40)
        });
        r.meters.push(agent_core::model::Meter {
            name: "total".into(),
            value: 1234,
            source: "prtMarkerLifeCount".into(),
        });
        let Ingested::Stored { device_id, .. } = s.ingest("hq", "hq", 1, &r).await.unwrap() else {
            panic!("not stored");
        };
        assert_eq!(s.latest(&device_id).unwrap().as_ref(), Some(&r));
        assert_eq!(s.history(&device_id, "").unwrap(), vec![r.clone()]);
        // A database written before readings were stored as protobuf.
        let key = |at: &str| format!("{device_id}\0{at}\0hq").into_bytes();
        let mut old = r.clone();
        old.polled_at = "2098-06-01T00:00:00Z".into();
        s.history
            .insert(key(&old.polled_at), serde_json::to_vec(&old).unwrap())
            .unwrap();
        assert_eq!(s.latest(&device_id).unwrap(), Some(old));
        s.history
            .insert(key("2099-06-01T00:00:00Z"), &[0u8, 0xff, 0xff][..])
            .unwrap();
        assert!(
            matches!(s.latest(&device_id), Err(StoreError::Corrupt(_))),
            "damaged bytes are an error, not a panic"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn history_keeps_each_shape_once_and_every_reading_reads_back_as_taken() {
        let dir = tempdir("shapes");
        let shapes_of = |s: &Store, id: &str| s.shapes.scan_prefix(shape_prefix(id)).count();
        let at = |i: u32| format!("2026-11-22T10:00:{i:02}Z");
        let mut taken = Vec::new();
        let device_id;
        {
            let s = reopen(&dir);
            let mut r = reading("10.0.0.7", Some("SN7"), None, &at(0));
            r.identity.firmware = Some("1.0".into());
            for i in 0..6u32 {
                r.polled_at = at(i);
                r.status.printer_status = Some(format!("idle {i}"));
                if i == 3 {
                    // A firmware update: a new shape, from this reading on.
                    r.identity.firmware = Some("2.0".into());
                }
                s.ingest("hq", "hq", u64::from(i) + 1, &r).await.unwrap();
                taken.push(r.clone());
            }
            device_id = s.devices().unwrap()[0].id.clone();
            assert_eq!(shapes_of(&s, &device_id), 2);
            assert_eq!(s.history(&device_id, "").unwrap(), taken);
        }
        // Reopened, ingest knows no shape in memory: it finds the newest and takes it again.
        let s = reopen(&dir);
        let mut r = taken[5].clone();
        r.polled_at = at(6);
        s.ingest("hq", "hq", 7, &r).await.unwrap();
        taken.push(r);
        assert_eq!(shapes_of(&s, &device_id), 2);
        assert_eq!(s.history(&device_id, "").unwrap(), taken);
        assert_eq!(s.latest(&device_id).unwrap().as_ref(), taken.last());
        // A reading whose shape is gone is an error, not a reading with another's identity.
        s.shapes.remove(shape_key(&device_id, 1)).unwrap();
        assert!(matches!(s.latest(&device_id), Err(StoreError::Corrupt(_))));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn ingest_follows_its_own_alert_changes_and_sees_those_made_elsewhere() {
        let dir = tempdir("alert-copy");
        let s = reopen(&dir);
        let policy = Policy::default();
        let mut r = reading("10.0.0.8", Some("SN8"), None, "2026-11-22T10:00:00Z");
        r.supplies.push(agent_core::model::Supply {
            state: agent_core::model::SupplyState::Low,
            ..black_toner(5)
        });
        let mut seq = 0;
        let mut ingest = async |percent: u8| {
            seq += 1;
            r.polled_at = format!("2026-11-22T10:00:{seq:02}Z");
            r.supplies[0].level = i64::from(percent);
            r.supplies[0].percent = Some(percent);
            match s.ingest_with("hq", "hq", seq, &r, &policy).await.unwrap() {
                Ingested::Stored { changes, .. } => (changes.opened.len(), changes.closed.len()),
                Ingested::Duplicate => panic!("a duplicate"),
            }
        };
        assert_eq!(ingest(5).await, (1, 0), "low: opens");
        assert_eq!(
            ingest(4).await,
            (0, 0),
            "still low: ingest knows it is open"
        );
        assert_eq!(ingest(90).await, (0, 1), "refilled: closes");
        assert_eq!(ingest(90).await, (0, 0), "ingest knows it closed");
        assert_eq!(ingest(3).await, (1, 0), "low again: opens again");
        // Closed elsewhere (as the watchdog or an operator would): ingest reads again.
        let key = s.alerts(false).unwrap()[0].key.clone();
        s.close_alert(&key, "2026-11-22T10:01:00Z", &policy)
            .unwrap();
        assert_eq!(
            ingest(3).await,
            (1, 0),
            "closed elsewhere, still low: opens"
        );
        assert_eq!(s.alerts(false).unwrap().len(), 1);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn replays_are_not_stored_twice_and_state_survives_reopening() {
        let dir = tempdir("replay");
        {
            let s = Store::open(&dir, 8 << 20).unwrap();
            for seq in 1..=3 {
                let r = reading(
                    "10.0.0.5",
                    Some("SN1"),
                    None,
                    &format!("2026-11-21T10:00:0{seq}Z"),
                );
                assert!(matches!(
                    s.ingest("hq", "hq", seq, &r).await.unwrap(),
                    Ingested::Stored { .. }
                ));
            }
            // The collector lost the ack of 2 and 3 and sends them again.
            let r = reading("10.0.0.5", Some("SN1"), None, "2026-11-21T10:00:02Z");
            assert_eq!(
                s.ingest("hq", "hq", 2, &r).await.unwrap(),
                Ingested::Duplicate
            );
            assert_eq!(
                s.ingest("hq", "hq", 3, &r).await.unwrap(),
                Ingested::Duplicate
            );
            // Another collector's numbers are its own.
            assert!(matches!(
                s.ingest("branch", "branch", 1, &r).await.unwrap(),
                Ingested::Stored { .. }
            ));
        }
        let s = reopen(&dir);
        assert_eq!(s.last_sequence("hq").unwrap(), 3);
        assert_eq!(s.history("sn:SN1", "").unwrap().len(), 4);
        assert_eq!(
            s.history("sn:SN1", "2026-11-21T10:00:02Z").unwrap().len(),
            3
        );
        assert_eq!(s.devices().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_batch_is_stored_in_order_with_replays_and_failures_in_it() {
        let dir = tempdir("batch");
        let policy = Policy::default();
        let item = |n: u32| {
            Incoming::Reading(Box::new(WireReading::new(reading(
                &format!("10.0.1.{n}"),
                Some(&format!("B{n}")),
                None,
                "2026-11-21T10:00:00Z",
            ))))
        };
        let failed = |n: u32| {
            Incoming::PollFailed(PollFailure {
                address: "10.0.1.1".into(),
                consecutive: n,
                error: "timeout".into(),
                at: "2026-11-21T10:05:00Z".into(),
            })
        };
        {
            let s = Store::open(&dir, 8 << 20).unwrap();
            let batch: Vec<(u64, Incoming)> = vec![
                (1, item(1)),
                (2, item(2)),
                (3, failed(1)),
                (4, failed(2)),
                (5, failed(3)),
            ];
            let answers = s.ingest_batch("hq", "hq", &batch, &policy).await;
            assert_eq!(answers.len(), 5);
            assert!(matches!(
                answers[0],
                Ok(Answer::Reading(Ingested::Stored {
                    new_device: true,
                    ..
                }))
            ));
            assert!(matches!(answers[3], Ok(Answer::PollFailed(None))));
            // The third failure in a row makes the printer at 10.0.1.1 unreachable.
            assert!(
                matches!(&answers[4], Ok(Answer::PollFailed(Some(a))) if a.device_id == "sn:B1"),
                "{:?}",
                answers[4]
            );
            // The collector sends the tail again, and one more.
            let again: Vec<(u64, Incoming)> = vec![(4, failed(2)), (5, failed(3)), (6, item(3))];
            let answers = s.ingest_batch("hq", "hq", &again, &policy).await;
            assert!(matches!(answers[0], Ok(Answer::PollFailed(None))));
            assert!(
                matches!(answers[1], Ok(Answer::PollFailed(None))),
                "a replayed failure opens nothing"
            );
            assert!(matches!(
                answers[2],
                Ok(Answer::Reading(Ingested::Stored { .. }))
            ));
        }
        // One flush made the whole batch durable.
        let s = reopen(&dir);
        assert_eq!(s.last_sequence("hq").unwrap(), 6);
        assert_eq!(s.device_count(), 3);
        assert_eq!(s.open_alert_count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn one_printer_is_one_device_across_addresses_and_sites() {
        let dir = tempdir("dedupe");
        let s = Store::open(&dir, 8 << 20).unwrap();
        // Seen by two sites, then at a new address after a DHCP change.
        let a = s
            .ingest(
                "hq",
                "hq",
                1,
                &reading("10.0.0.5", Some("SN1"), Some("aa:bb"), "t1"),
            )
            .await
            .unwrap();
        let b = s
            .ingest(
                "br",
                "br",
                1,
                &reading("10.9.0.5", Some("SN1"), Some("aa:bb"), "t2"),
            )
            .await
            .unwrap();
        let c = s
            .ingest(
                "hq",
                "hq",
                2,
                &reading("10.0.0.77", Some("SN1"), Some("aa:bb"), "t3"),
            )
            .await
            .unwrap();
        assert_eq!(
            a,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: true,
                changes: Changes::default(),
            }
        );
        assert_eq!(
            b,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: false,
                changes: Changes::default(),
            }
        );
        assert_eq!(
            c,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: false,
                changes: Changes::default(),
            }
        );
        // No serial: the MAC finds it; neither: vendor, model and address.
        s.ingest(
            "hq",
            "hq",
            3,
            &reading("10.0.0.8", None, Some("cc:dd"), "t4"),
        )
        .await
        .unwrap();
        let d = s
            .ingest(
                "hq",
                "hq",
                4,
                &reading("10.0.0.99", None, Some("cc:dd"), "t5"),
            )
            .await
            .unwrap();
        assert_eq!(
            d,
            Ingested::Stored {
                device_id: "mac:cc:dd".into(),
                new_device: false,
                changes: Changes::default(),
            }
        );
        s.ingest("hq", "hq", 5, &reading("10.0.0.9", None, None, "t6"))
            .await
            .unwrap();
        let e = s
            .ingest("hq", "hq", 6, &reading("10.0.0.9", None, None, "t7"))
            .await
            .unwrap();
        assert_eq!(
            e,
            Ingested::Stored {
                device_id: "at:hq/HP/M404/10.0.0.9".into(),
                new_device: false,
                changes: Changes::default(),
            }
        );
        // A different printer (another serial) put where a known one was is a device of its
        // own; one that never gave a serial may be the same printer, as DESIGN's order says.
        let f = s
            .ingest("hq", "hq", 7, &reading("10.0.0.5", Some("SN3"), None, "t8"))
            .await
            .unwrap();
        assert_eq!(
            f,
            Ingested::Stored {
                device_id: "sn:SN3".into(),
                new_device: true,
                changes: Changes::default(),
            }
        );
        let devices = s.devices().unwrap();
        assert_eq!(devices.len(), 4);
        let first = s.device("sn:SN1").unwrap().unwrap();
        assert_eq!(first.addresses, vec!["10.0.0.5", "10.9.0.5", "10.0.0.77"]);
        assert_eq!(
            first.addresses.last().map(String::as_str),
            Some("10.0.0.77")
        );
        assert_eq!(first.site, "hq");
        assert_eq!(s.latest("sn:SN1").unwrap().unwrap().polled_at, "t3");
        assert_eq!(
            first.last_seen, "t3",
            "last seen: the newest reading's time"
        );
        assert_eq!(s.prune_history("t2").unwrap(), 1);
        // Pruning everything keeps each device's newest reading, its latest.
        s.prune_history("t9").unwrap();
        for d in s.devices().unwrap() {
            let kept = s.history(&d.id, "").unwrap();
            assert_eq!(kept.len(), 1, "{}", d.id);
            assert_eq!(s.latest(&d.id).unwrap().as_ref(), kept.first());
            assert_eq!(d.last_seen, kept[0].polled_at);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_last_meter_read_is_exact_without_a_write_per_reading() {
        let dir = tempdir("meters");
        let at = |h: u32| format!("2026-03-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24);
        let with = |h: u32, total: u64| {
            let mut r = reading("10.0.0.9", Some("SNM"), None, &at(h));
            r.meters.push(agent_core::model::Meter {
                name: "total".into(),
                value: total,
                source: "prtMarkerLifeCount".into(),
            });
            r
        };
        let kept = |s: &Store| -> String {
            let (when, _): (String, Vec<agent_core::model::Meter>) =
                decode(&s.meters.get("sn:SNM").unwrap().unwrap()).unwrap();
            when
        };
        let read_at = |s: &Store| {
            s.meter_read("sn:SNM")
                .unwrap()
                .map(|(when, m)| (when, m[0].value))
        };
        let mut seq = 0;
        let mut put = |s: &Store, r: Reading| {
            seq += 1;
            let s = s.clone();
            async move { s.ingest("hq", "hq", seq, &r).await.unwrap() }
        };
        {
            let s = reopen(&dir);
            put(&s, with(0, 100)).await;
            put(&s, with(1, 100)).await;
            assert_eq!(
                read_at(&s),
                Some((at(1), 100)),
                "the newest reading's meters"
            );
            assert_eq!(kept(&s), at(0), "unchanged values are not written again");
            put(&s, reading("10.0.0.9", Some("SNM"), None, &at(2))).await;
            assert_eq!(
                read_at(&s),
                Some((at(1), 100)),
                "no meters now: the last that had some"
            );
            let d = s.device("sn:SNM").unwrap().unwrap();
            assert_eq!((d.last_seen, d.last_meter_read), (at(2), Some(at(1))));
            put(&s, with(3, 150)).await;
            assert_eq!(kept(&s), at(3), "changed values are written");
            put(&s, with(4, 150)).await;
            put(&s, with(28, 150)).await;
            assert_eq!(kept(&s), at(28), "and unchanged ones a day on");
            put(&s, with(29, 150)).await;
        }
        // After a restart, a reading without meters still finds the last one that had them.
        let s = reopen(&dir);
        put(&s, reading("10.0.0.9", Some("SNM"), None, &at(30))).await;
        assert_eq!(read_at(&s), Some((at(29), 150)));
        assert_eq!(kept(&s), at(29));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
