//! History: every reading stored, by device and time, and each device's shapes (see
//! [`crate::wire_reading`]: what stays put from poll to poll is kept once per device and
//! named by a number). A device's newest reading is its latest: pruning always keeps it.
//!
//! A reading's key is its device, a 0 byte, its time (eight bytes, sortable), the
//! envelope's sequence number and the site that sent it: a function of the envelope, so a
//! replay after a crash lands on the key it wrote before.

use agent_core::model::Reading;
use printwatch_proto::v1 as p;

use super::{device_prefix, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;
use crate::wire_reading::{read_stored, reshaped};

/// What one step of pruning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Readings deleted.
    pub removed: usize,
    /// Where the next step starts; `None` when the whole history was seen.
    pub next: Option<Vec<u8>>,
}

fn history_key(device: &str, at: Timestamp, site: &str, seq: u64) -> Vec<u8> {
    let mut k = device_prefix(device);
    k.extend_from_slice(&at.key());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(site.as_bytes());
    k
}

/// The time in a history key, after its device's prefix.
fn key_time(key: &[u8], prefix_len: usize) -> Option<Timestamp> {
    let bytes = key.get(prefix_len..prefix_len + 8)?;
    Some(Timestamp::from_key(<[u8; 8]>::try_from(bytes).ok()?))
}

/// Where a device's shapes are kept: newest first, so the newest is a forward seek.
fn shape_key(device: &str, n: u32) -> Vec<u8> {
    let mut k = device_prefix(device);
    k.extend_from_slice(&(!n).to_be_bytes());
    k
}

/// A stored reading's time. Every reading was checked when it arrived, so one that does
/// not parse is damage.
pub fn reading_time(r: &Reading) -> Result<Timestamp, StoreError> {
    Timestamp::parse(&r.polled_at)
        .ok_or_else(|| StoreError::Corrupt(format!("a stored reading's time {:?}", r.polled_at)))
}

impl Store {
    /// Writes a reading's history entry: `stored` is what [`crate::wire_reading`] made of
    /// it, naming a shape already written with [`Store::put_shape`].
    pub fn put_history(
        &mut self,
        device: &str,
        at: Timestamp,
        site: &str,
        seq: u64,
        stored: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.t
            .history
            .insert(history_key(device, at, site, seq), stored)?;
        Ok(())
    }

    /// Writes shape number `n` of a device.
    pub fn put_shape(&mut self, device: &str, n: u32, shape: Vec<u8>) -> Result<(), StoreError> {
        self.t.shapes.insert(shape_key(device, n), shape)?;
        Ok(())
    }

    /// One step of pruning: looks at up to `limit` readings from `from` (the start when
    /// `None`) and deletes those taken before `before`, except each device's newest, which
    /// is its latest. Steps are small so that the writer, which does this between batches,
    /// never holds ingest up for long.
    pub fn prune_history(
        &mut self,
        before: Timestamp,
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pruned, StoreError> {
        let mut keys = match from {
            Some(start) => self.t.history.range(start.to_vec()..),
            None => self.t.history.range::<&[u8], _>(..),
        }
        .keys()
        .peekable();
        let mut done = Pruned::default();
        for _ in 0..limit.max(1) {
            let Some(k) = keys.next() else {
                return Ok(done);
            };
            let k = k?;
            let Some(sep) = k.iter().position(|&b| b == 0) else {
                continue;
            };
            let newest = match keys.peek() {
                Some(Ok(next)) => !next.starts_with(&k[..=sep]),
                _ => true,
            };
            if !newest && key_time(&k, sep + 1).is_some_and(|t| t < before) {
                self.t.history.remove(&k)?;
                done.removed += 1;
            }
        }
        done.next = match keys.next() {
            Some(k) => Some(k?.to_vec()),
            None => None,
        };
        Ok(done)
    }
}

impl StoreReader {
    /// A device's newest shape and its number.
    pub fn newest_shape(&self, device: &str) -> Result<Option<(u32, p::Reading)>, StoreError> {
        let Some(kv) = self.t.shapes.scan_prefix(device_prefix(device)).next() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        let n = k
            .last_chunk::<4>()
            .map(|n| !u32::from_be_bytes(*n))
            .ok_or_else(|| StoreError::Corrupt("a shape's key cut short".into()))?;
        let shape = prost::Message::decode(&v[..])
            .map_err(|e| StoreError::Corrupt(format!("a shape: {e}")))?;
        Ok(Some((n, shape)))
    }

    /// A device's latest reading: the newest in its history (which pruning always keeps).
    pub fn latest(&self, device: &str) -> Result<Option<Reading>, StoreError> {
        self.t
            .history
            .scan_prefix(device_prefix(device))
            .next_back()
            .map(|kv| self.read_history(device, &kv?.1, &mut None))
            .transpose()
    }

    /// A device's readings taken at or after `since` (all when `None`), oldest first.
    pub fn history(
        &self,
        device: &str,
        since: Option<Timestamp>,
    ) -> Result<Vec<Reading>, StoreError> {
        let prefix = device_prefix(device);
        let mut start = prefix.clone();
        if let Some(t) = since {
            start.extend_from_slice(&t.key());
        }
        let mut shape = None;
        self.t
            .history
            .range(start..)
            .take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| self.read_history(device, &kv?.1, &mut shape))
            .collect()
    }

    /// How many readings of a device history holds, without reading them.
    pub fn history_len(&self, device: &str) -> usize {
        self.t.history.scan_prefix(device_prefix(device)).count()
    }

    /// A reading as history holds it for `device`, whole again. `shape` keeps the shape
    /// last read, which the device's next readings most likely share.
    fn read_history(
        &self,
        device: &str,
        value: &[u8],
        shape: &mut Option<(u32, sled::IVec)>,
    ) -> Result<Reading, StoreError> {
        let (n, rest) = read_stored(value)?;
        let bytes =
            match shape.take() {
                Some((m, bytes)) if m == n => bytes,
                _ => self.t.shapes.get(shape_key(device, n))?.ok_or_else(|| {
                    StoreError::Corrupt(format!("{device} has no shape number {n}"))
                })?,
            };
        let r = reshaped(rest, &bytes)?;
        *shape = Some((n, bytes));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{dir, reopen};
    use super::*;
    use crate::wire_reading::WireReading;

    fn reading(at: &str, status: &str) -> WireReading {
        let mut r = Reading {
            polled_at: at.into(),
            ..Reading::default()
        };
        r.identity.serial = Some("SN1".into());
        r.status.printer_status = Some(status.into());
        WireReading::new(r).expect("a valid reading")
    }

    fn put(s: &mut Store, w: &WireReading, seq: u64) {
        s.put_shape("sn:SN1", 0, w.shape_bytes()).unwrap();
        s.put_history("sn:SN1", w.at(), "hq", seq, w.stored(0))
            .unwrap();
    }

    #[test]
    fn readings_read_back_in_time_order_and_pruning_keeps_the_newest() {
        let d = dir("history");
        let mut s = reopen(&d);
        let times = [
            "2026-11-21T10:00:00Z",
            "2026-11-21T09:00:00.5Z",
            "2026-11-21T11:00:00Z",
        ];
        for (i, at) in times.iter().enumerate() {
            put(&mut s, &reading(at, &format!("s{i}")), i as u64 + 1);
        }
        let read: Vec<String> = s
            .history("sn:SN1", None)
            .unwrap()
            .into_iter()
            .map(|r| r.polled_at)
            .collect();
        assert_eq!(
            read,
            [times[1], times[0], times[2]],
            "by time, not by arrival"
        );
        assert_eq!(
            s.latest("sn:SN1").unwrap().map(|r| r.polled_at).as_deref(),
            Some(times[2])
        );
        let since = Timestamp::parse(times[0]).unwrap();
        assert_eq!(s.history("sn:SN1", Some(since)).unwrap().len(), 2);
        // Pruning in steps of one: the two older readings go, the newest stays.
        let all = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
        let (mut removed, mut from) = (0, None);
        loop {
            let p = s.prune_history(all, from.as_deref(), 1).unwrap();
            removed += p.removed;
            match p.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        assert_eq!(removed, 2);
        assert_eq!(s.history_len("sn:SN1"), 1);
        assert_eq!(
            s.latest("sn:SN1").unwrap().map(|r| r.polled_at).as_deref(),
            Some(times[2])
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn damaged_bytes_and_a_missing_shape_are_errors() {
        let d = dir("history-damage");
        let mut s = reopen(&d);
        let w = reading("2026-11-21T10:00:00Z", "idle");
        put(&mut s, &w, 1);
        s.t.shapes.remove(shape_key("sn:SN1", 0)).unwrap();
        assert!(matches!(s.latest("sn:SN1"), Err(StoreError::Corrupt(_))));
        s.put_shape("sn:SN1", 0, w.shape_bytes()).unwrap();
        s.t.history
            .insert(history_key("sn:SN1", w.at(), "hq", 2), &[1u8, 0, 0][..])
            .unwrap();
        assert!(matches!(s.latest("sn:SN1"), Err(StoreError::Corrupt(_))));
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
