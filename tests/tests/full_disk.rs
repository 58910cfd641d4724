//! A coordinator whose disk fills up: it refuses readings with a clear status (the
//! collector keeps them), answers operators from what it holds, and once there is room
//! again it stops by itself for its service manager to start it with the database
//! reopened; then the readings it refused are stored, each once.
//!
//! The full disk is the coordinator's file-size limit (RLIMIT_FSIZE) lowered from outside
//! with prlimit: every write then fails with EFBIG, as on a full disk with ENOSPC, and
//! raising it again is space coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::os::unix::process::CommandExt;
use std::process::Command;

use printwatch_pki::{self as certs, Role};
use printwatch_tests::grpc::{channel, devices, envelope, hello, reading, session_answers};
use printwatch_tests::{binary, coordinator_config, free_port, tempdir, Process};

fn start(conf: &std::path::Path) -> Process {
    let mut cmd = Command::new(binary("printwatch-coordinator"));
    cmd.arg("--config").arg(conf);
    // SAFETY: signal() between fork and exec changes only the child's disposition: a
    // write over the file-size limit fails with EFBIG instead of killing it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    Process::start(
        "printwatch-coordinator",
        cmd,
        &conf.with_extension("log"),
        "printwatch-coordinator serving",
    )
}

/// Sets the soft file-size limit of process `pid`.
fn file_size_limit(pid: u32, bytes: Option<u64>) {
    let lim = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads the struct this function owns; the old limit is not asked for.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_readings_keeps_answering_and_recovers() {
    let dir = tempdir("full-disk");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let conf = coordinator_config(&dir, addr, "");
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let collector = channel(addr, &ca, Some((&hq.cert, &hq.key)));
    let operator = channel(addr, &ca, Some((&admin.cert, &admin.key)));

    let coordinator = start(&conf);
    let ch = collector.await.unwrap();
    let batch = |from: u64, n: u64| {
        std::iter::once(hello("hq"))
            .chain((from..from + n).map(|s| envelope(s, reading(&format!("D{s}")))))
            .collect::<Vec<_>>()
    };
    let answers = session_answers(ch.clone(), batch(1, 5)).await.unwrap();
    assert_eq!(answers.acks.last(), Some(&5));

    // The disk is full.
    file_size_limit(coordinator.pid(), Some(1));
    let mut next = 6;
    let mut refused = None;
    for _ in 0..20 {
        match session_answers(ch.clone(), batch(next, 10)).await {
            Ok(a) => next = a.acks.last().copied().unwrap_or(next - 1) + 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let refused = refused.expect("readings are refused once the disk is full");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused}");
    assert!(refused.message().contains("cannot be written"), "{refused}");
    // Again, at once: it does not try to write.
    let again = session_answers(ch.clone(), batch(next, 1))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::Unavailable, "{again}");

    // Operators are answered from what is stored.
    assert!(devices(operator.await.unwrap()).await.len() >= 5);

    // Space comes back: the coordinator stops by itself, saying why, for its service
    // manager to start it again.
    file_size_limit(coordinator.pid(), None);
    let log = conf.with_extension("log");
    let status = coordinator.exited(60);
    assert!(
        !status.success(),
        "it stops with a failure, so systemd restarts it"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("the disk has room again"), "{text}");

    // Started again, it takes what it refused, each once.
    let _coordinator = start(&conf);
    let ch = channel(addr, &ca, Some((&hq.cert, &hq.key))).await.unwrap();
    let answers = session_answers(ch, batch(6, next + 1 - 6)).await.unwrap();
    assert_eq!(answers.acks.last(), Some(&next));
    let op = channel(addr, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    assert_eq!(devices(op).await.len() as u64, next, "every reading, once");
    let _ = std::fs::remove_dir_all(&dir);
}
