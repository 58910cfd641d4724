//! The collector's instruments: what its polls cost and how they end, and how much waits for
//! the coordinator. Pollers record into them as they finish; the outbox depth and the number
//! of targets are read when a reader asks (a scrape, an OTLP push).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent_core::transport::Counters;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use crate::outbox::Outbox;

/// The collector's instruments. Cloning shares them: every poller records into the same ones.
#[derive(Clone)]
pub struct CollectorMetrics {
    polls: Counter<u64>,
    round_trips: Histogram<u64>,
    bytes: Histogram<u64>,
    latency: Histogram<f64>,
    targets: Arc<AtomicU64>,
}

/// How a poll ended, for its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    /// A full read: identity, the tables' shape, everything.
    First,
    /// A steady-state read of what changes.
    Steady,
}

impl CollectorMetrics {
    /// Makes the instruments on `meter`; the outbox's depth is read from `outbox` on demand.
    pub fn new(meter: &Meter, outbox: Outbox) -> Self {
        let targets = Arc::new(AtomicU64::new(0));
        let seen = targets.clone();
        meter
            .u64_observable_gauge("printwatch_collector_targets")
            .with_description("Printers this collector polls.")
            .with_callback(move |o| o.observe(seen.load(Ordering::Relaxed), &[]))
            .build();
        meter
            .u64_observable_gauge("printwatch_outbox_depth")
            .with_description(
                "Envelopes written to the outbox and not yet acknowledged by the coordinator.",
            )
            .with_callback({
                let outbox = outbox.clone();
                move |o| o.observe(outbox.depth(), &[])
            })
            .build();
        meter
            .u64_observable_gauge("printwatch_outbox_set_aside")
            .with_description(
                "Envelopes the coordinator refused (or too large to send), kept in the outbox's \
                 set-aside directory for people to look at.",
            )
            .with_callback({
                let outbox = outbox.clone();
                move |o| o.observe(outbox.set_aside_count(), &[])
            })
            .build();
        meter
            .u64_observable_counter("printwatch_outbox_acknowledged")
            .with_description(
                "Envelopes the coordinator has acknowledged (stored), over the outbox's life: \
                 its rate is the collector's throughput into the coordinator.",
            )
            .with_callback(move |o| o.observe(outbox.acknowledged(), &[]))
            .build();
        CollectorMetrics {
            polls: meter
                .u64_counter("printwatch_polls")
                .with_description(
                    "Polls of a printer, by kind (first, steady) and result (ok, failed).",
                )
                .build(),
            round_trips: meter
                .u64_histogram("printwatch_poll_round_trips")
                .with_description("SNMP requests sent per poll, retries included.")
                .with_boundaries(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0])
                .build(),
            bytes: meter
                .u64_histogram("printwatch_poll_bytes")
                .with_description("UDP payload bytes per poll, both ways, retries included.")
                .with_boundaries(vec![
                    500.0, 1000.0, 1500.0, 2000.0, 4000.0, 8000.0, 16000.0, 64000.0,
                ])
                .build(),
            latency: meter
                .f64_histogram("printwatch_poll_duration_seconds")
                .with_description("Wall time of a poll, from its first request to its reading.")
                .with_boundaries(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build(),
            targets,
        }
    }

    /// Instruments that record nowhere, for a scheduler run without telemetry (tests, tools).
    pub fn none() -> Self {
        let meter = opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry::metrics::NoopMeterProvider::new(),
            "none",
        );
        CollectorMetrics {
            polls: meter.u64_counter("none").build(),
            round_trips: meter.u64_histogram("none").build(),
            bytes: meter.u64_histogram("none").build(),
            latency: meter.f64_histogram("none").build(),
            targets: Arc::new(AtomicU64::new(0)),
        }
    }

    /// One poll finished.
    pub fn poll_done(&self, kind: PollKind, ok: bool, cost: &Counters, took: Duration) {
        let kind = match kind {
            PollKind::First => "first",
            PollKind::Steady => "steady",
        };
        let bytes = cost.bytes_sent + cost.bytes_received;
        self.record(kind, ok, u64::from(cost.requests), bytes, took);
    }

    /// An IPP poll finished: counted as a poll of kind `ipp`, its bytes those of the TCP
    /// stream (TLS and HTTP included).
    pub fn ipp_poll_done(&self, ok: bool, cost: &agent_core::ipp::Cost, took: Duration) {
        let bytes = cost.bytes_sent + cost.bytes_received;
        self.record("ipp", ok, u64::from(cost.round_trips), bytes, took);
    }

    fn record(&self, kind: &'static str, ok: bool, round_trips: u64, bytes: u64, took: Duration) {
        let labels = [
            KeyValue::new("kind", kind),
            KeyValue::new("result", if ok { "ok" } else { "failed" }),
        ];
        self.polls.add(1, &labels);
        let kind = &labels[..1];
        self.round_trips.record(round_trips, kind);
        self.bytes.record(bytes, kind);
        self.latency.record(took.as_secs_f64(), kind);
    }

    /// The scheduler's count of targets changed.
    pub fn set_targets(&self, n: usize) {
        self.targets.store(n as u64, Ordering::Relaxed);
    }
}
