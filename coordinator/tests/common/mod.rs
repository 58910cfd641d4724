//! Helpers shared by the coordinator's end-to-end tests: TLS channels with fleet
//! certificates, and a collector session that sends messages and collects acks.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_client::CollectorClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves no
/// coordinator or peer running.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `addr` (a process just started).
pub fn wait_port(addr: SocketAddr, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Polls `f` until it gives a value, for at most `secs`.
pub async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("printwatch-coord-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

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
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

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

pub fn envelope(seq: u64, r: p::Reading) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Envelope(p::Envelope {
            seq,
            body: Some(p::envelope::Body::Reading(r)),
        })),
    }
}

pub fn hello(site: &str) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Hello(p::Hello {
            site: site.into(),
            version: "test".into(),
        })),
    }
}

/// Sends `msgs` on a collector stream and returns the acknowledgements received, until
/// one covers the highest sequence number sent (acknowledgements are cumulative). Each is
/// checked to cover no less than the one before.
pub async fn session(
    ch: Channel,
    msgs: Vec<p::CollectorMessage>,
) -> Result<Vec<u64>, tonic::Status> {
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
        tx.send(m).await.unwrap();
    }
    let mut stream = CollectorClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut acks: Vec<u64> = Vec::new();
    while acks.last().copied().unwrap_or(0) < highest {
        match stream.message().await? {
            Some(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Ack(a)),
            }) => {
                assert!(
                    acks.last().is_none_or(|&last| a.seq >= last),
                    "an ack went backwards: {acks:?} then {}",
                    a.seq
                );
                acks.push(a.seq)
            }
            Some(_) => {}
            None => break,
        }
    }
    drop(tx);
    Ok(acks)
}
