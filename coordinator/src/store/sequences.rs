//! Each site's last stored sequence number: the collector of a site numbers its envelopes
//! 1, 2, 3, ..., and what is at or under this number was stored before (a replay). The
//! numbers belong to the collector's outbox, whose identity is kept beside them: a new
//! outbox numbers from 1 again.

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

    /// Records the identity of the outbox whose numbers `site`'s sequence counts.
    pub fn set_outbox_id(&mut self, site: &str, id: &str) -> Result<(), StoreError> {
        self.t.meta.insert(outbox_key(site), id.as_bytes())?;
        Ok(())
    }
}

fn outbox_key(site: &str) -> Vec<u8> {
    format!("outbox:{site}").into_bytes()
}

impl StoreReader {
    /// The identity of the outbox `site`'s numbers belong to, once one said hello.
    pub fn outbox_id(&self, site: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .t
            .meta
            .get(outbox_key(site))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

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
