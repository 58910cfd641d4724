//! The coordinator over mutual TLS: collectors stream readings and get acks; operators
//! query; everyone else is refused, and a bad message does not hurt the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use printwatch_coordinator::certs::{self, Role};
use printwatch_coordinator::server::{serve, ServerConfig};
use printwatch_coordinator::store::Store;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::collector_client::CollectorClient;
use printwatch_proto::v1::fleet_client::FleetClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("printwatch-mtls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

async fn start(dir: &Path) -> (SocketAddr, Store, tokio::sync::oneshot::Sender<()>) {
    certs::init(dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let store = Store::open(&dir.join("db"), 16 << 20).unwrap();
    let coord = certs::paths(dir, Role::Coordinator, "coordinator");
    let config = ServerConfig {
        listen,
        ca_pem: read(&dir.join("ca.pem")),
        cert_pem: read(&coord.cert),
        key_pem: read(&coord.key),
        max_message_bytes: 64 * 1024,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s = store.clone();
    tokio::spawn(async move {
        serve(config, s, async {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    (listen, store, tx)
}

async fn channel(
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

fn reading(serial: &str) -> p::Reading {
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

fn envelope(seq: u64, r: p::Reading) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Envelope(p::Envelope {
            seq,
            body: Some(p::envelope::Body::Reading(r)),
        })),
    }
}

fn hello(site: &str) -> p::CollectorMessage {
    p::CollectorMessage {
        body: Some(p::collector_message::Body::Hello(p::Hello {
            site: site.into(),
            version: "test".into(),
        })),
    }
}

async fn session(ch: Channel, msgs: Vec<p::CollectorMessage>) -> Result<Vec<u64>, tonic::Status> {
    let n = msgs
        .iter()
        .filter(|m| matches!(m.body, Some(p::collector_message::Body::Envelope(_))))
        .count();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for m in msgs {
        tx.send(m).await.unwrap();
    }
    let mut stream = CollectorClient::new(ch)
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut acks = Vec::new();
    while acks.len() < n {
        match stream.message().await? {
            Some(p::CoordinatorMessage {
                body: Some(p::coordinator_message::Body::Ack(a)),
            }) => acks.push(a.seq),
            Some(_) => {}
            None => break,
        }
    }
    drop(tx);
    Ok(acks)
}

#[tokio::test(flavor = "multi_thread")]
async fn collectors_stream_operators_query_and_strangers_are_refused() {
    let dir = tempdir("main");
    let (addr, store, _stop) = start(&dir).await;
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");

    // A collector streams readings; a replay is acked but stored once.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let acks = session(
        ch.clone(),
        vec![
            hello("hq"),
            envelope(1, reading("SN1")),
            envelope(2, reading("SN2")),
            envelope(2, reading("SN2")),
        ],
    )
    .await
    .unwrap();
    assert_eq!(acks, vec![1, 2, 2]);
    assert_eq!(store.last_sequence("hq").unwrap(), 2);
    assert_eq!(store.history("sn:SN2", "").unwrap().len(), 1);

    // It may not claim another site, nor use the operator service.
    let err = session(
        ch.clone(),
        vec![hello("branch"), envelope(3, reading("SN3"))],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let err = FleetClient::new(ch)
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // An operator sees the fleet.
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let devices = FleetClient::new(op.clone())
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .devices;
    assert_eq!(devices.len(), 2);
    let one = FleetClient::new(op.clone())
        .get_device(p::GetDeviceRequest {
            id: "sn:SN1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.site, "hq");

    // No certificate, or one from another CA: no connection, or no call.
    let none = match channel(addr, &ca, None).await {
        Ok(ch) => FleetClient::new(ch)
            .list_devices(p::ListDevicesRequest::default())
            .await
            .is_err(),
        Err(_) => true,
    };
    assert!(none, "a client without a certificate was served");
    let other = tempdir("other");
    certs::init(&other, &[], &["hq".into()], "admin").unwrap();
    let fake = certs::paths(&other, Role::Operator, "admin");
    let refused = match channel(addr, &ca, Some((&fake.cert, &fake.key))).await {
        Ok(ch) => FleetClient::new(ch)
            .list_devices(p::ListDevicesRequest::default())
            .await
            .is_err(),
        Err(_) => true,
    };
    assert!(refused, "a certificate from another CA was served");

    // An oversized message is refused with a clear status; the coordinator keeps serving.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let mut big = reading("SN9");
    big.meters = (0..5_000)
        .map(|i| p::Meter {
            name: format!("meter-{i}"),
            value: i,
            source: "1.3.6.1.4.1.0".into(),
        })
        .collect();
    let err = session(ch, vec![hello("hq"), envelope(3, big)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
        ),
        "{err}"
    );
    // A malformed reading (an unknown supply state) is refused, and the stream ends.
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let mut bad = reading("SN8");
    bad.supplies.push(p::Supply {
        state: 77,
        class: 1,
        ..Default::default()
    });
    let err = session(ch.clone(), vec![hello("hq"), envelope(3, bad)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("supply state"), "{err}");
    let acks = session(ch, vec![hello("hq"), envelope(3, reading("SN3"))])
        .await
        .unwrap();
    assert_eq!(acks, vec![3]);
    let devices = FleetClient::new(op)
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .devices;
    assert_eq!(devices.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}
