//! The collector service: one stream per collector, the site's name from its certificate.
//! Each envelope is stored durably (by ingest, the store's one writer) before its sequence
//! number is acknowledged, and a replayed number is acknowledged again without being
//! stored twice. A message that cannot be stored (malformed, or a reading whose time is
//! unparseable, before 2000 or ahead of the coordinator's clock) ends the stream with an
//! `invalid_argument` status that says why, and is counted; nothing after it is read.

use std::pin::Pin;

use kameo::actor::ActorRef;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_server::Collector;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::caller;
use super::{event, Events};
use crate::ingest::{
    Answer, Incoming, IngestBatch, Ingested, Ingestor, OutboxIdentity, PollFailure,
};
use crate::metrics::CoordinatorMetrics;
use crate::queries::{self, Queries};
use crate::registry::{Connected, Disconnected, Registry};
use crate::timestamp::{reading_time, Timestamp};
use crate::wire_reading::WireReading;

/// The collector service: one stream per collector.
pub struct CollectorService {
    /// Turns true when the coordinator stops: every collector stream ends then, so a
    /// graceful shutdown does not wait on collectors that never hang up.
    stopping: tokio::sync::watch::Receiver<bool>,
    ingestor: ActorRef<Ingestor>,
    queries: ActorRef<Queries>,
    registry: ActorRef<Registry>,
    events: Events,
    metrics: CoordinatorMetrics,
}

impl CollectorService {
    /// The service, answering through these actors until `stopping` turns true.
    pub fn new(
        stopping: tokio::sync::watch::Receiver<bool>,
        ingestor: ActorRef<Ingestor>,
        queries: ActorRef<Queries>,
        registry: ActorRef<Registry>,
        events: Events,
        metrics: CoordinatorMetrics,
    ) -> CollectorService {
        CollectorService {
            stopping,
            ingestor,
            queries,
            registry,
            events,
            metrics,
        }
    }
}

type AckStream = Pin<Box<dyn Stream<Item = Result<p::CoordinatorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Collector for CollectorService {
    type SessionStream = AckStream;

    async fn session(
        &self,
        req: Request<Streaming<p::CollectorMessage>>,
    ) -> Result<Response<AckStream>, Status> {
        let site = caller(&req)?.name;
        let mut inbound = req.into_inner();
        let hello = match inbound.next().await {
            Some(Ok(p::CollectorMessage {
                body: Some(p::collector_message::Body::Hello(h)),
            })) => h,
            Some(Err(e)) => return Err(e),
            _ => {
                return Err(Status::invalid_argument(
                    "a collector's stream must start with hello",
                ))
            }
        };
        if hello.site != site {
            return Err(Status::permission_denied(format!(
                "this certificate is for site {site:?}, not {:?}",
                hello.site
            )));
        }
        if hello.outbox_id.is_empty() {
            return Err(Status::invalid_argument(
                "the hello names no outbox: a collector's numbers mean nothing without it",
            ));
        }
        let new_outbox = self
            .ingestor
            .ask(OutboxIdentity {
                site: site.clone(),
                id: hello.outbox_id.clone(),
            })
            .await
            .map_err(|e| Status::unavailable(format!("the store: {e}")))?;
        if new_outbox {
            tracing::info!(
                site = %site,
                outbox = %hello.outbox_id,
                "the site's collector has a new outbox: its numbering starts again"
            );
        }
        let (ingestor, queries, events, metrics) = (
            self.ingestor.clone(),
            self.queries.clone(),
            self.events.clone(),
            self.metrics.clone(),
        );
        let acker_metrics = metrics.clone();
        let mut stopping = self.stopping.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let registry = self.registry.clone();
        let connection = registry
            .ask(Connected {
                site: site.clone(),
                outbound: tx.clone(),
            })
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let _ = events.send(event(p::fleet_event::Body::CollectorConnected(
            site.clone(),
        )));
        // Two tasks, so that reading and decoding the next batch overlaps storing this
        // one: the reader takes what the collector has sent, turns it into items and hands
        // them to the ingest actor (group commit: one flush per batch); the acker waits for
        // each batch's answer, in order, and acknowledges it. At most a few batches are in
        // flight between them, so a slow disk slows the collector down.
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel::<Sent>(2);
        let collector = site.clone();
        let reader = tokio::spawn(async move {
            let mut follows = None;
            loop {
                let first = tokio::select! {
                    msg = inbound.next() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    _ = stopping.wait_for(|stop| *stop) => break,
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match printwatch_proto::arrived::arrived(&mut inbound) {
                        Some(Some(msg)) => batch.push(msg),
                        _ => break,
                    }
                }
                let sweeps = sweeps_in(&batch);
                let Decoded {
                    order,
                    items,
                    error,
                } = decode(batch, Timestamp::now());
                for (seq, what) in &order {
                    if let Handled::Rejected { reason, detail } = what {
                        metrics.refused(&collector, reason);
                        tracing::warn!(
                            site = %collector,
                            envelope = seq,
                            reason,
                            "refused an envelope, which the collector sets aside: {detail}"
                        );
                    }
                }
                if let Some((_, Some(reason))) = &error {
                    metrics.refused(&collector, reason);
                }
                let error = error.map(|(status, _)| status);
                let answer = if items.is_empty() {
                    None
                } else {
                    let top = items.iter().map(|(seq, _)| *seq).max();
                    let batch = IngestBatch {
                        site: collector.clone(),
                        items,
                        follows,
                    };
                    follows = top;
                    Some(
                        ingestor
                            .ask(batch)
                            .enqueue()
                            .await
                            .map_err(|e| Status::internal(format!("the ingest actor: {e}"))),
                    )
                };
                let last = error.is_some() || matches!(answer, Some(Err(_)));
                let sent = Sent {
                    order,
                    answer,
                    error,
                    sweeps,
                };
                if sent_tx.send(sent).await.is_err() || last {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            'acks: while let Some(mut sent) = sent_rx.recv().await {
                let sweeps = std::mem::take(&mut sent.sweeps);
                let (acked, rejected, error) = settle(&queries, &events, sent).await;
                for done in sweeps {
                    let _ = events.send(event(p::fleet_event::Body::SweepEnded(p::SweepEnded {
                        site: site.clone(),
                        done: Some(done),
                    })));
                }
                // Each rejection before the ack that covers it: the collector sets the
                // envelope aside before the ack deletes it from its queue.
                for (seq, reason, detail) in rejected {
                    let msg = p::CoordinatorMessage {
                        body: Some(p::coordinator_message::Body::Rejected(p::Rejected {
                            seq,
                            reason: reason.to_string(),
                            detail,
                        })),
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        break 'acks;
                    }
                }
                // Acknowledgements are cumulative: the batch's highest number covers every
                // envelope before it, stored now or before, or rejected above.
                if let Some(seq) = acked.into_iter().max() {
                    let ack = p::CoordinatorMessage {
                        body: Some(p::coordinator_message::Body::Ack(p::Ack { seq })),
                    };
                    if tx.send(Ok(ack)).await.is_err() {
                        break;
                    }
                }
                if let Some(status) = error {
                    if status.code() == tonic::Code::FailedPrecondition {
                        // A batch the store refused (numbers far ahead, a broken order):
                        // nothing of it is acknowledged, and the operator hears of it.
                        acker_metrics.refused(&site, "refused_batch");
                        tracing::warn!(site = %site, "refused a collector's batch: {}", status.message());
                    }
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            }
            // The stream is over for whatever reason: nothing more is read from it.
            reader.abort();
            let _ = events.send(event(p::fleet_event::Body::CollectorDisconnected(
                site.clone(),
            )));
            let _ = registry.tell(Disconnected { site, connection }).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// The most envelopes stored with one flush.
const MAX_BATCH: usize = 256;

/// Why the stream ends: the status, and a word for the refusal counter (none when the
/// stream itself failed).
type Refusal = (Status, Option<&'static str>);

/// What became of one envelope of a batch.
#[derive(Debug, Clone, PartialEq)]
enum Handled {
    /// It carries an item for the store (the next of the batch's items).
    Item,
    /// It carries nothing to keep (a sweep's end): acknowledged only.
    Nothing,
    /// It can never be stored: rejected, for the collector to set aside (and an item that
    /// counts the refusal in the store).
    Rejected {
        /// A word for the counter and the collector.
        reason: &'static str,
        /// For people.
        detail: String,
    },
}

/// What an envelope asks the store to keep: a reading, a failed poll, or nothing (a sweep's
/// end, which is only acknowledged); or why it can never be stored. Times are checked
/// against the coordinator's clock `now`.
fn incoming(env: p::Envelope, now: Timestamp) -> Result<Option<Incoming>, (&'static str, String)> {
    let seq = env.seq;
    let refuse =
        |what: &str, e: &dyn std::fmt::Display, reason| (reason, format!("{what} {seq}: {e}"));
    let reading = |r| {
        WireReading::from_wire(r, now)
            .map(|r| Incoming::Reading(Box::new(r)))
            .map_err(|e| (e.reason(), e))
    };
    Ok(match env.body {
        Some(p::envelope::Body::Reading(r)) => {
            Some(reading(r).map_err(|(why, e)| refuse("reading", &e, why))?)
        }
        Some(p::envelope::Body::Discovered(d)) => d
            .reading
            .map(reading)
            .transpose()
            .map_err(|(why, e)| refuse("discovery", &e, why))?,
        Some(p::envelope::Body::PollFailed(f)) => Some(Incoming::PollFailed(PollFailure {
            at: reading_time(&f.at, now).map_err(|e| refuse("failed poll", &e, e.reason()))?,
            address: f.address,
            consecutive: f.consecutive,
            error: f.error,
            certificate_changed: f.certificate_changed,
        })),
        Some(p::envelope::Body::SweepDone(_)) | None => None,
    })
}

/// The sweep results among `batch`, for watchers.
fn sweeps_in(batch: &[Result<p::CollectorMessage, Status>]) -> Vec<p::SweepDone> {
    batch
        .iter()
        .filter_map(|m| match m {
            Ok(p::CollectorMessage {
                body:
                    Some(p::collector_message::Body::Envelope(p::Envelope {
                        body: Some(p::envelope::Body::SweepDone(d)),
                        ..
                    })),
            }) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

/// A batch of what a collector sent, made ready for the store.
struct Decoded {
    /// Every envelope's sequence number in order, and what became of it.
    order: Vec<(u64, Handled)>,
    /// The items for the store, in order.
    items: Vec<(u64, Incoming)>,
    /// The error that ends the stream after these, if one did: an envelope without a
    /// number, or the stream's own failure.
    error: Option<Refusal>,
}

/// Turns received messages into items for the store. An envelope that can never be stored
/// is rejected and the rest go on; one without a number, or the stream failing, ends it.
fn decode(batch: Vec<Result<p::CollectorMessage, Status>>, now: Timestamp) -> Decoded {
    let mut decoded = Decoded {
        order: Vec::with_capacity(batch.len()),
        items: Vec::with_capacity(batch.len()),
        error: None,
    };
    for msg in batch {
        let env = match msg {
            Ok(p::CollectorMessage {
                body: Some(p::collector_message::Body::Envelope(env)),
            }) => env,
            Ok(_) => continue,
            Err(status) => {
                decoded.error = Some((status, None));
                break;
            }
        };
        let seq = env.seq;
        if seq == 0 {
            decoded.error = Some((
                Status::invalid_argument("sequence numbers start at 1"),
                Some("bad_sequence"),
            ));
            break;
        }
        match incoming(env, now) {
            Ok(Some(item)) => {
                decoded.order.push((seq, Handled::Item));
                decoded.items.push((seq, item));
            }
            Ok(None) => decoded.order.push((seq, Handled::Nothing)),
            Err((reason, detail)) => {
                decoded
                    .order
                    .push((seq, Handled::Rejected { reason, detail }));
                decoded.items.push((
                    seq,
                    Incoming::Refused {
                        reason: reason.to_string(),
                        at: now,
                    },
                ));
            }
        }
    }
    decoded
}

/// A batch handed to the ingest actor, as the acker sees it.
struct Sent {
    /// Every envelope's sequence number in order, and what became of it.
    order: Vec<(u64, Handled)>,
    /// The ingest actor's answer to come (none when no envelope carried an item), or why
    /// it could not be asked.
    answer: Option<Result<PendingAnswers, Status>>,
    /// The error that ends the stream after this batch, if one did.
    error: Option<Status>,
    /// Sweep results in it, told to watchers once the batch is settled.
    sweeps: Vec<p::SweepDone>,
}

type PendingAnswers = kameo::request::PendingReply<
    IngestBatch,
    kameo::reply::DelegatedReply<crate::ingest::BatchAnswers>,
>;

/// What to tell the collector about a batch: the numbers to acknowledge, the envelopes
/// rejected (number, reason, detail), and the error that ends the stream, if one did.
type Settled = (Vec<u64>, Vec<(u64, &'static str, String)>, Option<Status>);

/// Waits for the store's answer to a batch and tells watchers what changed. Returns what
/// to tell the collector: each number handled in order (stored, a replay, or rejected),
/// the rejections, and the error that ends the stream: the batch's own, or a store that
/// failed or refused the batch.
async fn settle(queries: &ActorRef<Queries>, events: &Events, sent: Sent) -> Settled {
    let Sent {
        order,
        answer,
        error,
        ..
    } = sent;
    let answers = match answer {
        None => Vec::new(),
        Some(Ok(pending)) => match pending.await {
            Ok(a) => a,
            Err(e) => {
                return (
                    Vec::new(),
                    Vec::new(),
                    Some(Status::internal(format!("the ingest actor: {e}"))),
                )
            }
        },
        Some(Err(status)) => return (Vec::new(), Vec::new(), Some(status)),
    };
    let mut answers = answers.into_iter();
    let mut acked = Vec::new();
    let mut rejected = Vec::new();
    let mut changed = Vec::new();
    let settled = 'settled: {
        for (seq, handled) in order {
            match handled {
                Handled::Item => match answers.next() {
                    Some(Ok(Answer::Reading(Ingested::OverQuota(opened)))) => {
                        if let Some(a) = opened {
                            let _ = events.send(event(p::fleet_event::Body::Alert(
                                queries::alert_message(*a),
                            )));
                        }
                        rejected.push((
                            seq,
                            "over_quota",
                            format!(
                                "envelope {seq}: a printer new to this site, which has its quota \
                             of printers (max_devices_per_site)"
                            ),
                        ));
                    }
                    Some(Ok(answer)) => {
                        if let Answer::Reading(Ingested::Stored { device_id, .. }) = &answer {
                            changed.push(device_id.clone());
                        }
                        publish(queries, events, answer).await
                    }
                    Some(Err(e)) => {
                        let status = match e.strip_prefix("refused: ") {
                            Some(why) => {
                                Status::failed_precondition(format!("message {seq}: {why}"))
                            }
                            None if e.starts_with("unavailable: ") => Status::unavailable(format!(
                                "message {seq}: {}",
                                e.trim_start_matches("unavailable: ")
                            )),
                            None => Status::internal(format!("storing message {seq}: {e}")),
                        };
                        break 'settled (acked, rejected, Some(status));
                    }
                    None => break,
                },
                Handled::Nothing => {}
                Handled::Rejected { reason, detail } => {
                    match answers.next() {
                        Some(Ok(Answer::Refused(Some(a)))) => {
                            let _ = events.send(event(p::fleet_event::Body::Alert(
                                queries::alert_message(*a),
                            )));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            break 'settled (
                                acked,
                                rejected,
                                Some(Status::internal(format!("storing message {seq}: {e}"))),
                            )
                        }
                        None => break,
                    }
                    rejected.push((seq, reason, detail));
                }
            }
            acked.push(seq);
        }
        (acked, rejected, error)
    };
    // The dashboard's board works these out again when next asked.
    if !changed.is_empty() {
        let _ = queries.tell(queries::Changed(changed)).await;
    }
    settled
}

/// Tells `watch` what one stored message changed.
async fn publish(queries: &ActorRef<Queries>, events: &Events, answer: Answer) {
    match answer {
        Answer::PollFailed(Some(a)) => {
            let _ = events.send(event(p::fleet_event::Body::Alert(queries::alert_message(
                *a,
            ))));
        }
        Answer::Reading(Ingested::Stored {
            device_id, changes, ..
        }) => {
            for a in changes.opened.into_iter().chain(changes.closed) {
                let _ = events.send(event(p::fleet_event::Body::Alert(queries::alert_message(
                    a,
                ))));
            }
            for r in changes.replaced {
                let _ = events.send(event(p::fleet_event::Body::Replaced(p::SupplyReplaced {
                    device_id: r.device_id,
                    site: r.site,
                    supply: r.supply,
                    description: r.description,
                    from_percent: u32::from(r.from),
                    to_percent: u32::from(r.to),
                    at: r.at.rfc3339(),
                })));
            }
            if events.receiver_count() > 0 {
                if let Ok(device) = queries.ask(queries::GetDevice(device_id)).await {
                    let _ = events.send(event(p::fleet_event::Body::DeviceUpdated(device)));
                }
            }
        }
        Answer::Reading(Ingested::Observed { device_id, owner }) => {
            tracing::debug!(device = %device_id, owner = %owner, "another site's printer, kept as a conflict");
        }
        Answer::PollFailed(None)
        | Answer::Refused(_)
        | Answer::Reading(Ingested::Duplicate)
        | Answer::Reading(Ingested::OverQuota(_)) => {}
    }
}
