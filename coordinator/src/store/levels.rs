//! Supply levels over time: a point each time a supply's percent moved (the input of the
//! forecast), each device's newest point per supply in one record (so a device met first
//! after a restart costs one read, not a seek per supply), and replacements (a level that
//! jumped up). When a point is worth keeping is ingest's decision.
//!
//! A supply's points are kept a day to a record, in a fixed binary layout, not one record
//! each: sled 0.34 does not win back the space of a tree that grows by keys inserted all
//! over its key space while other records are rewritten (measured: a point a record took
//! 100 bytes of disk per reading stored, a day a record 6; `benches/benches/history.rs`).

use std::collections::BTreeMap;

use agent_core::model::Supply;
use serde::{Deserialize, Serialize};

use super::{decode, device_prefix, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// One observation of a supply: when, the percent reported, and the page counter then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelPoint {
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// The percent the printer reported.
    pub percent: u8,
    /// The printer's total page count then, if it reports one.
    pub pages: Option<u64>,
}

/// A device's supplies' newest level points, by supply position: a sorted list, not a
/// map. The writer keeps every device's heads in memory, and a `BTreeMap` of a printer's
/// four or five supplies takes a node of eleven slots (6-7 MiB at 10,000 printers, against
/// under half of that as a list). Stored as a JSON object, as the map was.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelHeads(Vec<(String, LevelPoint)>);

impl LevelHeads {
    /// No points yet: a device before its first level.
    pub fn new() -> LevelHeads {
        LevelHeads::default()
    }

    /// The newest point of the supply at `position`.
    pub fn get(&self, position: &str) -> Option<&LevelPoint> {
        self.find(position).ok().map(|i| &self.0[i].1)
    }

    /// Makes `point` the newest of the supply at `position`.
    pub fn insert(&mut self, position: String, point: LevelPoint) {
        match self.find(&position) {
            Ok(i) => self.0[i].1 = point,
            Err(i) => self.0.insert(i, (position, point)),
        }
    }

    /// Each supply's position and newest point, in position order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LevelPoint)> {
        self.0.iter().map(|(k, p)| (k.as_str(), p))
    }

    /// True before the device's first level.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, position: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(position))
    }
}

impl FromIterator<(String, LevelPoint)> for LevelHeads {
    fn from_iter<I: IntoIterator<Item = (String, LevelPoint)>>(iter: I) -> Self {
        let mut heads = LevelHeads::new();
        for (k, p) in iter {
            heads.insert(k, p);
        }
        heads.0.shrink_to_fit();
        heads
    }
}

impl Serialize for LevelHeads {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for LevelHeads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, LevelPoint>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}

/// A supply replaced: its level jumped up (see [`crate::policy::forecast::REFILL_JUMP`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replacement {
    /// The printer.
    pub device_id: String,
    /// Its site.
    pub site: String,
    /// The supply (`device_index.index`).
    pub supply: String,
    /// Its description.
    pub description: String,
    /// The level before, in percent.
    pub from: u8,
    /// The level after.
    pub to: u8,
    /// When it was seen.
    pub at: Timestamp,
}

/// Where a supply sits in the printer (`device_index.index`): how alerts, level history,
/// forecasts and uploads name it.
pub fn supply_position(s: &Supply) -> String {
    format!("{}.{}", s.device_index, s.index)
}

fn level_prefix(device: &str, supply: &str) -> Vec<u8> {
    let mut k = device_prefix(device);
    k.extend_from_slice(supply.as_bytes());
    k.push(0);
    k
}

/// Where a supply's points of the day `at` falls on are kept: after the supply's prefix,
/// newest day first.
fn level_key(device: &str, supply: &str, at: i64) -> Vec<u8> {
    let mut k = level_prefix(device, supply);
    let day = at.div_euclid(86_400) as u32;
    k.extend_from_slice(&(!day).to_be_bytes());
    k
}

/// A point's bytes in a day's record: its time, percent, and pages (a flag, then the
/// count).
const POINT: usize = 18;

fn put_point(p: &LevelPoint, out: &mut Vec<u8>) {
    out.extend_from_slice(&p.at.to_be_bytes());
    out.push(p.percent);
    out.push(u8::from(p.pages.is_some()));
    out.extend_from_slice(&p.pages.unwrap_or(0).to_be_bytes());
}

/// A day's points, oldest first.
fn day_points(b: &[u8]) -> Result<Vec<LevelPoint>, StoreError> {
    if !b.len().is_multiple_of(POINT) {
        return Err(StoreError::Corrupt(format!(
            "a day of level points is {} bytes",
            b.len()
        )));
    }
    let mut points: Vec<LevelPoint> = b
        .chunks_exact(POINT)
        .map(|c| {
            let number = |r: std::ops::Range<usize>| {
                c.get(r)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes)
            };
            LevelPoint {
                at: number(0..8) as i64,
                percent: c[8],
                pages: (c[9] != 0).then(|| number(10..18)),
            }
        })
        .collect();
    points.sort_by_key(|p| p.at);
    Ok(points)
}

impl Store {
    /// Writes a supply's level point (in place of one it has at the same time, so that a
    /// replay writes it once).
    pub fn put_level_point(
        &mut self,
        device: &str,
        supply: &str,
        point: &LevelPoint,
    ) -> Result<(), StoreError> {
        let key = level_key(device, supply, point.at);
        let mut day = match self.t.levels.get(&key)? {
            Some(b) => day_points(&b)?,
            None => Vec::new(),
        };
        day.retain(|p| p.at != point.at);
        day.push(*point);
        let mut b = Vec::with_capacity(day.len() * POINT);
        for p in &day {
            put_point(p, &mut b);
        }
        self.t.levels.insert(key, b)?;
        Ok(())
    }

    /// Writes a device's newest level points.
    pub fn put_level_heads(&mut self, device: &str, heads: &LevelHeads) -> Result<(), StoreError> {
        self.t
            .level_heads
            .insert(device.as_bytes(), encode(heads))?;
        Ok(())
    }

    /// Writes a replacement.
    pub fn put_replacement(&mut self, r: &Replacement) -> Result<(), StoreError> {
        let mut k = device_prefix(&r.device_id);
        k.extend_from_slice(&r.at.key());
        k.extend_from_slice(r.supply.as_bytes());
        self.t.events.insert(k, encode(r))?;
        Ok(())
    }
}

impl StoreReader {
    /// A device's newest level point per supply (empty before its first).
    pub fn level_heads(&self, device: &str) -> Result<LevelHeads, StoreError> {
        match self.t.level_heads.get(device.as_bytes())? {
            Some(b) => decode(&b),
            None => Ok(LevelHeads::new()),
        }
    }

    /// A supply's level points, oldest first.
    pub fn levels(&self, device: &str, supply: &str) -> Result<Vec<LevelPoint>, StoreError> {
        let mut days = Vec::new();
        for v in self
            .t
            .levels
            .scan_prefix(level_prefix(device, supply))
            .values()
        {
            days.push(day_points(&v?)?);
        }
        Ok(days.into_iter().rev().flatten().collect())
    }

    /// Every supply's level points of a device, by position, oldest first: one scan where
    /// [`StoreReader::levels`] would take one per supply (what a listing of the whole
    /// fleet's forecasts needs).
    pub fn device_levels(
        &self,
        device: &str,
    ) -> Result<BTreeMap<String, Vec<LevelPoint>>, StoreError> {
        let prefix = device_prefix(device);
        let mut out: BTreeMap<String, Vec<Vec<LevelPoint>>> = BTreeMap::new();
        for kv in self.t.levels.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let rest = &k[prefix.len()..];
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                return Err(StoreError::Corrupt(format!(
                    "a level point's key of {device:?} has no supply"
                )));
            };
            let supply = String::from_utf8_lossy(&rest[..end]).into_owned();
            out.entry(supply).or_default().push(day_points(&v)?);
        }
        Ok(out
            .into_iter()
            .map(|(supply, days)| (supply, days.into_iter().rev().flatten().collect()))
            .collect())
    }

    /// Supplies replaced, of one device or of all (`None`), oldest first per device.
    pub fn replacements(&self, device: Option<&str>) -> Result<Vec<Replacement>, StoreError> {
        let prefix = device.map(device_prefix).unwrap_or_default();
        self.t
            .events
            .scan_prefix(prefix)
            .values()
            .map(|v| decode(&v?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{dir, reopen};
    use super::*;

    #[test]
    fn heads_keep_position_order_and_the_stored_form_of_a_map() {
        let point = |at, percent| LevelPoint {
            at,
            percent,
            pages: None,
        };
        let mut heads = LevelHeads::new();
        heads.insert("1.3".into(), point(1, 30));
        heads.insert("1.1".into(), point(1, 10));
        heads.insert("1.2".into(), point(1, 20));
        heads.insert("1.1".into(), point(2, 9));
        let order: Vec<(&str, u8)> = heads.iter().map(|(k, p)| (k, p.percent)).collect();
        assert_eq!(order, [("1.1", 9), ("1.2", 20), ("1.3", 30)]);
        assert_eq!(heads.get("1.2"), Some(&point(1, 20)));
        assert_eq!(heads.get("1.4"), None);
        // What earlier versions stored (a JSON object) reads back, and is what is written.
        let map: BTreeMap<String, LevelPoint> =
            heads.iter().map(|(k, p)| (k.to_string(), *p)).collect();
        assert_eq!(encode(&heads), encode(&map));
        assert_eq!(decode::<LevelHeads>(&encode(&map)).unwrap(), heads);
        assert!(decode::<LevelHeads>(b"[1,2]").is_err());
    }

    #[test]
    fn points_read_oldest_first_and_heads_survive_a_restart() {
        let d = dir("levels");
        {
            let mut s = reopen(&d);
            for (at, percent) in [(3_000, 60), (1_000, 80), (2_000, 70)] {
                let p = LevelPoint {
                    at,
                    percent,
                    pages: None,
                };
                s.put_level_point("sn:A", "1.1", &p).unwrap();
            }
            let head = LevelPoint {
                at: 3_000,
                percent: 60,
                pages: Some(9),
            };
            s.put_level_heads("sn:A", &[("1.1".to_string(), head)].into_iter().collect())
                .unwrap();
        }
        let s = reopen(&d);
        let points: Vec<(i64, u8)> = s
            .levels("sn:A", "1.1")
            .unwrap()
            .iter()
            .map(|p| (p.at, p.percent))
            .collect();
        assert_eq!(points, [(1_000, 80), (2_000, 70), (3_000, 60)]);
        assert_eq!(
            s.level_heads("sn:A").unwrap().get("1.1").map(|p| p.pages),
            Some(Some(9))
        );
        assert!(s.level_heads("sn:B").unwrap().is_empty());
        assert!(
            s.levels("sn:A", "1.2").unwrap().is_empty(),
            "another supply"
        );
        drop(s);
        // Across days, oldest first; a point written again (a replay) is kept once.
        let mut s = reopen(&d);
        for (at, percent) in [(90_000, 50), (200_000, 40), (90_000, 50), (86_399, 55)] {
            let p = LevelPoint {
                at,
                percent,
                pages: Some(at as u64),
            };
            s.put_level_point("sn:A", "1.1", &p).unwrap();
        }
        let points: Vec<(i64, u8)> = s
            .levels("sn:A", "1.1")
            .unwrap()
            .iter()
            .map(|p| (p.at, p.percent))
            .collect();
        let wanted = [
            (1_000, 80),
            (2_000, 70),
            (3_000, 60),
            (86_399, 55),
            (90_000, 50),
            (200_000, 40),
        ];
        assert_eq!(points, wanted);
        let all = s.device_levels("sn:A").unwrap();
        assert_eq!(all["1.1"].len(), wanted.len());
        assert_eq!(all["1.1"][4].pages, Some(90_000));
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
