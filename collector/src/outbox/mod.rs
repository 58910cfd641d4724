//! The collector's outbox: everything bound for the coordinator is written here, durably,
//! before it is sent, and forgotten only when the coordinator acknowledges its sequence
//! number. A lost link, a coordinator restart or a collector killed mid-stream loses
//! nothing: what is pending is sent again, and the coordinator stores a replay once.
//!
//! It is an append-only log of segment files (`<first number>.log`, about a MiB each),
//! not a database: a queue is written at one end and read and dropped at the other, and
//! nothing of it needs to stay in memory. (sled 0.34's page cache keeps every page touched
//! once far beyond its capacity: as a sled tree, a long outage's backlog grew the collector
//! by about 14 MiB per 40,000 envelopes.) A segment is deleted when every
//! envelope in it is acknowledged; the newest always stays, so the last number used is
//! never lost. The highest acknowledgement is kept in `acked`, so that a restart does not
//! count acknowledged envelopes as waiting; should it be lost, they are only sent again.

mod record;
mod salvage;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use printwatch_proto::v1 as p;
use prost::Message;

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Reading or writing a file failed (disk full, permissions).
    #[error("the outbox file {0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// Another collector holds the directory.
    #[error("the outbox in {0} is in use by another collector")]
    InUse(PathBuf),
    /// A stored envelope that does not decode.
    #[error("an outbox entry is unreadable: {0}")]
    Decode(#[from] prost::DecodeError),
    /// An envelope too large to store.
    #[error("an envelope of {0} bytes is too large for the outbox")]
    TooLarge(usize),
}

/// Damage found in the outbox when it was opened: where, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageReport {
    /// The segment file.
    pub segment: PathBuf,
    /// Where in it the damage starts.
    pub at_byte: u64,
    /// The first envelope number lost.
    pub lost_from: u64,
    /// The last, when known (none may be lost: damage past a record's end).
    pub lost_to: Option<u64>,
}

impl DamageReport {
    /// What was lost, for people.
    pub fn lost(&self) -> String {
        match self.lost_to {
            Some(to) if to < self.lost_from => "no envelope lost".to_string(),
            Some(to) if to == self.lost_from => format!("envelope {to} lost"),
            Some(to) => format!(
                "envelopes {} to {to} lost ({})",
                self.lost_from,
                to - self.lost_from + 1
            ),
            None => format!(
                "envelopes from {} to the end of the segment lost",
                self.lost_from
            ),
        }
    }
}

/// A durable queue of envelopes numbered 1, 2, 3, ...
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// Made with the outbox: the coordinator counts this outbox's numbers under it.
    identity: String,
    /// How many envelopes the coordinator rejected and were set aside.
    set_aside: AtomicU64,
    /// Damage found when the outbox was opened.
    damage: Vec<DamageReport>,
    /// Held (flock) while the outbox is open: one collector per directory.
    _lock: File,
    log: Mutex<Log>,
    /// The last number handed out, readable without the log's lock.
    last: AtomicU64,
    acked: AtomicU64,
    acked_file: File,
    pushed: tokio::sync::Notify,
    commit: GroupCommit,
    /// Where the last read of pending envelopes stopped, so the next one goes on from
    /// there instead of scanning its segment from the start.
    cursor: Mutex<Option<Cursor>>,
}

/// Segments and the file being appended to. Only the writers and deletion take it.
struct Log {
    /// Every segment by its first number, with the last number in it.
    segments: BTreeMap<u64, u64>,
    /// The newest segment, opened for appending, and its length.
    active: File,
    active_first: u64,
    active_len: u64,
    segment_bytes: u64,
    /// A write failed and could not be undone: nothing more may be appended.
    broken: bool,
}

#[derive(Clone, Copy)]
struct Cursor {
    next: u64,
    segment: u64,
    offset: u64,
}

/// Group commit: the pollers' pushes share flushes. The first push to find no flush
/// running flushes for everyone written so far; the others wait for it, then flush
/// themselves only if their envelope came too late for it. A full pool of pollers costs
/// a few flushes a second, not one each, and a handful of threads, not one per poller.
struct GroupCommit {
    /// The highest sequence number known to be on disk; a change wakes every waiter.
    durable: tokio::sync::watch::Sender<u64>,
    /// True while a flush runs.
    flushing: std::sync::atomic::AtomicBool,
}

/// A segment grows to about this before the next one starts.
const SEGMENT_BYTES: u64 = 1 << 20;
const ACKED: &str = "acked";
const LOCK: &str = "outbox.lock";
const IDENTITY: &str = "identity";
/// Where envelopes the coordinator rejected are kept, one file each, for people.
pub const SET_ASIDE: &str = "set-aside";

/// Options for a file of the outbox: readable by the collector's user only, since
/// readings name the site's printers.
fn private() -> OpenOptions {
    let mut o = OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`. A crash's torn last record is cut off.
    pub fn open(dir: &Path) -> Result<Outbox, OutboxError> {
        Outbox::open_sized(dir, SEGMENT_BYTES)
    }

    /// [`Outbox::open`] with segments of about `segment_bytes` (tests use small ones).
    fn open_sized(dir: &Path, segment_bytes: u64) -> Result<Outbox, OutboxError> {
        private_dir(dir)?;
        let lock_path = dir.join(LOCK);
        let lock = private()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&lock),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } != 0
        {
            return Err(OutboxError::InUse(dir.to_path_buf()));
        }

        // Each segment is read once, keeping every record whose checksum holds. A crash's
        // torn last record is cut off quietly (its push never returned); damage is
        // reported with the numbers it cost, and the segment rewritten with what held,
        // so the records after the damage are sent as usual.
        let survey = survey(dir)?;
        let mut segments = BTreeMap::new();
        for seg in &survey.segments {
            if !seg.found.damage.is_empty() || seg.found.torn_tail.is_some() {
                let mut kept = Vec::with_capacity(seg.bytes.len());
                for (_, range) in &seg.found.records {
                    kept.extend_from_slice(&seg.bytes[range.clone()]);
                }
                rewrite(dir, &seg.path, &kept)?;
            }
            segments.insert(seg.first, seg.last());
        }
        let (damage, last_seen) = (survey.damage, survey.last_used);
        for d in &damage {
            tracing::error!(
                segment = %d.segment.display(),
                byte = d.at_byte,
                "the outbox was damaged: {}; the records after it were recovered",
                d.lost()
            );
        }

        let acked_path = dir.join(ACKED);
        let acked_file = private()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&acked_path)
            .map_err(io_at(&acked_path))?;
        let stored_ack = read_acked(&acked_file);
        let last = match last_seen {
            Some(last) => last.max(stored_ack),
            None => stored_ack,
        };
        let first_kept = segments.keys().next().copied().unwrap_or(last + 1);
        let acked = stored_ack.max(first_kept.saturating_sub(1)).min(last);

        let active_first = match segments.keys().next_back() {
            Some(f) => *f,
            None => {
                let first = last + 1;
                create_segment(dir, first)?;
                segments.insert(first, last);
                first
            }
        };
        let active_path = segment_path(dir, active_first);
        let active = OpenOptions::new()
            .append(true)
            .open(&active_path)
            .map_err(io_at(&active_path))?;
        let active_len = active.metadata().map_err(io_at(&active_path))?.len();
        let identity = identity(dir)?;
        let set_aside = match std::fs::read_dir(dir.join(SET_ASIDE)) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pb"))
                .count() as u64,
            Err(_) => 0,
        };
        Ok(Outbox {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                identity,
                set_aside: AtomicU64::new(set_aside),
                damage,
                _lock: lock,
                log: Mutex::new(Log {
                    segments,
                    active,
                    active_first,
                    active_len,
                    segment_bytes,
                    broken: false,
                }),
                last: AtomicU64::new(last),
                acked: AtomicU64::new(acked),
                acked_file,
                pushed: tokio::sync::Notify::new(),
                commit: GroupCommit {
                    durable: tokio::sync::watch::Sender::new(last),
                    flushing: std::sync::atomic::AtomicBool::new(false),
                },
                cursor: Mutex::new(None),
            }),
        })
    }

    /// Stores `body` under the next sequence number, durably, and returns the envelope.
    /// Sequence numbers start at 1 and never repeat, across restarts too.
    pub async fn push(&self, body: p::envelope::Body) -> Result<p::Envelope, OutboxError> {
        let envelope = self.write(body)?;
        self.durable(envelope.seq).await?;
        self.inner.pushed.notify_one();
        Ok(envelope)
    }

    /// Numbers `body` and appends it, not yet durably: [`Outbox::pending_after`] leaves it
    /// out until a flush covers it.
    fn write(&self, body: p::envelope::Body) -> Result<p::Envelope, OutboxError> {
        let mut log = self.log();
        let seq = self.inner.last.load(Ordering::Acquire) + 1;
        let envelope = p::Envelope {
            seq,
            body: Some(body),
        };
        self.append(&mut log, &envelope)?;
        Ok(envelope)
    }

    /// Appends `envelope` (numbered one after the last) under the log's lock: the log
    /// holds envelopes in number order, so whatever a crash keeps is a prefix, with no gap.
    fn append(&self, log: &mut Log, envelope: &p::Envelope) -> Result<(), OutboxError> {
        let dir = &self.inner.dir;
        if log.broken {
            return Err(OutboxError::Io(
                segment_path(dir, log.active_first),
                std::io::Error::other("an earlier write failed and could not be undone"),
            ));
        }
        let payload = envelope.encode_to_vec();
        if payload.len() > record::MAX_PAYLOAD {
            return Err(OutboxError::TooLarge(payload.len()));
        }
        if log.active_len >= log.segment_bytes {
            self.roll(log, envelope.seq)?;
        }
        let mut bytes = Vec::with_capacity(record::HEADER + payload.len());
        record::encode(envelope.seq, &payload, &mut bytes);
        if let Err(e) = log.active.write_all(&bytes) {
            // Half a record would hide every record after it from a restart: undo it.
            if log.active.set_len(log.active_len).is_err() {
                log.broken = true;
            }
            return Err(OutboxError::Io(segment_path(dir, log.active_first), e));
        }
        log.active_len += bytes.len() as u64;
        log.segments.insert(log.active_first, envelope.seq);
        self.inner.last.store(envelope.seq, Ordering::Release);
        Ok(())
    }

    /// Starts a new segment at `first`. The finished one is made durable first: a flush
    /// syncs only the segment being written.
    fn roll(&self, log: &mut Log, first: u64) -> Result<(), OutboxError> {
        let dir = &self.inner.dir;
        log.active
            .sync_data()
            .map_err(io_at(&segment_path(dir, log.active_first)))?;
        let path = create_segment(dir, first)?;
        log.active = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        log.active_first = first;
        log.active_len = 0;
        log.segments.insert(first, first - 1);
        Ok(())
    }

    /// Returns once everything up to `seq` is on disk, flushing if no one else is.
    async fn durable(&self, seq: u64) -> Result<(), OutboxError> {
        let commit = &self.inner.commit;
        let mut seen = commit.durable.subscribe();
        loop {
            if *seen.borrow_and_update() >= seq {
                return Ok(());
            }
            if commit
                .flushing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let leading = Leading(commit);
                let upto = self.flush().await?;
                commit.durable.send_modify(|d| *d = (*d).max(upto));
                drop(leading);
                continue;
            }
            // A flush is running: wait for it to end, then look again. (The sender lives
            // as long as the outbox, so this cannot fail.)
            let _ = seen.changed().await;
        }
    }

    /// Syncs the segment being written, on tokio's blocking pool; returns the number
    /// everything up to which is now on disk (earlier segments were synced when they
    /// were finished).
    async fn flush(&self) -> Result<u64, OutboxError> {
        let (file, upto, path) = {
            let log = self.log();
            let path = segment_path(&self.inner.dir, log.active_first);
            let file = log.active.try_clone().map_err(io_at(&path))?;
            (file, self.inner.last.load(Ordering::Acquire), path)
        };
        tokio::task::spawn_blocking(move || file.sync_data().map_err(io_at(&path)))
            .await
            .map_err(|e| {
                OutboxError::Io(self.inner.dir.clone(), std::io::Error::other(e.to_string()))
            })??;
        Ok(upto)
    }

    /// Completes after the next `push` (or at once if one happened since the last wait).
    pub async fn pushed(&self) {
        self.inner.pushed.notified().await;
    }

    /// Up to `max` envelopes with a sequence number after `after`, oldest first, as far as
    /// they are on disk. One written but not yet flushed stays back: sent and stored, then
    /// lost here in a crash, its number would be handed out again, and the coordinator
    /// would drop the next envelope under it as a replay.
    pub fn pending_after(&self, after: u64, max: usize) -> Result<Vec<p::Envelope>, OutboxError> {
        let durable = *self.inner.commit.durable.borrow();
        let mut out = Vec::new();
        let mut next = after.max(self.acknowledged()) + 1;
        let mut payload = Vec::new();
        let mut cursor = self.inner.cursor.lock().unwrap_or_else(|p| p.into_inner());
        while next <= durable && out.len() < max {
            // The segment holding `next`, and where in it to start.
            let (segment, offset) = match *cursor {
                Some(c) if c.next == next => (c.segment, c.offset),
                _ => match self.log().segments.range(..=next).next_back() {
                    Some((first, _)) => (*first, 0),
                    None => break,
                },
            };
            let path = segment_path(&self.inner.dir, segment);
            let file = match File::open(&path) {
                Ok(f) => f,
                // Deleted since: everything in it was acknowledged meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    *cursor = None;
                    let acked = self.acknowledged() + 1;
                    if acked <= next {
                        return Err(io_at(&path)(e));
                    }
                    next = acked;
                    continue;
                }
                Err(e) => return Err(io_at(&path)(e)),
            };
            let mut reader = BufReader::with_capacity(64 << 10, file);
            reader.seek(SeekFrom::Start(offset)).map_err(io_at(&path))?;
            let mut at = offset;
            let mut ended = false;
            while next <= durable && out.len() < max {
                match record::read(&mut reader, &mut payload) {
                    Ok(Some(seq)) => {
                        at += (record::HEADER + payload.len()) as u64;
                        if seq >= next {
                            out.push(p::Envelope::decode(&payload[..])?);
                            next = seq + 1;
                        }
                    }
                    // The end of what is written so far.
                    Ok(None) | Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            // At a segment's end, on to the next one, if there is one: it starts where this
            // one ended, or later where damage cost numbers.
            let following = match ended {
                true => self
                    .log()
                    .segments
                    .range(segment + 1..)
                    .next()
                    .map(|(f, _)| *f),
                false => None,
            }
            .filter(|first| *first >= next);
            if let Some(first) = following {
                next = first;
            }
            *cursor = Some(match following {
                Some(first) => Cursor {
                    next,
                    segment: first,
                    offset: 0,
                },
                None => Cursor {
                    next,
                    segment,
                    offset: at,
                },
            });
            if ended && following.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// This outbox's identity, made with it: its hello carries it, so that a new outbox
    /// (the directory lost or wiped) starts a new numbering at the coordinator.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// Keeps envelope `seq`, which the coordinator rejected and will never store, in
    /// `set-aside/` (the envelope, and why in a text file beside it), durably: the ack
    /// that follows then deletes it from the queue. True when it was still here to keep.
    pub fn set_aside(&self, seq: u64, why: &str) -> Result<bool, OutboxError> {
        let Some(env) = self
            .pending_after(seq.saturating_sub(1), 1)?
            .into_iter()
            .find(|e| e.seq == seq)
        else {
            return Ok(false);
        };
        let dir = self.inner.dir.join(SET_ASIDE);
        private_dir(&dir)?;
        let write = |name: String, bytes: &[u8]| -> Result<(), OutboxError> {
            let path = dir.join(name);
            let mut f = private()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .map_err(io_at(&path))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .map_err(io_at(&path))
        };
        write(format!("{seq:020}.why"), format!("{why}\n").as_bytes())?;
        write(format!("{seq:020}.pb"), &env.encode_to_vec())?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&dir))?;
        self.inner.set_aside.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The damage found when this outbox was opened (see [`DamageReport`]).
    pub fn damage(&self) -> &[DamageReport] {
        &self.inner.damage
    }

    /// How many envelopes are set aside (see [`Outbox::set_aside`]).
    pub fn set_aside_count(&self) -> u64 {
        self.inner.set_aside.load(Ordering::Relaxed)
    }

    /// The last sequence number handed out: how many envelopes were ever pushed.
    pub fn last_seq(&self) -> u64 {
        self.inner.last.load(Ordering::Acquire)
    }

    /// Waits, at most `within`, until this is the outbox's last handle: the actors that
    /// held the others are gone, and dropping this one closes the outbox for another
    /// collector to open. False when some handle outlived the wait.
    pub async fn until_last_handle(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while Arc::strong_count(&self.inner) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// How many envelopes wait for an acknowledgement (numbers are contiguous, so this is
    /// arithmetic, cheap enough for every metrics scrape).
    pub fn depth(&self) -> u64 {
        self.last_seq().saturating_sub(self.acknowledged())
    }

    /// The highest sequence number the coordinator has acknowledged: every envelope up to it
    /// is stored there, so it counts what this outbox ever delivered.
    pub fn acknowledged(&self) -> u64 {
        self.inner.acked.load(Ordering::Acquire)
    }

    /// The coordinator has stored everything up to `seq`: forget it. Returns how many
    /// envelopes this acknowledged that were not before.
    pub fn ack(&self, seq: u64) -> Result<u64, OutboxError> {
        let seq = seq.min(self.last_seq());
        let before = self.inner.acked.fetch_max(seq, Ordering::AcqRel);
        if seq <= before {
            return Ok(0);
        }
        // Kept before any segment goes, so a restart never counts deleted envelopes.
        self.inner
            .acked_file
            .write_all_at(&acked_bytes(seq), 0)
            .map_err(io_at(&self.inner.dir.join(ACKED)))?;
        let gone: Vec<u64> = {
            let mut log = self.log();
            let active = log.active_first;
            let gone: Vec<u64> = log
                .segments
                .iter()
                .filter(|(first, last)| **first != active && **last <= seq)
                .map(|(first, _)| *first)
                .collect();
            for first in &gone {
                log.segments.remove(first);
            }
            gone
        };
        for first in gone {
            let path = segment_path(&self.inner.dir, first);
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        }
        Ok(seq - before)
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.inner.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The flush in progress: however it ends (done, failed, or the pusher cancelled), the
/// next push may flush and every waiter looks again.
struct Leading<'a>(&'a GroupCommit);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.flushing.store(false, Ordering::Release);
        self.0.durable.send_modify(|_| {});
    }
}

/// Turns an I/O error on `path` into the outbox's error, naming the file.
fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |e| OutboxError::Io(path.to_path_buf(), e)
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// What an outbox directory holds, read without changing it (the collector may be running):
/// what `printwatch-collector outbox check` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// The outbox's identity, if it has one yet.
    pub identity: Option<String>,
    /// Segments: first number, last number, good records, bytes.
    pub segments: Vec<(u64, u64, usize, u64)>,
    /// Records whose checksums hold.
    pub records: usize,
    /// The highest number acknowledged by the coordinator.
    pub acknowledged: u64,
    /// Good records above it: waiting to be sent.
    pub pending: usize,
    /// Damage, with the numbers it cost.
    pub damage: Vec<DamageReport>,
    /// A crash's torn last record, cut off at the next start (nothing promised is lost).
    pub torn_tail: bool,
    /// Envelopes set aside.
    pub set_aside: usize,
}

/// Reads the outbox in `dir` without changing anything (see [`Inspection`]).
pub fn inspect(dir: &Path) -> Result<Inspection, OutboxError> {
    if !dir.is_dir() {
        return Err(OutboxError::Io(
            dir.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no outbox here"),
        ));
    }
    let mut out = Inspection {
        identity: std::fs::read_to_string(dir.join(IDENTITY))
            .ok()
            .map(|t| t.trim().to_string()),
        acknowledged: File::open(dir.join(ACKED)).map_or(0, |f| read_acked(&f)),
        set_aside: std::fs::read_dir(dir.join(SET_ASIDE)).map_or(0, |e| {
            e.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pb"))
                .count()
        }),
        ..Inspection::default()
    };
    let survey = survey(dir)?;
    for seg in &survey.segments {
        out.torn_tail |= seg.found.torn_tail.is_some();
        out.records += seg.found.records.len();
        out.pending += seg
            .found
            .records
            .iter()
            .filter(|(n, _)| *n > out.acknowledged)
            .count();
        out.segments.push((
            seg.first,
            seg.last(),
            seg.found.records.len(),
            seg.bytes.len() as u64,
        ));
    }
    out.damage = survey.damage;
    Ok(out)
}

/// One segment as read: where, its bytes, and what of them holds.
struct SegmentRead {
    first: u64,
    path: PathBuf,
    bytes: Vec<u8>,
    found: salvage::Salvaged,
}

impl SegmentRead {
    /// The last good number in it (`first - 1` when it holds none).
    fn last(&self) -> u64 {
        self.found
            .records
            .last()
            .map_or(self.first.saturating_sub(1), |(seq, _)| *seq)
    }
}

/// The whole log as read: every segment, the damage across it (within segments and
/// between them) and the highest number it ever used, lost ones included.
struct Survey {
    segments: Vec<SegmentRead>,
    damage: Vec<DamageReport>,
    last_used: Option<u64>,
}

/// Reads every segment of `dir` once (what [`Outbox::open`] mends and [`inspect`] shows).
fn survey(dir: &Path) -> Result<Survey, OutboxError> {
    let mut out = Survey {
        segments: Vec::new(),
        damage: Vec::new(),
        last_used: None,
    };
    for first in segment_firsts(dir)? {
        let path = segment_path(dir, first);
        let bytes = std::fs::read(&path).map_err(io_at(&path))?;
        let found = salvage::salvage(&bytes, first);
        if let Some(before) = out.last_used.filter(|b| first > b + 1) {
            out.damage.push(DamageReport {
                segment: path.clone(),
                at_byte: 0,
                lost_from: before + 1,
                lost_to: Some(first - 1),
            });
        }
        out.damage.extend(found.damage.iter().map(|d| DamageReport {
            segment: path.clone(),
            at_byte: d.bytes.start as u64,
            lost_from: d.lost_from,
            lost_to: d.lost_to,
        }));
        let seg = SegmentRead {
            first,
            path,
            bytes,
            found,
        };
        // Numbers that damage cost are never handed out again: one of them may be stored
        // at the coordinator, which would take a new envelope under it for a replay. Where
        // the count is not known, a record is at least a header long.
        let used = seg
            .found
            .damage
            .iter()
            .map(|d| {
                d.lost_to
                    .unwrap_or_else(|| d.lost_from + (d.bytes.len() / record::HEADER) as u64)
            })
            .fold(seg.last(), u64::max);
        out.last_used = Some(used.max(out.last_used.unwrap_or(0)));
        out.segments.push(seg);
    }
    Ok(out)
}

/// The first numbers of the segments in `dir`, in order.
fn segment_firsts(dir: &Path) -> Result<Vec<u64>, OutboxError> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let name = entry.map_err(io_at(dir))?.file_name();
        if let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Replaces a segment with `bytes`, durably: a new file, synced, renamed over it.
fn rewrite(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
    let tmp = path.with_extension("log.new");
    private()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path))
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(io_at(path))
}

/// Creates a directory of the outbox (and its parents), for the collector's user only.
fn private_dir(dir: &Path) -> Result<(), OutboxError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_at(dir))
}

/// The outbox's identity from `identity`, made (128 random bits, durably) when there is
/// none.
fn identity(dir: &Path) -> Result<String, OutboxError> {
    let path = dir.join(IDENTITY);
    match std::fs::read_to_string(&path) {
        Ok(text)
            if text.trim().len() == 32 && text.trim().bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            return Ok(text.trim().to_string())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(&path)(e)),
    }
    let id = format!("{:032x}", rand::random::<u128>());
    let tmp = dir.join("identity.new");
    private()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{id}\n").as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path))
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(io_at(&path))?;
    Ok(id)
}

/// Creates an empty segment and makes its name durable (the directory is synced).
fn create_segment(dir: &Path, first: u64) -> Result<PathBuf, OutboxError> {
    let path = segment_path(dir, first);
    private()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .and_then(|f| f.sync_all())
        .map_err(io_at(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))?;
    Ok(path)
}

/// What `acked` holds for `seq`: the number and its CRC-32, so a torn write reads as none.
fn acked_bytes(seq: u64) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&seq.to_le_bytes());
    bytes[8..].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    bytes
}

/// The acknowledgement kept in `acked`, or 0 if there is none or it is damaged.
fn read_acked(file: &File) -> u64 {
    let mut bytes = [0u8; 12];
    if file.read_exact_at(&mut bytes, 0).is_err() {
        return 0;
    }
    let [v @ .., c0, c1, c2, c3] = bytes;
    match crc32fast::hash(&v) == u32::from_le_bytes([c0, c1, c2, c3]) {
        true => u64::from_le_bytes(v),
        false => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: u32) -> p::envelope::Body {
        p::envelope::Body::SweepDone(p::SweepDone {
            probed: u64::from(n),
            ..Default::default()
        })
    }

    fn reopen(dir: &Path) -> Outbox {
        for _ in 0..50 {
            if let Ok(o) = Outbox::open(dir) {
                return o;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the outbox did not reopen");
    }

    #[tokio::test]
    async fn pending_until_acked_and_numbers_survive_restarts() {
        let dir = fresh("acks");
        {
            let o = Outbox::open(&dir).unwrap();
            for n in 1..=5 {
                assert_eq!(o.push(body(n)).await.unwrap().seq, u64::from(n));
            }
            assert_eq!(o.ack(2).unwrap(), 2);
            assert_eq!(o.depth(), 3);
        }
        let o = reopen(&dir);
        let seqs = pending_seqs(&o, 0);
        assert_eq!(seqs, vec![3, 4, 5], "unacknowledged envelopes survive");
        assert_eq!(o.pending_after(3, 100).unwrap().len(), 2);
        assert_eq!(o.depth(), 3, "the depth is known again after a restart");
        assert_eq!(
            o.push(body(6)).await.unwrap().seq,
            6,
            "numbers never repeat after a restart"
        );
        assert_eq!(o.ack(6).unwrap(), 4);
        assert_eq!(o.depth(), 0);
        assert_eq!(o.ack(6).unwrap(), 0, "a repeated ack is harmless");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn only_what_is_on_disk_is_handed_out_to_send() {
        let dir = fresh("durable");
        let o = Outbox::open(&dir).unwrap();
        o.push(body(1)).await.unwrap();
        let written = o.write(body(2)).unwrap();
        let seqs = pending_seqs(&o, 0);
        assert_eq!(seqs, vec![1], "an envelope not yet flushed is not sent");
        o.durable(written.seq).await.unwrap();
        let seqs = pending_seqs(&o, 0);
        assert_eq!(seqs, vec![1, 2]);
        drop(o);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_share_flushes_and_all_survive() {
        let dir = fresh("gc");
        {
            let o = Outbox::open(&dir).unwrap();
            let mut pushes = tokio::task::JoinSet::new();
            for n in 0..200 {
                let o = o.clone();
                pushes.spawn(async move { o.push(body(n)).await.map(|e| e.seq) });
            }
            // A push given up half-way leaves no flush marked as running forever.
            let cancelled = o.clone();
            let _ =
                tokio::time::timeout(std::time::Duration::ZERO, cancelled.push(body(999))).await;
            let mut seqs = Vec::new();
            while let Some(done) = pushes.join_next().await {
                seqs.push(done.unwrap().unwrap());
            }
            seqs.sort_unstable();
            seqs.dedup();
            assert_eq!(seqs.len(), 200, "every push got a number of its own");
            let late = tokio::time::timeout(std::time::Duration::from_secs(10), o.push(body(7)))
                .await
                .expect("a push after a cancelled one completes")
                .unwrap();
            assert!(late.seq > 200);
        }
        let o = reopen(&dir);
        assert!(
            o.pending_after(0, 1000).unwrap().len() >= 201,
            "every completed push is on disk"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn fresh(name: &str) -> PathBuf {
        printwatch_tests::tempdir(&format!("outbox-{name}"))
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        v.sort();
        v
    }

    /// An outbox of 200-byte segments in `dir`, with `n` envelopes pushed.
    async fn small_segments(dir: &Path, n: u32) -> Outbox {
        let o = Outbox::open_sized(dir, 200).unwrap();
        for n in 1..=n {
            o.push(body(n)).await.unwrap();
        }
        o
    }

    /// The numbers of what is pending after `after`.
    fn pending_seqs(o: &Outbox, after: u64) -> Vec<u64> {
        let pending = o.pending_after(after, 1000).unwrap();
        pending.iter().map(|e| e.seq).collect()
    }

    /// Reads every pending envelope in pieces of `piece`, as the uplink does.
    fn all_pending(o: &Outbox, piece: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let got = o
                .pending_after(seqs.last().copied().unwrap_or(0), piece)
                .unwrap();
            if got.is_empty() {
                return seqs;
            }
            seqs.extend(got.iter().map(|e| e.seq));
        }
    }

    #[tokio::test]
    async fn segments_roll_are_read_across_and_go_when_acknowledged() {
        let dir = fresh("roll");
        {
            let o = small_segments(&dir, 60).await;
            assert!(segments(&dir).len() > 5, "{:?}", segments(&dir));
            assert_eq!(all_pending(&o, 7), (1..=60).collect::<Vec<_>>());
            assert_eq!(o.ack(45).unwrap(), 45);
            assert_eq!(o.depth(), 15);
            assert_eq!(all_pending(&o, 4), (46..=60).collect::<Vec<_>>());
            // Acknowledging everything keeps the newest segment: the last number stays.
            o.ack(60).unwrap();
            assert_eq!(segments(&dir).len(), 1);
        }
        let o = Outbox::open_sized(&dir, 200).unwrap();
        assert_eq!((o.last_seq(), o.depth()), (60, 0));
        assert!(o.pending_after(0, 100).unwrap().is_empty());
        assert_eq!(o.push(body(61)).await.unwrap().seq, 61);
        drop(o);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_off_and_damage_costs_only_its_records() {
        let dir = fresh("torn");
        drop(small_segments(&dir, 30).await);
        // A crash in the middle of a write: half a record at the end of the newest segment.
        let newest = segments(&dir).pop().unwrap();
        let mut half = Vec::new();
        record::encode(31, &[1, 2, 3, 4, 5, 6], &mut half);
        let mut f = OpenOptions::new().append(true).open(&newest).unwrap();
        f.write_all(&half[..10]).unwrap();
        drop(f);
        {
            let o = Outbox::open_sized(&dir, 200).unwrap();
            assert_eq!(o.last_seq(), 30);
            assert_eq!(o.push(body(31)).await.unwrap().seq, 31);
            assert_eq!(all_pending(&o, 5), (1..=31).collect::<Vec<_>>());
        }
        // A byte flipped in an older segment and one in the newest: each costs its record,
        // said with the numbers; the rest is recovered and sent, and new pushes go on.
        let all = segments(&dir);
        let (oldest, newest) = (all[0].clone(), all[all.len() - 1].clone());
        for seg in [&oldest, &newest] {
            let mut bytes = std::fs::read(seg).unwrap();
            bytes[record::HEADER + 1] ^= 0xff;
            std::fs::write(seg, bytes).unwrap();
        }
        let o = Outbox::open_sized(&dir, 200).expect("damage does not stop the outbox");
        let lost: Vec<(u64, Option<u64>)> = o
            .damage()
            .iter()
            .map(|d| (d.lost_from, d.lost_to))
            .collect();
        let first_of =
            |p: &Path| -> u64 { p.file_stem().unwrap().to_str().unwrap().parse().unwrap() };
        let (a, b) = (first_of(&oldest), first_of(&newest));
        assert_eq!(lost, vec![(a, Some(a)), (b, Some(b))]);
        assert!(o.damage()[0].lost().contains(&format!("envelope {a} lost")));
        let expected: Vec<u64> = (1..=31).filter(|n| *n != a && *n != b).collect();
        assert_eq!(all_pending(&o, 5), expected);
        assert_eq!(
            o.push(body(32)).await.unwrap().seq,
            32,
            "a number lost to damage is not used again"
        );
        drop(o);
        // Reopened, the rewritten segments are clean: nothing more is reported.
        let o = Outbox::open_sized(&dir, 200).unwrap();
        assert!(o.damage().is_empty());
        assert_eq!(all_pending(&o, 5).len(), expected.len() + 1);
        drop(o);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn one_collector_per_directory() {
        let dir = fresh("lock");
        let first = Outbox::open(&dir).unwrap();
        let e = Outbox::open(&dir).err().expect("a second open is refused");
        assert!(matches!(e, OutboxError::InUse(_)), "{e}");
        drop(first);
        assert!(Outbox::open(&dir).is_ok(), "the lock goes with the outbox");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_identity_made_with_it_set_aside_envelopes_and_files_only_for_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = fresh("identity");
        let id = {
            let o = Outbox::open(&dir).unwrap();
            for n in 1..=3 {
                o.push(body(n)).await.unwrap();
            }
            assert!(o
                .set_aside(2, "malformed: an unknown supply state")
                .unwrap());
            assert!(!o.set_aside(9, "never pushed").unwrap());
            assert_eq!(o.set_aside_count(), 1);
            o.ack(3).unwrap();
            o.identity().to_string()
        };
        assert_eq!(id.len(), 32);
        let o = reopen(&dir);
        assert_eq!(o.identity(), id, "the identity stays with the outbox");
        assert_eq!(o.set_aside_count(), 1, "counted again on open");
        let kept = std::fs::read(dir.join(SET_ASIDE).join(format!("{:020}.pb", 2))).unwrap();
        assert_eq!(p::Envelope::decode(&kept[..]).unwrap().seq, 2);
        let why =
            std::fs::read_to_string(dir.join(SET_ASIDE).join(format!("{:020}.why", 2))).unwrap();
        assert!(why.contains("unknown supply state"), "{why}");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{:?}", entry.file_name());
            }
        }
        drop(o);
        // A lost outbox directory: a new one is a new identity.
        let _ = std::fs::remove_dir_all(&dir);
        let o = Outbox::open(&dir).unwrap();
        assert_ne!(o.identity(), id);
        drop(o);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
