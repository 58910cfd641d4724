//! The ingest side: a kameo actor that owns the store's one [`Writer`]. Every change to the
//! store arrives here as a message: a collector's batch ([`IngestBatch`]), the watchdog's
//! clock changes ([`Apply`]), a sender's acceptance ([`MailSent`], [`BatchDelivered`]), a
//! mark ([`SetMark`]), a step of pruning ([`Prune`]). Messages are handled one at a time,
//! so nothing that writes can race with anything else that writes; counters that must
//! never repeat (alert ids, idempotency keys) are atomic in the store besides.
//!
//! A collector stream acknowledges only when ingest answers, by which time the reading,
//! the alerts it opened or closed, and the mail and dealer batches they call for are on
//! disk. The actor writes, then takes the next message while a spawned task flushes and
//! answers (a delegated reply): a flush makes everything written before it durable, so
//! what is written during it waits only for the next. After a failed flush the actor is
//! told to [`Forget`] what it kept in memory. Once something was queued it wakes the
//! mailer and the dealer uplink.

pub mod dedupe;
pub mod working_set;
pub mod writer;

#[cfg(test)]
mod tests;

use kameo::prelude::*;

pub use writer::{
    durable, refused_mark, Answer, Applied, Changes, ClockChanges, Incoming, Ingested, NewAlert,
    PollFailure, Subject, Writer,
};

use crate::dealer::{DealerUplink, Deliver};
use crate::mail::{Mailer, SendPending};
use crate::metrics::{CoordinatorMetrics, LevelsShown, Outcome};
use crate::policy::Policy;
use crate::store::history::Pruned;
use crate::store::{Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// Who is woken when something was queued.
#[derive(Clone, Default)]
pub struct Notifiers {
    /// The mailer, when mail is on.
    pub mailer: Option<ActorRef<Mailer>>,
    /// The dealer uplink, when uploads are on.
    pub dealer: Option<ActorRef<DealerUplink>>,
}

impl Notifiers {
    /// Wakes both senders; they find what waits in the store. A full mailbox already
    /// holds a wake-up, so none is waited for.
    pub fn wake(&self) {
        if let Some(m) = &self.mailer {
            let _ = m.tell(SendPending).try_send();
        }
        if let Some(d) = &self.dealer {
            let _ = d.tell(Deliver).try_send();
        }
    }
}

/// The ingest actor's state: the writer, who it wakes, what it records.
pub struct Ingestor {
    writer: Writer,
    reader: StoreReader,
    notify: Notifiers,
    metrics: CoordinatorMetrics,
    shown: LevelsShown,
    /// Why the database cannot be written, once a write or a flush failed: then nothing
    /// more is written (see [`crate::disk`]).
    unwritable: Option<String>,
    /// Told once the database failed a write and the disk has room again: the process
    /// must start again to reopen it.
    restart: Option<tokio::sync::oneshot::Sender<String>>,
    data_dir: std::path::PathBuf,
}

/// What the ingest actor starts with.
pub struct IngestorArgs {
    /// The store: the actor becomes its one writer.
    pub store: Store,
    /// Alert rules and what to queue.
    pub policy: Policy,
    /// The senders.
    pub notify: Notifiers,
    /// What ingest records.
    pub metrics: CoordinatorMetrics,
    /// The database's directory, where space is looked for after a failed write.
    pub data_dir: std::path::PathBuf,
    /// Told when the process must start again to reopen the database.
    pub restart: Option<tokio::sync::oneshot::Sender<String>>,
}

impl Actor for Ingestor {
    type Args = IngestorArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: IngestorArgs, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        let writer = Writer::new(a.store, a.policy);
        Ok(Ingestor {
            reader: writer.reader(),
            writer,
            notify: a.notify,
            metrics: a.metrics,
            shown: LevelsShown::default(),
            unwritable: None,
            restart: a.restart,
            data_dir: a.data_dir,
        })
    }
}

impl Ingestor {
    /// The store's writer, back from a stopped actor (see [`crate::service::Stopped`]).
    pub fn into_store(self) -> Store {
        self.writer.into_store()
    }

    /// Answers with `result` once everything written so far is durable; on a failed flush
    /// the answer is the error and the actor forgets its working set. Wakes the senders
    /// after a flush when `wake`.
    fn when_durable<T: Send + 'static>(
        &self,
        ctx: &mut Context<Self, DelegatedReply<Result<T, String>>>,
        result: Result<T, StoreError>,
        wake: bool,
    ) -> DelegatedReply<Result<T, String>> {
        let (reply, sender) = ctx.reply_sender();
        let (reader, notify, me) = (
            self.reader.clone(),
            self.notify.clone(),
            ctx.actor_ref().clone(),
        );
        tokio::spawn(async move {
            let answer = match durable(&reader, vec![result]).await.pop() {
                Some(Ok(v)) => {
                    if wake {
                        notify.wake();
                    }
                    Ok(v)
                }
                Some(Err(e)) => {
                    let _ = me.tell(Forget).await;
                    if matches!(e, StoreError::Unwritable(_)) {
                        let _ = me.tell(Unwritable(e.to_string())).await;
                    }
                    Err(e.to_string())
                }
                None => Err("no answer".into()),
            };
            if let Some(sender) = sender {
                sender.send(answer);
            }
        });
        reply
    }
}

/// Store what a collector sent together, in order, with one flush (group commit): a
/// collector streaming fast gets many envelopes made durable per write to disk.
pub struct IngestBatch {
    /// The site whose collector sent it (from its certificate).
    pub site: String,
    /// Sequence numbers and what came under them, in the order sent.
    pub items: Vec<(u64, Incoming)>,
    /// The highest sequence number of the batch this stream sent before, if any: it must
    /// have been stored (see [`Writer::write_batch`]).
    pub follows: Option<u64>,
}

/// The answer to an [`IngestBatch`]: one per item up to the first that failed (whose
/// error is last).
pub type BatchAnswers = Vec<Result<Answer, String>>;

impl Message<IngestBatch> for Ingestor {
    type Reply = DelegatedReply<BatchAnswers>;
    async fn handle(
        &mut self,
        m: IngestBatch,
        ctx: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        if let Some(why) = &self.unwritable {
            let (reply, sender) = ctx.reply_sender();
            if let Some(sender) = sender {
                sender.send(vec![Err(format!("{UNWRITABLE} since: {why}"))]);
            }
            return reply;
        }
        let answers = self.writer.write_batch(&m.site, &m.items, m.follows);
        if let Some(Err(e @ StoreError::Sled(_))) = answers.last() {
            let why = e.to_string();
            self.unwritable(why, ctx.actor_ref().clone());
        }
        let mut wake = false;
        let mut counts = [0u64; 4];
        for ((_, item), answer) in m.items.iter().zip(&answers) {
            match (item, answer) {
                (Incoming::Reading(r), Ok(Answer::Reading(outcome))) => match outcome {
                    Ingested::Stored {
                        device_id, changes, ..
                    } => {
                        self.metrics
                            .levels_if_moved(&mut self.shown, device_id, &m.site, r);
                        wake |= changes.queued;
                        counts[0] += 1;
                    }
                    Ingested::Duplicate => counts[1] += 1,
                    Ingested::Observed { .. } => counts[3] += 1,
                    Ingested::OverQuota(opened) => {
                        wake |= opened.is_some();
                        self.metrics.refused(&m.site, "over_quota");
                    }
                },
                (Incoming::Refused { .. }, Ok(Answer::Refused(opened))) => {
                    wake |= opened.is_some();
                }
                (Incoming::PollFailed(_), Ok(Answer::PollFailed(opened))) => {
                    wake |= opened.is_some();
                    counts[2] += 1;
                }
                _ => {}
            }
        }
        let (reply, sender) = ctx.reply_sender();
        let (reader, notify, metrics, me) = (
            self.reader.clone(),
            self.notify.clone(),
            self.metrics.clone(),
            ctx.actor_ref().clone(),
        );
        tokio::spawn(async move {
            let answers = durable(&reader, answers).await;
            if answers.iter().any(|a| a.is_ok()) {
                let outcomes = [
                    Outcome::Stored,
                    Outcome::Duplicate,
                    Outcome::PollFailed,
                    Outcome::Observed,
                ];
                for (outcome, n) in outcomes.into_iter().zip(counts) {
                    metrics.envelopes(&m.site, outcome, n);
                }
                metrics.flushed(counts.iter().sum::<u64>() as usize);
                if wake {
                    notify.wake();
                }
            } else if !answers.is_empty() {
                // Nothing of the batch is durable: what ingest kept in memory may say
                // otherwise.
                let _ = me.tell(Forget).await;
                if let Some(Err(e @ StoreError::Unwritable(_))) = answers.first() {
                    let _ = me.tell(Unwritable(e.to_string())).await;
                }
            }
            if let Some(sender) = sender {
                sender.send(
                    answers
                        .into_iter()
                        .map(|a| a.map_err(|e| e.to_string()))
                        .collect::<BatchAnswers>(),
                );
            }
        });
        reply
    }
}

/// Write what the watchdog decided (see [`ClockChanges`]), durably.
pub struct Apply(pub ClockChanges);

impl Message<Apply> for Ingestor {
    type Reply = DelegatedReply<Result<Applied, String>>;
    async fn handle(&mut self, m: Apply, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.apply(&m.0);
        let wake = result
            .as_ref()
            .is_ok_and(|a| !a.opened.is_empty() || !a.closed.is_empty() || !a.batches.is_empty());
        self.when_durable(ctx, result, wake)
    }
}

/// A mail the server accepted (or that can never be sent): delete it from the outbox.
pub struct MailSent(pub String);

impl Message<MailSent> for Ingestor {
    type Reply = DelegatedReply<Result<(), String>>;
    async fn handle(&mut self, m: MailSent, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.mail_sent(&m.0);
        self.when_durable(ctx, result, false)
    }
}

/// A batch the dealer accepted: delete it from the outbox.
pub struct BatchDelivered(pub String);

impl Message<BatchDelivered> for Ingestor {
    type Reply = DelegatedReply<Result<(), String>>;
    async fn handle(
        &mut self,
        m: BatchDelivered,
        ctx: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        let result = self.writer.batch_delivered(&m.0);
        self.when_durable(ctx, result, false)
    }
}

/// Record, durably, when a scheduled job was last done.
pub struct SetMark {
    /// The job.
    pub name: String,
    /// What it was done for.
    pub at: Timestamp,
}

impl Message<SetMark> for Ingestor {
    type Reply = DelegatedReply<Result<(), String>>;
    async fn handle(&mut self, m: SetMark, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.set_mark(&m.name, m.at);
        self.when_durable(ctx, result, false)
    }
}

/// One step of pruning history: readings before `before`, from `from` on, at most `limit`
/// looked at (see [`crate::store::Store::prune_history`]). Small steps keep ingest moving.
pub struct Prune {
    /// Readings taken before this go (each device's newest stays).
    pub before: Timestamp,
    /// Where to go on from (`None`: the start).
    pub from: Option<Vec<u8>>,
    /// How many readings to look at in this step.
    pub limit: usize,
}

impl Message<Prune> for Ingestor {
    type Reply = Result<Pruned, String>;
    async fn handle(&mut self, m: Prune, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        // Nothing waits on a prune being durable: sled writes it with the next flush.
        let result = self.writer.prune(m.before, m.from.as_deref(), m.limit);
        if result.is_err() {
            self.writer.forget();
        }
        result.map_err(|e| e.to_string())
    }
}

/// An operator gives a device to another site, durably.
pub struct MoveDevice {
    /// The device.
    pub id: String,
    /// The site it belongs to from now on.
    pub to: String,
}

impl Message<MoveDevice> for Ingestor {
    type Reply = DelegatedReply<Result<crate::store::devices::DeviceRecord, String>>;
    async fn handle(&mut self, m: MoveDevice, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.move_device(&m.id, &m.to);
        self.when_durable(ctx, result, false)
    }
}

/// A collector said hello with its outbox's identity: a new outbox starts a new numbering,
/// durably, before anything of its stream is stored. The answer is true for a new one.
pub struct OutboxIdentity {
    /// The site.
    pub site: String,
    /// The outbox's identity.
    pub id: String,
}

impl Message<OutboxIdentity> for Ingestor {
    type Reply = DelegatedReply<Result<bool, String>>;
    async fn handle(
        &mut self,
        m: OutboxIdentity,
        ctx: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        let result = self.writer.outbox_identity(&m.site, &m.id);
        self.when_durable(ctx, result, false)
    }
}

/// Add or replace a dashboard user, durably.
pub struct PutUser(pub crate::store::users::UserRecord);

impl Message<PutUser> for Ingestor {
    type Reply = DelegatedReply<Result<(), String>>;
    async fn handle(&mut self, m: PutUser, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.put_user(&m.0);
        self.when_durable(ctx, result, false)
    }
}

/// Remove a dashboard user, durably; the answer is true when there was one.
pub struct RemoveUser(pub String);

impl Message<RemoveUser> for Ingestor {
    type Reply = DelegatedReply<Result<bool, String>>;
    async fn handle(&mut self, m: RemoveUser, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let result = self.writer.remove_user(&m.0);
        self.when_durable(ctx, result, false)
    }
}

/// What a batch is answered while the database cannot be written.
pub const UNWRITABLE: &str = "unavailable: the database cannot be written";

/// The database failed a write or a flush (a full disk): sled keeps such an error for the
/// rest of the process, so ingest stops writing, and once the disk has room the process
/// is told to start again.
pub struct Unwritable(pub String);

impl Message<Unwritable> for Ingestor {
    type Reply = ();
    async fn handle(&mut self, m: Unwritable, ctx: &mut Context<Self, ()>) {
        self.unwritable(m.0, ctx.actor_ref().clone());
    }
}

impl Ingestor {
    /// Enters the unwritable state once: logs why, and waits for space in the background.
    fn unwritable(&mut self, why: String, _me: ActorRef<Self>) {
        if self.unwritable.is_some() {
            return;
        }
        tracing::error!(
            "the database cannot be written ({why}): readings are refused (collectors keep \
             them) and operators are answered from what is stored; waiting for space"
        );
        self.unwritable = Some(why);
        let (dir, restart) = (self.data_dir.clone(), self.restart.take());
        tokio::spawn(async move {
            crate::disk::space_returned(dir).await;
            if let Some(tell) = restart {
                let _ = tell.send(
                    "the disk has room again: stopping so that the database is reopened".into(),
                );
            }
        });
    }
}

/// A flush failed: forget what ingest kept in memory, so that sled is the only truth.
pub struct Forget;

impl Message<Forget> for Ingestor {
    type Reply = ();
    async fn handle(&mut self, _: Forget, _: &mut Context<Self, ()>) {
        self.writer.forget();
    }
}
