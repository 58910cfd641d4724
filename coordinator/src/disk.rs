//! When the database cannot be written (a full disk): sled keeps the error for the rest
//! of the process, so the coordinator stops taking readings (collectors keep them in
//! their outboxes), goes on answering operators from what it has, and waits for space:
//! a probe file in the data directory is written every few seconds, and once one fits
//! the coordinator says so and stops, for its service manager to start it again with
//! the database reopened. Nothing acknowledged is lost: an envelope is acknowledged only
//! once flushed.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How much a probe writes: enough that a disk with room for it has room for a batch.
const PROBE_BYTES: usize = 1 << 20;

/// How often space is looked for.
const EVERY: Duration = Duration::from_secs(2);

/// True when `PROBE_BYTES` can be written and synced in `dir` (the probe is removed).
fn fits(dir: &Path) -> bool {
    use std::io::Write;
    let probe: PathBuf = dir.join(".space-probe");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.is_ok()
}

/// Completes once the data directory has room again.
pub async fn space_returned(dir: PathBuf) {
    loop {
        tokio::time::sleep(EVERY).await;
        let d = dir.clone();
        if tokio::task::spawn_blocking(move || fits(&d))
            .await
            .unwrap_or(false)
        {
            return;
        }
    }
}
