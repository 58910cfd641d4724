//! Group commit for sled's flush. Every batch the writer stores is flushed before it is
//! acknowledged, and batches come faster than a flush ends: each flush that starts while
//! another runs seals sled's half-filled write buffer (a segment, 512 KiB) and fsyncs on its
//! own. With several collectors streaming, dozens were in flight at once, holding tens of
//! MiB of buffers and paying an fsync each. The gate lets one flush run at a time; a caller
//! that came while it ran waits for the next one, which starts after it asked and so covers
//! its writes, and that one flush answers every caller that waited.
//!
//! A flush also leaves sled's old write buffer to be freed by epoch-based reclamation, in a
//! list kept by the thread that flushed, which frees it only once 64 such frees gather
//! there. Flushes run on tokio's blocking pool, a different thread each time, so each
//! thread's list held a few segments' worth of buffers: 22 MiB at 10,000 printers.
//! [`release_deferred`] hands the list on at the end of every flush.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// One flush at a time, shared by every caller that came while the last one ran.
#[derive(Debug, Default)]
pub struct FlushGate {
    /// Callers so far: each takes the next number after its writes are done.
    asked: AtomicU64,
    /// Every caller numbered up to this is durable.
    covered: AtomicU64,
    /// Held while a flush runs.
    turn: tokio::sync::Mutex<()>,
}

impl FlushGate {
    /// Makes the caller's writes (done before this call) durable, with `flush`, which makes
    /// durable everything written before it starts; or returns when a flush that started
    /// after this call already did. A failed flush covers no one: each caller waiting then
    /// tries its own, and gets its own answer.
    pub async fn pass<E, F, Fut>(&self, flush: F) -> Result<(), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let ticket = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.turn.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Every caller numbered by now wrote before this flush starts.
        let upto = self.asked.load(Ordering::SeqCst);
        flush().await?;
        self.covered.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }
}

/// Hands the calling thread's deferred frees (sled's, through crossbeam's epochs) to the
/// global queue, and frees what no thread can still see. Cheap: a pin and a swap.
pub fn release_deferred() {
    crossbeam_epoch::pin().flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A store in miniature: writes bump `written`; a flush copies it to `durable` after
    /// a pause, as a disk would, and counts itself.
    #[derive(Default)]
    struct Disk {
        written: AtomicU64,
        durable: AtomicU64,
        flushes: AtomicU64,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Disk {
        async fn flush(&self) -> Result<(), String> {
            let seen = self.written.load(Ordering::SeqCst);
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.flushes.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err("disk full".into());
            }
            self.durable.fetch_max(seen, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_caller_is_durable_and_flushes_are_shared() {
        let (gate, disk) = (Arc::new(FlushGate::default()), Arc::new(Disk::default()));
        let callers: Vec<_> = (0..64)
            .map(|_| {
                let (gate, disk) = (gate.clone(), disk.clone());
                tokio::spawn(async move {
                    let mine = disk.written.fetch_add(1, Ordering::SeqCst) + 1;
                    gate.pass(|| disk.flush()).await.map(|()| mine)
                })
            })
            .collect();
        for c in callers {
            let mine = c.await.unwrap().unwrap();
            assert!(
                disk.durable.load(Ordering::SeqCst) >= mine,
                "write {mine} acknowledged before it was durable"
            );
        }
        let flushes = disk.flushes.load(Ordering::SeqCst);
        assert!(
            (1..64).contains(&flushes),
            "{flushes} flushes for 64 callers"
        );
    }

    #[tokio::test]
    async fn a_failed_flush_covers_no_one() {
        let (gate, disk) = (FlushGate::default(), Disk::default());
        disk.written.fetch_add(1, Ordering::SeqCst);
        disk.fail.store(true, Ordering::SeqCst);
        assert_eq!(
            gate.pass(|| disk.flush()).await,
            Err("disk full".to_string())
        );
        // The next caller flushes again, and is covered once the disk takes writes.
        disk.fail.store(false, Ordering::SeqCst);
        assert_eq!(gate.pass(|| disk.flush()).await, Ok(()));
        assert_eq!(disk.durable.load(Ordering::SeqCst), 1);
        assert_eq!(disk.flushes.load(Ordering::SeqCst), 2);
    }
}
