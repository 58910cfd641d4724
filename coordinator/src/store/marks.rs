//! Marks: what the clock-driven checks last did (the last billing meter read, scheduled
//! dealer batch and digest), so that a restart neither repeats a scheduled send nor skips
//! one that fell due while the coordinator was down.

use super::{decode, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

fn mark_key(name: &str) -> Vec<u8> {
    format!("mark/{name}").into_bytes()
}

impl Store {
    /// Records that `name` was last done for `at`.
    pub fn set_mark(&mut self, name: &str, at: Timestamp) -> Result<(), StoreError> {
        self.t.meta.insert(mark_key(name), encode(&at))?;
        Ok(())
    }
}

impl StoreReader {
    /// When `name` was last done (`None`: never).
    pub fn mark(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        self.t
            .meta
            .get(mark_key(name))?
            .map(|v| decode(&v))
            .transpose()
    }
}
