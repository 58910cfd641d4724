//! Each site's last stored sequence number: the collector of a site numbers its envelopes
//! 1, 2, 3, ..., and what is at or under this number was stored before (a replay).

use super::{number, Store, StoreError, StoreReader};

impl Store {
    /// Records that everything `site`'s collector sent up to `seq` is stored. Written
    /// last in a batch, after the data, so a crash before it leaves a replay to store.
    pub fn set_last_sequence(&mut self, site: &str, seq: u64) -> Result<(), StoreError> {
        self.t
            .sequences
            .insert(site.as_bytes(), &seq.to_be_bytes())?;
        Ok(())
    }
}

impl StoreReader {
    /// The last sequence number stored for a site's collector (0 before any).
    pub fn last_sequence(&self, site: &str) -> Result<u64, StoreError> {
        Ok(self
            .t
            .sequences
            .get(site.as_bytes())?
            .as_deref()
            .map_or(0, number))
    }

    /// The sites whose collectors ever stored anything.
    pub fn sites(&self) -> Result<Vec<String>, StoreError> {
        self.t
            .sequences
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }
}
