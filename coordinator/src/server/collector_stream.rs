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
use crate::ingest::{Answer, Incoming, IngestBatch, Ingested, Ingestor, PollFailure};
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
        let (ingestor, queries, events, metrics) = (
            self.ingestor.clone(),
            self.queries.clone(),
            self.events.clone(),
            self.metrics.clone(),
        );
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
                let Decoded {
                    order,
                    items,
                    error,
                } = decode(batch, Timestamp::now());
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
                };
                if sent_tx.send(sent).await.is_err() || last {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(sent) = sent_rx.recv().await {
                let (acked, error) = settle(&queries, &events, sent).await;
                // Acknowledgements are cumulative: the batch's highest stored number
                // covers every envelope before it, stored now or before.
                if let Some(seq) = acked.into_iter().max() {
                    let ack = p::CoordinatorMessage {
                        body: Some(p::coordinator_message::Body::Ack(p::Ack { seq })),
                    };
                    if tx.send(Ok(ack)).await.is_err() {
                        break;
                    }
                }
                if let Some(status) = error {
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

/// Why an envelope is refused: the status that ends the stream, and a word for the
/// refusal counter (none when the stream itself failed).
type Refusal = (Status, Option<&'static str>);

/// What an envelope asks the store to keep: a reading, a failed poll, or nothing (a sweep's
/// end, which is only acknowledged). Times are checked against the coordinator's clock
/// `now`.
fn incoming(env: p::Envelope, now: Timestamp) -> Result<(u64, Option<Incoming>), Refusal> {
    let seq = env.seq;
    if seq == 0 {
        return Err((
            Status::invalid_argument("sequence numbers start at 1"),
            Some("bad_sequence"),
        ));
    }
    let refuse = |what: &str, e: &dyn std::fmt::Display, reason| {
        (
            Status::invalid_argument(format!("{what} {seq}: {e}")),
            Some(reason),
        )
    };
    let reading = |r| {
        WireReading::from_wire(r, now)
            .map(|r| Incoming::Reading(Box::new(r)))
            .map_err(|e| (e.reason(), e))
    };
    let item = match env.body {
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
        })),
        Some(p::envelope::Body::SweepDone(_)) | None => None,
    };
    Ok((seq, item))
}

/// A batch of what a collector sent, made ready for the store.
struct Decoded {
    /// Every envelope's sequence number in order, and whether it carries an item.
    order: Vec<(u64, bool)>,
    /// The items for the store, in order.
    items: Vec<(u64, Incoming)>,
    /// The error that ends the stream after these, if one did: a bad message, or the
    /// stream's own failure.
    error: Option<Refusal>,
}

/// Turns received messages into items for the store. Everything before the first bad
/// message is kept; the bad one ends the stream.
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
        match incoming(env, now) {
            Ok((seq, Some(item))) => {
                decoded.order.push((seq, true));
                decoded.items.push((seq, item));
            }
            Ok((seq, None)) => decoded.order.push((seq, false)),
            Err(refusal) => {
                decoded.error = Some(refusal);
                break;
            }
        }
    }
    decoded
}

/// A batch handed to the ingest actor, as the acker sees it.
struct Sent {
    /// Every envelope's sequence number in order, and whether it carries an item.
    order: Vec<(u64, bool)>,
    /// The ingest actor's answer to come (none when no envelope carried an item), or why
    /// it could not be asked.
    answer: Option<Result<PendingAnswers, Status>>,
    /// The error that ends the stream after this batch, if one did.
    error: Option<Status>,
}

type PendingAnswers = kameo::request::PendingReply<
    IngestBatch,
    kameo::reply::DelegatedReply<crate::ingest::BatchAnswers>,
>;

/// Waits for the store's answer to a batch and tells watchers what changed. Returns the
/// sequence numbers to acknowledge (each one stored, in order) and the error that ends the
/// stream, if one did: the batch's own, or a store that failed.
async fn settle(
    queries: &ActorRef<Queries>,
    events: &Events,
    sent: Sent,
) -> (Vec<u64>, Option<Status>) {
    let Sent {
        order,
        answer,
        error,
    } = sent;
    let answers = match answer {
        None => Vec::new(),
        Some(Ok(pending)) => match pending.await {
            Ok(a) => a,
            Err(e) => {
                return (
                    Vec::new(),
                    Some(Status::internal(format!("the ingest actor: {e}"))),
                )
            }
        },
        Some(Err(status)) => return (Vec::new(), Some(status)),
    };
    let mut answers = answers.into_iter();
    let mut acked = Vec::new();
    for (seq, stored) in order {
        if stored {
            match answers.next() {
                Some(Ok(answer)) => publish(queries, events, answer).await,
                Some(Err(e)) => {
                    return (
                        acked,
                        Some(Status::internal(format!("storing message {seq}: {e}"))),
                    )
                }
                None => break,
            }
        }
        acked.push(seq);
    }
    (acked, error)
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
        Answer::PollFailed(None) | Answer::Reading(Ingested::Duplicate) => {}
    }
}
