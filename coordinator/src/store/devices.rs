//! Devices: one record per printer, and the identity index that names the device behind
//! each key a reading can be matched by (`sn:`, `mac:`, `at:`, and each site's addresses).
//! Which key wins, and when two readings are one printer, is ingest's to decide
//! ([`crate::ingest::dedupe`]); here they are only kept.

use std::sync::atomic::Ordering;

use agent_core::model::Identity;
use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// A printer as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Stable id: `sn:SERIAL`, `mac:MAC` or `at:SITE/VENDOR/MODEL/ADDRESS`.
    pub id: String,
    /// The site it belongs to: the first whose collector reported it. Only an operator
    /// moves it to another (a reading from another site is an [`Observation`]).
    pub site: String,
    /// Every address it was seen at, most recent last.
    pub addresses: Vec<String>,
    /// Its identity from the latest reading that changed it.
    pub identity: Identity,
    /// When it was first seen (the reading's time).
    pub first_seen: Timestamp,
    /// When it was last seen. Ingest does not rewrite the record for each reading: read
    /// through [`StoreReader::device`], it is the newest reading's time.
    pub last_seen: Timestamp,
    /// When a reading last carried its page meters (None: never); as `last_seen`, exact
    /// when read through [`StoreReader::device`].
    pub last_meter_read: Option<Timestamp>,
}

/// A reading of a device by a site it does not belong to: kept apart, shown to operators
/// as a conflict, and changing nothing of the device until an operator moves it. One per
/// device and observing site, the newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The device as its owner knows it.
    pub device_id: String,
    /// The site that read it.
    pub site: String,
    /// Where that site reads it.
    pub address: String,
    /// The identity that site's reading gave.
    pub identity: Identity,
    /// When that site first read it.
    pub first_seen: Timestamp,
    /// When that site last read it.
    pub last_seen: Timestamp,
    /// How many readings of it that site sent.
    pub readings: u64,
    /// The sequence number of the last of them: a replay is not counted again.
    pub seq: u64,
}

fn observation_key(device: &str, site: &str) -> Vec<u8> {
    let mut k = super::device_prefix(device);
    k.extend_from_slice(site.as_bytes());
    k
}

/// The index key of an address at a site: which device a site's collector polls there.
pub fn address_key(site: &str, address: &str) -> String {
    format!("addr:{site}/{address}")
}

impl Store {
    /// Writes a device's record (counted when it is new).
    pub fn put_device(&mut self, d: &DeviceRecord) -> Result<(), StoreError> {
        if self.t.devices.insert(d.id.as_bytes(), encode(d))?.is_none() {
            self.device_total.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Keeps what another site read of a device (the newest per site).
    pub fn put_observation(&mut self, o: &Observation) -> Result<(), StoreError> {
        self.t
            .observations
            .insert(observation_key(&o.device_id, &o.site), encode(o))?;
        Ok(())
    }

    /// Forgets what `site` read of `device` (once the device is moved there).
    pub fn delete_observation(&mut self, device: &str, site: &str) -> Result<(), StoreError> {
        self.t.observations.remove(observation_key(device, site))?;
        Ok(())
    }

    /// Says that index `key` names `device`.
    pub fn put_index(&mut self, key: &str, device: &str) -> Result<(), StoreError> {
        self.t.index.insert(key.as_bytes(), device.as_bytes())?;
        Ok(())
    }
}

impl StoreReader {
    /// A device's record as written (its `last_seen` and `last_meter_read` as of the last
    /// write of the record, see [`DeviceRecord`]).
    pub fn device_record(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.t
            .devices
            .get(id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// One device by id, with when it was last seen and last had its meters read.
    pub fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.device_record(id)?
            .map(|d| self.with_seen(d))
            .transpose()
    }

    /// Every device, as [`StoreReader::device`] gives each.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.t
            .devices
            .iter()
            .values()
            .map(|v| self.with_seen(decode(&v?)?))
            .collect()
    }

    /// What other sites read of a device: its conflicts.
    pub fn observations(&self, device: &str) -> Result<Vec<Observation>, StoreError> {
        self.t
            .observations
            .scan_prefix(super::device_prefix(device))
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// What one site read of a device, if it did.
    pub fn observation(&self, device: &str, site: &str) -> Result<Option<Observation>, StoreError> {
        self.t
            .observations
            .get(observation_key(device, site))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// How many devices belong to each site, counted from the records.
    pub fn devices_per_site(&self) -> Result<std::collections::HashMap<String, usize>, StoreError> {
        #[derive(Deserialize)]
        struct SiteOnly {
            site: String,
        }
        let mut count = std::collections::HashMap::new();
        for v in self.t.devices.iter().values() {
            let d: SiteOnly = decode(&v?)?;
            *count.entry(d.site).or_default() += 1;
        }
        Ok(count)
    }

    /// The device an index key names.
    pub fn device_for_key(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .t
            .index
            .get(key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The device last seen at an address of a site.
    pub fn device_at(&self, site: &str, address: &str) -> Result<Option<DeviceRecord>, StoreError> {
        match self.device_for_key(&address_key(site, address))? {
            Some(id) => self.device(&id),
            None => Ok(None),
        }
    }

    /// How many devices there are.
    pub fn device_count(&self) -> usize {
        self.device_total.load(Ordering::Relaxed)
    }

    /// A record with when it was last seen and last had its meters read, which ingest
    /// does not rewrite the record for: from its newest reading.
    fn with_seen(&self, d: DeviceRecord) -> Result<DeviceRecord, StoreError> {
        self.with_latest(d).map(|(d, _)| d)
    }

    /// [`StoreReader::device`]'s record and the newest reading it was made from, read once:
    /// what a listing shows.
    pub fn with_latest(
        &self,
        mut d: DeviceRecord,
    ) -> Result<(DeviceRecord, Option<agent_core::model::Reading>), StoreError> {
        let latest = self.latest(&d.id)?;
        if let Some(r) = &latest {
            d.last_seen = super::history::reading_time(r)?;
        }
        // The newest reading with meters is the meter read; without, the one kept.
        match &latest {
            Some(r) if !r.meters.is_empty() => d.last_meter_read = Some(d.last_seen),
            _ => {
                if let Some((at, _)) = self.kept_meter_read(&d.id)? {
                    d.last_meter_read = Some(at);
                }
            }
        }
        Ok((d, latest))
    }

    /// Every device record as written, in id order (see [`StoreReader::with_latest`]).
    pub fn device_records(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.t
            .devices
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect()
    }
}
