//! The coordinator's store at ingest: what one group commit of 256 steady-state readings
//! costs the writer, written and flushed, alerts and level history included. The fleet benchmark
//! measures ingest end to end; this isolates the store's share of it.
//!
//! Run: `cargo bench -p printwatch-benches --bench ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops
#![allow(missing_docs)] // criterion_group! makes a public function

printwatch_coordinator::tuned_heap!();

use agent_core::model::Reading;
use agent_core::sim::synthetic;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use printwatch_coordinator::ingest::{Incoming, Writer};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::wire_reading::WireReading;

const PRINTERS: u32 = 2000;
const BATCH: usize = 256;

/// A reading of each synthetic printer, as the collector would send it.
fn fleet() -> Vec<Reading> {
    (0..PRINTERS)
        .map(|i| {
            let device = synthetic::printer(7, i);
            agent_core::decode::reading(&device.view, &format!("127.7.{}.{}:161", i / 250, i % 250))
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("printwatch-ingest-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, 64 << 20).expect("a store");
    let mut writer = Writer::new(store, Policy::default());
    let fleet = fleet();
    let mut seq = 0u64;
    let mut at = 0usize;
    let mut next_batch = move || {
        let items: Vec<(u64, Incoming)> = (0..BATCH)
            .map(|_| {
                seq += 1;
                let mut r = fleet[at % fleet.len()].clone();
                at += 1;
                r.polled_at = agent_core::poll::now_rfc3339();
                let r = WireReading::new(r).expect("a reading taken now");
                (seq, Incoming::Reading(Box::new(r)))
            })
            .collect();
        items
    };
    // The first cycle: every printer becomes a device.
    for _ in 0..(PRINTERS as usize).div_ceil(BATCH) {
        let items = next_batch();
        rt.block_on(writer.ingest_batch("bench", &items));
    }
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    group.bench_function("ingest 256 steady readings, one flush", |b| {
        b.iter_batched(
            &mut next_batch,
            |items| {
                let answers = rt.block_on(writer.ingest_batch("bench", &items));
                assert!(answers.iter().all(Result::is_ok));
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
    drop(writer);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(ingest, benches);
criterion_main!(ingest);
