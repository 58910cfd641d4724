//! A collector's side of the coordinator's gRPC service, for tests that speak to a
//! coordinator directly: a TLS channel with fleet certificates, messages, and a session
//! that sends them and collects the acknowledgements.

use std::net::SocketAddr;
use std::path::Path;

use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_client::CollectorClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::read;

/// A channel to the coordinator at `addr`, trusting the fleet CA `ca`, showing `identity`
/// (a certificate and its key) when given.
pub async fn channel(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca)))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(read(cert), read(key)));
    }
    Channel::from_shared(format!("https://{addr}"))
        .expect("a URI")
        .tls_config(tls)?
        .connect()
        .await
}

/// Every device the coordinator on `ch` lists (all its parts).
pub async fn devices(ch: Channel) -> Vec<p::Device> {
    use printwatch_proto::listing::Joined;
    printwatch_proto::v1::fleet_client::FleetClient::new(ch)
        .list_devices(p::ListDevicesRequest::default())
        .await
        .expect("listing devices")
        .into_inner()
        .joined()
        .await
        .expect("every part of the listing")
}

/// A minimal reading of a printer with this serial.
pub fn reading(serial: &str) -> p::Reading {
    agent_core::model::Reading {
        identity: agent_core::model::Identity {
            address: "10.0.0.5".into(),
            serial: Some(serial.into()),
            ..Default::default()
        },
        polled_at: "2026-11-21T10:00:00Z".into(),
        ..Default::default()
    }
    .into()
}

/// A collector message carrying a reading under `seq`.
pub fn envelope(seq: u64, r: p::Reading) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Envelope(p::Envelope {
            seq,
            body: Some(p::envelope::Body::Reading(r)),
        })),
    }
}

/// The hello a collector of `site` opens its stream with: the same outbox every time.
pub fn hello(site: &str) -> p::CollectorMessage {
    hello_from(site, &format!("test-outbox-{site}"))
}

/// The hello of `site`'s collector whose outbox is `outbox`.
pub fn hello_from(site: &str, outbox: &str) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Hello(p::Hello {
            site: site.into(),
            version: "test".into(),
            outbox_id: outbox.into(),
        })),
    }
}

/// What the coordinator answered on a collector stream.
#[derive(Debug, Default)]
pub struct Answers {
    /// The acknowledgements, in order.
    pub acks: Vec<u64>,
    /// The envelopes rejected: number, reason and detail.
    pub rejected: Vec<(u64, String, String)>,
}

/// Sends `msgs` on a collector stream and returns the acknowledgements received, until
/// one covers the highest sequence number sent (acknowledgements are cumulative). Each is
/// checked to cover no less than the one before.
pub async fn session(
    ch: Channel,
    msgs: Vec<p::CollectorMessage>,
) -> Result<Vec<u64>, tonic::Status> {
    session_answers(ch, msgs).await.map(|a| a.acks)
}

/// [`session`], with the rejections too; each rejection is checked to come before the ack
/// that covers it.
pub async fn session_answers(
    ch: Channel,
    msgs: Vec<p::CollectorMessage>,
) -> Result<Answers, tonic::Status> {
    let highest = msgs
        .iter()
        .filter_map(|m| match &m.body {
            Some(p::collector_message::Body::Envelope(e)) => Some(e.seq),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel(msgs.len().max(1));
    for m in msgs {
        tx.send(m).await.expect("room for every message");
    }
    let mut stream = CollectorClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut answers = Answers::default();
    while answers.acks.last().copied().unwrap_or(0) < highest {
        match stream.message().await? {
            Some(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Ack(a)),
            }) => {
                let acks = &answers.acks;
                assert!(
                    acks.last().is_none_or(|&last| a.seq >= last),
                    "an ack went backwards: {acks:?} then {}",
                    a.seq
                );
                answers.acks.push(a.seq)
            }
            Some(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Rejected(r)),
            }) => {
                assert!(
                    answers.acks.last().is_none_or(|&last| r.seq > last),
                    "envelope {} was rejected after an ack covered it",
                    r.seq
                );
                answers.rejected.push((r.seq, r.reason, r.detail));
            }
            Some(_) => {}
            None => break,
        }
    }
    drop(tx);
    Ok(answers)
}
