//! The coordinator's state in sled: devices, their latest reading, history, and the last
//! sequence number stored for each collector.
//!
//! Two promises live here. A reading is stored durably (flushed) before `ingest` returns,
//! so an acknowledgement sent after it can never be for something a crash loses. And a
//! sequence number a collector replays after a lost ack is recognised and not stored twice
//! (and were it stored again after a crash between writes, it would land on the same keys).
//! Devices are deduplicated: one printer is one device whatever address or collector
//! reports it (serial first, then MAC, then vendor, model and address).

use std::path::Path;

use agent_core::model::{Identity, Reading};
use serde::{Deserialize, Serialize};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (disk full, corruption, another process holding the database).
    #[error("the database: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record that does not decode (a bug or corruption).
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}

/// A printer as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Stable id: `sn:SERIAL`, `mac:MAC` or `at:SITE/VENDOR/MODEL/ADDRESS`.
    pub id: String,
    /// The site whose collector reported it last.
    pub site: String,
    /// Every address it was seen at, most recent last.
    pub addresses: Vec<String>,
    /// Its identity from the latest reading.
    pub identity: Identity,
    /// When it was first seen (the reading's time).
    pub first_seen: String,
    /// When it was last seen.
    pub last_seen: String,
}

/// What `ingest` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored, for this device.
    Stored {
        /// The device's id.
        device_id: String,
        /// True when the device is new.
        new_device: bool,
    },
    /// This collector's sequence number was stored before: nothing written.
    Duplicate,
}

/// The store. Cheap to clone (sled trees are handles).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    devices: sled::Tree,
    latest: sled::Tree,
    history: sled::Tree,
    index: sled::Tree,
    sequences: sled::Tree,
    ingest_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The keys under which a device may be found, strongest first.
fn identity_keys(site: &str, id: &Identity) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(s) = id.serial.as_deref().filter(|s| !s.is_empty()) {
        keys.push(format!("sn:{s}"));
    }
    if let Some(m) = id.mac.as_deref().filter(|m| !m.is_empty()) {
        keys.push(format!("mac:{m}"));
    }
    keys.push(format!(
        "at:{site}/{}/{}/{}",
        id.vendor.as_deref().unwrap_or(""),
        id.model.as_deref().unwrap_or(""),
        id.address
    ));
    keys
}

/// True when two identities cannot be the same printer: both give a serial and they
/// differ, or both give a MAC and they differ.
fn contradicts(a: &Identity, b: &Identity) -> bool {
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() && x != y);
    differ(&a.serial, &b.serial) || differ(&a.mac, &b.mac)
}

impl Store {
    /// Opens (or creates) the database at `path` with a page cache of `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()?;
        Ok(Store {
            devices: db.open_tree("devices")?,
            latest: db.open_tree("latest")?,
            history: db.open_tree("history")?,
            index: db.open_tree("index")?,
            sequences: db.open_tree("sequences")?,
            db,
            ingest_lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The last sequence number stored for a collector (0 before any).
    pub fn last_sequence(&self, collector: &str) -> Result<u64, StoreError> {
        Ok(self
            .sequences
            .get(collector.as_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Stores a reading that `collector` (of `site`) sent under `seq`, durably, unless that
    /// sequence number was stored before. Sequence numbers of one collector only grow.
    pub async fn ingest(
        &self,
        collector: &str,
        site: &str,
        seq: u64,
        reading: &Reading,
    ) -> Result<Ingested, StoreError> {
        // One ingest at a time: the device record is read, changed and written back. No sled
        // transaction (they switch sled 0.34 into a process-wide read/write lock that can
        // deadlock against its own flusher); instead the writes are ordered so that a crash at
        // any point leaves a state a replay repairs: data first, the sequence number last,
        // and every key of the data a function of the reading, so writing it again changes
        // nothing.
        let _one_at_a_time = self.ingest_lock.lock().await;
        if seq <= self.last_sequence(collector)? {
            return Ok(Ingested::Duplicate);
        }
        let keys = identity_keys(site, &reading.identity);
        // The device: the first identity key already known whose device the stronger fields
        // do not contradict (a new printer at an old printer's address, with another serial,
        // is another device), else a new one under the strongest key.
        let mut found = None;
        for k in &keys {
            let Some(id) = self.index.get(k.as_bytes())? else {
                continue;
            };
            let id = String::from_utf8_lossy(&id).into_owned();
            if let Some(b) = self.devices.get(id.as_bytes())? {
                if !contradicts(&decode::<DeviceRecord>(&b)?.identity, &reading.identity) {
                    found = Some(id);
                    break;
                }
            }
        }
        let new_device = found.is_none();
        let device_id = found.unwrap_or_else(|| keys[0].clone());
        let mut record = match self.devices.get(device_id.as_bytes())? {
            Some(b) => decode::<DeviceRecord>(&b)?,
            None => DeviceRecord {
                id: device_id.clone(),
                site: site.to_string(),
                addresses: Vec::new(),
                identity: reading.identity.clone(),
                first_seen: reading.polled_at.clone(),
                last_seen: reading.polled_at.clone(),
            },
        };
        record.site = site.to_string();
        record.identity = reading.identity.clone();
        record.last_seen = reading.polled_at.clone();
        record.addresses.retain(|a| *a != reading.identity.address);
        record.addresses.push(reading.identity.address.clone());

        let mut hkey = device_id.as_bytes().to_vec();
        hkey.push(0);
        hkey.extend_from_slice(reading.polled_at.as_bytes());
        hkey.push(0);
        hkey.extend_from_slice(collector.as_bytes());
        hkey.extend_from_slice(&seq.to_be_bytes());
        self.history.insert(hkey, encode(reading))?;
        self.latest.insert(device_id.as_bytes(), encode(reading))?;
        self.devices.insert(device_id.as_bytes(), encode(&record))?;
        for k in &keys {
            self.index.insert(k.as_bytes(), device_id.as_bytes())?;
        }
        self.sequences
            .insert(collector.as_bytes(), &seq.to_be_bytes())?;
        flush(&self.db).await?;
        Ok(Ingested::Stored {
            device_id,
            new_device,
        })
    }

    /// Every device.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.devices.iter().values().map(|v| decode(&v?)).collect()
    }

    /// One device by id.
    pub fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        self.devices
            .get(id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// A device's latest reading.
    pub fn latest(&self, id: &str) -> Result<Option<Reading>, StoreError> {
        self.latest
            .get(id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// A device's readings since `since` (RFC 3339; empty for all), oldest first.
    pub fn history(&self, id: &str, since: &str) -> Result<Vec<Reading>, StoreError> {
        let mut start = id.as_bytes().to_vec();
        start.push(0);
        let prefix = start.clone();
        start.extend_from_slice(since.as_bytes());
        self.history
            .range(start..)
            .take_while(|kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(|kv| decode(&kv?.1))
            .collect()
    }

    /// Deletes history older than `before` (RFC 3339), for every device. Returns how many
    /// readings went.
    pub fn prune_history(&self, before: &str) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.history.iter() {
            let (k, _) = kv?;
            let Some(sep) = k.iter().position(|&b| b == 0) else {
                continue;
            };
            let rest = &k[sep + 1..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if &rest[..end] < before.as_bytes() {
                self.history.remove(&k)?;
                gone += 1;
            }
        }
        self.db.flush()?;
        Ok(gone)
    }
}

/// Makes everything written so far durable. sled 0.34's `flush_async` waits on sled's own
/// small I/O pool, and the writes it waits for need that pool too: enough concurrent
/// flushes take every thread and nothing is ever written (seen here, in the demo). The
/// blocking flush runs on tokio's blocking pool instead, leaving sled's to sled.
async fn flush(db: &sled::Db) -> Result<(), StoreError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.flush().map(|_| ()))
        .await
        .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("printwatch-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// sled's flusher thread lets go of the lock a moment after the last handle drops; a
    /// restart in production is a new process, here it is the same one.
    fn reopen(dir: &std::path::Path) -> Store {
        for _ in 0..50 {
            if let Ok(s) = Store::open(dir, 8 << 20) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the store did not reopen");
    }

    fn reading(address: &str, serial: Option<&str>, mac: Option<&str>, at: &str) -> Reading {
        Reading {
            identity: Identity {
                address: address.into(),
                vendor: Some("HP".into()),
                model: Some("M404".into()),
                serial: serial.map(Into::into),
                mac: mac.map(Into::into),
                ..Identity::default()
            },
            polled_at: at.into(),
            ..Reading::default()
        }
    }

    #[tokio::test]
    async fn replays_are_not_stored_twice_and_state_survives_reopening() {
        let dir = tempdir("replay");
        {
            let s = Store::open(&dir, 8 << 20).unwrap();
            for seq in 1..=3 {
                let r = reading(
                    "10.0.0.5",
                    Some("SN1"),
                    None,
                    &format!("2026-11-21T10:00:0{seq}Z"),
                );
                assert!(matches!(
                    s.ingest("hq", "hq", seq, &r).await.unwrap(),
                    Ingested::Stored { .. }
                ));
            }
            // The collector lost the ack of 2 and 3 and sends them again.
            let r = reading("10.0.0.5", Some("SN1"), None, "2026-11-21T10:00:02Z");
            assert_eq!(
                s.ingest("hq", "hq", 2, &r).await.unwrap(),
                Ingested::Duplicate
            );
            assert_eq!(
                s.ingest("hq", "hq", 3, &r).await.unwrap(),
                Ingested::Duplicate
            );
            // Another collector's numbers are its own.
            assert!(matches!(
                s.ingest("branch", "branch", 1, &r).await.unwrap(),
                Ingested::Stored { .. }
            ));
        }
        let s = reopen(&dir);
        assert_eq!(s.last_sequence("hq").unwrap(), 3);
        assert_eq!(s.history("sn:SN1", "").unwrap().len(), 4);
        assert_eq!(
            s.history("sn:SN1", "2026-11-21T10:00:02Z").unwrap().len(),
            3
        );
        assert_eq!(s.devices().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn one_printer_is_one_device_across_addresses_and_sites() {
        let dir = tempdir("dedupe");
        let s = Store::open(&dir, 8 << 20).unwrap();
        // Seen by two sites, then at a new address after a DHCP change.
        let a = s
            .ingest(
                "hq",
                "hq",
                1,
                &reading("10.0.0.5", Some("SN1"), Some("aa:bb"), "t1"),
            )
            .await
            .unwrap();
        let b = s
            .ingest(
                "br",
                "br",
                1,
                &reading("10.9.0.5", Some("SN1"), Some("aa:bb"), "t2"),
            )
            .await
            .unwrap();
        let c = s
            .ingest(
                "hq",
                "hq",
                2,
                &reading("10.0.0.77", Some("SN1"), Some("aa:bb"), "t3"),
            )
            .await
            .unwrap();
        assert_eq!(
            a,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: true
            }
        );
        assert_eq!(
            b,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: false
            }
        );
        assert_eq!(
            c,
            Ingested::Stored {
                device_id: "sn:SN1".into(),
                new_device: false
            }
        );
        // No serial: the MAC finds it; neither: vendor, model and address.
        s.ingest(
            "hq",
            "hq",
            3,
            &reading("10.0.0.8", None, Some("cc:dd"), "t4"),
        )
        .await
        .unwrap();
        let d = s
            .ingest(
                "hq",
                "hq",
                4,
                &reading("10.0.0.99", None, Some("cc:dd"), "t5"),
            )
            .await
            .unwrap();
        assert_eq!(
            d,
            Ingested::Stored {
                device_id: "mac:cc:dd".into(),
                new_device: false
            }
        );
        s.ingest("hq", "hq", 5, &reading("10.0.0.9", None, None, "t6"))
            .await
            .unwrap();
        let e = s
            .ingest("hq", "hq", 6, &reading("10.0.0.9", None, None, "t7"))
            .await
            .unwrap();
        assert_eq!(
            e,
            Ingested::Stored {
                device_id: "at:hq/HP/M404/10.0.0.9".into(),
                new_device: false
            }
        );
        // A different printer (another serial) put where a known one was is a device of its
        // own; one that never gave a serial may be the same printer, as DESIGN's order says.
        let f = s
            .ingest("hq", "hq", 7, &reading("10.0.0.5", Some("SN3"), None, "t8"))
            .await
            .unwrap();
        assert_eq!(
            f,
            Ingested::Stored {
                device_id: "sn:SN3".into(),
                new_device: true
            }
        );
        let devices = s.devices().unwrap();
        assert_eq!(devices.len(), 4);
        let first = s.device("sn:SN1").unwrap().unwrap();
        assert_eq!(first.addresses, vec!["10.0.0.5", "10.9.0.5", "10.0.0.77"]);
        assert_eq!(
            first.addresses.last().map(String::as_str),
            Some("10.0.0.77")
        );
        assert_eq!(first.site, "hq");
        assert_eq!(s.latest("sn:SN1").unwrap().unwrap().polled_at, "t3");
        assert_eq!(s.prune_history("t2").unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
