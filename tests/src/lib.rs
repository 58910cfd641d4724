//! Helpers for printwatch's end-to-end tests: where the corpus is, loading recordings and
//! their expected values, and loopback addresses that do not collide between tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use agent_core::model::Reading;
use agent_core::sim::SimDevice;

/// The corpus directory: `$PRINTWATCH_CORPUS`, or `../shared/corpus` beside the checkout.
/// Panics with a clear message when it is missing: the tests are meaningless without it.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("PRINTWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(
        dir.join("printers").is_dir(),
        "printer corpus not found at {} (set PRINTWATCH_CORPUS)",
        dir.display()
    );
    dir
}

/// Every recording in a corpus subdirectory (`printers` or `others`), by name, sorted.
pub fn recordings(sub: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(corpus_dir().join(sub))
        .expect("corpus directory readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snmprec"))
        .map(|p| {
            (
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                p,
            )
        })
        .collect();
    out.sort();
    out
}

/// A simulated device serving one recording.
pub fn sim_device(name: &str, path: &Path) -> SimDevice {
    let text = std::fs::read_to_string(path).expect("recording readable");
    let (device, skipped) = SimDevice::from_snmprec(name, &text);
    // Anonymised values (`4x|346288XXYYZZ`) are all a recording may lose.
    let lines = text.lines().count();
    assert!(
        skipped.len() * 20 < lines,
        "{name}: {} of {lines} lines unreadable, first: {}",
        skipped.len(),
        skipped[0]
    );
    device
}

/// The expected values of a printer recording.
pub fn expected(path: &Path) -> serde_json::Value {
    let p = path.with_extension("expected.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("expected.json readable"))
        .expect("expected.json parses")
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A fresh loopback address with port 0 (the OS picks the port). Each call within a test
/// binary gives another address in 127.(pid-derived).x.y, so parallel tests never collide.
pub fn loopback() -> SocketAddr {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let b = 100 + (std::process::id() % 100) as u8;
    SocketAddr::from((Ipv4Addr::new(127, b, (n >> 8) as u8, (n & 0xff) as u8), 0))
}

/// A reading without what legitimately differs between two polls of the same data: the
/// time, the wire counters and the address it was read at.
pub fn essence(mut r: Reading) -> Reading {
    r.polled_at.clear();
    r.bytes_sent = 0;
    r.bytes_received = 0;
    r.round_trips = 0;
    r.identity.address.clear();
    r
}
