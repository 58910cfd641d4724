//! `printwatch discover SITE RANGE` reaches that site's collector (and not another's), and
//! what it finds appears in `printwatch devices`: the operator's path, through the real CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_collector::config::{CollectorConfig, CoordinatorLink, TlsFiles};

mod common;
use printwatch_pki::{self as certs, Role};
use printwatch_tests::until;

fn printwatch(pki: &Path, url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(printwatch_tests::binary("printwatch"))
        .args(args)
        .arg("--pki")
        .arg(pki)
        .args(["--coordinator", url])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn collector_config(dir: &Path, site: &str, listen: SocketAddr) -> CollectorConfig {
    let files = certs::paths(dir, Role::Collector, site);
    let defaults = CollectorConfig::default();
    CollectorConfig {
        site: site.into(),
        data_dir: dir.join(format!("outbox-{site}")),
        coordinator: CoordinatorLink {
            endpoint: format!("https://{listen}"),
            server_name: "localhost".into(),
        },
        tls: TlsFiles {
            ca: dir.join("ca.pem"),
            cert: files.cert,
            key: files.key,
        },
        snmp: printwatch_collector::config::Snmp {
            timeout_ms: 300,
            retries: 1,
            ..defaults.snmp.clone()
        },
        ..defaults
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn printwatch_discover_reaches_the_site_and_printwatch_devices_shows_what_it_found() {
    let dir = printwatch_tests::tempdir("cli-discover");
    certs::init(&dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let running = common::coordinator(&dir).await;
    let listen = running.listen;
    let printers: Vec<_> = (10..14u8)
        .map(|d| {
            (
                SocketAddr::from((Ipv4Addr::new(127, 108, 0, d), 16161)),
                synthetic::printer(108, u32::from(d)),
            )
        })
        .collect();
    let _sim = serve_sim(printers).await.unwrap();
    // Two sites' collectors, in this process; only hq's is asked to sweep.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for site in ["hq", "branch"] {
        let c = collector_config(&dir, site, listen);
        let mut stop = stop_rx.clone();
        tokio::spawn(printwatch_collector::agent::run(c, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    let url = format!("https://{listen}");
    let run = |args: Vec<String>| {
        let (d, u) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            printwatch(&d, &u, &a)
        })
    };
    let discover: Vec<String> = [
        "discover",
        "hq",
        "127.108.0.0/24",
        "--port",
        "16161",
        "--rate",
        "1000",
    ]
    .map(String::from)
    .to_vec();
    until("hq's collector to take the sweep", 20, async || {
        let (ok, out, _) = run(discover.clone()).await.unwrap();
        if ok {
            assert!(out.contains("sent to site hq"), "{out}");
        }
        ok
    })
    .await;
    until(
        "the sweep's printers to appear in `printwatch devices`",
        30,
        async || {
            let (ok, out, err) = run(["devices", "--json"].map(String::from).to_vec())
                .await
                .unwrap();
            assert!(ok, "{err}");
            let devices: Vec<serde_json::Value> = out
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if devices.len() == 4 {
                assert!(
                    devices.iter().all(|d| d["site"] == "hq"
                        && d["id"].as_str().unwrap().starts_with("sn:SIM108-")),
                    "{out}"
                );
            }
            devices.len() == 4
        },
    )
    .await;
    let (ok, out, _) = run(["devices", "--site", "branch", "--json"]
        .map(String::from)
        .to_vec())
    .await
    .unwrap();
    assert!(
        ok && out.trim().is_empty(),
        "the branch collector swept nothing: {out}"
    );
    let _ = stop_tx.send(true);
    let _ = std::fs::remove_dir_all(&dir);
}
