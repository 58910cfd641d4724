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
    /// Device id to its record as stored, boxed: the table keeps a slot free for every
    /// one filled, and a record in place made each slot over 300 bytes.
    pub devices: HashMap<String, Box<DeviceRecord>>,
    /// Device id to each of its supplies' newest level point (by supply position).
    pub levels: HashMap<String, LevelHeads>,
    /// Device id to its newest shape's number and the shape, encoded: a tenth of its
    /// decoded size (tens of MiB for ten thousand printers), and compared as bytes.
    pub shapes: HashMap<String, (u32, Vec<u8>)>,
    /// Device id to its meter reads (`None`: it never had any).
    pub meters: HashMap<String, Option<MeterMemo>>,
    /// Device id to its open alerts (key to kind).
    pub open: HashMap<String, BTreeMap<String, AlertKind>>,
    /// Site to how many devices belong to it (`None`: not counted yet).
    pub site_devices: Option<HashMap<String, usize>>,
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
        if let Some(open) = self.open.get_mut(device) {
            open.insert(key.to_string(), kind);
        }
    }

    /// The alert open for `device` under `key` closed (a site's alert names no device
    /// and is in no copy).
    pub fn closed(&mut self, device: &str, key: &str) {
        if let Some(open) = self.open.get_mut(device) {
            open.remove(key);
        }
    }

    /// Forgets everything: after a failed write, sled is the only truth.
    pub fn clear(&mut self) {
        *self = WorkingSet::default();
    }
}
