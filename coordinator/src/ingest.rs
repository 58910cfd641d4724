//! The ingest side: a kameo actor that is the store's one writer. Collector streams ask it
//! to store what they received (a batch, one flush) and acknowledge only when it answers,
//! by which time the reading, the alerts it opened or closed, and the mail and dealer
//! batches they call for are on disk. It then wakes the mailer and the dealer uplink, which
//! send what was queued.
//!
//! The actor writes a batch and goes on to the next message while the batch is flushed:
//! the answer goes back when the flush is done. A flush makes everything written before it
//! durable, so batches written during it wait only for the next.

use kameo::prelude::*;

use crate::dealer::{DealerUplink, Deliver};
use crate::mail::{Mailer, SendPending};
use crate::metrics::{CoordinatorMetrics, LevelsShown, Outcome};
use crate::store::{Answer, Incoming, Ingested, Policy, Store};

/// Who is told when something was queued.
#[derive(Clone, Default)]
pub struct Notifiers {
    /// The mailer, when mail is on.
    pub mailer: Option<ActorRef<Mailer>>,
    /// The dealer uplink, when uploads are on.
    pub dealer: Option<ActorRef<DealerUplink>>,
}

impl Notifiers {
    /// Wakes both senders; they find what waits in the store.
    pub async fn wake(&self) {
        if let Some(m) = &self.mailer {
            let _ = m.tell(SendPending).await;
        }
        if let Some(d) = &self.dealer {
            let _ = d.tell(Deliver).await;
        }
    }
}

/// The ingest actor's state: the store it writes, the rules it applies, who it wakes.
pub struct Ingestor {
    store: Store,
    policy: Policy,
    notify: Notifiers,
    metrics: CoordinatorMetrics,
    shown: LevelsShown,
}

/// What the ingest actor starts with.
pub struct IngestorArgs {
    /// The store.
    pub store: Store,
    /// Alert rules and what to queue.
    pub policy: Policy,
    /// The senders.
    pub notify: Notifiers,
    /// What ingest records.
    pub metrics: CoordinatorMetrics,
}

impl Actor for Ingestor {
    type Args = IngestorArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: IngestorArgs, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Ingestor {
            store: a.store,
            policy: a.policy,
            notify: a.notify,
            metrics: a.metrics,
            shown: LevelsShown::default(),
        })
    }
}

/// Store what a collector sent together, in order, with one flush (group commit): a
/// collector streaming fast gets many envelopes made durable per write to disk.
pub struct IngestBatch {
    /// The collector (its certificate's name).
    pub collector: String,
    /// Its site.
    pub site: String,
    /// Sequence numbers and what came under them, in the order sent.
    pub items: Vec<(u64, Incoming)>,
    /// The highest sequence number of the batch this stream sent before, if any: it must
    /// have been stored (see [`Store::write_batch`]).
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
        let answers = self
            .store
            .write_batch(&m.collector, &m.site, &m.items, &self.policy, m.follows)
            .await;
        let mut wake = false;
        let mut counts = [0u64; 3];
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
                },
                (Incoming::PollFailed(_), Ok(Answer::PollFailed(opened))) => {
                    wake |= opened.is_some();
                    counts[2] += 1;
                }
                _ => {}
            }
        }
        let (reply, sender) = ctx.reply_sender();
        let (store, notify, metrics) = (
            self.store.clone(),
            self.notify.clone(),
            self.metrics.clone(),
        );
        tokio::spawn(async move {
            let answers = store.made_durable(answers).await;
            if answers.iter().any(|a| a.is_ok()) {
                let outcomes = [Outcome::Stored, Outcome::Duplicate, Outcome::PollFailed];
                for (outcome, n) in outcomes.into_iter().zip(counts) {
                    metrics.envelopes(&m.site, outcome, n);
                }
                metrics.flushed(counts.iter().sum::<u64>() as usize);
                if wake {
                    notify.wake().await;
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
