//! Metrics as an operator's Prometheus sees them: Debian's `prometheus` scrapes a
//! coordinator process's endpoint, and a supply's level is read back through Prometheus's
//! own query API, labelled by device, site, supply and colour, and followed as it changes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use agent_core::model::{Identity, PercentSource, Reading, Supply, SupplyClass, SupplyState};
use printwatch_pki::{self as certs, Role};

use printwatch_tests::grpc::{channel, envelope, hello, session};
use printwatch_tests::{eventually, free_port, tempdir, wait_port, Kill};

fn toner(percent: u8) -> Reading {
    Reading {
        identity: Identity {
            address: "10.9.0.12".into(),
            serial: Some("PROM0001".into()),
            vendor: Some("HP".into()),
            model: Some("LaserJet M507".into()),
            ..Default::default()
        },
        polled_at: agent_core::poll::now_rfc3339(),
        supplies: vec![Supply {
            device_index: 1,
            index: 1,
            description: "Black Cartridge HP 89A".into(),
            part_number: Some("CF289A".into()),
            kind: "tonerCartridge".into(),
            class: SupplyClass::Consumed,
            color: Some("black".into()),
            unit: Some("percent".into()),
            level: i64::from(percent),
            max_capacity: 100,
            percent: Some(percent),
            percent_source: Some(PercentSource::LevelOfMax),
            state: SupplyState::Ok,
        }],
        ..Default::default()
    }
}

/// Debian's Prometheus, scraping `target` every second, its data in `dir`.
fn prometheus(dir: &Path, target: SocketAddr) -> (Kill, SocketAddr) {
    let bin = ["/usr/bin/prometheus", "prometheus"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .expect("Prometheus is not installed (Debian: apt-get install prometheus)");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: printwatch-coordinator\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let k = Kill(child);
    wait_port(listen, "Prometheus");
    (k, listen)
}

/// The value Prometheus's query API gives for `query`, and the series' labels.
async fn query(prom: SocketAddr, query: &str) -> Option<(f64, serde_json::Value)> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("http://{prom}/api/v1/query?query={encoded}");
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let series = body["data"]["result"].as_array()?.first()?.clone();
    let value = series["value"][1].as_str()?.parse().ok()?;
    Some((value, series["metric"].clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_coordinator_and_answers_a_supply_level() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempdir("prometheus");
    let site = "east-wing";
    certs::init(&dir, &[], &[site.to_string()], "admin").unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.join("coordinator.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{listen}\"\ndata_dir = \"{db}\"\ncache_mb = 8\n[tls]\nca = \"{pki}/ca.pem\"\ncert = \"{pki}/coordinator.pem\"\nkey = \"{pki}/coordinator.key\"\n[metrics]\nprometheus_listen = \"{metrics}\"\n",
            db = dir.join("db").display(),
            pki = dir.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("coordinator.log")).unwrap();
    let _coordinator = Kill(
        Command::new(env!("CARGO_BIN_EXE_printwatch-coordinator"))
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_port(listen, "the coordinator");
    wait_port(metrics, "the metrics endpoint");

    let files = certs::paths(&dir, Role::Collector, site);
    let send = |seq: u64, percent: u8| {
        let (ca, cert, key) = (dir.join("ca.pem"), files.cert.clone(), files.key.clone());
        async move {
            let ch = channel(listen, &ca, Some((&cert, &key))).await.unwrap();
            let acks = session(ch, vec![hello(site), envelope(seq, toner(percent).into())])
                .await
                .unwrap();
            assert_eq!(acks.last(), Some(&seq));
        }
    };
    send(1, 37).await;

    let (_prom, prom) = prometheus(&dir, metrics);
    let level =
        r#"printwatch_supply_level_percent{device="sn:PROM0001",supply="Black Cartridge HP 89A"}"#;
    let (value, labels) = eventually("Prometheus to scrape the level", 60, async || {
        query(prom, level).await
    })
    .await;
    assert_eq!(value, 37.0);
    assert_eq!(labels["site"], site, "{labels}");
    assert_eq!(labels["color"], "black", "{labels}");
    assert_eq!(labels["job"], "printwatch-coordinator", "{labels}");

    // The toner drains: Prometheus follows.
    send(2, 12).await;
    eventually("Prometheus to see the new level", 30, async || {
        query(prom, level).await.filter(|(v, _)| *v == 12.0)
    })
    .await;
    // The fleet's size and what was ingested are there too.
    let (devices, _) = eventually("printwatch_devices", 10, async || {
        query(prom, "printwatch_devices").await
    })
    .await;
    assert_eq!(devices, 1.0);
    let (stored, _) = eventually("two stored envelopes", 10, async || {
        query(
            prom,
            r#"sum(printwatch_envelopes_total{outcome="stored",site="east-wing"})"#,
        )
        .await
        .filter(|(v, _)| *v == 2.0)
    })
    .await;
    assert_eq!(stored, 2.0);
    // What the store takes on disk: the two readings, in one day's segment.
    eventually("history's readings", 10, async || {
        query(prom, "printwatch_history_readings")
            .await
            .filter(|(v, _)| *v == 2.0)
    })
    .await;
    let (segments, _) = eventually("history's segments", 10, async || {
        query(prom, "printwatch_history_segments").await
    })
    .await;
    assert!(segments >= 1.0, "{segments}");
    for part in ["history", "sled"] {
        let (bytes, _) = eventually(part, 10, async || {
            query(prom, &format!(r#"printwatch_store_bytes{{part="{part}"}}"#)).await
        })
        .await;
        assert!(bytes > 0.0, "{part}: {bytes}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
