//! History: every reading stored, by device and time, in day segments beside sled (see
//! [`super::segments`] and [`super::history_record`]), and each device's shapes (see
//! [`crate::wire_reading`]: what stays put from poll to poll is kept once per device and
//! named by a number) in sled. A reading that repeats its device's one before costs a few
//! bytes: the time, and what changed.
//!
//! sled keeps what points into the segments: for each day and device, where the device's
//! newest record in that day's segment is (`history_heads`), committed only once the
//! segment's bytes are on disk; and each device's latest reading whole (`latest`), which
//! the fleet view, metrics and the dealer read without touching a segment, and which
//! pruning always keeps.
//!
//! Retention marks a time before which history shows nothing (but each device's latest),
//! and deletes a day's segment once the whole day is before it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use agent_core::model::Reading;
use printwatch_proto::v1 as p;

use super::history_record::{self as record, Rebuilt, View};
use super::segments::{self, day_of, day_start, Appender, Day, SegmentReader};
use super::{device_prefix, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;
use crate::wire_reading::{reshaped_message, WireReading};

/// What one step of pruning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Readings deleted.
    pub removed: usize,
    /// Where the next step starts; `None` when the whole history was seen. (Pruning drops
    /// whole segments, so one step does it all.)
    pub next: Option<Vec<u8>>,
}

/// What history holds on disk, for metrics and the history benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryUsage {
    /// Day segments.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The readings in them (hidden ones before the retention mark included, until their
    /// segment goes).
    pub readings: u64,
}

/// What sled says of one segment: its committed length and the readings in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Committed {
    len: u64,
    readings: u64,
}

impl Committed {
    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.len.to_be_bytes());
        b[8..].copy_from_slice(&self.readings.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Committed, StoreError> {
        match <[u8; 16]>::try_from(b) {
            Ok(b) => Ok(Committed {
                len: u64::from_be_bytes(b[..8].try_into().unwrap_or_default()),
                readings: u64::from_be_bytes(b[8..].try_into().unwrap_or_default()),
            }),
            Err(_) => Err(StoreError::Corrupt("a segment's length".into())),
        }
    }
}

/// Where a segment's committed length is kept in `meta`.
const SEGMENT: &[u8] = b"segment:";
/// Where the retention mark is kept in `meta`.
const HISTORY_START: &[u8] = b"history_start";

fn segment_key(day: Day) -> Vec<u8> {
    let mut k = SEGMENT.to_vec();
    k.extend_from_slice(&day.to_be_bytes());
    k
}

/// A head's key: day first, so that a day's heads go with its segment.
fn head_key(day: Day, device: &str) -> Vec<u8> {
    let mut k = day.to_be_bytes().to_vec();
    k.extend_from_slice(device.as_bytes());
    k
}

/// Where a device's anchors of a day are: day first, so that they go with its segment.
fn anchor_prefix(day: Day, device: &str) -> Vec<u8> {
    let mut k = day.to_be_bytes().to_vec();
    k.extend_from_slice(&device_prefix(device));
    k
}

fn anchor_key(day: Day, device: &str, n: u32) -> Vec<u8> {
    let mut k = anchor_prefix(day, device);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// A reading as a full record without its device: how the writer keeps a device's newest
/// in memory, and how sled keeps an anchor. Cut to its length: the writer keeps two for
/// every device, and a buffer grown by doubling was half empty (4 MiB at ten thousand
/// printers, measured with heaptrack).
fn pack(r: View<'_>) -> Vec<u8> {
    let mut b = Vec::with_capacity(256);
    record::full(0, "", r, &mut b);
    b.shrink_to_fit();
    b
}

fn unpack(b: &[u8]) -> Result<Rebuilt, StoreError> {
    record::rebuild(b, None).map_err(corrupt)
}

/// Where a device's shapes are kept: newest first, so the newest is a forward seek.
fn shape_key(device: &str, n: u32) -> Vec<u8> {
    let mut k = device_prefix(device);
    k.extend_from_slice(&(!n).to_be_bytes());
    k
}

/// A stored reading's time. Every reading was checked when it arrived, so one that does
/// not parse is damage.
pub fn reading_time(r: &Reading) -> Result<Timestamp, StoreError> {
    Timestamp::parse(&r.polled_at)
        .ok_or_else(|| StoreError::Corrupt(format!("a stored reading's time {:?}", r.polled_at)))
}

/// The writer's side of history: what it appended and not yet committed, and each
/// device's newest record, which its next one is a diff of.
#[derive(Debug)]
pub(super) struct HistoryLog {
    dir: PathBuf,
    committed: BTreeMap<Day, Committed>,
    pending: BTreeMap<Day, Vec<u8>>,
    appends: Vec<Appended>,
    heads: HashMap<String, Head>,
    newest: HashMap<String, Timestamp>,
    files: Appender,
}

/// A record appended in the batch being written.
#[derive(Debug)]
struct Appended {
    day: Day,
    device: String,
    at: u64,
    time: Timestamp,
}

/// A device's newest record in a day's segment, as sled keeps it (`history_heads`):
/// where it is, and when its reading was taken. The time lets a writer that starts again
/// know the record for the device's latest reading, and go on from it with a diff
/// instead of a full record and a new anchor for every device after every restart.
/// (Stores written before the time was kept have the offset alone: `time` is `None`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommittedHead {
    at: u64,
    time: Option<Timestamp>,
}

impl CommittedHead {
    fn encode(self) -> Vec<u8> {
        let mut b = self.at.to_be_bytes().to_vec();
        if let Some(t) = self.time {
            b.extend_from_slice(&t.key());
        }
        b
    }

    /// Total: bytes too short for an offset read as offset 0, which no chain starts at
    /// but the first record of a segment (damage that [`chain`] then reports).
    fn decode(b: &[u8]) -> CommittedHead {
        CommittedHead {
            at: b.first_chunk::<8>().map_or(0, |n| u64::from_be_bytes(*n)),
            time: b
                .get(8..)
                .and_then(|t| <[u8; 8]>::try_from(t).ok())
                .map(Timestamp::from_key),
        }
    }
}

/// A device's newest record, in memory: where it is, its anchor, and its reading said
/// as a diff of the anchor (a full record where it cannot be one), exactly as `latest`
/// keeps it: a few dozen bytes beside the anchor where a second full record took two
/// hundred (2 MiB at ten thousand printers).
#[derive(Debug)]
struct Head {
    day: Day,
    at: u64,
    of_anchor: Vec<u8>,
    anchor: Anchor,
}

/// `now` said as a diff of `anchor` (whole when it cannot be one): what the latest holds
/// and the head keeps.
fn said_of(anchor: View<'_>, device: &str, now: View<'_>) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    if !record::diff(1, anchor, now, &mut b) {
        record::full(0, device, now, &mut b);
    }
    b.shrink_to_fit();
    b
}

/// A device's anchor: a reading its latest is said as a diff of (see
/// [`StoreReader::latest`]): its newest full record, kept in sled under its day and number.
#[derive(Debug, Clone)]
struct Anchor {
    day: Day,
    n: u32,
    reading: Vec<u8>,
}

/// A device's latest reading as sled keeps it: the reading, and the anchor it is a diff
/// of with the diff (`None` when it is a full record).
struct Latest {
    reading: Rebuilt,
    anchor: Option<(Anchor, Vec<u8>)>,
}

/// How far the writer got in a batch (see [`Store::history_savepoint`]).
#[derive(Debug, Clone, Copy)]
pub struct Savepoint(usize);

impl HistoryLog {
    /// History in `dir` as sled's `meta` says it was committed: every segment is cut back
    /// to its committed length, and one sled does not know is deleted.
    pub(super) fn open(dir: &Path, meta: &sled::Tree) -> Result<HistoryLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        let committed = committed_segments(meta)?;
        for day in segments::on_disk(dir)? {
            segments::cut(dir, day, committed.get(&day).map_or(0, |c| c.len))?;
        }
        Ok(HistoryLog {
            dir: dir.to_path_buf(),
            committed,
            pending: BTreeMap::new(),
            appends: Vec::new(),
            heads: HashMap::new(),
            newest: HashMap::new(),
            files: Appender::default(),
        })
    }
}

impl Store {
    /// Appends a reading of `device` to history, as a diff of the device's record before
    /// it when it can be one. `shape` is the number of the reading's shape, written before
    /// with [`Store::put_shape`]. Nothing is in history until [`Store::commit_history`].
    /// The device's latest reading is replaced at once when this one is newer.
    pub fn put_history(
        &mut self,
        device: &str,
        arrived: &WireReading,
        shape: u32,
    ) -> Result<(), StoreError> {
        let now = View {
            shape,
            at: arrived.at(),
            rest: arrived.rest(),
        };
        self.append_history(device, now)
    }

    /// [`Store::put_history`] of a reading already split.
    pub(super) fn append_history(&mut self, device: &str, now: View<'_>) -> Result<(), StoreError> {
        let at = now.at;
        let day = day_of(at);
        // A device's newest record and its anchor are in the same day's segment.
        let mut same_day = self.log.heads.remove(device).filter(|h| h.day == day);
        let base = self.log.committed.get(&day).map_or(0, |c| c.len);
        let offset = base + self.log.pending.get(&day).map_or(0, |b| b.len() as u64);
        let before = match &same_day {
            Some(h) => Some(h.at),
            None => match self
                .log
                .appends
                .iter()
                .rev()
                .find(|a| a.day == day && a.device == device)
            {
                Some(a) => Some(a.at),
                None => match self.r.t.heads.get(head_key(day, device))? {
                    Some(v) => {
                        let committed = CommittedHead::decode(&v);
                        same_day = self.resumed_head(device, day, committed)?;
                        Some(committed.at)
                    }
                    None => None,
                },
            },
        };
        let back = before.map_or(0, |b| offset.saturating_sub(b));
        let out = self.log.pending.entry(day).or_default();
        // The anchor decoded once: the head's reading is rebuilt from it, and the new
        // one is said as a diff of it.
        let kept = match &same_day {
            Some(h) => {
                let anchor = unpack(&h.anchor.reading)?;
                let before = match record::header(&h.of_anchor).map_err(corrupt)?.full {
                    true => unpack(&h.of_anchor)?,
                    false => record::rebuild(&h.of_anchor, Some(&anchor)).map_err(corrupt)?,
                };
                record::diff(back, before.view(), now, out).then_some(anchor)
            }
            None => None,
        };
        let (anchor, of_anchor) = match (kept, same_day) {
            (Some(decoded), Some(h)) => (h.anchor, said_of(decoded.view(), device, now)),
            (_, h) => {
                record::full(back, device, now, out);
                let anchor = self.new_anchor(device, now, h.as_ref().map(|h| &h.anchor))?;
                // The anchor is this reading.
                (anchor, said_of(now, device, now))
            }
        };
        self.log.appends.push(Appended {
            day,
            device: device.to_string(),
            at: offset,
            time: at,
        });
        let newest = match self.log.newest.get(device) {
            Some(t) => Some(*t),
            None => self.latest_entry(device)?.map(|(t, _)| t),
        };
        if newest.is_none_or(|t| at >= t) {
            // The latest: a few bytes, a diff of the anchor, where a whole reading was
            // rewritten for every reading before (and sled kept the garbage).
            let mut v = Vec::with_capacity(16 + of_anchor.len());
            v.extend_from_slice(&at.key());
            v.extend_from_slice(&anchor.day.to_be_bytes());
            v.extend_from_slice(&anchor.n.to_be_bytes());
            v.extend_from_slice(&of_anchor);
            self.r.t.latest.insert(device.as_bytes(), v)?;
            self.log.newest.insert(device.to_string(), at);
        }
        self.log.heads.insert(
            device.to_string(),
            Head {
                day,
                at: offset,
                of_anchor,
                anchor,
            },
        );
        Ok(())
    }

    /// The device's newest record of `day` as the writer keeps it in memory, rebuilt from
    /// sled after a restart: its latest reading when that is the record `committed`
    /// names (the same time), with the anchor its latest is a diff of. `None` when it is
    /// not, or the store is older than heads with times: the next record is then a full
    /// one, as it always was after a restart.
    fn resumed_head(
        &self,
        device: &str,
        day: Day,
        committed: CommittedHead,
    ) -> Result<Option<Head>, StoreError> {
        let Some(time) = committed.time else {
            return Ok(None);
        };
        let Some((at, v)) = self.latest_entry(device)? else {
            return Ok(None);
        };
        if at != time {
            return Ok(None);
        }
        let latest = self.r.decode_latest(device, &v)?;
        let Some((anchor, of_anchor)) = latest.anchor.filter(|(a, _)| a.day == day) else {
            return Ok(None);
        };
        Ok(Some(Head {
            day,
            at: committed.at,
            of_anchor,
            anchor,
        }))
    }

    /// Makes `reading`, just written whole, the device's anchor, numbered after the one
    /// before on its day (`before`, or the newest in sled).
    fn new_anchor(
        &mut self,
        device: &str,
        reading: View<'_>,
        before: Option<&Anchor>,
    ) -> Result<Anchor, StoreError> {
        let day = day_of(reading.at);
        let n = match before.filter(|a| a.day == day) {
            Some(a) => a.n + 1,
            None => match self
                .r
                .t
                .anchors
                .scan_prefix(anchor_prefix(day, device))
                .keys()
                .next_back()
            {
                Some(k) => k?
                    .last_chunk::<4>()
                    .map_or(0, |n| u32::from_be_bytes(*n).wrapping_add(1)),
                None => 0,
            },
        };
        let bytes = pack(reading);
        self.r
            .t
            .anchors
            .insert(anchor_key(day, device, n), &bytes[..])?;
        Ok(Anchor {
            day,
            n,
            reading: bytes,
        })
    }

    /// Where the batch being written is: what [`Store::history_rollback`] goes back to
    /// when an item of it fails.
    pub fn history_savepoint(&self) -> Savepoint {
        Savepoint(self.log.appends.len())
    }

    /// Forgets what was appended since `to`. The newest records kept in memory are
    /// forgotten too: each device's next record is a full one.
    pub fn history_rollback(&mut self, to: Savepoint) {
        let log = &mut self.log;
        for a in log.appends.drain(to.0..).rev() {
            let base = log.committed.get(&a.day).map_or(0, |c| c.len);
            if let Some(b) = log.pending.get_mut(&a.day) {
                b.truncate(a.at.saturating_sub(base) as usize);
            }
        }
        log.pending.retain(|_, b| !b.is_empty());
        log.heads.clear();
    }

    /// Makes what was appended durable: each segment's new bytes written and synced,
    /// then (in sled, for its next flush) the segment's committed length and the heads
    /// that point into them. Called once per batch, before its sequence number is
    /// written, so that a sequence number never names readings that are not on disk.
    pub fn commit_history(&mut self) -> Result<(), StoreError> {
        if self.log.pending.is_empty() {
            self.log.appends.clear();
            return Ok(());
        }
        let result = self.try_commit();
        if result.is_err() {
            self.discard_history();
        }
        result
    }

    fn try_commit(&mut self) -> Result<(), StoreError> {
        let log = &mut self.log;
        let pending = std::mem::take(&mut log.pending);
        for (day, bytes) in &pending {
            let base = log.committed.get(day).map_or(0, |c| c.len);
            log.files.append(&log.dir, *day, base, bytes)?;
        }
        let mut heads: HashMap<(Day, &str), CommittedHead> = HashMap::new();
        let mut counts: HashMap<Day, u64> = HashMap::new();
        for a in &log.appends {
            let head = CommittedHead {
                at: a.at,
                time: Some(a.time),
            };
            heads.insert((a.day, &a.device), head);
            *counts.entry(a.day).or_default() += 1;
        }
        for (day, bytes) in &pending {
            let c = log.committed.entry(*day).or_default();
            c.len += bytes.len() as u64;
            c.readings += counts.get(day).copied().unwrap_or(0);
            self.r.t.meta.insert(segment_key(*day), &c.encode()[..])?;
        }
        for ((day, device), head) in heads {
            self.r
                .t
                .heads
                .insert(head_key(day, device), head.encode())?;
        }
        log.appends.clear();
        Ok(())
    }

    /// After a failed write: what was not committed is dropped, and the committed lengths
    /// are read from sled again. Bytes a failed commit left past them are overwritten by
    /// the next, and cut when the store is opened.
    pub fn discard_history(&mut self) {
        let log = &mut self.log;
        log.pending.clear();
        log.appends.clear();
        log.heads.clear();
        log.newest.clear();
        log.files.close();
        if let Ok(committed) = committed_segments(&self.r.t.meta) {
            log.committed = committed;
        }
    }

    /// Empties history: every segment, and what sled keeps of them (before a move from
    /// the old layout, see [`super::migrate`]).
    pub(super) fn clear_history(&mut self) -> Result<(), StoreError> {
        self.discard_history();
        for tree in [&self.r.t.heads, &self.r.t.anchors, &self.r.t.latest] {
            tree.clear()?;
        }
        for day in std::mem::take(&mut self.log.committed).into_keys() {
            self.r.t.meta.remove(segment_key(day))?;
        }
        for day in segments::on_disk(&self.log.dir)? {
            segments::remove(&self.log.dir, day)?;
        }
        self.r.t.meta.remove(HISTORY_START)?;
        Ok(())
    }

    /// Writes shape number `n` of a device.
    pub fn put_shape(&mut self, device: &str, n: u32, shape: Vec<u8>) -> Result<(), StoreError> {
        self.t.shapes.insert(shape_key(device, n), shape)?;
        Ok(())
    }

    /// Prunes history: from now on it shows no reading taken before `before` but each
    /// device's latest, and the segments of the days wholly before it are deleted.
    /// `removed` counts the readings it hid. (`from` and `limit` are kept for the step
    /// loop that calls it; dropping whole segments needs one step.)
    pub fn prune_history(
        &mut self,
        before: Timestamp,
        _from: Option<&[u8]>,
        _limit: usize,
    ) -> Result<Pruned, StoreError> {
        let start = self.history_start()?;
        if start.is_some_and(|s| s >= before) {
            return Ok(Pruned::default());
        }
        let mut done = Pruned::default();
        let days: Vec<Day> = self.log.committed.keys().copied().collect();
        let mut latest = HashMap::new();
        for &day in &days {
            let (first, next) = (day_start(day), day_start(day + 1));
            if first >= before || start.is_some_and(|s| next <= s) {
                continue;
            }
            done.removed += self.hidden_in(day, start, before, &mut latest)?;
        }
        self.r.t.meta.insert(HISTORY_START, &before.key()[..])?;
        for day in days {
            if day_start(day + 1) > before {
                continue;
            }
            // Heads first, then the length, then the file: a crash part way leaves a
            // segment that the next prune, or the next open, deletes.
            for k in self.r.t.heads.scan_prefix(day.to_be_bytes()).keys() {
                self.r.t.heads.remove(k?)?;
            }
            // A day's anchors go with it, but those a device's latest is a diff of.
            for k in self.r.t.anchors.scan_prefix(day.to_be_bytes()).keys() {
                let k = k?;
                let device = k
                    .get(4..k.len().saturating_sub(5))
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                // The day and number the latest of a device anchored here names.
                let mut named = day.to_be_bytes().to_vec();
                named.extend_from_slice(k.get(k.len().saturating_sub(4)..).unwrap_or_default());
                let anchored = self
                    .latest_entry(&device)?
                    .is_some_and(|(_, v)| v.get(8..16) == Some(&named[..]));
                if !anchored {
                    self.r.t.anchors.remove(k)?;
                }
            }
            self.r.t.meta.remove(segment_key(day))?;
            self.log.files.close();
            segments::remove(&self.log.dir, day)?;
            self.log.committed.remove(&day);
            self.log.heads.retain(|_, h| h.day != day);
        }
        Ok(done)
    }

    /// The readings of segment `day` taken in [`start`, `before`) that are not their
    /// device's latest.
    fn hidden_in(
        &self,
        day: Day,
        start: Option<Timestamp>,
        before: Timestamp,
        latest: &mut HashMap<String, Option<Timestamp>>,
    ) -> Result<usize, StoreError> {
        let len = self.log.committed.get(&day).map_or(0, |c| c.len);
        let Some(records) = segments::scan(&self.log.dir, day, len)? else {
            return Ok(0);
        };
        let mut chains: HashMap<u64, (String, Timestamp)> = HashMap::new();
        let mut hidden = 0;
        for (at, bytes) in records {
            let h = record::header(&bytes).map_err(corrupt)?;
            let before_it = match h.back {
                0 => None,
                back => chains.remove(&at.wrapping_sub(back)),
            };
            let (device, t) =
                record::peek(&bytes, before_it.as_ref().map(|b| b.1)).map_err(corrupt)?;
            let device = match (device, before_it) {
                (Some(d), _) => d,
                (None, Some((d, _))) => d,
                (None, None) => {
                    return Err(corrupt(record::BadRecord(
                        "a diff without its device".into(),
                    )))
                }
            };
            if t < before && start.is_none_or(|s| t >= s) {
                let newest = match latest.get(&device) {
                    Some(n) => *n,
                    None => {
                        let n = self.latest_entry(&device)?.map(|(t, _)| t);
                        latest.insert(device.clone(), n);
                        n
                    }
                };
                if newest != Some(t) {
                    hidden += 1;
                }
            }
            chains.insert(at, (device, t));
        }
        Ok(hidden)
    }
}

impl StoreReader {
    /// A device's newest shape and its number.
    pub fn newest_shape(&self, device: &str) -> Result<Option<(u32, p::Reading)>, StoreError> {
        let Some(kv) = self.t.shapes.scan_prefix(device_prefix(device)).next() else {
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

    /// A device's latest reading: the newest it sent (which pruning always keeps).
    ///
    /// sled keeps it as a diff of the device's anchor (its newest full record, kept in sled
    /// with its day): a few bytes rewritten per reading instead of a whole one.
    pub fn latest(&self, device: &str) -> Result<Option<Reading>, StoreError> {
        let Some((_, v)) = self.latest_entry(device)? else {
            return Ok(None);
        };
        let r = self.decode_latest(device, &v)?.reading;
        let shape = self.shape(device, r.shape)?;
        Ok(Some(reshaped_message(r.rest, &shape)?))
    }

    /// A device's `latest` entry `v` rebuilt: the reading, and the anchor it is a diff of
    /// (`None` when it is a full record).
    fn decode_latest(&self, device: &str, v: &[u8]) -> Result<Latest, StoreError> {
        let cut = || StoreError::Corrupt(format!("{device}'s latest reading is cut short"));
        let (day, rest) = v
            .get(8..)
            .and_then(|v| v.split_first_chunk::<4>())
            .ok_or_else(cut)?;
        let (n, bytes) = rest.split_first_chunk::<4>().ok_or_else(cut)?;
        let h = record::header(bytes).map_err(corrupt)?;
        if h.full {
            return Ok(Latest {
                reading: unpack(bytes)?,
                anchor: None,
            });
        }
        let (day, n) = (u32::from_be_bytes(*day), u32::from_be_bytes(*n));
        let anchor = self
            .t
            .anchors
            .get(anchor_key(day, device, n))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{device}'s latest reading has lost its anchor"))
            })?;
        let reading = record::rebuild(bytes, Some(&unpack(&anchor)?)).map_err(corrupt)?;
        Ok(Latest {
            reading,
            anchor: Some((
                Anchor {
                    day,
                    n,
                    reading: anchor.to_vec(),
                },
                bytes.to_vec(),
            )),
        })
    }

    /// The time of a device's latest reading and its entry.
    fn latest_entry(&self, device: &str) -> Result<Option<(Timestamp, sled::IVec)>, StoreError> {
        let Some(v) = self.t.latest.get(device.as_bytes())? else {
            return Ok(None);
        };
        let at = v
            .first_chunk::<8>()
            .map(|k| Timestamp::from_key(*k))
            .ok_or_else(|| StoreError::Corrupt(format!("{device}'s latest reading")))?;
        Ok(Some((at, v)))
    }

    /// Shape number `n` of a device, as stored.
    fn shape(&self, device: &str, n: u32) -> Result<sled::IVec, StoreError> {
        self.t
            .shapes
            .get(shape_key(device, n))?
            .ok_or_else(|| StoreError::Corrupt(format!("{device} has no shape number {n}")))
    }

    /// Before when history shows nothing but each device's latest (see
    /// [`Store::prune_history`]).
    fn history_start(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .t
            .meta
            .get(HISTORY_START)?
            .as_deref()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(Timestamp::from_key))
    }

    /// A device's readings taken at or after `since` (all when `None`), oldest first.
    pub fn history(
        &self,
        device: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<Reading>, StoreError> {
        let from = match (since, self.history_start()?) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut out: Vec<(Timestamp, Reading)> = Vec::new();
        let mut shapes: HashMap<u32, sled::IVec> = HashMap::new();
        for (day, Committed { len, .. }) in committed_segments(&self.t.meta)? {
            if from.is_some_and(|f| day_start(day + 1) <= f) {
                continue;
            }
            let Some(head) = self.t.heads.get(head_key(day, device))? else {
                continue;
            };
            let Some(mut segment) = SegmentReader::open(&self.dir, day)? else {
                continue;
            };
            let chain = chain(&mut segment, CommittedHead::decode(&head).at, len)?;
            let mut before: Option<Rebuilt> = None;
            for bytes in chain.iter().rev() {
                let r = record::rebuild(bytes, before.as_ref()).map_err(corrupt)?;
                if from.is_none_or(|f| r.at >= f) {
                    let shape = match shapes.get(&r.shape) {
                        Some(s) => s.clone(),
                        None => {
                            let s = self.shape(device, r.shape)?;
                            shapes.insert(r.shape, s.clone());
                            s
                        }
                    };
                    out.push((r.at, reshaped_message(r.rest.clone(), &shape)?));
                }
                before = Some(r);
            }
        }
        if let Some((at, _)) = self.latest_entry(device)? {
            if since.is_none_or(|s| at >= s) && !out.iter().any(|(t, _)| *t == at) {
                if let Some(r) = self.latest(device)? {
                    out.push((at, r));
                }
            }
        }
        out.sort_by_key(|(t, _)| *t);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// How many readings of a device history holds.
    pub fn history_len(&self, device: &str) -> usize {
        self.history(device, None).map_or(0, |h| h.len())
    }

    /// What history's segments hold (from sled's record of them: no file is read).
    pub fn history_usage(&self) -> Result<HistoryUsage, StoreError> {
        let mut u = HistoryUsage::default();
        for c in committed_segments(&self.t.meta)?.into_values() {
            u.segments += 1;
            u.bytes += c.len;
            u.readings += c.readings;
        }
        Ok(u)
    }
}

/// Each segment's committed length and readings, by day, as `meta` records them: the one
/// reader of those records (the writer's log when the store opens or a write failed,
/// history's readers, the disk-use metrics).
fn committed_segments(meta: &sled::Tree) -> Result<BTreeMap<Day, Committed>, StoreError> {
    let mut committed = BTreeMap::new();
    for kv in meta.scan_prefix(SEGMENT) {
        let (k, v) = kv?;
        let day = k
            .get(SEGMENT.len()..)
            .and_then(|d| <[u8; 4]>::try_from(d).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("a segment's key".into()))?;
        committed.insert(day, Committed::decode(&v)?);
    }
    Ok(committed)
}

/// The records of a device's chain in a segment, newest first, from its head at `at`;
/// `len` is what the segment holds committed.
fn chain(segment: &mut SegmentReader, mut at: u64, len: u64) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut out = Vec::new();
    loop {
        if at >= len {
            return Err(StoreError::Corrupt(format!(
                "a history record at {at}, past its segment's {len} bytes"
            )));
        }
        let (h, bytes) = segment.record(at)?;
        out.push(bytes);
        match h.back {
            0 => return Ok(out),
            back if back <= at => at -= back,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "a history record at {at} points before its segment"
                )))
            }
        }
    }
}

fn corrupt(e: record::BadRecord) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{dir, reopen};
    use super::*;

    fn reading(at: &str, status: &str) -> WireReading {
        let mut r = Reading {
            polled_at: at.into(),
            ..Reading::default()
        };
        r.identity.serial = Some("SN1".into());
        r.status.printer_status = Some(status.into());
        r.meters.push(agent_core::model::Meter {
            name: "total".into(),
            value: 1000,
            source: "prtMarkerLifeCount".into(),
        });
        WireReading::new(r).expect("a valid reading")
    }

    fn put(s: &mut Store, w: &WireReading) {
        s.put_shape("sn:SN1", 0, w.shape_bytes()).unwrap();
        s.put_history("sn:SN1", w, 0).unwrap();
    }

    fn times(s: &StoreReader) -> Vec<String> {
        s.history("sn:SN1", None)
            .unwrap()
            .into_iter()
            .map(|r| r.polled_at)
            .collect()
    }

    #[test]
    fn readings_read_back_in_time_order_and_pruning_keeps_the_newest() {
        let d = dir("history");
        let mut s = reopen(&d);
        let times_in = [
            "2026-11-21T10:00:00Z",
            "2026-11-21T09:00:00.5Z",
            "2026-11-21T11:00:00Z",
            "2026-11-20T23:59:59.999999999Z",
        ];
        for (i, at) in times_in.iter().enumerate() {
            put(&mut s, &reading(at, &format!("s{i}")));
        }
        s.commit_history().unwrap();
        assert_eq!(
            times(&s),
            [times_in[3], times_in[1], times_in[0], times_in[2]],
            "by time, not by arrival, across days"
        );
        assert_eq!(
            s.latest("sn:SN1").unwrap().map(|r| r.polled_at).as_deref(),
            Some(times_in[2])
        );
        let since = Timestamp::parse(times_in[0]).unwrap();
        assert_eq!(s.history("sn:SN1", Some(since)).unwrap().len(), 2);
        assert_eq!(s.history_usage().unwrap().readings, 4);
        assert_eq!(s.history_usage().unwrap().segments, 2);
        // Before 10:00 on the 21st: two readings go, and the 20th's segment with them.
        let p = s.prune_history(since, None, 1).unwrap();
        assert_eq!(
            p,
            Pruned {
                removed: 2,
                next: None
            }
        );
        assert_eq!(times(&s), [times_in[0], times_in[2]]);
        assert_eq!(s.history_usage().unwrap().segments, 1);
        // Pruning everything keeps the newest.
        let all = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(s.prune_history(all, None, 1).unwrap().removed, 1);
        assert_eq!(times(&s), [times_in[2]]);
        assert_eq!(s.history_usage().unwrap().segments, 0);
        assert_eq!(s.t.anchors.len(), 1, "only the anchor of the latest stays");
        assert_eq!(s.t.heads.len(), 0);
        drop(s);
        let s = reopen(&d);
        assert_eq!(times(&s), [times_in[2]], "and after a restart");
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_reading_like_the_one_before_costs_a_few_bytes() {
        let d = dir("history-diff");
        let mut s = reopen(&d);
        let first = reading("2026-11-21T10:00:00.000000001Z", "idle");
        put(&mut s, &first);
        s.commit_history().unwrap();
        let whole = s.history_usage().unwrap().bytes;
        let mut taken = vec![first.reading().clone()];
        for i in 1..100 {
            let mut r = first.reading().clone();
            r.polled_at = format!(
                "2026-11-21T10:{:02}:{:02}.{i:09}Z",
                i / 12 * 5 % 60,
                i % 12 * 5
            );
            r.meters[0].value += i;
            put(&mut s, &WireReading::new(r.clone()).unwrap());
            taken.push(r);
        }
        s.commit_history().unwrap();
        let each = (s.history_usage().unwrap().bytes - whole) / 99;
        assert!(each <= 12, "{each} bytes a reading");
        taken.sort_by_key(|r| Timestamp::parse(&r.polled_at));
        assert_eq!(s.history("sn:SN1", None).unwrap(), taken);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn what_was_not_committed_is_cut_on_open_and_a_torn_tail_too() {
        let d = dir("history-crash");
        let mut s = reopen(&d);
        put(&mut s, &reading("2026-11-21T10:00:00Z", "a"));
        s.commit_history().unwrap();
        put(&mut s, &reading("2026-11-21T10:05:00Z", "b"));
        s.commit_history().unwrap();
        futures_flush(&s);
        let day = day_of(Timestamp::parse("2026-11-21T10:00:00Z").unwrap());
        let path = segments::path(&d.join("history"), day);
        let committed = std::fs::metadata(&path).unwrap().len();
        // A batch written but never committed (the process died before its sequence
        // number), and half a record after it.
        put(&mut s, &reading("2026-11-21T10:10:00Z", "c"));
        let _ = s.history_savepoint();
        let pending: Vec<u8> = s.log.pending.values().flatten().copied().collect();
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&pending);
        bytes.extend_from_slice(&[0x30, 0x02]);
        std::fs::write(&path, &bytes).unwrap();
        let mut s = reopen(&d);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), committed);
        assert_eq!(
            times(&s),
            [
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:05:00Z",
                "2026-11-21T10:10:00Z"
            ],
            "the latest was written at once; its record went with the cut"
        );
        // The replay writes it once: its record, a full one after the restart.
        put(&mut s, &reading("2026-11-21T10:10:00Z", "c"));
        s.commit_history().unwrap();
        assert_eq!(s.history("sn:SN1", None).unwrap().len(), 3);
        assert_eq!(s.history_usage().unwrap().readings, 3);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_rolled_back_item_leaves_nothing_and_damage_is_an_error() {
        let d = dir("history-damage");
        let mut s = reopen(&d);
        let w = reading("2026-11-21T10:00:00Z", "idle");
        put(&mut s, &w);
        let sp = s.history_savepoint();
        put(&mut s, &reading("2026-11-21T10:05:00Z", "x"));
        s.history_rollback(sp);
        s.commit_history().unwrap();
        assert_eq!(s.history_usage().unwrap().readings, 1);
        s.t.shapes.remove(shape_key("sn:SN1", 0)).unwrap();
        assert!(matches!(s.latest("sn:SN1"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            s.history("sn:SN1", None),
            Err(StoreError::Corrupt(_))
        ));
        s.put_shape("sn:SN1", 0, w.shape_bytes()).unwrap();
        s.t.latest.insert("sn:SN1", &[1u8, 0, 0][..]).unwrap();
        assert!(matches!(s.latest("sn:SN1"), Err(StoreError::Corrupt(_))));
        let day = day_of(w.at());
        s.t.heads
            .insert(head_key(day, "sn:SN1"), &9_999u64.to_be_bytes()[..])
            .unwrap();
        assert!(matches!(
            s.history("sn:SN1", None),
            Err(StoreError::Corrupt(_))
        ));
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_restart_goes_on_with_a_diff_and_an_older_head_with_a_full_record() {
        let d = dir("history-resume");
        let mut s = reopen(&d);
        let mut taken = Vec::new();
        let next = |i: u64, taken: &mut Vec<Reading>| {
            let mut r = reading("2026-11-21T10:00:00Z", "idle").reading().clone();
            r.polled_at = format!("2026-11-21T10:{i:02}:00Z");
            r.meters[0].value += i;
            taken.push(r.clone());
            WireReading::new(r).unwrap()
        };
        put(&mut s, &next(0, &mut taken));
        put(&mut s, &next(1, &mut taken));
        s.commit_history().unwrap();
        drop(s);
        // After a restart, the next record is a diff of the one before it on disk.
        let mut s = reopen(&d);
        let before = s.history_usage().unwrap().bytes;
        put(&mut s, &next(2, &mut taken));
        s.commit_history().unwrap();
        let each = s.history_usage().unwrap().bytes - before;
        assert!(each <= 12, "{each} bytes after a restart");
        assert_eq!(s.t.anchors.len(), 1, "no new anchor for a restart");
        assert_eq!(s.history("sn:SN1", None).unwrap(), taken);
        assert_eq!(s.latest("sn:SN1").unwrap().as_ref(), taken.last());
        // A head as stores before it kept one (its offset alone): a full record, read
        // back the same.
        let day = day_of(Timestamp::parse("2026-11-21T10:00:00Z").unwrap());
        let key = head_key(day, "sn:SN1");
        let head = s.t.heads.get(&key).unwrap().unwrap();
        s.t.heads.insert(&key, &head[..8]).unwrap();
        drop(s);
        let mut s = reopen(&d);
        let before = s.history_usage().unwrap().bytes;
        put(&mut s, &next(3, &mut taken));
        s.commit_history().unwrap();
        assert!(
            s.history_usage().unwrap().bytes - before > 12,
            "a full record"
        );
        assert_eq!(s.t.anchors.len(), 2);
        assert_eq!(s.history("sn:SN1", None).unwrap(), taken);
        assert_eq!(s.latest("sn:SN1").unwrap().as_ref(), taken.last());
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// sled's background flush is not awaited here: commits are what the test is about.
    fn futures_flush(s: &Store) {
        let _ = s.db.flush();
    }
}
