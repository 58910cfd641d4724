//! The coordinator's state in sled, one module per kind of record: [`devices`] (and the
//! identity index), [`history`] (readings and their shapes), [`levels`] (level points,
//! each device's newest, replacements), [`meters`], [`alerts`], [`outboxes`] (mail and
//! dealer batches), [`marks`] (what the clock-driven checks last did) and [`sequences`]
//! (each site's last stored envelope).
//!
//! The store stores and decides nothing: which device a reading is, which alerts open,
//! what is mailed or uploaded are decided by the ingest side ([`crate::ingest`]) and the
//! policy ([`crate::policy`]). And it has one writer. [`Store`], the only handle with write
//! methods, is not `Clone`: the ingest actor owns it, and everyone else (queries, the
//! watchdog, the senders, metrics) holds a [`StoreReader`] and asks ingest by message for
//! any change. So no two writers can race on a record or a counter.
//!
//! Nothing written is durable until [`StoreReader::sync`]: ingest writes a batch, syncs,
//! and only then acknowledges it.

pub mod alerts;
pub mod devices;
pub mod flush_gate;
pub mod history;
pub mod history_record;
pub mod levels;
pub mod marks;
pub mod meters;
pub mod migrate;
pub mod outboxes;
pub mod segments;
pub mod sequences;
pub mod users;

use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

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
    /// A flush failed: nothing written since the last one is durable, and sled refuses
    /// every write from now on (a full disk; see [`crate::disk`]).
    #[error("unavailable: the database cannot be written: {0}")]
    Unwritable(String),
}

impl From<crate::wire_reading::UnreadableReading> for StoreError {
    fn from(e: crate::wire_reading::UnreadableReading) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// What one tree holds (see [`StoreReader::tree_usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// The tree's name.
    pub name: &'static str,
    /// Its entries.
    pub entries: u64,
    /// The bytes of their keys.
    pub key_bytes: u64,
    /// The bytes of their values.
    pub value_bytes: u64,
}

/// The trees, opened once.
struct Trees {
    devices: sled::Tree,
    observations: sled::Tree,
    index: sled::Tree,
    /// Where each device's newest record in each day's history segment is.
    heads: sled::Tree,
    /// Each device's latest reading, as a diff of its anchor.
    latest: sled::Tree,
    /// Anchors: full readings a latest is a diff of, by day, device and number.
    anchors: sled::Tree,
    shapes: sled::Tree,
    sequences: sled::Tree,
    alerts: sled::Tree,
    open: sled::Tree,
    levels: sled::Tree,
    level_heads: sled::Tree,
    events: sled::Tree,
    meters: sled::Tree,
    mail_out: sled::Tree,
    dealer_out: sled::Tree,
    meta: sled::Tree,
    users: sled::Tree,
}

/// A handle that reads the store, for anyone. Cheap to clone.
#[derive(Clone)]
pub struct StoreReader {
    db: sled::Db,
    t: Arc<Trees>,
    /// Where history's segments are.
    dir: Arc<std::path::PathBuf>,
    /// How many device records there are. sled counts a tree by walking it, which a
    /// metrics scrape of a large fleet would pay every time; the writer, which alone adds
    /// devices, keeps this count.
    device_total: Arc<AtomicUsize>,
    /// One flush at a time, shared by whoever asked while the last one ran.
    flush_gate: Arc<flush_gate::FlushGate>,
}

/// The one handle that writes: owned by the ingest actor (see [`crate::ingest`]). Not
/// `Clone`, so there is one writer by construction. It reads too (it derefs to a
/// [`StoreReader`]).
///
/// There is no second writer to be had:
///
/// ```compile_fail
/// fn two_writers<T: Clone>() {}
/// two_writers::<printwatch_coordinator::store::Store>();
/// ```
///
/// and a reader cannot write:
///
/// ```compile_fail
/// fn write(r: &printwatch_coordinator::store::StoreReader) {
///     let _ = r.set_mark("dealer_batch", printwatch_coordinator::timestamp::Timestamp::now());
/// }
/// ```
///
/// while the writer can:
///
/// ```
/// fn write(s: &mut printwatch_coordinator::store::Store) {
///     let _ = s.set_mark("dealer_batch", printwatch_coordinator::timestamp::Timestamp::now());
/// }
/// ```
pub struct Store {
    r: StoreReader,
    log: history::HistoryLog,
}

impl std::ops::Deref for Store {
    type Target = StoreReader;
    fn deref(&self) -> &StoreReader {
        &self.r
    }
}

impl Store {
    /// Opens (or creates) the database at `path` with a page cache of `cache_bytes`:
    /// sled's files, and history's segments in `path/history`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()?;
        let t = Trees {
            devices: db.open_tree("devices")?,
            observations: db.open_tree("observations")?,
            index: db.open_tree("index")?,
            heads: db.open_tree("history_heads")?,
            latest: db.open_tree("latest")?,
            anchors: db.open_tree("anchors")?,
            shapes: db.open_tree("shapes")?,
            sequences: db.open_tree("sequences")?,
            alerts: db.open_tree("alerts")?,
            open: db.open_tree("open_alerts")?,
            levels: db.open_tree("level_days")?,
            level_heads: db.open_tree("level_heads")?,
            events: db.open_tree("events")?,
            meters: db.open_tree("meters")?,
            mail_out: db.open_tree("mail_out")?,
            dealer_out: db.open_tree("dealer_out")?,
            meta: db.open_tree("meta")?,
            users: db.open_tree("users")?,
        };
        let device_total = Arc::new(AtomicUsize::new(t.devices.len()));
        let dir = path.join("history");
        let log = history::HistoryLog::open(&dir, &t.meta)?;
        let mut store = Store {
            r: StoreReader {
                db: db.clone(),
                t: Arc::new(t),
                dir: Arc::new(dir),
                device_total,
                flush_gate: Arc::default(),
            },
            log,
        };
        let (readings, points) = store.migrate(&db)?;
        if readings + points > 0 {
            tracing::info!(
                readings,
                points,
                "moved history and level points from the older layout in sled"
            );
        }
        Ok(store)
    }

    /// A handle for reading, to give to anyone but the writer.
    pub fn reader(&self) -> StoreReader {
        self.r.clone()
    }

    /// Counts the devices again from sled: after a failed write, when the count kept in
    /// memory may be ahead of what was written.
    pub fn recount(&mut self) {
        self.r
            .device_total
            .store(self.r.t.devices.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The next number of a counter in `meta`, never handed out before: an atomic
    /// increment (sled's compare-and-swap), written before whatever it numbers, so a crash
    /// between leaves a gap, never a number used twice.
    fn next_number(&mut self, name: &[u8]) -> Result<u64, StoreError> {
        let new = self.r.t.meta.update_and_fetch(name, |old| {
            let n = old.map_or(0, number) + 1;
            Some(n.to_be_bytes().to_vec())
        })?;
        Ok(new.as_deref().map_or(0, number))
    }
}

impl StoreReader {
    /// Makes everything written so far durable. sled 0.34's `flush_async` waits on sled's
    /// own small I/O pool, and the writes it waits for need that pool too: enough
    /// concurrent flushes take every thread and nothing is ever written (seen here, in the
    /// demo). The blocking flush runs on tokio's blocking pool instead, leaving sled's to
    /// sled. A flush changes no record, so any reader may make the writer's writes
    /// durable before it acts on them (a sender before it sends). Callers that come while
    /// a flush runs share the next one (see [`flush_gate`]).
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.flush_gate
            .pass(|| async {
                let db = self.db.clone();
                tokio::task::spawn_blocking(move || {
                    let flushed = db.flush().map(|_| ());
                    flush_gate::release_deferred();
                    flushed
                })
                .await
                .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))??;
                Ok(())
            })
            .await
    }

    /// What each tree holds: entries, and the bytes of their keys and values. A walk of the
    /// whole store (seconds for millions of readings): for the history benchmark and for
    /// the occasional disk-use metric, not for every scrape.
    pub fn tree_usage(&self) -> Result<Vec<TreeUsage>, StoreError> {
        let t = &self.t;
        let trees: [(&'static str, &sled::Tree); 18] = [
            ("devices", &t.devices),
            ("observations", &t.observations),
            ("index", &t.index),
            ("history_heads", &t.heads),
            ("latest", &t.latest),
            ("anchors", &t.anchors),
            ("shapes", &t.shapes),
            ("sequences", &t.sequences),
            ("alerts", &t.alerts),
            ("open", &t.open),
            ("levels", &t.levels),
            ("level_heads", &t.level_heads),
            ("events", &t.events),
            ("meters", &t.meters),
            ("mail_out", &t.mail_out),
            ("dealer_out", &t.dealer_out),
            ("meta", &t.meta),
            ("users", &t.users),
        ];
        let mut out = Vec::with_capacity(trees.len());
        for (name, tree) in trees {
            let mut u = TreeUsage {
                name,
                ..TreeUsage::default()
            };
            for kv in tree.iter() {
                let (k, v) = kv?;
                u.entries += 1;
                u.key_bytes += k.len() as u64;
                u.value_bytes += v.len() as u64;
            }
            out.push(u);
        }
        Ok(out)
    }

    /// The bytes sled's files take on disk, as sled counts them (history's segments
    /// are [`StoreReader::history_usage`]).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// The current value of a counter in `meta` (0 before any).
    fn counter(&self, name: &[u8]) -> Result<u64, StoreError> {
        Ok(self.t.meta.get(name)?.as_deref().map_or(0, number))
    }
}

/// A big-endian u64, as counters and sequence numbers are kept (0 if cut short).
fn number(b: &[u8]) -> u64 {
    <[u8; 8]>::try_from(b).map_or(0, u64::from_be_bytes)
}

/// Records are kept as JSON: small, and readable with sled's tools.
fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `device` and a 0 byte: where a device's entries start in a tree keyed by device.
fn device_prefix(device: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(device.len() + 1);
    k.extend_from_slice(device.as_bytes());
    k.push(0);
    k
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    /// A directory of its own for one test's database.
    pub fn dir(tag: &str) -> PathBuf {
        printwatch_tests::tempdir(&format!("store-{tag}"))
    }

    /// Opens the store in `dir`. sled's flusher lets go of the directory a moment after
    /// the last handle drops: a restart in production is a new process, in a test the same
    /// one, so this retries for a bounded time.
    pub fn reopen(dir: &std::path::Path) -> super::Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match super::Store::open(dir, 8 << 20) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("the store did not reopen: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}
