//! Page meters: the last meter read kept per device. A device's meter read is its newest
//! reading's when that carries meters; otherwise the one kept here, which ingest writes
//! when it must (see [`crate::ingest`]: not for every reading).

use agent_core::model::{Meter, Reading};

use super::{decode, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

impl Store {
    /// Keeps `meters`, read at `at`, as a device's last meter read.
    pub fn put_meter_read(
        &mut self,
        device: &str,
        at: Timestamp,
        meters: &[Meter],
    ) -> Result<(), StoreError> {
        self.t
            .meters
            .insert(device.as_bytes(), encode(&(at, meters)))?;
        Ok(())
    }
}

impl StoreReader {
    /// The meter read kept for a device, if any.
    pub fn kept_meter_read(
        &self,
        device: &str,
    ) -> Result<Option<(Timestamp, Vec<Meter>)>, StoreError> {
        self.t
            .meters
            .get(device.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// A device's latest meter read: when, and the meters.
    pub fn meter_read(&self, device: &str) -> Result<Option<(Timestamp, Vec<Meter>)>, StoreError> {
        self.meter_read_after(device, self.latest(device)?)
    }

    /// [`StoreReader::meter_read`] given the device's latest reading.
    pub(super) fn meter_read_after(
        &self,
        device: &str,
        latest: Option<Reading>,
    ) -> Result<Option<(Timestamp, Vec<Meter>)>, StoreError> {
        match latest {
            Some(r) if !r.meters.is_empty() => {
                Ok(Some((super::history::reading_time(&r)?, r.meters)))
            }
            _ => self.kept_meter_read(device),
        }
    }
}
