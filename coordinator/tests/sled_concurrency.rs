//! sled 0.34 switches into a process-wide read/write lock the first time anything uses a
//! transaction, a batch or a checksum, and that lock can deadlock against sled's own
//! flusher, which holds a read while it waits for I/O. Seen here: `printwatch demo` hung
//! with an outbox push waiting on the write side and a device listing, and the flushers, on
//! the read side. A load test did not reproduce it on demand (it needs a flush to overlap),
//! so the guard is structural: printwatch makes none of the calls that enable the lock.
//!
//! Second pitfall, also seen in the demo: `flush_async` waits on sled's small I/O pool, and
//! the writes it waits for need that pool too; enough concurrent flushes take every thread
//! and nothing is written again. printwatch flushes with the blocking call on tokio's
//! blocking pool instead, and never calls `flush_async`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;

#[test]
fn no_sled_call_that_can_deadlock_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut stack = vec![
        root.join("agent-core/src"),
        root.join("collector/src"),
        root.join("coordinator/src"),
        root.join("cli/src"),
        root.join("pki/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in [
                    ".transaction(",
                    "apply_batch(",
                    ".checksum(",
                    "flush_async(",
                ] {
                    if text.contains(needle) {
                        offenders.push(format!("{} uses {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}
