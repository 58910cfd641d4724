//! Alerts as stored: each one a record under its id (`A` and a number), opened once and
//! closed once, and the index of open ones by condition key. Which alerts open and close
//! is the policy's ([`crate::policy`]); the kinds and keys are defined here because they
//! are what is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A supply at or under its reorder point.
    SupplyLow,
    /// A supply with nothing left.
    SupplyEmpty,
    /// A waste receptacle with no space left.
    WasteFull,
    /// A paper jam.
    Jam,
    /// A door or cover open.
    DoorOpen,
    /// No paper.
    NoPaper,
    /// The printer asks for service.
    ServiceRequested,
    /// The printer is offline.
    Offline,
    /// The printer stopped answering the collector.
    Unreachable,
    /// A site's collector stopped reporting.
    CollectorSilent,
    /// No meter read from a printer for too long.
    MeterReadMissing,
    /// A site reached its device quota: readings of printers new to it are refused.
    OverQuota,
    /// The coordinator refused a site's envelopes as invalid (the collector set them aside).
    EnvelopesRefused,
    /// An `ipps://` printer showed another certificate than the one pinned for it.
    CertificateChanged,
}

impl AlertKind {
    /// The name used in listings, mail and exports.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::SupplyLow => "supply_low",
            AlertKind::SupplyEmpty => "supply_empty",
            AlertKind::WasteFull => "waste_full",
            AlertKind::Jam => "jam",
            AlertKind::DoorOpen => "door_open",
            AlertKind::NoPaper => "no_paper",
            AlertKind::ServiceRequested => "service_requested",
            AlertKind::Offline => "offline",
            AlertKind::Unreachable => "unreachable",
            AlertKind::CollectorSilent => "collector_silent",
            AlertKind::MeterReadMissing => "meter_read_missing",
            AlertKind::OverQuota => "over_quota",
            AlertKind::EnvelopesRefused => "envelopes_refused",
            AlertKind::CertificateChanged => "certificate_changed",
        }
    }
}

/// The supply an alert is about, as the mail and the uplink name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplyRef {
    /// `device_index.index`.
    pub at: String,
    /// The printer's own description.
    pub description: String,
    /// Its part number, where the printer gives one.
    pub part_number: Option<String>,
    /// Its kind (toner, opc, ...).
    pub kind: String,
    /// Its colour.
    pub color: Option<String>,
    /// Its level in percent, where known.
    pub percent: Option<u8>,
}

/// An alert as stored: opened once, closed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// `A` and a number, in the order alerts opened.
    pub id: String,
    /// The condition's key (see [`supply_key`], [`device_key`], [`site_key`]).
    pub key: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The printer ("" for a site's collector).
    pub device_id: String,
    /// The site.
    pub site: String,
    /// The printer as people name it: model and serial.
    pub printer: String,
    /// A line for people.
    pub detail: String,
    /// The supply concerned.
    pub supply: Option<SupplyRef>,
    /// Days until the supply is empty, when an estimate existed at opening.
    pub days_left: Option<f64>,
    /// When it opened.
    pub opened_at: Timestamp,
    /// When it closed.
    pub closed_at: Option<Timestamp>,
}

/// The key of a supply condition. A device's keys start with its id and a `/`, which is
/// how [`StoreReader::open_for`] finds them.
pub fn supply_key(device: &str, at: &str, kind: AlertKind) -> String {
    format!("{device}/supply/{at}/{}", kind.name())
}

/// The key of a printer-wide condition.
pub fn device_key(device: &str, kind: AlertKind) -> String {
    format!("{device}/printer/{}", kind.name())
}

/// The key of a site's silent collector.
pub fn site_key(site: &str) -> String {
    site_alert_key(site, AlertKind::CollectorSilent)
}

/// The key of an alert about a whole site.
pub fn site_alert_key(site: &str, kind: AlertKind) -> String {
    format!("site:{site}/{}", kind.name())
}

impl Store {
    /// The next alert's id: `A` and a number never used before (see
    /// [`Store::next_number`]).
    pub fn next_alert_id(&mut self) -> Result<String, StoreError> {
        Ok(format!("A{}", self.next_number(b"alert_seq")?))
    }

    /// Writes an alert's record.
    pub fn put_alert(&mut self, a: &AlertRecord) -> Result<(), StoreError> {
        self.t.alerts.insert(a.id.as_bytes(), encode(a))?;
        Ok(())
    }

    /// Marks alert `id` as the open one for its condition `key`.
    pub fn set_open(&mut self, key: &str, id: &str) -> Result<(), StoreError> {
        self.t.open.insert(key.as_bytes(), id.as_bytes())?;
        Ok(())
    }

    /// No alert is open for `key` any more.
    pub fn clear_open(&mut self, key: &str) -> Result<(), StoreError> {
        self.t.open.remove(key.as_bytes())?;
        Ok(())
    }
}

impl StoreReader {
    /// The open alert for a condition key: its record, or the key alone when its record
    /// is missing (damage the writer repairs by closing the key).
    pub fn open_alert(&self, key: &str) -> Result<Option<Result<AlertRecord, String>>, StoreError> {
        let Some(id) = self.t.open.get(key.as_bytes())? else {
            return Ok(None);
        };
        Ok(Some(match self.t.alerts.get(&id)? {
            Some(a) => Ok(decode(&a)?),
            None => Err(String::from_utf8_lossy(&id).into_owned()),
        }))
    }

    /// True when an alert is open for this key.
    pub fn is_open(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.t.open.contains_key(key.as_bytes())?)
    }

    /// The open alerts of one device: key to kind.
    pub fn open_for(&self, device: &str) -> Result<BTreeMap<String, AlertKind>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.t.open.scan_prefix(format!("{device}/").as_bytes()) {
            let (k, id) = kv?;
            if let Some(a) = self.t.alerts.get(&id)? {
                let a: AlertRecord = decode(&a)?;
                out.insert(String::from_utf8_lossy(&k).into_owned(), a.kind);
            }
        }
        Ok(out)
    }

    /// Every alert, newest first; only open ones unless `include_closed`.
    pub fn alerts(&self, include_closed: bool) -> Result<Vec<AlertRecord>, StoreError> {
        let mut all: Vec<AlertRecord> = if include_closed {
            self.t
                .alerts
                .iter()
                .values()
                .map(|v| decode(&v?))
                .collect::<Result<_, _>>()?
        } else {
            // Through the index of open conditions: as many reads as alerts open, however
            // many were ever opened.
            let mut open = Vec::new();
            for id in self.t.open.iter().values() {
                if let Some(a) = self.t.alerts.get(&id?)? {
                    open.push(decode::<AlertRecord>(&a)?);
                }
            }
            open.retain(|a| a.closed_at.is_none());
            open
        };
        all.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(b.id.cmp(&a.id)));
        all.dedup_by(|a, b| a.id == b.id);
        Ok(all)
    }

    /// How many alerts are open.
    pub fn open_alert_count(&self) -> usize {
        self.t.open.len()
    }

    /// How many alert ids were ever handed out.
    pub fn alerts_numbered(&self) -> Result<u64, StoreError> {
        self.counter(b"alert_seq")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{dir, reopen};

    #[test]
    fn ids_are_never_handed_out_twice_across_restarts() {
        let d = dir("alert-ids");
        {
            let mut s = reopen(&d);
            assert_eq!(s.next_alert_id().unwrap(), "A1");
            assert_eq!(s.next_alert_id().unwrap(), "A2");
            assert_eq!(s.alerts_numbered().unwrap(), 2);
        }
        let mut s = reopen(&d);
        assert_eq!(s.next_alert_id().unwrap(), "A3");
        drop(s);
        let _ = std::fs::remove_dir_all(&d);
    }
}
