//! The store's one writer: everything that changes the store is done here, by the one
//! owner of [`Store`]. A collector's batch (readings, failed polls), the watchdog's clock
//! changes, a sender's "accepted", a mark, a step of pruning: the ingest actor
//! ([`super::Ingestor`]) hands each to its [`Writer`], one at a time.
//!
//! Per reading, in the order that makes a crash safe: the device's meter read and shape
//! when they changed, the history entry, the device's record and index keys when they
//! changed, level points, the alerts the policy opens and closes (with the mails and the
//! dealer batch they call for); then, once per batch, the site's sequence number last. No
//! sled transaction (in sled 0.34 they take a process-wide lock that can deadlock against
//! its flusher); instead every key written is a function of the envelope, so a replay
//! after a crash at any point writes the same keys again and the sequence number makes
//! the rest a duplicate. Nothing is acknowledged before [`durable`] flushed it.

use agent_core::model::Reading;
use serde_json::Value;

use super::dedupe::{contradicts, identity_keys};
use super::working_set::{MeterMemo, ShapeDigest, WorkingSet};
use crate::policy::{dealer_payload, forecast, Policy};
use crate::store::alerts::{device_key, site_alert_key, AlertKind, AlertRecord, SupplyRef};
use crate::store::devices::{address_key, DeviceRecord, Observation};
use crate::store::history::{reading_time, Pruned};
use crate::store::levels::{supply_position, LevelHeads, LevelPoint, Replacement};
use crate::store::outboxes::{DealerBatch, MailJob};
use crate::store::{Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;
use crate::wire_reading::WireReading;

/// A collector's report that it could not read a printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    /// The printer's address as the collector polls it.
    pub address: String,
    /// Polls of it that failed in a row, this one included.
    pub consecutive: u32,
    /// Why.
    pub error: String,
    /// When (checked as a reading's time is).
    pub at: Timestamp,
    /// An `ipps://` printer showed another certificate than the one pinned.
    pub certificate_changed: bool,
}

/// One thing a collector sent that the store keeps, in a batch.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A reading, with the bytes history keeps for it.
    Reading(Box<WireReading>),
    /// A failed poll.
    PollFailed(PollFailure),
    /// An envelope that can never be stored (the collector sets it aside): counted by the
    /// site's `envelopes_refused` alert.
    Refused {
        /// A word: why.
        reason: String,
        /// When it arrived.
        at: Timestamp,
    },
}

/// What the writer did with one item of a batch.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The reading: stored (with what it changed) or a duplicate.
    Reading(Ingested),
    /// The failure, and the unreachable alert it opened if it did.
    PollFailed(Option<Box<AlertRecord>>),
    /// The refusal, and the site's `envelopes_refused` alert if it opened now.
    Refused(Option<Box<AlertRecord>>),
}

/// What storing a reading did.
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
    /// This site's sequence number was stored before: nothing written.
    Duplicate,
    /// The printer belongs to another site: the reading is kept apart as an
    /// [`Observation`] (a conflict for operators) and changes nothing of the device.
    Observed {
        /// The device's id.
        device_id: String,
        /// The site it belongs to.
        owner: String,
    },
    /// The printer is new to a site that has its quota of devices: nothing stored, and the
    /// site's `over_quota` alert opened (the alert, when it opened now).
    OverQuota(Option<Box<AlertRecord>>),
}

/// Alerts opened and closed, and supplies replaced, by one stored reading.
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

/// An alert to open: what condition it is for and what it says.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// The condition's key; one open alert per key.
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

/// What an alert is about, as its record names it: a printer, or a site's collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The device ("" for a site).
    pub device_id: String,
    /// The site.
    pub site: String,
    /// How mail and listings name it.
    pub printer: String,
}

impl Subject {
    /// A printer.
    pub fn of(d: &DeviceRecord) -> Subject {
        Subject {
            device_id: d.id.clone(),
            site: d.site.clone(),
            printer: d.identity.printer_name(),
        }
    }

    /// A site's collector.
    pub fn site(site: &str) -> Subject {
        Subject {
            device_id: String::new(),
            site: site.to_string(),
            printer: format!("the collector of {site}"),
        }
    }
}

/// What the clock brought (the watchdog's checks): alerts to open and close, dealer
/// batches and marks, written together and made durable with one flush.
#[derive(Debug, Clone, Default)]
pub struct ClockChanges {
    /// The time of the check: when alerts open and close.
    pub at: Option<Timestamp>,
    /// Alerts to open (unless open already), each with what it is about.
    pub open: Vec<(NewAlert, Subject)>,
    /// Keys of open alerts to close.
    pub close: Vec<String>,
    /// Dealer batches: why, and the printers' entries.
    pub batches: Vec<(String, Vec<Value>)>,
    /// Marks to set.
    pub marks: Vec<(String, Timestamp)>,
}

/// What applying [`ClockChanges`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Alerts opened (those found open already are not).
    pub opened: Vec<AlertRecord>,
    /// Alerts closed.
    pub closed: Vec<AlertRecord>,
    /// Keys of the dealer batches queued.
    pub batches: Vec<String>,
}

/// How far ahead of the last stored number an envelope may be. Numbers are consecutive;
/// gaps come only from envelopes set aside or lost to a damaged outbox. One far beyond
/// would make every real number after it look like a replay, silencing the site.
pub const MAX_AHEAD: u64 = 1_000_000;

/// How long a device's kept meter read may go unrewritten while its values stand still.
const METER_MARK_EVERY: time::Duration = time::Duration::days(1);

/// The store, the policy, and what ingest keeps in memory.
pub struct Writer {
    store: Store,
    ws: WorkingSet,
    policy: Policy,
}

impl Writer {
    /// The one writer of `store`, applying `policy`.
    pub fn new(store: Store, policy: Policy) -> Writer {
        Writer {
            store,
            ws: WorkingSet::default(),
            policy,
        }
    }

    /// The store, when this writer is done.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// A handle to read what this writer wrote.
    pub fn reader(&self) -> StoreReader {
        self.store.reader()
    }

    /// The rules it applies.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// After an item of a batch failed: what ingest kept in memory is dropped, but what
    /// history holds of the items before it stays, to be committed with them.
    fn forget_but_history(&mut self) {
        self.ws.clear();
        self.store.recount();
    }

    /// After a failed write or flush: what ingest kept in memory is dropped and the
    /// device count taken again, so that sled is the only truth.
    pub fn forget(&mut self) {
        self.ws.clear();
        self.store.discard_history();
        self.store.recount();
    }

    /// [`Writer::write_batch`], then [`durable`]: for tests, benches and tools that do not
    /// overlap flushes with the next batch.
    pub async fn ingest_batch(
        &mut self,
        site: &str,
        items: &[(u64, Incoming)],
    ) -> Vec<Result<Answer, StoreError>> {
        let answers = self.write_batch(site, items, None);
        let answers = durable(&self.reader(), answers).await;
        if answers.iter().any(|a| a.is_err()) {
            self.forget();
        }
        answers
    }

    /// Writes what `site`'s collector sent together, in order, without flushing: nothing
    /// in it may be acknowledged before [`durable`]. It stops at the first item that fails;
    /// the answers are for the items before it, and the error last.
    ///
    /// `follows` is the highest sequence number of the batch written before this one on the
    /// same stream, if any: when that batch was not wholly stored (it failed part way), this
    /// one is refused whole, or its higher numbers would mark the failed ones as stored.
    pub fn write_batch(
        &mut self,
        site: &str,
        items: &[(u64, Incoming)],
        follows: Option<u64>,
    ) -> Vec<Result<Answer, StoreError>> {
        if let Some(before) = follows {
            match self.known_sequence(site) {
                Ok(stored) if stored >= before => {}
                Ok(stored) => {
                    return vec![Err(StoreError::Refused(format!(
                        "the batch before it on this stream was stored only up to {stored}, not {before}"
                    )))]
                }
                Err(e) => return vec![Err(e)],
            }
        }
        let known = match self.known_sequence(site) {
            Ok(known) => known,
            Err(e) => return vec![Err(e)],
        };
        if let Some((seq, _)) = items
            .iter()
            .find(|(seq, _)| *seq > known.saturating_add(MAX_AHEAD))
        {
            return vec![Err(StoreError::Refused(format!(
                "envelope {seq} is far beyond {known}, the last one stored from this outbox \
                 (more than {MAX_AHEAD} ahead): its numbering is broken"
            )))];
        }
        let mut answers = Vec::with_capacity(items.len());
        // The sequence number is written once, after the data of the whole batch: the last
        // thing before the flush, as the crash order wants.
        let mut stored_upto = None;
        for (seq, item) in items {
            let savepoint = self.store.history_savepoint();
            let answer = match item {
                Incoming::Reading(r) => self.write_reading(site, *seq, r).map(Answer::Reading),
                Incoming::PollFailed(f) => self
                    .write_poll_failed(site, *seq, f)
                    .map(|opened| Answer::PollFailed(opened.map(Box::new))),
                Incoming::Refused { reason, at } => self
                    .write_refused(site, *seq, reason, *at)
                    .map(|opened| Answer::Refused(opened.map(Box::new))),
            };
            let failed = answer.is_err();
            if !failed && *seq > self.known_sequence(site).unwrap_or(u64::MAX) {
                self.ws.sequences.insert(site.to_string(), *seq);
                stored_upto = Some(*seq);
            }
            answers.push(answer);
            if failed {
                self.store.history_rollback(savepoint);
                self.forget_but_history();
                break;
            }
        }
        if let Some(seq) = stored_upto {
            // History's segments are written and synced first: the sequence number must
            // never name readings that a crash could take from them.
            let written = self
                .store
                .commit_history()
                .and_then(|()| self.store.set_last_sequence(site, seq));
            if let Err(e) = written {
                self.forget();
                return answers
                    .into_iter()
                    .map(|_| {
                        Err(match &e {
                            // A full disk: said as such, so that ingest stops writing.
                            StoreError::Unwritable(why) => StoreError::Unwritable(why.clone()),
                            StoreError::Sled(sled::Error::Io(io)) => {
                                StoreError::Unwritable(io.to_string())
                            }
                            e => StoreError::Corrupt(format!("writing the sequence number: {e}")),
                        })
                    })
                    .collect();
            }
        }
        answers
    }

    /// The writes of one reading (see the module's order).
    fn write_reading(
        &mut self,
        site: &str,
        seq: u64,
        arrived: &WireReading,
    ) -> Result<Ingested, StoreError> {
        let reading = arrived.reading();
        if seq <= self.known_sequence(site)? {
            return Ok(Ingested::Duplicate);
        }
        let at = arrived.at();
        let keys = identity_keys(site, &reading.identity);
        // The device: the first identity key already known whose device the stronger fields
        // do not contradict, else a new one under the strongest key.
        let mut found = None;
        for k in &keys {
            let Some(id) = self.known_key(k)? else {
                continue;
            };
            if let Some(d) = self.known_device(&id)? {
                if !contradicts(&d.identity, &reading.identity) {
                    found = Some(id);
                    break;
                }
            }
        }
        let new_device = found.is_none();
        if let Some(id) = &found {
            if let Some(owner) = self.owner_if_foreign(id, site)? {
                return self.observe(id, owner, site, seq, reading, at);
            }
        } else if let Some(quota) = self.policy.device_quota {
            if self.site_devices(site)? >= quota {
                let opened = self.over_quota(site, quota, at)?;
                return Ok(Ingested::OverQuota(opened.map(Box::new)));
            }
        }
        let device_id = found.unwrap_or_else(|| keys[0].clone());
        // Taken out of the working set while it changes; put back once written.
        let mut changed = false;
        let mut record = match self.take_device(&device_id)? {
            Some(d) => d,
            None => {
                changed = true;
                Box::new(DeviceRecord {
                    id: device_id.clone(),
                    site: site.to_string(),
                    addresses: Vec::new(),
                    identity: reading.identity.clone(),
                    first_seen: at,
                    last_seen: at,
                    last_meter_read: None,
                })
            }
        };
        if !reading.meters.is_empty() {
            record.last_meter_read = Some(at);
        }
        self.mark_meters(&device_id, reading, at)?;
        // The record is written when what it says changes, not for every reading: when a
        // device was last seen is its newest reading's time.
        changed |= record.identity != reading.identity
            || record.addresses.last() != Some(&reading.identity.address);
        if new_device {
            *self.site_counts()?.entry(site.to_string()).or_default() += 1;
            // Below the quota again: the site's refusals are over.
            self.close_alert(&site_alert_key(site, AlertKind::OverQuota), at)?;
        }
        if changed {
            record.identity = reading.identity.clone();
            record.addresses.retain(|a| *a != reading.identity.address);
            record.addresses.push(reading.identity.address.clone());
        }
        record.last_seen = at;

        let shape = self.shape_number(&device_id, arrived)?;
        self.store.put_history(&device_id, arrived, shape)?;
        if changed {
            self.store.put_device(&record)?;
        }
        let address = address_key(site, &reading.identity.address);
        for k in keys.iter().chain(std::iter::once(&address)) {
            // Rewriting an index entry that already says the same is a write for nothing.
            if self.ws.index.get(k).and_then(Option::as_ref) != Some(&device_id) {
                self.store.put_index(k, &device_id)?;
                self.ws.index.insert(k.clone(), Some(device_id.clone()));
            }
        }
        let replaced = self.record_levels(&record, reading, at)?;
        let mut changes = self.apply_alerts(&record, reading, at)?;
        changes.replaced = replaced;
        self.ws.device(&device_id).record = Some(record);
        Ok(Ingested::Stored {
            device_id,
            new_device,
            changes,
        })
    }

    /// Keeps the device's meter read in the store exact whenever its newest reading
    /// carries no meters (then the kept one is the answer; see
    /// [`StoreReader::meter_read`]). A reading with meters is kept when the values changed,
    /// or a day after the last one kept; otherwise its time only goes into the working
    /// set, and reaches the store when a reading without meters follows. Called before the
    /// reading joins history.
    fn mark_meters(
        &mut self,
        device: &str,
        reading: &Reading,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let memo = match self.ws.device(device).meters.take() {
            Some(memo) => memo,
            None => self.meter_memo(device, reading.meters.is_empty())?,
        };
        let memo = if reading.meters.is_empty() {
            match memo {
                Some(m) if m.kept != Some(m.newest) => {
                    self.store.put_meter_read(device, m.newest, &m.values)?;
                    Some(MeterMemo {
                        kept: Some(m.newest),
                        ..m
                    })
                }
                other => other,
            }
        } else {
            let due = match &memo {
                Some(m) => {
                    m.values != reading.meters
                        || m.kept.is_none_or(|kept| at.since(kept) >= METER_MARK_EVERY)
                }
                None => true,
            };
            if due {
                self.store.put_meter_read(device, at, &reading.meters)?;
            }
            Some(MeterMemo {
                kept: if due {
                    Some(at)
                } else {
                    memo.and_then(|m| m.kept)
                },
                values: reading.meters.clone(),
                newest: at,
            })
        };
        self.ws.device(device).meters = Some(memo);
        Ok(())
    }

    /// What the working set lacks of a device's meter reads, from the store: the one
    /// kept, and, when the reading at hand has no meters, the newest reading if it had some.
    fn meter_memo(&self, device: &str, newest_too: bool) -> Result<Option<MeterMemo>, StoreError> {
        let kept = self.store.kept_meter_read(device)?;
        let newest = match newest_too {
            true => self.store.latest(device)?.filter(|r| !r.meters.is_empty()),
            false => None,
        };
        Ok(match (kept, newest) {
            (kept, Some(r)) => Some(MeterMemo {
                kept: kept.map(|(at, _)| at),
                newest: reading_time(&r)?,
                values: r.meters,
            }),
            (Some((at, values)), None) => Some(MeterMemo {
                kept: Some(at),
                values,
                newest: at,
            }),
            (None, None) => None,
        })
    }

    /// The number of the device's shape that is the reading's (see
    /// [`crate::wire_reading`]): its newest, or, when the reading's differs, a new one,
    /// written before the history that names it. A replay finds the shape it wrote and
    /// takes it again.
    fn shape_number(&mut self, device: &str, arrived: &WireReading) -> Result<u32, StoreError> {
        let bytes = arrived.shape_bytes();
        let digest = ShapeDigest::of(&bytes);
        if let Some((n, known)) = self.ws.devices.get(device).and_then(|d| d.shape.as_ref()) {
            if *known == digest {
                return Ok(*n);
            }
        }
        let newest = match self.ws.device(device).shape.take() {
            Some(known) => Some(known),
            None => self
                .store
                .newest_shape(device)?
                .map(|(n, shape)| (n, ShapeDigest::of(&prost::Message::encode_to_vec(&shape)))),
        };
        let n = match newest {
            Some((n, known)) if known == digest => n,
            newest => {
                let n = match newest {
                    Some((n, _)) => n.checked_add(1).ok_or_else(|| {
                        StoreError::Refused(format!("{device} has changed shape too often"))
                    })?,
                    None => 0,
                };
                self.store.put_shape(device, n, bytes)?;
                n
            }
        };
        self.ws.device(device).shape = Some((n, digest));
        Ok(n)
    }

    /// The site a known device belongs to, when that is not `site`.
    fn owner_if_foreign(&mut self, id: &str, site: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .known_device(id)?
            .filter(|d| d.site != site)
            .map(|d| d.site.clone()))
    }

    /// Keeps another site's reading of a device apart: the newest per site, and how many
    /// there were; nothing else.
    fn observe(
        &mut self,
        id: &str,
        owner: String,
        site: &str,
        seq: u64,
        reading: &Reading,
        at: Timestamp,
    ) -> Result<Ingested, StoreError> {
        let observed = Ingested::Observed {
            device_id: id.to_string(),
            owner,
        };
        let known = self.store.observation(id, site)?;
        if known.as_ref().is_some_and(|o| o.seq >= seq) {
            return Ok(observed);
        }
        let newest = known.as_ref().is_none_or(|o| at >= o.last_seen);
        let o = match known {
            Some(o) if !newest => Observation {
                readings: o.readings + 1,
                seq,
                ..o
            },
            known => Observation {
                device_id: id.to_string(),
                site: site.to_string(),
                address: reading.identity.address.clone(),
                identity: reading.identity.clone(),
                first_seen: known.as_ref().map_or(at, |o| o.first_seen),
                last_seen: at,
                readings: known.as_ref().map_or(0, |o| o.readings) + 1,
                seq,
            },
        };
        self.store.put_observation(&o)?;
        Ok(observed)
    }

    /// How many devices belong to `site`, from the working set.
    fn site_devices(&mut self, site: &str) -> Result<usize, StoreError> {
        Ok(self.site_counts()?.get(site).copied().unwrap_or(0))
    }

    /// Every site's device count, counted from the store once.
    fn site_counts(&mut self) -> Result<&mut std::collections::HashMap<String, usize>, StoreError> {
        if self.ws.site_devices.is_none() {
            self.ws.site_devices = Some(self.store.devices_per_site()?);
        }
        Ok(self.ws.site_devices.get_or_insert_with(Default::default))
    }

    /// A site at its quota: its `over_quota` alert, opened unless open.
    fn over_quota(
        &mut self,
        site: &str,
        quota: usize,
        at: Timestamp,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let alert = NewAlert::about_printer(
            site_alert_key(site, AlertKind::OverQuota),
            AlertKind::OverQuota,
            format!(
                "site {site} has {quota} printers, its quota (max_devices_per_site): readings of printers new to it are refused"
            ),
        );
        let (record, new) = self.open_alert(alert, &Subject::site(site), at)?;
        Ok(new.then_some(record))
    }

    /// Moves a device to another site, as an operator asks: from now on that site's
    /// readings are the device's, and the old owner's are observations.
    pub fn move_device(&mut self, id: &str, to: &str) -> Result<DeviceRecord, StoreError> {
        let result = self.try_move(id, to);
        if result.is_err() {
            self.forget();
        }
        result
    }

    fn try_move(&mut self, id: &str, to: &str) -> Result<DeviceRecord, StoreError> {
        let Some(mut record) = self.take_device(id)? else {
            return Err(StoreError::Refused(format!("no device {id:?}")));
        };
        let from = std::mem::replace(&mut record.site, to.to_string());
        if from != to {
            if let Some(o) = self.store.observation(id, to)? {
                record.addresses.retain(|a| *a != o.address);
                record.addresses.push(o.address.clone());
                self.store.put_index(&address_key(to, &o.address), id)?;
                self.ws.index.remove(&address_key(to, &o.address));
            }
            self.store.put_device(&record)?;
            self.store.delete_observation(id, to)?;
            if let Some(count) = self.ws.site_devices.as_mut() {
                *count.entry(to.to_string()).or_default() += 1;
                if let Some(n) = count.get_mut(&from) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        let moved = DeviceRecord::clone(&record);
        self.ws.device(id).record = Some(record);
        Ok(moved)
    }

    /// A collector said hello with its outbox's identity. A new outbox (the collector's
    /// directory was lost or wiped, and it numbers from 1 again) starts a new sequence for
    /// the site, so its envelopes are stored rather than taken for replays. True when the
    /// outbox is new.
    pub fn outbox_identity(&mut self, site: &str, id: &str) -> Result<bool, StoreError> {
        if self.store.outbox_id(site)?.as_deref() == Some(id) {
            return Ok(false);
        }
        let result = self
            .store
            .set_last_sequence(site, 0)
            .and_then(|()| self.store.set_outbox_id(site, id));
        match result {
            Ok(()) => {
                self.ws.sequences.insert(site.to_string(), 0);
                Ok(true)
            }
            Err(e) => {
                self.forget();
                Err(e)
            }
        }
    }

    /// A site's last stored sequence number, from the working set.
    fn known_sequence(&mut self, site: &str) -> Result<u64, StoreError> {
        if let Some(&seq) = self.ws.sequences.get(site) {
            return Ok(seq);
        }
        let seq = self.store.last_sequence(site)?;
        self.ws.sequences.insert(site.to_string(), seq);
        Ok(seq)
    }

    /// A device's record, taken out of the working set to be changed and put back.
    fn take_device(&mut self, id: &str) -> Result<Option<Box<DeviceRecord>>, StoreError> {
        match self.ws.device(id).record.take() {
            Some(d) => Ok(Some(d)),
            None => Ok(self.store.device_record(id)?.map(Box::new)),
        }
    }

    /// The device an identity key names, from the working set.
    fn known_key(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(id) = self.ws.index.get(key) {
            return Ok(id.clone());
        }
        let id = self.store.device_for_key(key)?;
        self.ws.index.insert(key.to_string(), id.clone());
        Ok(id)
    }

    /// A device's record, from the working set.
    fn known_device(&mut self, id: &str) -> Result<Option<&DeviceRecord>, StoreError> {
        if self.ws.devices.get(id).is_none_or(|d| d.record.is_none()) {
            match self.store.device_record(id)? {
                Some(d) => self.ws.device(id).record = Some(Box::new(d)),
                None => return Ok(None),
            }
        }
        Ok(self.ws.devices.get(id).and_then(|d| d.record.as_deref()))
    }

    /// Keeps each supply's level history as change points (a point only when the percent
    /// moves), the input of the forecast; a jump up is a replacement.
    fn record_levels(
        &mut self,
        device: &DeviceRecord,
        reading: &Reading,
        at: Timestamp,
    ) -> Result<Vec<Replacement>, StoreError> {
        let seconds = at.unix_seconds();
        let pages = reading
            .meters
            .iter()
            .find(|m| m.name == "total")
            .map(|m| m.value);
        let mut replaced = Vec::new();
        let mut heads: LevelHeads = match self.ws.device(&device.id).levels.take() {
            Some(heads) => heads,
            None => self.store.level_heads(&device.id)?,
        };
        let mut moved = false;
        for s in &reading.supplies {
            let Some(percent) = s.percent else { continue };
            let supply = supply_position(s);
            let last = heads.get(&supply).copied();
            if last.is_some_and(|l| l.percent == percent || l.at >= seconds) {
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
                        at,
                    };
                    self.store.put_replacement(&r)?;
                    replaced.push(r);
                }
            }
            let point = LevelPoint {
                at: seconds,
                percent,
                pages,
            };
            self.store.put_level_point(&device.id, &supply, &point)?;
            heads.insert(supply, point);
            moved = true;
        }
        if moved {
            self.store.put_level_heads(&device.id, &heads)?;
        }
        self.ws.device(&device.id).levels = Some(heads);
        Ok(replaced)
    }

    /// A device's open alerts, from the working set.
    fn known_open(
        &mut self,
        device: &str,
    ) -> Result<std::collections::BTreeMap<String, AlertKind>, StoreError> {
        if let Some(open) = self.ws.devices.get(device).and_then(|d| d.open.as_ref()) {
            return Ok(open.clone());
        }
        let open = self.store.open_for(device)?;
        self.ws.device(device).open = Some(open.clone());
        Ok(open)
    }

    /// What the policy says a stored reading changes in its device's alerts, written:
    /// alerts opened and closed, their mails, and a dealer batch at once when a supply
    /// crossed its reorder point.
    fn apply_alerts(
        &mut self,
        device: &DeviceRecord,
        reading: &Reading,
        at: Timestamp,
    ) -> Result<Changes, StoreError> {
        let open = self.known_open(&device.id)?;
        let t = self
            .policy
            .on_reading(&device.id, &device.site, reading, &open);
        let mut changes = Changes::default();
        let subject = Subject::of(device);
        let now = Timestamp::now();
        for c in t.open {
            let days_left = match &c.supply {
                Some(s) => forecast::of(&self.store, &device.id, &s.at, now)?.days_left(),
                None => None,
            };
            let alert = NewAlert {
                key: c.key,
                kind: c.kind,
                detail: c.detail,
                supply: c.supply,
                days_left,
            };
            let (record, _) = self.open_alert(alert, &subject, at)?;
            changes.opened.push(record);
        }
        for key in &t.close {
            if let Some(r) = self.close_alert(key, at)? {
                changes.closed.push(r);
            }
        }
        if self.policy.reorders(&changes.opened) {
            let entry = dealer_payload::entry(&self.store, device, now)?;
            self.queue_batch("reorder", vec![entry])?;
            changes.queued = true;
        }
        changes.queued |= !changes.opened.is_empty() || !changes.closed.is_empty();
        Ok(changes)
    }

    /// Opens an alert for a condition unless one is open for it, and queues its mail.
    /// Returns the open alert, and whether it opened now.
    fn open_alert(
        &mut self,
        alert: NewAlert,
        about: &Subject,
        at: Timestamp,
    ) -> Result<(AlertRecord, bool), StoreError> {
        if let Some(Ok(open)) = self.store.open_alert(&alert.key)? {
            return Ok((open, false));
        }
        let NewAlert {
            key,
            kind,
            detail,
            supply,
            days_left,
        } = alert;
        let record = AlertRecord {
            id: self.store.next_alert_id()?,
            key,
            kind,
            device_id: about.device_id.clone(),
            site: about.site.clone(),
            printer: about.printer.clone(),
            detail,
            supply,
            days_left,
            opened_at: at,
            closed_at: None,
        };
        self.store.put_alert(&record)?;
        self.store.set_open(&record.key, &record.id)?;
        if self.policy.mails(&record.site) {
            self.store.queue_mail(&MailJob {
                opened: true,
                alert: record.clone(),
            })?;
        }
        self.ws.opened(&record.device_id, &record.key, kind);
        Ok((record, true))
    }

    /// Closes the open alert for a condition, if any, and queues its mail. A key whose
    /// alert record is missing is removed, and nothing is closed.
    fn close_alert(&mut self, key: &str, at: Timestamp) -> Result<Option<AlertRecord>, StoreError> {
        let mut record = match self.store.open_alert(key)? {
            None => return Ok(None),
            Some(Err(_)) => {
                self.store.clear_open(key)?;
                // Which device's copy held it is unknown: read them all again.
                self.ws.forget_open();
                return Ok(None);
            }
            Some(Ok(record)) => record,
        };
        record.closed_at = Some(at);
        self.store.put_alert(&record)?;
        if self.policy.mails(&record.site) {
            self.store.queue_mail(&MailJob {
                opened: false,
                alert: record.clone(),
            })?;
        }
        self.store.clear_open(key)?;
        self.ws.closed(&record.device_id, key);
        Ok(Some(record))
    }

    /// Queues a batch for the dealer under the next idempotency key.
    fn queue_batch(&mut self, reason: &str, printers: Vec<Value>) -> Result<String, StoreError> {
        let key = self.store.next_batch_key()?;
        let body = dealer_payload::batch_body(&key, reason, printers);
        self.store.queue_batch(&DealerBatch {
            key: key.clone(),
            body,
        })?;
        Ok(key)
    }

    /// A failed poll: after the policy's number of failures in a row an unreachable alert
    /// opens for the printer last seen at that address (a later reading closes it). A
    /// printer whose certificate changed is not silent but refused: its own alert opens
    /// at the first such poll, as SSH warns at the first connection.
    fn write_poll_failed(
        &mut self,
        site: &str,
        seq: u64,
        failure: &PollFailure,
    ) -> Result<Option<AlertRecord>, StoreError> {
        if seq <= self.known_sequence(site)? {
            return Ok(None);
        }
        let (kind, detail) = if failure.certificate_changed {
            (
                AlertKind::CertificateChanged,
                format!(
                    "not read: {}. If this is not expected, someone may be standing in for the printer",
                    failure.error
                ),
            )
        } else if self.policy.unreachable(failure.consecutive) {
            (
                AlertKind::Unreachable,
                format!(
                    "no answer to {} polls in a row: {}",
                    failure.consecutive, failure.error
                ),
            )
        } else {
            return Ok(None);
        };
        let Some(device) = self.store.device_at(site, &failure.address)? else {
            return Ok(None);
        };
        let key = device_key(&device.id, kind);
        if self.store.is_open(&key)? {
            return Ok(None);
        }
        let alert = NewAlert::about_printer(key, kind, detail);
        let (record, _) = self.open_alert(alert, &Subject::of(&device), failure.at)?;
        Ok(Some(record))
    }

    /// An envelope refused: the site's `envelopes_refused` alert opens (once) and the
    /// time of the latest refusal is marked, for the watchdog to close the alert after a
    /// quiet day.
    fn write_refused(
        &mut self,
        site: &str,
        seq: u64,
        reason: &str,
        at: Timestamp,
    ) -> Result<Option<AlertRecord>, StoreError> {
        if seq <= self.known_sequence(site)? {
            return Ok(None);
        }
        self.store.set_mark(&refused_mark(site), at)?;
        let alert = NewAlert::about_printer(
            site_alert_key(site, AlertKind::EnvelopesRefused),
            AlertKind::EnvelopesRefused,
            format!(
                "the coordinator refused what site {site}'s collector sent ({reason}): the \
                 collector keeps it in its outbox's set-aside directory"
            ),
        );
        let (record, new) = self.open_alert(alert, &Subject::site(site), at)?;
        Ok(new.then_some(record))
    }

    /// Writes what the watchdog decided: closes first, then opens, batches and marks.
    /// Not durable until [`durable`].
    pub fn apply(&mut self, c: &ClockChanges) -> Result<Applied, StoreError> {
        let result = self.try_apply(c);
        if result.is_err() {
            self.forget();
        }
        result
    }

    fn try_apply(&mut self, c: &ClockChanges) -> Result<Applied, StoreError> {
        let at = c.at.unwrap_or_else(Timestamp::now);
        let mut done = Applied::default();
        for key in &c.close {
            if let Some(r) = self.close_alert(key, at)? {
                done.closed.push(r);
            }
        }
        for (alert, about) in &c.open {
            let (record, new) = self.open_alert(alert.clone(), about, at)?;
            if new {
                done.opened.push(record);
            }
        }
        for (reason, printers) in &c.batches {
            done.batches
                .push(self.queue_batch(reason, printers.clone())?);
        }
        for (name, value) in &c.marks {
            self.store.set_mark(name, *value)?;
        }
        Ok(done)
    }

    /// A mail its server accepted (or one that can never be sent): out of the outbox.
    pub fn mail_sent(&mut self, key: &str) -> Result<(), StoreError> {
        self.store.mail_sent(key)
    }

    /// A batch the dealer accepted: out of the outbox.
    pub fn batch_delivered(&mut self, key: &str) -> Result<(), StoreError> {
        self.store.batch_delivered(key)
    }

    /// Adds or replaces a dashboard user.
    pub fn put_user(&mut self, u: &crate::store::users::UserRecord) -> Result<(), StoreError> {
        self.store.put_user(u)
    }

    /// Removes a dashboard user; true when there was one.
    pub fn remove_user(&mut self, name: &str) -> Result<bool, StoreError> {
        self.store.delete_user(name)
    }

    /// Records when a scheduled job was last done.
    pub fn set_mark(&mut self, name: &str, at: Timestamp) -> Result<(), StoreError> {
        self.store.set_mark(name, at)
    }

    /// One step of pruning history (see [`Store::prune_history`]).
    pub fn prune(
        &mut self,
        before: Timestamp,
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pruned, StoreError> {
        self.store.prune_history(before, from, limit)
    }
}

/// The mark holding when `site`'s last envelope was refused.
pub fn refused_mark(site: &str) -> String {
    format!("refused:{site}")
}

/// Flushes what the writer wrote and returns `answers`, or, when the flush failed, the
/// error in place of each (nothing in the batch is durable then).
pub async fn durable<T>(
    store: &StoreReader,
    answers: Vec<Result<T, StoreError>>,
) -> Vec<Result<T, StoreError>> {
    if !answers.iter().any(|a| a.is_ok()) {
        return answers;
    }
    match store.sync().await {
        Ok(()) => answers,
        Err(e) => {
            let e = e.to_string();
            answers
                .into_iter()
                .map(|_| Err(StoreError::Unwritable(e.clone())))
                .collect()
        }
    }
}
