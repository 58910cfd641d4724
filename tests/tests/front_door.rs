//! The coordinator's front door under a flood: thousands of TCP connections that never
//! start TLS. The coordinator runs as a process with 1,024 files, as a small unit would;
//! the flood is five times that. It stays up, drops the idle connections after its
//! handshake deadline, and answers an operator meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::channel;
use printwatch_tests::{
    binary, coordinator_config, free_port, raise_file_limit, tempdir, until, Process,
};
use tokio::io::AsyncReadExt;

/// Up to `n` connections from one loopback source address that say nothing.
async fn idle(to: std::net::SocketAddr, from: [u8; 4], n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
        match tokio::time::timeout(Duration::from_secs(2), socket.connect(to)).await {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    held
}

/// True once the coordinator has closed `s` (EOF or reset).
async fn closed(s: &mut tokio::net::TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_millis(50), s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_neither_exhaust_the_coordinator_nor_keep_operators_out() {
    let limit = raise_file_limit();
    assert!(
        limit >= 6_000,
        "the test holds 5,000 connections; the file limit is {limit}"
    );
    let dir = tempdir("front-door");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let conf = coordinator_config(&dir, addr, "");
    let mut cmd = Command::new(binary("printwatch-coordinator"));
    cmd.arg("--config").arg(&conf);
    // SAFETY: setrlimit between fork and exec touches only the child's own limits.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let coordinator = Process::start(
        "printwatch-coordinator",
        cmd,
        &conf.with_extension("log"),
        "printwatch-coordinator serving",
    );

    // 5,000 connections that never start TLS, from four addresses.
    let mut held = Vec::new();
    for host in 1..=4u8 {
        held.extend(idle(addr, [127, 66, 0, host], 1_250).await);
    }
    assert_eq!(
        held.len(),
        5_000,
        "the kernel accepts them into the backlog"
    );

    // An operator's call is answered while they are open.
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let ask = async || {
        let ch = channel(addr, &dir.join("ca.pem"), Some((&admin.cert, &admin.key)))
            .await
            .unwrap();
        FleetClient::new(ch)
            .list_devices(p::ListDevicesRequest::default())
            .await
            .unwrap()
    };
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), ask())
        .await
        .expect("an operator's call is answered with 5,000 idle connections open");
    eprintln!(
        "an operator's call with 5,000 idle connections open: {:?}",
        started.elapsed()
    );

    // The idle ones are dropped: those that got in after the handshake deadline, the
    // others at once.
    until("every idle connection to be closed", 60, async || {
        for s in held.iter_mut() {
            if !closed(s).await {
                return false;
            }
        }
        true
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), ask())
        .await
        .expect("still answering");
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&dir);
}
