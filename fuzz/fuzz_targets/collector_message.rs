//! Any bytes on a collector's stream: the message decodes or not; a reading converts to the
//! model or is refused; what converts is stored by the coordinator's ingest (alerts, levels,
//! forecasts and all) without a panic, and a replay of it is a duplicate.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use printwatch_coordinator::store::{Answer, Incoming, Ingested, Policy, PollFailure, Store};
use printwatch_coordinator::wire_reading::WireReading;
use printwatch_proto::v1 as p;
use prost::Message;

struct State {
    rt: tokio::runtime::Runtime,
    store: Store,
    seq: std::sync::atomic::AtomicU64,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        // tmpfs where there is one: the store flushes after every batch.
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("printwatch-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        State {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            store: Store::open(&dir, 16 << 20).expect("a store"),
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = p::CollectorMessage::decode(data) else {
        return;
    };
    let Some(p::collector_message::Body::Envelope(env)) = msg.body else {
        return;
    };
    let item = match env.body {
        Some(p::envelope::Body::Reading(r)) => match WireReading::from_wire(r) {
            Ok(r) => Incoming::Reading(Box::new(r)),
            Err(_) => return,
        },
        Some(p::envelope::Body::PollFailed(f)) => Incoming::PollFailed(PollFailure {
            address: f.address,
            consecutive: f.consecutive,
            error: f.error,
            at: f.at,
        }),
        _ => return,
    };
    let s = state();
    let seq = s.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let batch = vec![(seq, item)];
    let policy = Policy::default();
    let answers = s
        .rt
        .block_on(s.store.ingest_batch("fuzz", "fuzz", &batch, &policy));
    if let [Ok(Answer::Reading(Ingested::Stored { .. }))] = answers.as_slice() {
        let again = s
            .rt
            .block_on(s.store.ingest_batch("fuzz", "fuzz", &batch, &policy));
        assert!(
            matches!(again.as_slice(), [Ok(Answer::Reading(Ingested::Duplicate))]),
            "a replay is a duplicate: {again:?}"
        );
    }
});
