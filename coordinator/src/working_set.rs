//! What ingest reads back for every reading, kept in memory: each collector's last
//! sequence number, which device each identity key names, each device's record and each
//! supply's last level point. Ingest writes all of these through to sled as before; this
//! only spares it reading them again, which was most of its cost (a steady reading read
//! about ten records and decoded four).
//!
//! Only ingest writes these records, one batch at a time under the store's ingest lock,
//! so the copy cannot go stale. When a write fails the copy is dropped and refilled from
//! sled, which then holds the truth.

use std::collections::HashMap;

use crate::forecast::LevelPoint;
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
    /// A supply's level-history prefix to its newest point (`None`: no point yet).
    pub levels: HashMap<Vec<u8>, Option<LevelPoint>>,
}

impl WorkingSet {
    /// Forgets everything: after a failed write, sled is the only truth.
    pub fn clear(&mut self) {
        *self = WorkingSet::default();
    }
}
