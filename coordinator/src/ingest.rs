//! The ingest side: a kameo actor that is the store's one writer. Collector streams ask it
//! to store what they received (a batch, one flush) and acknowledge only when it answers, by which time the reading,
//! the alerts it opened or closed, and the mail and dealer batches they call for are on
//! disk. It then wakes the mailer and the dealer uplink, which send what was queued.

use agent_core::model::Reading;
use kameo::prelude::*;

use crate::dealer::{DealerUplink, Deliver};
use crate::mail::{Mailer, SendPending};
use crate::metrics::{CoordinatorMetrics, Outcome};
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
        })
    }
}

impl Ingestor {
    fn record(&self, site: &str, reading: &Reading, outcome: &Ingested) {
        match outcome {
            Ingested::Stored { device_id, .. } => {
                self.metrics.envelope(site, Outcome::Stored);
                self.metrics.levels(device_id, site, reading);
            }
            Ingested::Duplicate => self.metrics.envelope(site, Outcome::Duplicate),
        }
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
}

impl Message<IngestBatch> for Ingestor {
    /// One answer per item up to the first that failed (whose error is last).
    type Reply = Vec<Result<Answer, String>>;
    async fn handle(&mut self, m: IngestBatch, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let answers = self
            .store
            .ingest_batch(&m.collector, &m.site, &m.items, &self.policy)
            .await;
        let mut wake = false;
        let mut stored = 0;
        for ((_, item), answer) in m.items.iter().zip(&answers) {
            match (item, answer) {
                (Incoming::Reading(r), Ok(Answer::Reading(outcome))) => {
                    self.record(&m.site, r, outcome);
                    if let Ingested::Stored { changes, .. } = outcome {
                        wake |= changes.queued;
                    }
                    stored += 1;
                }
                (Incoming::PollFailed(_), Ok(Answer::PollFailed(opened))) => {
                    self.metrics.envelope(&m.site, Outcome::PollFailed);
                    wake |= opened.is_some();
                    stored += 1;
                }
                _ => {}
            }
        }
        self.metrics.flushed(stored);
        if wake {
            self.notify.wake().await;
        }
        answers
            .into_iter()
            .map(|a| a.map_err(|e| e.to_string()))
            .collect()
    }
}
