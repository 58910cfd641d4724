//! The whole fleet as processes: a coordinator (`printwatch-coordinator`, so it can be
//! SIGKILLed), two collector processes for two sites, and simulated printers. The coordinator is killed while readings stream and restarted; afterwards
//! every reading either collector took is stored exactly once. A printer both sites reach
//! is one device, and so is a printer that moved to another address.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_core::sim::{serve as serve_sim, synthetic};
use printwatch_collector::outbox::Outbox;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn coordinator(dir: &Path, listen: SocketAddr) -> Kill {
    let config = dir.join("coordinator.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{listen}\"\ndata_dir = \"{}\"\ncache_mb = 8\n[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            dir.join("db").display(),
            dir.join("ca.pem").display(),
            dir.join("coordinator.pem").display(),
            dir.join("coordinator.key").display()
        ),
    )
    .unwrap();
    let child = Command::new(printwatch_tests::binary("printwatch-coordinator"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(Instant::now() < deadline, "the coordinator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Kill(child)
}

fn collector(conf: &Path, drain_only: bool) -> Child {
    let mut c = Command::new("bash");
    c.args(["-c", "trap '' INT; exec \"$0\" run --config \"$1\""])
        .arg(printwatch_tests::binary("printwatch-collector"))
        .arg(conf)
        .stderr(Stdio::null());
    if drain_only {
        c.env("PRINTWATCH_TARGETS", "[]");
    }
    c.spawn().unwrap()
}

fn stop(mut child: Kill) {
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "a collector did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn taken(outbox_dir: &Path) -> (u64, u64) {
    for _ in 0..100 {
        if let Ok(o) = Outbox::open(outbox_dir) {
            return (o.last_seq(), o.depth());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the outbox did not open");
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
        .devices;
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
            .readings
            .len();
    }
    (n, devices)
}

#[tokio::test(flavor = "multi_thread")]
async fn coordinator_kill_9_two_sites_a_shared_and_a_moved_printer() {
    let dir = std::env::temp_dir().join(format!("printwatch-whole-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
    for (n, site) in ["north", "south"].iter().enumerate() {
        let files = certs::paths(&dir, Role::Collector, site);
        let list: Vec<String> = targets[n].iter().map(|a| format!("\"{a}\"")).collect();
        let conf = dir.join(format!("{site}.toml"));
        std::fs::write(
            &conf,
            format!(
                "site = \"{site}\"\ndata_dir = \"{}\"\ntargets = [{}]\n[coordinator]\nendpoint = \"https://{listen}\"\nserver_name = \"localhost\"\n\
                 [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n[snmp]\ntimeout_ms = 1000\nretries = 1\n[intervals]\nstatus_seconds = 1\n",
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
    let mut running: Vec<Kill> = confs.iter().map(|c| Kill(collector(c, false))).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&dir, listen).await.0 < 30 {
        assert!(Instant::now() < deadline, "readings did not arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // SIGKILL the coordinator while readings stream; the collectors go on polling.
    drop(coord);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let _coord = coordinator(&dir, listen);

    // Printer 0 moves: the north collector is told its new address (once it has
    // reconnected to the restarted coordinator).
    let deadline = Instant::now() + Duration::from_secs(30);
    let add = p::AddPrinterRequest {
        site: "north".into(),
        host: at(1, 200).to_string(),
        community: String::new(),
    };
    while fleet(&dir, listen)
        .await
        .add_printer(add.clone())
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the north collector did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, devices) = stored(&dir, listen).await;
        if devices
            .iter()
            .any(|d| d.addresses.iter().any(|a| a == &at(1, 200).to_string()))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the moved printer was not read at its new address"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop both collectors, then let each drain what it still holds.
    for c in running.drain(..) {
        stop(c);
    }
    let mut total_taken = 0;
    for (n, conf) in confs.iter().enumerate() {
        let outbox = dir.join(format!("outbox-{}", ["north", "south"][n]));
        let (last, depth) = taken(&outbox);
        if depth > 0 {
            let c = Kill(collector(conf, true));
            let deadline = Instant::now() + Duration::from_secs(30);
            tokio::time::sleep(Duration::from_millis(500)).await;
            loop {
                let (n_stored, _) = stored(&dir, listen).await;
                if n_stored as u64 >= total_taken + last || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            stop(c);
            assert_eq!(taken(&outbox).1, 0, "the drain left readings behind");
        }
        total_taken += last;
    }

    let (n_stored, devices) = stored(&dir, listen).await;
    assert_eq!(
        n_stored as u64, total_taken,
        "every reading taken is stored exactly once"
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
    let shared = devices
        .iter()
        .find(|d| d.id == "sn:SIM107-00099")
        .expect("the shared printer");
    assert!(
        shared.addresses.contains(&at(1, 99).to_string())
            && shared.addresses.contains(&at(2, 99).to_string())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
