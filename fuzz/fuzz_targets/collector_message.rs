//! Any bytes on a collector's stream: the message decodes or not; a reading converts to the
//! model (its time checked) or is refused; what converts is stored by the coordinator's
//! writer (alerts, levels, forecasts and all) without a panic, and a replay of it is a
//! duplicate.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use printwatch_coordinator::ingest::{Answer, Incoming, Ingested, PollFailure, Writer};
use printwatch_coordinator::policy::Policy;
use printwatch_coordinator::store::Store;
use printwatch_coordinator::timestamp::{reading_time, Timestamp};
use printwatch_coordinator::wire_reading::WireReading;
use printwatch_proto::v1 as p;
use prost::Message;

struct State {
    rt: tokio::runtime::Runtime,
    writer: std::sync::Mutex<Writer>,
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
            writer: std::sync::Mutex::new(Writer::new(
                Store::open(&dir, 16 << 20).expect("a store"),
                Policy::default(),
            )),
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
    // Any time is checked (totally); one the check refuses is replaced by now, so that the
    // rest of the message still reaches the writer: random bytes are rarely a valid time.
    let now = Timestamp::now();
    let time = |text: &str| reading_time(text, now).unwrap_or(now);
    let item = match env.body {
        Some(p::envelope::Body::Reading(mut r)) => {
            r.polled_at = time(&r.polled_at).rfc3339();
            match WireReading::from_wire(r, now) {
                Ok(r) => Incoming::Reading(Box::new(r)),
                Err(_) => return,
            }
        }
        Some(p::envelope::Body::PollFailed(f)) => Incoming::PollFailed(PollFailure {
            at: time(&f.at),
            address: f.address,
            consecutive: f.consecutive,
            error: f.error,
            certificate_changed: f.certificate_changed,
        }),
        _ => return,
    };
    let s = state();
    let seq = s.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let batch = vec![(seq, item)];
    let mut writer = s.writer.lock().unwrap_or_else(|p| p.into_inner());
    let answers = s.rt.block_on(writer.ingest_batch("fuzz", &batch));
    if let [Ok(Answer::Reading(Ingested::Stored { .. }))] = answers.as_slice() {
        let again = s.rt.block_on(writer.ingest_batch("fuzz", &batch));
        assert!(
            matches!(again.as_slice(), [Ok(Answer::Reading(Ingested::Duplicate))]),
            "a replay is a duplicate: {again:?}"
        );
    }
});
