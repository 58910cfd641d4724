//! The collector's outbox: everything bound for the coordinator is written here, durably,
//! before it is sent, and deleted only when the coordinator acknowledges its sequence
//! number. A lost link, a coordinator restart or a collector killed mid-stream loses
//! nothing: what is pending is sent again, and the coordinator stores a replay once.

use std::path::Path;

use printwatch_proto::v1 as p;
use prost::Message;

/// Why the outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// sled failed (disk, or another collector holding the same directory).
    #[error("the outbox database: {0}")]
    Sled(#[from] sled::Error),
    /// A stored envelope that does not decode (corruption).
    #[error("an outbox entry is unreadable: {0}")]
    Corrupt(#[from] prost::DecodeError),
}

/// A durable queue of envelopes keyed by sequence number.
#[derive(Clone)]
pub struct Outbox {
    db: sled::Db,
    pending: sled::Tree,
    meta: sled::Tree,
    pushed: std::sync::Arc<tokio::sync::Notify>,
    next: std::sync::Arc<std::sync::Mutex<u64>>,
    acked: std::sync::Arc<std::sync::atomic::AtomicU64>,
    commit: std::sync::Arc<GroupCommit>,
}

/// Group commit: the pollers' pushes share flushes. The first push to find no flush
/// running flushes for everyone written so far; the others wait for it, then flush
/// themselves only if their envelope came too late for it. A full pool of pollers costs
/// a few flushes a second, not one each, and a handful of threads, not one per poller.
struct GroupCommit {
    /// The highest sequence number known to be on disk; a change wakes every waiter.
    durable: tokio::sync::watch::Sender<u64>,
    /// True while a flush runs.
    flushing: std::sync::atomic::AtomicBool,
}

const NEXT: &[u8] = b"next_seq";

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Outbox, OutboxError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()?;
        let outbox = Outbox {
            pending: db.open_tree("pending")?,
            meta: db.open_tree("meta")?,
            db,
            pushed: std::sync::Arc::new(tokio::sync::Notify::new()),
            next: std::sync::Arc::new(std::sync::Mutex::new(0)),
            acked: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            commit: std::sync::Arc::new(GroupCommit {
                durable: tokio::sync::watch::Sender::new(0),
                flushing: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        let last = outbox.recovered_last()?;
        *outbox.next.lock().unwrap_or_else(|p| p.into_inner()) = last;
        outbox.commit.durable.send_replace(last);
        // Pending envelopes are a contiguous run of numbers ending at `last`.
        let oldest = outbox
            .pending
            .first()?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
            .map_or(last + 1, u64::from_be_bytes);
        outbox.acked.store(
            oldest.saturating_sub(1),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(outbox)
    }

    /// Stores `body` under the next sequence number, durably, and returns the envelope.
    /// Sequence numbers start at 1 and never repeat, across restarts too.
    pub async fn push(&self, body: p::envelope::Body) -> Result<p::Envelope, OutboxError> {
        let envelope = self.write(body)?;
        self.durable(envelope.seq).await?;
        self.pushed.notify_one();
        Ok(envelope)
    }

    /// Numbers `body` and writes it, not yet durably: [`Outbox::pending_after`] leaves it
    /// out until a flush covers it.
    fn write(&self, body: p::envelope::Body) -> Result<p::Envelope, OutboxError> {
        // The number is taken and the envelope written under one lock, so sled's log holds
        // envelopes in number order: whatever a crash keeps is a prefix, with no gap. No sled
        // transaction: those switch sled 0.34 into a process-wide read/write lock that can
        // deadlock against its own flusher.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let seq = *next + 1;
        let envelope = p::Envelope {
            seq,
            body: Some(body),
        };
        self.pending
            .insert(seq.to_be_bytes(), envelope.encode_to_vec())?;
        self.meta.insert(NEXT, &seq.to_be_bytes())?;
        *next = seq;
        Ok(envelope)
    }

    /// Returns once everything up to `seq` is on disk, flushing if no one else is.
    async fn durable(&self, seq: u64) -> Result<(), OutboxError> {
        use std::sync::atomic::Ordering;
        let mut seen = self.commit.durable.subscribe();
        loop {
            if *seen.borrow_and_update() >= seq {
                return Ok(());
            }
            if self
                .commit
                .flushing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let leading = Leading(&self.commit);
                // Everything numbered up to here was inserted before this flush starts.
                let upto = self.last_seq()?;
                flush(&self.db).await?;
                self.commit.durable.send_modify(|d| *d = (*d).max(upto));
                drop(leading);
                continue;
            }
            // A flush is running: wait for it to end, then look again.
            if seen.changed().await.is_err() {
                return flush(&self.db).await;
            }
        }
    }

    /// Completes after the next `push` (or at once if one happened since the last wait).
    pub async fn pushed(&self) {
        self.pushed.notified().await;
    }

    /// Envelopes not yet acknowledged with a sequence number after `after`, oldest first,
    /// as far as they are on disk. One written but not yet flushed stays back: sent and
    /// stored, then lost here in a crash, its number would be handed out again, and the
    /// coordinator would drop the next envelope under it as a replay.
    pub fn pending_after(
        &self,
        after: u64,
    ) -> impl Iterator<Item = Result<p::Envelope, OutboxError>> + '_ {
        let durable = *self.commit.durable.borrow();
        self.pending
            .range((after + 1).to_be_bytes()..)
            .map(|kv| Ok(p::Envelope::decode(kv?.1.as_ref())?))
            .take_while(move |e: &Result<p::Envelope, OutboxError>| {
                e.as_ref().map_or(true, |e| e.seq <= durable)
            })
    }

    /// The last sequence number handed out: how many envelopes were ever pushed.
    pub fn last_seq(&self) -> Result<u64, OutboxError> {
        Ok(*self.next.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The last number used, as the disk has it: the counter, or a pending envelope's
    /// number if a crash kept the envelope but not the counter written after it.
    fn recovered_last(&self) -> Result<u64, OutboxError> {
        let counter = self
            .meta
            .get(NEXT)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        let newest = self
            .pending
            .last()?
            .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(counter.max(newest))
    }

    /// How many envelopes wait for an acknowledgement.
    pub fn depth(&self) -> usize {
        self.pending.len()
    }

    /// How many envelopes wait, from the numbers alone: cheap enough for every scrape,
    /// where [`depth`](Self::depth) counts the entries.
    pub fn depth_now(&self) -> u64 {
        let last = *self.next.lock().unwrap_or_else(|p| p.into_inner());
        last.saturating_sub(self.acked.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The highest sequence number the coordinator has acknowledged: every envelope up to it
    /// is stored there, so it counts what this outbox ever delivered.
    pub fn acknowledged(&self) -> u64 {
        self.acked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The coordinator has stored everything up to `seq`: forget it.
    pub fn ack(&self, seq: u64) -> Result<usize, OutboxError> {
        self.acked
            .fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
        let mut gone = 0;
        for key in self.pending.range(..=seq.to_be_bytes()).keys() {
            self.pending.remove(key?)?;
            gone += 1;
        }
        Ok(gone)
    }
}

/// The flush in progress: however it ends (done, failed, or the pusher cancelled), the
/// next push may flush and every waiter looks again.
struct Leading<'a>(&'a GroupCommit);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0
            .flushing
            .store(false, std::sync::atomic::Ordering::Release);
        self.0.durable.send_modify(|_| {});
    }
}

/// Makes everything written so far durable. sled 0.34's `flush_async` waits on sled's own
/// small I/O pool, and the writes it waits for need that pool too: enough concurrent
/// flushes take every thread and nothing is ever written (seen here, in the demo). The
/// blocking flush runs on tokio's blocking pool instead, leaving sled's to sled.
async fn flush(db: &sled::Db) -> Result<(), OutboxError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.flush().map(|_| ()))
        .await
        .map_err(|e| sled::Error::Io(std::io::Error::other(e.to_string())))??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: u32) -> p::envelope::Body {
        p::envelope::Body::SweepDone(p::SweepDone {
            probed: u64::from(n),
            ..Default::default()
        })
    }

    fn reopen(dir: &Path) -> Outbox {
        for _ in 0..50 {
            if let Ok(o) = Outbox::open(dir, 1 << 20) {
                return o;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the outbox did not reopen");
    }

    #[tokio::test]
    async fn pending_until_acked_and_numbers_survive_restarts() {
        let dir = std::env::temp_dir().join(format!("printwatch-outbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let o = Outbox::open(&dir, 1 << 20).unwrap();
            for n in 1..=5 {
                assert_eq!(o.push(body(n)).await.unwrap().seq, u64::from(n));
            }
            assert_eq!(o.ack(2).unwrap(), 2);
            assert_eq!(o.depth(), 3);
            assert_eq!(o.depth_now(), 3);
        }
        let o = reopen(&dir);
        let seqs: Vec<u64> = o.pending_after(0).map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, vec![3, 4, 5], "unacknowledged envelopes survive");
        assert_eq!(o.pending_after(3).count(), 2);
        assert_eq!(o.depth_now(), 3, "the depth is known again after a restart");
        assert_eq!(
            o.push(body(6)).await.unwrap().seq,
            6,
            "numbers never repeat after a restart"
        );
        assert_eq!(o.ack(6).unwrap(), 4);
        assert_eq!(o.depth(), 0);
        assert_eq!(o.ack(6).unwrap(), 0, "a repeated ack is harmless");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn only_what_is_on_disk_is_handed_out_to_send() {
        let dir =
            std::env::temp_dir().join(format!("printwatch-outbox-dur-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Outbox::open(&dir, 1 << 20).unwrap();
        o.push(body(1)).await.unwrap();
        let written = o.write(body(2)).unwrap();
        let seqs: Vec<u64> = o.pending_after(0).map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, vec![1], "an envelope not yet flushed is not sent");
        o.durable(written.seq).await.unwrap();
        let seqs: Vec<u64> = o.pending_after(0).map(|e| e.unwrap().seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        drop(o);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_share_flushes_and_all_survive() {
        let dir = std::env::temp_dir().join(format!("printwatch-outbox-gc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let o = Outbox::open(&dir, 1 << 20).unwrap();
            let mut pushes = tokio::task::JoinSet::new();
            for n in 0..200 {
                let o = o.clone();
                pushes.spawn(async move { o.push(body(n)).await.map(|e| e.seq) });
            }
            // A push given up half-way leaves no flush marked as running forever.
            let cancelled = o.clone();
            let _ =
                tokio::time::timeout(std::time::Duration::ZERO, cancelled.push(body(999))).await;
            let mut seqs = Vec::new();
            while let Some(done) = pushes.join_next().await {
                seqs.push(done.unwrap().unwrap());
            }
            seqs.sort_unstable();
            seqs.dedup();
            assert_eq!(seqs.len(), 200, "every push got a number of its own");
            let late = tokio::time::timeout(std::time::Duration::from_secs(10), o.push(body(7)))
                .await
                .expect("a push after a cancelled one completes")
                .unwrap();
            assert!(late.seq > 200);
        }
        let o = reopen(&dir);
        assert!(
            o.pending_after(0).count() >= 201,
            "every completed push is on disk"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
