//! Opening a database written before history had segments: its readings move from sled's
//! `history` tree into segments, and its level points from `level_points` (a record a
//! point) into `level_days` (a record a day), once, when the store is opened.
//!
//! Readings move all or nothing: until the old tree is dropped, what the segments hold
//! is only what an earlier, interrupted move wrote, so a move starts by clearing it. Level
//! points move point by point: writing one twice leaves one.

use printwatch_proto::v1 as p;
use prost::Message;

use super::history_record::View;
use super::levels::LevelPoint;
use super::{decode, Store, StoreError};
use crate::timestamp::Timestamp;
use crate::wire_reading::read_stored;

/// How many readings are moved between two commits.
const CHUNK: usize = 10_000;

impl Store {
    /// Moves what an older layout left in sled (see the module). Returns the readings and
    /// the level points moved.
    pub(super) fn migrate(&mut self, db: &sled::Db) -> Result<(usize, usize), StoreError> {
        let mut moved = (0, 0);
        if db.tree_names().iter().any(|n| &n[..] == b"history") {
            let old = db.open_tree("history")?;
            if !old.is_empty() {
                self.clear_history()?;
                moved.0 = self.move_readings(&old)?;
                db.flush()?;
            }
            db.drop_tree("history")?;
        }
        if db.tree_names().iter().any(|n| &n[..] == b"level_points") {
            let old = db.open_tree("level_points")?;
            for kv in old.iter() {
                let (k, v) = kv?;
                let point: LevelPoint = decode(&v)?;
                let (device, supply) = split_level_key(&k)?;
                self.put_level_point(&device, &supply, &point)?;
                moved.1 += 1;
            }
            db.flush()?;
            db.drop_tree("level_points")?;
        }
        Ok(moved)
    }

    fn move_readings(&mut self, old: &sled::Tree) -> Result<usize, StoreError> {
        let mut moved = 0;
        for kv in old.iter() {
            let (k, v) = kv?;
            let sep = k.iter().position(|&b| b == 0).ok_or_else(|| {
                StoreError::Corrupt("an old history key without its device".into())
            })?;
            let device = String::from_utf8_lossy(&k[..sep]).into_owned();
            let at = k
                .get(sep + 1..sep + 9)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(Timestamp::from_key)
                .ok_or_else(|| StoreError::Corrupt("an old history key without its time".into()))?;
            let (shape, rest) = read_stored(&v)?;
            let rest = p::Reading::decode(rest)
                .map_err(|e| StoreError::Corrupt(format!("an old history reading: {e}")))?;
            self.append_history(
                &device,
                View {
                    shape,
                    at,
                    rest: &rest,
                },
            )?;
            moved += 1;
            if moved % CHUNK == 0 {
                self.commit_history()?;
            }
        }
        self.commit_history()?;
        Ok(moved)
    }
}

/// The device and supply an old level point's key names: `device`, 0, `supply`, 0, time.
fn split_level_key(k: &[u8]) -> Result<(String, String), StoreError> {
    let bad = || StoreError::Corrupt("an old level point's key".into());
    let first = k.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let rest = &k[first + 1..];
    let second = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
    Ok((
        String::from_utf8_lossy(&k[..first]).into_owned(),
        String::from_utf8_lossy(&rest[..second]).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{dir, reopen};
    use super::*;
    use crate::wire_reading::WireReading;
    use agent_core::model::Reading;

    fn reading(at: &str, pages: u64) -> WireReading {
        let device = agent_core::sim::synthetic::printer(5, 2);
        let mut r: Reading = agent_core::decode::reading(&device.view, "127.0.0.9:161");
        r.polled_at = at.into();
        if let Some(m) = r.meters.first_mut() {
            m.value = pages;
        }
        WireReading::new(r).expect("a reading")
    }

    #[test]
    fn an_older_database_opens_with_its_history_and_level_points() {
        let d = dir("migrate");
        let taken: Vec<WireReading> = (0..30)
            .map(|i| {
                reading(
                    &format!("2026-11-2{}T10:{:02}:00Z", 1 + i / 12, i % 12 * 5),
                    100 + i,
                )
            })
            .collect();
        {
            // The old layout, written as the store wrote it before segments.
            let db = sled::Config::new().path(&d).open().unwrap();
            let history = db.open_tree("history").unwrap();
            let shapes = db.open_tree("shapes").unwrap();
            let levels = db.open_tree("level_points").unwrap();
            let mut shape_key = b"sn:OLD\0".to_vec();
            shape_key.extend_from_slice(&(!0u32).to_be_bytes());
            shapes.insert(shape_key, taken[0].shape_bytes()).unwrap();
            for (seq, w) in taken.iter().enumerate() {
                let mut k = b"sn:OLD\0".to_vec();
                k.extend_from_slice(&w.at().key());
                k.extend_from_slice(&(seq as u64).to_be_bytes());
                k.extend_from_slice(b"hq");
                history.insert(k, w.stored(0)).unwrap();
            }
            for (at, percent) in [(1_000i64, 80u8), (90_000, 70)] {
                let mut k = b"sn:OLD\x001.1\0".to_vec();
                k.extend_from_slice(&(!(at as u64)).to_be_bytes());
                let point = LevelPoint {
                    at,
                    percent,
                    pages: Some(7),
                };
                levels
                    .insert(k, serde_json::to_vec(&point).unwrap())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        let s = reopen(&d);
        let wanted: Vec<Reading> = taken.iter().map(|w| w.reading().clone()).collect();
        assert_eq!(s.history("sn:OLD", None).unwrap(), wanted);
        assert_eq!(s.latest("sn:OLD").unwrap().as_ref(), wanted.last());
        assert_eq!(s.history_usage().unwrap().readings, 30);
        let points: Vec<(i64, u8)> = s
            .levels("sn:OLD", "1.1")
            .unwrap()
            .iter()
            .map(|p| (p.at, p.percent))
            .collect();
        assert_eq!(points, [(1_000, 80), (90_000, 70)]);
        drop(s);
        // Opened again: nothing moves twice.
        let s = reopen(&d);
        assert_eq!(s.history("sn:OLD", None).unwrap().len(), 30);
        assert_eq!(s.levels("sn:OLD", "1.1").unwrap().len(), 2);
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
