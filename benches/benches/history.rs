//! History on disk over time: a month of five-minute readings of 1,000 printers, changing
//! as real ones do, through the coordinator's writer; then the bytes on disk per reading and
//! per printer-day, and the process's peak memory.
//!
//! Realistic change: each printer's supplies fall a percent every few hours (its own pace)
//! and are replaced near empty; a busy printer's page counter climbs during office hours and
//! an idle one's stays put; once a day a printer reports a condition (a door open, paper
//! out) for a while. Most readings repeat the one before, as in a real fleet.
//!
//! Run: `cargo bench -p printwatch-benches --bench history`. PRINTWATCH_HISTORY_DAYS and
//! PRINTWATCH_HISTORY_PRINTERS pick other sizes (default 30 and 1,000);
//! PRINTWATCH_HISTORY_CACHE_MB sled's cache (default 64, the coordinator's default).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot run stops

printwatch_coordinator::tuned_heap!();

use std::time::Instant;

use agent_core::model::Reading;
use agent_core::sim::synthetic;
use printwatch_coordinator::ingest::{Incoming, Writer};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::wire_reading::WireReading;

const STEP_S: i64 = 300;
const BATCH: usize = 256;

/// One printer's way of changing, from its number.
struct Pace {
    /// Seconds between one-percent drops of each supply.
    drop_every: i64,
    /// Pages a five-minute step during office hours (0: an idle printer).
    pages_per_step: u64,
    /// The second of the day its daily condition starts.
    condition_at: i64,
}

fn pace(i: u32) -> Pace {
    let h = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Pace {
        drop_every: 3_600 * (2 + (h % 7) as i64),
        pages_per_step: if h % 5 < 2 { 0 } else { 1 + (h >> 8) % 12 },
        condition_at: ((h >> 16) % 86_400) as i64,
    }
}

/// A reading's time as a collector writes it: to the nanosecond, a poll never starting on
/// the second.
fn fmt(t: i64, i: u32) -> String {
    let jitter = (u64::from(i) ^ t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(t) * 1_000_000_000 + i128::from(jitter),
    )
    .expect("a time")
    .format(&time::format_description::well_known::Rfc3339)
    .expect("RFC 3339")
}

/// The reading of printer `i` at `t` seconds into the month, `base` its first reading.
fn reading_at(base: &Reading, i: u32, start: i64, t: i64) -> Reading {
    let p = pace(i);
    let mut r = base.clone();
    r.polled_at = fmt(start + t, i);
    for (k, s) in r.supplies.iter_mut().enumerate() {
        if s.max_capacity <= 0 {
            continue;
        }
        let start_pct = 100 - (k as i64 * 17) % 60;
        let drops = t / p.drop_every;
        // A cartridge lasts from its start to 3 %, then a new one is put in.
        let life = 97;
        let pct = {
            let used = (100 - start_pct) + drops;
            100 - used % life
        };
        s.percent = Some(pct as u8);
        s.level = pct * s.max_capacity / 100;
    }
    let day = t / 86_400;
    let second = t % 86_400;
    let office = (8 * 3_600..18 * 3_600).contains(&second);
    if let Some(m) = r.meters.first_mut() {
        let steps_so_far = day * 120
            + if office {
                (second - 8 * 3_600) / STEP_S
            } else if second >= 18 * 3_600 {
                120
            } else {
                0
            };
        m.value += p.pages_per_step * steps_so_far as u64;
    }
    if (p.condition_at..p.condition_at + 1_800).contains(&second) {
        r.status.errors = vec!["door_open".into()];
    } else {
        r.status.errors.clear();
    }
    r
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let env = |k: &str, d: u32| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let days = env("PRINTWATCH_HISTORY_DAYS", 30);
    let printers = env("PRINTWATCH_HISTORY_PRINTERS", 1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("printwatch-history-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bases: Vec<Reading> = (0..printers)
        .map(|i| {
            let device = synthetic::printer(11, i);
            agent_core::decode::reading(
                &device.view,
                &format!("127.11.{}.{}:161", i / 250, i % 250 + 1),
            )
        })
        .collect();
    // The month ends now, so every reading's time is one the coordinator accepts.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let span = i64::from(days) * 86_400;
    let start = now - span;
    let steps = span / STEP_S;
    let cache_mb = u64::from(env("PRINTWATCH_HISTORY_CACHE_MB", 64));
    let store = Store::open(&dir, cache_mb << 20).expect("a store");
    let mut writer = Writer::new(store, Policy::default());
    let began = Instant::now();
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut stored = 0u64;
    for step in 0..steps {
        let t = step * STEP_S;
        for i in 0..printers {
            seq += 1;
            let r = reading_at(&bases[i as usize], i, start, t);
            let r = WireReading::new(r).expect("a reading of the last month");
            batch.push((seq, Incoming::Reading(Box::new(r))));
            if batch.len() == BATCH {
                let answers = rt.block_on(writer.ingest_batch("bench", &batch));
                assert!(answers.iter().all(Result::is_ok));
                stored += batch.len() as u64;
                batch.clear();
            }
        }
        if step % (86_400 / STEP_S) == 0 {
            eprintln!(
                "day {} of {days}: {stored} readings, {:.0}/s, {:.1} MB on disk",
                step * STEP_S / 86_400,
                stored as f64 / began.elapsed().as_secs_f64(),
                dir_bytes(&dir) as f64 / 1e6
            );
        }
    }
    if !batch.is_empty() {
        let answers = rt.block_on(writer.ingest_batch("bench", &batch));
        assert!(answers.iter().all(Result::is_ok));
        stored += batch.len() as u64;
    }
    let seconds = began.elapsed().as_secs_f64();
    let before = dir_bytes(&dir);
    let usage = writer.reader().tree_usage().expect("the trees");
    let history = writer.reader().history_usage().expect("history's segments");
    drop(writer);
    // Settled: closed and opened again, so the log's tail is written and what sled frees
    // on start is freed.
    let store = Store::open(&dir, 64 << 20).expect("the store again");
    drop(store);
    let settled = dir_bytes(&dir);
    let printer_days = f64::from(printers) * f64::from(days);
    let table = format!(
        "| printers | days | readings | ingest | on disk, open | settled | per reading | per printer-day | peak memory |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
         | {printers} | {days} | {stored} | {:.0}/s | {:.1} MB | {:.1} MB | {:.0} B | {:.0} B | {:.1} MiB |\n",
        stored as f64 / seconds,
        before as f64 / 1e6,
        settled as f64 / 1e6,
        settled as f64 / stored as f64,
        settled as f64 / printer_days,
        peak_mib(),
    );
    let sled_bytes = settled.saturating_sub(history.bytes);
    let kept = format!(
        "\nOf that, history's {} day segments: {:.1} MB, {:.1} B a reading ({} readings); \
         sled (devices, latest readings, level points, meters, alerts, outboxes): {:.1} MB, \
         {:.1} B a reading.\n",
        history.segments,
        history.bytes as f64 / 1e6,
        history.bytes as f64 / history.readings.max(1) as f64,
        history.readings,
        sled_bytes as f64 / 1e6,
        sled_bytes as f64 / stored as f64,
    );
    let mut trees = String::from(
        "\n| tree | entries | key bytes | value bytes | per reading |\n|---|---:|---:|---:|---:|\n",
    );
    for u in usage.iter().filter(|u| u.entries > 0) {
        trees.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} B |\n",
            u.name,
            u.entries,
            u.key_bytes,
            u.value_bytes,
            (u.key_bytes + u.value_bytes) as f64 / stored as f64
        ));
    }
    let table = table + &kept + &trees;
    println!("{table}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/history-bench.md");
    let _ = std::fs::write(&out, &table);
    let _ = std::fs::remove_dir_all(&dir);
}
