//! `printwatch-sim` as a process: it serves a directory of recordings (the project's own
//! fixtures) on loopback and answers like the recordings say, and it refuses nonsense with
//! a clear message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use agent_core::classify::{probe, DeviceClass};
use agent_core::session::Session;
use agent_core::transport::{Target, Transport};
use printwatch_tests::{fixtures, fixtures_dir, Kill};

#[tokio::test]
async fn serves_a_directory_of_recordings_and_lists_where() {
    let (printers, others) = (fixtures("printers"), fixtures("others"));
    let all = printers.len() + others.len();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_printwatch-sim"))
            .args(["--corpus"])
            .arg(fixtures_dir())
            .args(["--base", "127.61.0.1", "--port", "0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let listed: Vec<(SocketAddr, String)> = BufReader::new(stdout)
        .lines()
        .take(all)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            (
                v["address"].as_str().unwrap().parse().unwrap(),
                v["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed.len(), all, "every printer and other device");
    let t = Transport::bind_default().await.unwrap();
    for (addr, name) in &listed {
        let p = probe(&mut Session::new(t.clone(), Target::new(*addr)))
            .await
            .unwrap();
        let want = if others.iter().any(|(n, _)| n == name) {
            DeviceClass::Other
        } else {
            DeviceClass::Printer
        };
        assert_eq!(p.class, want, "{name}");
    }
}

#[test]
fn refuses_bad_arguments_clearly() {
    let sim = || Command::new(env!("CARGO_BIN_EXE_printwatch-sim"));
    let none = sim().output().unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("nothing to serve"));
    let bad = sim()
        .args(["--synthetic", "1", "--loss", "2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("probability"));
    let missing = sim().args(["--corpus", "/nonexistent"]).output().unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no .snmprec files"));
}
