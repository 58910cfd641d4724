//! What ingest reads back for every reading, kept in memory: each site's last sequence
//! number, which device each identity key names, each device's record, shape, newest level
//! points, meter reads and open alerts. Ingest writes all of these through to sled; this
//! only spares it reading them again, which was most of its cost (a steady reading read
//! about ten records and decoded four).
//!
//! The writer owns it, and every change to these records goes through the writer (the
//! watchdog's alerts too), so the copy cannot go stale; no lock guards it. When a write
//! fails the copy is dropped and refilled from sled, which then holds the truth.

use std::collections::{BTreeMap, HashMap};

use agent_core::model::Meter;

use crate::store::alerts::AlertKind;
use crate::store::devices::DeviceRecord;
use crate::store::levels::LevelHeads;
use crate::timestamp::Timestamp;

/// The ingest's working set. Every map fills on demand from sled.
#[derive(Debug, Default)]
pub struct WorkingSet {
    /// Site to the last sequence number stored for its collector.
    pub sequences: HashMap<String, u64>,
    /// Identity key to the device it names (`None`: sled has no such key).
    pub index: HashMap<String, Option<String>>,
    /// Device id to what ingest knows of it: one entry, one key, for all of it (a map
    /// per part kept the id five times over, with five tables' slack: 3 MiB at ten
    /// thousand printers).
    pub devices: HashMap<String, DeviceMemo>,
    /// Site to how many devices belong to it (`None`: not counted yet).
    pub site_devices: Option<HashMap<String, usize>>,
}

/// What the working set knows of one device; each part fills on demand from sled.
#[derive(Debug, Default)]
pub struct DeviceMemo {
    /// Its record as stored, boxed: a record in place made each table slot over 300 bytes.
    pub record: Option<Box<DeviceRecord>>,
    /// Each of its supplies' newest level point (by supply position).
    pub levels: Option<LevelHeads>,
    /// Its newest shape's number and the shape's [`ShapeDigest`]: a reading's shape is
    /// compared with it, not kept (3 MiB for ten thousand printers).
    pub shape: Option<(u32, ShapeDigest)>,
    /// Its meter reads (`Some(None)`: it never had any).
    pub meters: Option<Option<MeterMemo>>,
    /// Its open alerts (key to kind).
    pub open: Option<BTreeMap<String, AlertKind>>,
}

/// An encoded shape's length and 64-bit hash: what tells the writer that a reading's
/// shape is its device's newest. Two different shapes of one device that agree in both
/// are a chance of one in 2^64 per change, against keeping every device's shape (300
/// bytes and an allocation each) in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeDigest {
    len: usize,
    hash: u64,
}

impl ShapeDigest {
    /// The digest of an encoded shape.
    pub fn of(bytes: &[u8]) -> ShapeDigest {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same bytes give the same digest in every run.
        let mut h = std::hash::DefaultHasher::new();
        bytes.hash(&mut h);
        ShapeDigest {
            len: bytes.len(),
            hash: h.finish(),
        }
    }
}

/// A device's meter reads as ingest knows them: the one kept in sled and the newest.
#[derive(Debug, Clone)]
pub struct MeterMemo {
    /// When the read kept in sled was taken (`None`: none is kept).
    pub kept: Option<Timestamp>,
    /// The newest read's values (the kept read's too, unless it is `None`).
    pub values: Vec<Meter>,
    /// When the newest read was taken.
    pub newest: Timestamp,
}

impl WorkingSet {
    /// An alert opened for `device` under `key`: its copy of the device's open alerts,
    /// when it has one, follows.
    pub fn opened(&mut self, device: &str, key: &str, kind: AlertKind) {
        if let Some(open) = self.devices.get_mut(device).and_then(|d| d.open.as_mut()) {
            open.insert(key.to_string(), kind);
        }
    }

    /// The alert open for `device` under `key` closed (a site's alert names no device
    /// and is in no copy).
    pub fn closed(&mut self, device: &str, key: &str) {
        if let Some(open) = self.devices.get_mut(device).and_then(|d| d.open.as_mut()) {
            open.remove(key);
        }
    }

    /// What is known of `device`, an empty entry at first.
    pub fn device(&mut self, device: &str) -> &mut DeviceMemo {
        // Looked up before it is inserted: the key is allocated once per device.
        if !self.devices.contains_key(device) {
            self.devices
                .insert(device.to_string(), DeviceMemo::default());
        }
        #[allow(clippy::expect_used)]
        self.devices
            .get_mut(device)
            .expect("the entry was inserted above if it was missing")
    }

    /// Forgets every device's open alerts: they are read again from sled.
    pub fn forget_open(&mut self) {
        for memo in self.devices.values_mut() {
            memo.open = None;
        }
    }

    /// Forgets everything: after a failed write, sled is the only truth.
    pub fn clear(&mut self) {
        *self = WorkingSet::default();
    }
}
