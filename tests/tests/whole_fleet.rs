//! The whole fleet as processes: a coordinator (`printwatch-coordinator`, so it can be
//! SIGKILLed), two collector processes for two sites, and simulated printers. The coordinator is killed while readings stream and restarted; afterwards
//! every reading either collector took is stored exactly once. A printer both sites reach
//! is one device (the other site's readings of it a counted conflict), and so is a printer
//! that moved to another address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_proto::listing::Joined;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;

use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_collector::outbox::Outbox;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::{until, until_blocking, Process};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn coordinator(dir: &Path, listen: SocketAddr) -> Process {
    let config = printwatch_tests::coordinator_config(dir, listen, "");
    Process::coordinator(&config)
}

/// A collector with SIGINT inherited as ignored (as a background job in CI has it): its
/// own handler must still stop it.
fn collector(conf: &Path, drain_only: bool) -> Process {
    let mut c = Command::new("bash");
    c.args(["-c", "trap '' INT; exec \"$0\" run --config \"$1\""])
        .arg(printwatch_tests::binary("printwatch-collector"))
        .arg(conf);
    if drain_only {
        c.env("PRINTWATCH_TARGETS", "[]");
    }
    Process::start(
        "printwatch-collector",
        c,
        &conf.with_extension("log"),
        printwatch_collector::agent::RUNNING,
    )
}

/// Envelopes waiting in a collector's outbox, from its metrics endpoint.
async fn waiting(metrics: SocketAddr) -> f64 {
    printwatch_telemetry::scrape(metrics)
        .await
        .ok()
        .and_then(|text| printwatch_telemetry::sample(&text, &["printwatch_outbox_depth"]))
        .unwrap_or(0.0)
}

/// The last number a stopped collector's outbox handed out, and how many wait in it.
fn taken(outbox_dir: &Path) -> (u64, u64) {
    let mut found = None;
    until_blocking("the outbox to open", 10, || {
        found = Outbox::open(outbox_dir)
            .ok()
            .map(|o| (o.last_seq(), o.depth()));
        found.is_some()
    });
    found.unwrap_or_default()
}

async fn fleet(dir: &Path, listen: SocketAddr) -> FleetClient<Channel> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let admin = certs::paths(dir, Role::Operator, "admin");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&dir.join("ca.pem"))))
        .identity(Identity::from_pem(read(&admin.cert), read(&admin.key)))
        .domain_name("localhost");
    FleetClient::new(
        Channel::from_shared(format!("https://{listen}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap(),
    )
}

async fn stored(dir: &Path, listen: SocketAddr) -> (usize, Vec<p::Device>) {
    let mut f = fleet(dir, listen).await;
    let devices = f
        .list_devices(p::ListDevicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .joined()
        .await
        .unwrap();
    let mut n = 0;
    for d in &devices {
        n += f
            .history(p::HistoryRequest {
                device_id: d.id.clone(),
                since: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .joined()
            .await
            .unwrap()
            .len();
        // Another site's readings of a printer are kept apart, counted.
        n += d
            .conflicts
            .iter()
            .map(|o| o.readings as usize)
            .sum::<usize>();
    }
    (n, devices)
}

#[tokio::test(flavor = "multi_thread")]
async fn coordinator_kill_9_two_sites_a_shared_and_a_moved_printer() {
    let dir = printwatch_tests::tempdir("whole");
    certs::init(&dir, &[], &["north".into(), "south".into()], "admin").unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    // Four printers per site, one more that both sites reach, and the moving printer's
    // second address (the same device, served where it will be found after the move).
    let at = |c: u8, d: u8| SocketAddr::from((Ipv4Addr::new(127, 107, c, d), 16161));
    let mut devices = Vec::new();
    let mut targets = [Vec::new(), Vec::new()];
    for i in 0..4u8 {
        devices.push((at(1, i + 1), synthetic::printer(107, u32::from(i))));
        targets[0].push(at(1, i + 1));
        devices.push((at(2, i + 1), synthetic::printer(107, 10 + u32::from(i))));
        targets[1].push(at(2, i + 1));
    }
    let shared = synthetic::printer(107, 99);
    devices.push((at(1, 99), shared.clone()));
    devices.push((at(2, 99), shared));
    targets[0].push(at(1, 99));
    targets[1].push(at(2, 99));
    devices.push((at(1, 200), synthetic::printer(107, 0))); // printer 0, after its move
    let _sim = serve_sim(devices).await.unwrap();

    // Every envelope must be a reading for the count below (a failed poll is an envelope
    // but no reading): the simulated printers never go away, and the timeout leaves room
    // for a loaded machine. The drain-only runs poll nothing (`PRINTWATCH_TARGETS=[]`).
    let mut confs = Vec::new();
    let mut metrics = Vec::new();
    for (n, site) in ["north", "south"].iter().enumerate() {
        let scrape = SocketAddr::from(([127, 0, 0, 1], printwatch_tests::free_port()));
        metrics.push(scrape);
        let files = certs::paths(&dir, Role::Collector, site);
        let list: Vec<String> = targets[n].iter().map(|a| format!("\"{a}\"")).collect();
        let conf = dir.join(format!("{site}.toml"));
        std::fs::write(
            &conf,
            format!(
                "site = \"{site}\"\ndata_dir = \"{}\"\ntargets = [{}]\n[coordinator]\nendpoint = \"https://{listen}\"\nserver_name = \"localhost\"\n\
                 [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n[snmp]\ntimeout_ms = 1000\nretries = 1\n[intervals]\nstatus_seconds = 1\n\
                 [metrics]\nprometheus_listen = \"{scrape}\"\n",
                dir.join(format!("outbox-{site}")).display(),
                list.join(", "),
                dir.join("ca.pem").display(),
                files.cert.display(),
                files.key.display()
            ),
        )
        .unwrap();
        confs.push(conf);
    }

    let coord = coordinator(&dir, listen);
    let running: Vec<Process> = confs.iter().map(|c| collector(c, false)).collect();
    until("30 readings stored", 30, async || {
        stored(&dir, listen).await.0 >= 30
    })
    .await;

    // SIGKILL the coordinator while readings stream; the collectors go on polling, and
    // what they read waits in their outboxes.
    coord.kill();
    for m in &metrics {
        until("readings waiting in a collector's outbox", 30, async || {
            waiting(*m).await >= 3.0
        })
        .await;
    }
    let _coord = coordinator(&dir, listen);

    // Printer 0 moves: the north collector is told its new address (once it has
    // reconnected to the restarted coordinator).
    let add = p::AddPrinterRequest {
        site: "north".into(),
        host: at(1, 200).to_string(),
        community: String::new(),
    };
    until(
        "the north collector to come back and take the move",
        30,
        async || {
            fleet(&dir, listen)
                .await
                .add_printer(add.clone())
                .await
                .is_ok()
        },
    )
    .await;
    let new_address = at(1, 200).to_string();
    until(
        "the moved printer to be read at its new address",
        30,
        async || {
            let (_, devices) = stored(&dir, listen).await;
            devices.iter().any(|d| d.addresses.contains(&new_address))
        },
    )
    .await;

    // Stop both collectors, then let each drain what it still holds.
    for c in running {
        c.interrupt();
    }
    let mut total_taken = 0;
    for (n, conf) in confs.iter().enumerate() {
        let outbox = dir.join(format!("outbox-{}", ["north", "south"][n]));
        let (last, depth) = taken(&outbox);
        if depth > 0 {
            let c = collector(conf, true);
            until("the drain to store what was taken", 30, async || {
                stored(&dir, listen).await.0 as u64 >= total_taken + last
            })
            .await;
            c.interrupt();
            assert_eq!(taken(&outbox).1, 0, "the drain left readings behind");
        }
        total_taken += last;
    }

    let (n_stored, devices) = stored(&dir, listen).await;
    assert_eq!(
        n_stored as u64,
        total_taken,
        "every reading taken is stored exactly once: {:?}",
        devices
            .iter()
            .map(|d| (&d.id, &d.site, &d.conflicts))
            .collect::<Vec<_>>()
    );
    // 8 printers, plus the shared one (once), the moved one still one device.
    assert_eq!(
        devices.len(),
        9,
        "{:?}",
        devices.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
    let moved = devices
        .iter()
        .find(|d| d.id == "sn:SIM107-00000")
        .expect("the moved printer");
    assert!(
        moved.addresses.contains(&at(1, 1).to_string())
            && moved.addresses.contains(&at(1, 200).to_string())
    );
    // The shared printer belongs to the site that read it first; the other's readings of
    // it are a conflict.
    let shared = devices
        .iter()
        .find(|d| d.id == "sn:SIM107-00099")
        .expect("the shared printer");
    let (own, other) = match shared.site.as_str() {
        "north" => (at(1, 99), at(2, 99)),
        _ => (at(2, 99), at(1, 99)),
    };
    assert_eq!(shared.addresses, [own.to_string()]);
    assert_eq!(shared.conflicts.len(), 1);
    assert_eq!(shared.conflicts[0].address, other.to_string());
    assert!(shared.conflicts[0].readings > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
