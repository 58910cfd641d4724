//! The coordinator's instruments: what it ingests, each supply's level as the fleet last
//! reported it, how much waits (devices, open alerts, queued mail and dealer batches) and
//! what the store takes on disk (history's segments and sled; readings kept), read from
//! the store when a reader asks. The ingest actor records, and keeps a
//! [`LevelsShown`] so that a level is recorded when it moves, not with every reading.

use agent_core::model::Reading;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use opentelemetry::KeyValue;

use crate::store::{StoreError, StoreReader};

/// The coordinator's instruments. Cloning shares them.
#[derive(Clone)]
pub struct CoordinatorMetrics {
    envelopes: Counter<u64>,
    refused: Counter<u64>,
    level: Gauge<f64>,
    batch: Histogram<u64>,
}

impl Default for CoordinatorMetrics {
    /// Instruments that record nowhere: a coordinator run without telemetry (tests).
    fn default() -> Self {
        let meter = opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry::metrics::NoopMeterProvider::new(),
            "none",
        );
        CoordinatorMetrics::instruments(&meter)
    }
}

/// What became of an envelope from a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reading, stored.
    Stored,
    /// A reading already stored (a replay).
    Duplicate,
    /// A collector's report that a poll failed.
    PollFailed,
    /// A reading of another site's printer, kept apart as a conflict.
    Observed,
}

impl CoordinatorMetrics {
    /// Makes the instruments on `meter`; the gauges of what waits read `store` on demand.
    pub fn new(meter: &Meter, store: StoreReader) -> Self {
        let s = store.clone();
        meter
            .u64_observable_gauge("printwatch_devices")
            .with_description("Printers in the fleet.")
            .with_callback(move |o| o.observe(s.device_count() as u64, &[]))
            .build();
        let s = store.clone();
        meter
            .u64_observable_gauge("printwatch_alerts_open")
            .with_description("Alerts open now.")
            .with_callback(move |o| o.observe(s.open_alert_count() as u64, &[]))
            .build();
        let s = store.clone();
        meter
            .u64_observable_gauge("printwatch_store_bytes")
            .with_description(
                "Bytes the store takes on disk: part=\"history\" for the day segments of readings, part=\"sled\" for everything else.",
            )
            .with_callback(move |o| {
                if let Ok(h) = s.history_usage() {
                    o.observe(h.bytes, &[KeyValue::new("part", "history")]);
                }
                if let Ok(b) = s.size_on_disk() {
                    o.observe(b, &[KeyValue::new("part", "sled")]);
                }
            })
            .build();
        let s = store.clone();
        meter
            .u64_observable_gauge("printwatch_history_readings")
            .with_description("Readings history keeps, in its day segments.")
            .with_callback(move |o| {
                if let Ok(h) = s.history_usage() {
                    o.observe(h.readings, &[]);
                }
            })
            .build();
        let s = store.clone();
        meter
            .u64_observable_gauge("printwatch_history_segments")
            .with_description("History's day segments on disk.")
            .with_callback(move |o| {
                if let Ok(h) = s.history_usage() {
                    o.observe(h.segments, &[]);
                }
            })
            .build();
        meter
            .u64_observable_gauge("printwatch_outbox_depth")
            .with_description(
                "Mails and dealer batches queued and not yet accepted by their server.",
            )
            .with_callback(move |o| {
                let (mail, dealer) = store.queued();
                o.observe(mail as u64, &[KeyValue::new("queue", "mail")]);
                o.observe(dealer as u64, &[KeyValue::new("queue", "dealer")]);
            })
            .build();
        CoordinatorMetrics::instruments(meter)
    }

    fn instruments(meter: &Meter) -> Self {
        CoordinatorMetrics {
            envelopes: meter
                .u64_counter("printwatch_envelopes")
                .with_description(
                    "Envelopes from collectors, by site and outcome (stored, duplicate, poll_failed).",
                )
                .build(),
            refused: meter
                .u64_counter("printwatch_envelopes_refused")
                .with_description(
                    "Envelopes from collectors refused before storing, by site and reason (malformed, unparseable_time, time_too_early, time_ahead, bad_sequence).",
                )
                .build(),
            level: meter
                .f64_gauge("printwatch_supply_level_percent")
                .with_description("Each supply's level as last reported, in percent of its capacity.")
                .build(),
            batch: meter
                .u64_histogram("printwatch_ingest_batch")
                .with_description("Envelopes made durable by one flush of the store.")
                .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
                .build(),
        }
    }

    /// `n` envelopes from `site` were handled alike.
    pub fn envelopes(&self, site: &str, outcome: Outcome, n: u64) {
        if n == 0 {
            return;
        }
        let outcome = match outcome {
            Outcome::Stored => "stored",
            Outcome::Duplicate => "duplicate",
            Outcome::PollFailed => "poll_failed",
            Outcome::Observed => "observed",
        };
        self.envelopes.add(
            n,
            &[
                KeyValue::new("site", site.to_string()),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    /// An envelope from `site` was refused for `reason` (a word, see
    /// [`crate::wire_reading::BadReading::reason`]).
    pub fn refused(&self, site: &str, reason: &'static str) {
        self.refused.add(
            1,
            &[
                KeyValue::new("site", site.to_string()),
                KeyValue::new("reason", reason),
            ],
        );
    }

    /// This many envelopes were made durable together.
    pub fn flushed(&self, envelopes: usize) {
        self.batch.record(envelopes as u64, &[]);
    }

    /// The supply levels a stored reading of `device` (at `site`) reports, when they are
    /// not what `shown` says the gauges hold already.
    pub fn levels_if_moved(
        &self,
        shown: &mut LevelsShown,
        device: &str,
        site: &str,
        reading: &Reading,
    ) {
        if shown.update(device, site, reading) {
            self.levels(device, site, reading);
        }
    }

    /// The supply levels a stored reading of `device` (at `site`) reports.
    pub fn levels(&self, device: &str, site: &str, reading: &Reading) {
        for s in &reading.supplies {
            let Some(percent) = s.percent else { continue };
            self.level.record(
                f64::from(percent),
                &[
                    KeyValue::new("device", device.to_string()),
                    KeyValue::new("site", site.to_string()),
                    KeyValue::new("supply", s.description.clone()),
                    KeyValue::new("color", s.color.clone().unwrap_or_default()),
                ],
            );
        }
    }

    /// Every device's last levels, from the store: what a restarted coordinator reports
    /// before its collectors send anything new.
    pub fn seed(&self, store: &StoreReader) -> Result<usize, StoreError> {
        let mut n = 0;
        for d in store.devices()? {
            if let Some(r) = store.latest(&d.id)? {
                self.levels(&d.id, &d.site, &r);
                n += 1;
            }
        }
        Ok(n)
    }
}

/// What the level gauges hold for each device, as one 64-bit digest of its site and each
/// supply's name, color and percent. The gauges keep their last value (cumulative
/// temporality), so a reading that reports the same levels as the last need not be recorded
/// again; recording builds four labels per supply and was a tenth of ingest's time. A digest
/// rather than a copy of the strings: at 10,000 printers the copies took 5 MiB of the
/// coordinator's memory, the digests a tenth of that. Two different sets of levels that
/// share a digest (one chance in 2^64) would leave a gauge one reading behind.
#[derive(Debug, Default)]
pub struct LevelsShown {
    devices: std::collections::HashMap<String, u64>,
}

impl LevelsShown {
    /// Notes what `reading` shows for `device`; true when that differs from before.
    pub fn update(&mut self, device: &str, site: &str, reading: &Reading) -> bool {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: the same levels give the same digest for as long as the
        // process runs, which is all a digest here must do.
        let mut h = std::hash::DefaultHasher::new();
        site.hash(&mut h);
        for s in &reading.supplies {
            if let Some(p) = s.percent {
                (&s.description, &s.color, p).hash(&mut h);
            }
        }
        let digest = h.finish();
        match self.devices.get_mut(device) {
            Some(shown) => std::mem::replace(shown, digest) != digest,
            None => {
                self.devices.insert(device.to_string(), digest);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_shown_again_only_when_they_move() {
        let device = agent_core::sim::synthetic::printer(5, 3);
        let mut r = agent_core::decode::reading(&device.view, "127.0.0.5:161");
        assert!(r.supplies.iter().any(|s| s.percent.is_some()));
        let mut shown = LevelsShown::default();
        assert!(shown.update("d1", "hq", &r), "first sight");
        assert!(!shown.update("d1", "hq", &r), "the same levels");
        assert!(shown.update("d2", "hq", &r), "another device");
        assert!(shown.update("d1", "branch", &r), "another site");
        assert!(!shown.update("d1", "branch", &r));
        let i = r
            .supplies
            .iter()
            .position(|s| s.percent.is_some())
            .unwrap_or(0);
        r.supplies[i].percent = r.supplies[i].percent.map(|p| p.wrapping_sub(1));
        assert!(shown.update("d1", "branch", &r), "a level moved");
        r.supplies[i].color = Some("a new color".into());
        assert!(shown.update("d1", "branch", &r), "a label changed");
        r.supplies.pop();
        assert!(shown.update("d1", "branch", &r), "a supply went");
        assert!(!shown.update("d1", "branch", &r));
    }
}
