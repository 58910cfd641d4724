//! printwatch-coordinator as a process: configured from a file, killed with SIGKILL while
//! it holds acknowledged readings, restarted: nothing acknowledged is lost, nothing
//! replayed is stored twice. A bad configuration is a clear error naming the key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_proto::listing::Joined;
use std::process::Command;

use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;

use printwatch_tests::grpc::{channel, envelope, hello, reading, session};
use printwatch_tests::{tempdir, Process};

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_readings_survive_kill_9_and_replays_are_stored_once() {
    let dir = tempdir("process");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = printwatch_tests::coordinator_config(&dir, addr, "");
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");

    let coordinator = Process::coordinator(&config);
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let msgs: Vec<_> = std::iter::once(hello("hq"))
        .chain((1..=20).map(|i| envelope(i, reading(&format!("SN{i}")))))
        .collect();
    let acks = session(ch, msgs).await.unwrap();
    assert_eq!(acks.last(), Some(&20), "all 20 acknowledged: {acks:?}");
    coordinator.kill(); // SIGKILL, no chance to flush anything more

    let _coordinator = Process::coordinator(&config);
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    // The collector did not see the last acks and replays 15..=20, then goes on with 21.
    let msgs: Vec<_> = std::iter::once(hello("hq"))
        .chain((15..=21).map(|i| envelope(i, reading(&format!("SN{i}")))))
        .collect();
    assert_eq!(session(ch, msgs).await.unwrap().last(), Some(&21));
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    let devices = FleetClient::new(op.clone())
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    assert_eq!(
        devices.len(),
        21,
        "every acknowledged reading survived the kill"
    );
    for i in [1, 15, 20, 21] {
        let h = FleetClient::new(op.clone())
            .history(p::HistoryRequest {
                device_id: format!("sn:SN{i}"),
                since: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .joined()
            .await
            .unwrap();
        assert_eq!(h.len(), 1, "SN{i} stored exactly once");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_configuration_names_the_key() {
    let dir = tempdir("badconfig");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "listen = \"not an address\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch-coordinator"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: configuration") && err.contains("listen"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch-coordinator"))
        .args(["--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let _ = std::fs::remove_dir_all(&dir);
}
