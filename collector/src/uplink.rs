//! The uplink: the collector's one stream to the coordinator. It says hello, sends every
//! pending envelope from the outbox, sends new ones as they are pushed, deletes what the
//! coordinator acknowledges, and when the link breaks it reconnects with backoff and sends
//! again everything still pending (the coordinator stores a replay once).

use std::time::Duration;

use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_client::CollectorClient;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::outbox::Outbox;

/// How to reach the coordinator.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    /// `https://host:port`.
    pub endpoint: String,
    /// The name in the coordinator's certificate (the host name, usually).
    pub server_name: String,
    /// The fleet CA (PEM).
    pub ca_pem: String,
    /// This collector's certificate (PEM).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
    /// The site this collector serves (must match its certificate).
    pub site: String,
    /// The longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

/// What ended one connection.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Could not connect: the endpoint, and the error with its causes (tonic's own text is
    /// only "transport error"; the cause says refused, timed out or which TLS check failed).
    #[error("connecting to {0}: {1}")]
    Connect(String, String),
    /// The coordinator refused or ended the stream.
    #[error("the coordinator: {0}")]
    Status(#[from] tonic::Status),
    /// The outbox failed.
    #[error(transparent)]
    Outbox(#[from] crate::outbox::OutboxError),
    /// The stream ended.
    #[error("the coordinator closed the stream")]
    Closed,
}

async fn connect(c: &UplinkConfig) -> Result<Channel, LinkError> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&c.ca_pem))
        .identity(Identity::from_pem(&c.cert_pem, &c.key_pem))
        .domain_name(c.server_name.clone());
    let endpoint = Channel::from_shared(c.endpoint.clone())
        .map_err(|e| {
            LinkError::Status(tonic::Status::invalid_argument(format!(
                "bad coordinator address {}: {e}",
                c.endpoint
            )))
        })?
        .tls_config(tls)
        .map_err(|e| LinkError::Connect(c.endpoint.clone(), with_causes(&e)))?
        .connect_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .http2_keep_alive_interval(Duration::from_secs(20));
    endpoint
        .connect()
        .await
        .map_err(|e| LinkError::Connect(c.endpoint.clone(), with_causes(&e)))
}

/// An error and each of its causes, joined by ": ".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        // Some layers repeat their cause's text in their own.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// The largest envelope sent: below the coordinator's default message limit (1 MiB), with
/// room for the stream's framing. A reading is bounded where it is made; this is the
/// last guard.
pub const SEND_LIMIT: usize = 960 * 1024;

/// Where commands from the coordinator go.
pub type Commands = tokio::sync::mpsc::Sender<p::Command>;

/// One connection: runs until it breaks. `opened` is called once the coordinator has
/// taken the stream.
async fn session(
    c: &UplinkConfig,
    outbox: &Outbox,
    commands: &Commands,
    opened: &mut (dyn FnMut() + Send),
) -> Result<(), LinkError> {
    let channel = connect(c).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<p::CollectorMessage>(256);
    let hello = p::CollectorMessage {
        body: Some(p::collector_message::Body::Hello(p::Hello {
            site: c.site.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            outbox_id: outbox.identity().to_string(),
        })),
    };
    tx.send(hello).await.map_err(|_| LinkError::Closed)?;
    let mut inbound = CollectorClient::new(channel)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    opened();
    let mut sent = 0u64;
    loop {
        // Acknowledgements that arrived while sending are settled first: one outbox delete
        // for all of them, however many envelopes they cover.
        settle(&mut inbound, None, outbox, commands)?;
        // Send whatever is pending beyond what this connection already sent.
        let batch = outbox.pending_after(sent, 128)?;
        let more = batch.len() == 128;
        for mut env in batch {
            sent = env.seq;
            if prost::Message::encoded_len(&env) > SEND_LIMIT {
                // The coordinator would refuse the whole stream over it: kept here, and
                // only its number sent, so the queue moves on.
                let why = format!(
                    "too_large: {} bytes, more than the {SEND_LIMIT} a message may carry",
                    prost::Message::encoded_len(&env)
                );
                outbox.set_aside(env.seq, &why)?;
                tracing::warn!(envelope = env.seq, "set aside an envelope: {why}");
                env.body = None;
            }
            let msg = p::CollectorMessage {
                body: Some(p::collector_message::Body::Envelope(env)),
            };
            // Acknowledgements are read while waiting for room to send. The coordinator
            // reads no faster than it stores, and it stores no faster than its answers go
            // out: a collector that stopped reading while the link is full would leave
            // both sides waiting on each other.
            loop {
                tokio::select! {
                    room = tx.reserve() => {
                        room.map_err(|_| LinkError::Closed)?.send(msg);
                        break;
                    }
                    answer = inbound.next() => settle(&mut inbound, Some(answer), outbox, commands)?,
                }
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            () = outbox.pushed() => {}
            msg = inbound.next() => settle(&mut inbound, Some(msg), outbox, commands)?,
        }
    }
}

/// Takes `first` (a message already received) and every message that has arrived since:
/// commands go to the collector, and the highest acknowledgement among them deletes
/// everything up to it from the outbox (acknowledgements are cumulative).
fn settle(
    inbound: &mut tonic::Streaming<p::CoordinatorMessage>,
    first: Option<Option<Result<p::CoordinatorMessage, tonic::Status>>>,
    outbox: &Outbox,
    commands: &Commands,
) -> Result<(), LinkError> {
    let mut acked = 0;
    let mut next = first.or_else(|| printwatch_proto::arrived::arrived(inbound));
    while let Some(msg) = next {
        match msg {
            Some(Ok(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Ack(a)),
            })) => acked = acked.max(a.seq),
            Some(Ok(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Rejected(r)),
            })) => {
                // Kept before the ack that follows deletes it from the queue.
                let why = format!("{}: {}", r.reason, r.detail);
                if outbox.set_aside(r.seq, &why)? {
                    tracing::warn!(
                        envelope = r.seq,
                        reason = %r.reason,
                        "the coordinator refused an envelope; it is set aside in the outbox: {}",
                        r.detail
                    );
                }
            }
            Some(Ok(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Command(cmd)),
            })) => {
                // A full command queue means the collector is wedged; dropping the
                // command is better than stalling the acks behind it.
                if commands.try_send(cmd).is_err() {
                    tracing::warn!(
                        "a command from the coordinator was dropped: the command queue is full"
                    );
                }
            }
            Some(Ok(_)) => {}
            Some(Err(status)) => {
                outbox.ack(acked)?;
                return Err(status.into());
            }
            None => {
                outbox.ack(acked)?;
                return Err(LinkError::Closed);
            }
        }
        next = printwatch_proto::arrived::arrived(inbound);
    }
    if acked > 0 {
        outbox.ack(acked)?;
    }
    Ok(())
}

/// Keeps the link up until `shutdown` completes: reconnects after every failure, waiting
/// 0.5 s, then twice as long each time up to `max_backoff`, with some jitter so a fleet of
/// collectors does not reconnect in step after a coordinator restart.
///
/// An outage is logged once when it starts (and again only if the reason changes), and
/// once when the link is back; the retries in between are at debug level, so a day
/// without the coordinator is a few lines, not thousands.
pub async fn run(
    c: UplinkConfig,
    outbox: Outbox,
    commands: Commands,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(500);
    // Failures since the link last opened, and the last one's reason.
    let mut failures = 0u32;
    let mut last_reason = String::new();
    loop {
        let started = tokio::time::Instant::now();
        let mut opened = || {
            if failures > 0 {
                tracing::info!(
                    after_failures = failures,
                    "the link to the coordinator is back"
                );
            } else {
                tracing::info!(coordinator = %c.endpoint, "connected to the coordinator");
            }
            failures = 0;
            last_reason.clear();
        };
        let result = tokio::select! {
            r = session(&c, &outbox, &commands, &mut opened) => r,
            () = &mut shutdown => return,
        };
        if let Err(e) = result {
            failures += 1;
            let reason = e.to_string();
            if failures == 1 || reason != last_reason {
                tracing::warn!(retry_in = ?backoff, "the link to the coordinator failed: {reason}");
            } else {
                tracing::debug!(retry_in = ?backoff, failures, "the link to the coordinator failed: {reason}");
            }
            last_reason = reason;
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(500);
        }
        let jitter =
            Duration::from_millis(u64::from(rand_jitter()) % (backoff.as_millis() as u64 / 4 + 1));
        tokio::select! {
            () = tokio::time::sleep(backoff + jitter) => {}
            () = &mut shutdown => return,
        }
        backoff = (backoff * 2).min(c.max_backoff);
    }
}

fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// The uplink as an actor: it owns the link (a task running [`run`]) so that stopping the
/// actor, by a kill or by the collector shutting down, always ends the link with it.
pub struct Uplink {
    link: tokio::task::JoinHandle<()>,
}

impl Drop for Uplink {
    fn drop(&mut self) {
        self.link.abort();
    }
}

/// What the uplink starts with.
pub struct UplinkArgs {
    /// How to reach the coordinator.
    pub config: UplinkConfig,
    /// What to send.
    pub outbox: Outbox,
    /// Where commands from the coordinator go.
    pub commands: Commands,
}

impl kameo::Actor for Uplink {
    type Args = UplinkArgs;
    type Error = kameo::error::Infallible;

    async fn on_start(a: UplinkArgs, _: kameo::actor::ActorRef<Self>) -> Result<Self, Self::Error> {
        let link = tokio::spawn(run(a.config, a.outbox, a.commands, std::future::pending()));
        Ok(Uplink { link })
    }
}
