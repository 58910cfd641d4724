//! What ingest reads back for every reading, kept in memory: each collector's last
//! sequence number, which device each identity key names, each device's record, shape,
//! newest level points, meter reads and open alerts. Ingest writes all of these through to
//! sled as before; this only spares it reading them again, which was most of its cost (a
//! steady reading read about ten records and decoded four).
//!
//! Only ingest writes these records, one batch at a time under the store's ingest lock,
//! so the copy cannot go stale. Open alerts are the exception: the watchdog opens and
//! closes some too, so the store counts its changes to them and ingest drops its copy
//! when the count moves; ingest makes its own changes to its copy as it writes them. When
//! a write fails the copy is dropped and refilled from sled, which then holds the truth.

use std::collections::{BTreeMap, HashMap};

use agent_core::model::Meter;

use crate::alerts::AlertKind;
use crate::forecast::LevelPoint;
use crate::store::AlertRecord;
use crate::store::DeviceRecord;

/// The ingest's working set. Every map fills on demand from sled.
#[derive(Debug, Default)]
pub struct WorkingSet {
    /// Collector name to the last sequence number stored for it.
    pub sequences: HashMap<String, u64>,
    /// Identity key to the device it names (`None`: sled has no such key).
    pub index: HashMap<String, Option<String>>,
    /// Device id to its record as stored.
    pub devices: HashMap<String, DeviceRecord>,
    /// Device id to each of its supplies' newest level point (by supply position).
    pub levels: HashMap<String, LevelHeads>,
    /// Device id to its newest shape's number and the shape.
    pub shapes: HashMap<String, (u32, printwatch_proto::v1::Reading)>,
    /// Device id to its meter reads (`None`: it never had any).
    pub meters: HashMap<String, Option<MeterMemo>>,
    /// Device id to its open alerts (key to kind), as of `open_as_of`.
    pub open: HashMap<String, BTreeMap<String, AlertKind>>,
    /// The store's count of alert changes when `open` was last emptied.
    pub open_as_of: u64,
}

/// A device's supplies' newest level points, by supply position: what ingest compares a
/// reading's levels with. sled keeps a copy per device (`level_heads`), so a device met
/// first after a restart costs one read, not a seek into level history per supply.
pub type LevelHeads = BTreeMap<String, LevelPoint>;

/// A device's meter reads as ingest knows them: the one kept in sled and the newest.
#[derive(Debug, Clone)]
pub struct MeterMemo {
    /// When the read kept in sled was taken (`None`: none is kept).
    pub kept: Option<String>,
    /// The newest read's values (the kept read's too, unless it is `None`).
    pub values: Vec<Meter>,
    /// When the newest read was taken.
    pub newest: String,
}

impl WorkingSet {
    /// What ingest opened and closed (by key) for a device, written: its copy of the
    /// device's open alerts (when it has one) follows.
    pub fn alerts_changed(&mut self, device: &str, opened: &[AlertRecord], closed: &[String]) {
        if let Some(open) = self.open.get_mut(device) {
            for a in opened {
                open.insert(a.key.clone(), a.kind);
            }
            for key in closed {
                open.remove(key);
            }
        }
    }

    /// Forgets everything: after a failed write, sled is the only truth.
    pub fn clear(&mut self) {
        *self = WorkingSet::default();
    }
}
