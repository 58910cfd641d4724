//! The operator CLI against a live coordinator: devices, one device, supplies (low only),
//! history, as tables and as JSON; and a clear error when the coordinator is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_pki::{self as certs, Role};
use printwatch_tests::grpc::{channel, envelope, hello, session};

fn printwatch(pki: &Path, coordinator: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch"))
        .args(args)
        .arg("--pki")
        .arg(pki)
        .args(["--coordinator", coordinator])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_supplies_history_as_tables_and_json() {
    let dir = printwatch_tests::tempdir("opcli");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut config =
        CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    config.cache_mb = 8;
    let coordinator = service::start(config).await.unwrap();
    let listen = coordinator.listen;
    // Three synthetic printers, read through the real decoding path, two readings each,
    // sent as site hq's collector sends them.
    let mut sent = vec![hello("hq")];
    let mut low_supplies = 0;
    for i in 0..3 {
        let dev = agent_core::sim::synthetic::printer(7, i);
        for t in 0..2 {
            let mut r = agent_core::decode::reading(&dev.view, &format!("10.0.0.{i}"));
            r.polled_at = format!("2026-11-21T10:0{t}:00Z");
            if t == 1 {
                low_supplies += r
                    .supplies
                    .iter()
                    .filter(|s| {
                        matches!(
                            s.state,
                            agent_core::model::SupplyState::Low
                                | agent_core::model::SupplyState::Empty
                        )
                    })
                    .count();
            }
            sent.push(envelope(sent.len() as u64, r.into()));
        }
    }
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let ch = channel(listen, &dir.join("ca.pem"), Some((&hq.cert, &hq.key)))
        .await
        .unwrap();
    let acks = session(ch, sent).await.unwrap();
    assert_eq!(acks.last(), Some(&6), "every reading stored");
    let url = format!("https://{listen}");

    let (dir2, url2) = (dir.clone(), url.clone());
    let run = move |args: &'static [&'static str]| {
        let (d, u) = (dir2.clone(), url2.clone());
        async move {
            tokio::task::spawn_blocking(move || printwatch(&d, &u, args))
                .await
                .unwrap()
        }
    };

    let (ok, out, err) = run(&["devices", "--json"]).await;
    assert!(ok, "{err}");
    let devices: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(devices.len(), 3);
    let id = devices[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sn:SIM7-"));
    assert!(devices[0]["latest"]["supplies"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));

    let (ok, out, _) = run(&["devices"]).await;
    assert!(
        ok && out.starts_with("ID") && out.lines().count() == 4,
        "{out}"
    );

    let (ok, out, _) = run(&["supplies", "--low", "--json"]).await;
    assert!(ok);
    assert_eq!(out.lines().count(), low_supplies);
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(
            ["low", "empty"].contains(&v["supply"]["state"].as_str().unwrap()),
            "{v}"
        );
    }
    let (ok, out, _) = run(&["supplies"]).await;
    assert!(ok && out.lines().count() > low_supplies + 1);

    let d = dir.clone();
    let u = url.clone();
    let id2 = id.clone();
    let (ok, out, _) =
        tokio::task::spawn_blocking(move || printwatch(&d, &u, &["history", &id2, "--json"]))
            .await
            .unwrap();
    assert!(ok);
    assert_eq!(out.lines().count(), 2);
    let d = dir.clone();
    let u = url.clone();
    let id3 = id.clone();
    let (ok, out, _) = tokio::task::spawn_blocking(move || printwatch(&d, &u, &["device", &id3]))
        .await
        .unwrap();
    assert!(
        ok && out.contains("SUPPLY") && out.contains("site hq"),
        "{out}"
    );

    // A command for a site whose collector is not connected: said plainly, exit status 1.
    let (d, u) = (dir.clone(), url.clone());
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || printwatch(&d, &u, &["discover", "hq", "10.0.0.0/24"]))
            .await
            .unwrap();
    assert!(
        !ok && err.contains("no collector for site \"hq\" is connected"),
        "{err}"
    );
    let (d, u) = (dir.clone(), url.clone());
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || printwatch(&d, &u, &["remove", "sn:NOPE"]))
            .await
            .unwrap();
    assert!(!ok && err.contains("no device"), "{err}");
    // A history asked wrongly is an error, not an empty answer; one asked by age works.
    for (args, says) in [
        (vec!["history", "sn:NOPE"], "no device"),
        (vec!["history", "ID", "--since", "yesterday"], "--since"),
        (vec!["move", "sn:NOPE", "branch"], "no device"),
    ] {
        let (d, u) = (dir.clone(), url.clone());
        let args: Vec<String> = args
            .into_iter()
            .map(|a| if a == "ID" { id.clone() } else { a.to_string() })
            .collect();
        let (ok, _, err) = tokio::task::spawn_blocking(move || {
            printwatch(&d, &u, &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap();
        assert!(!ok && err.contains(says), "{err}");
    }
    let (d, u, i) = (dir.clone(), url.clone(), id.clone());
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        printwatch(&d, &u, &["history", &i, "--since", "3650d", "--json"])
    })
    .await
    .unwrap();
    assert!(ok && out.lines().count() == 2, "{err}");

    // No coordinator there: a clear error, exit status 1.
    let d = dir.clone();
    let (ok, _, err) =
        tokio::task::spawn_blocking(move || printwatch(&d, "https://127.0.0.1:1", &["devices"]))
            .await
            .unwrap();
    assert!(
        !ok && err.starts_with("error: connecting to the coordinator at https://127.0.0.1:1"),
        "{err}"
    );
    let (ok, _, err) = tokio::task::spawn_blocking(|| {
        printwatch(
            Path::new("/nonexistent"),
            "https://127.0.0.1:1",
            &["devices"],
        )
    })
    .await
    .unwrap();
    assert!(!ok && err.contains("printwatch certs init"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
