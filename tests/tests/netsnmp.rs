//! The same reading from an agent this project did not write: net-snmp's snmpd, serving a
//! recording's printer rows through `override` lines, must read exactly like our simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_core::message::Value;
use agent_core::model::Reading;
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::{serve, SimDevice};
use agent_core::transport::{Target, Transport};
use printwatch_tests::{fixtures, loopback, sim_device};

/// The running snmpd and its directory (config and log), removed when the test ends.
struct Snmpd(Child, #[allow(dead_code)] tempdir::Dir);

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One `override` line for a variable, or `None` for types snmpd's override cannot carry.
fn override_line(oid: &agent_core::Oid, v: &Value) -> Option<String> {
    let (ty, val) = match v {
        Value::Integer(i) => ("integer", i.to_string()),
        Value::OctetString(b) => {
            let plain = !b.is_empty()
                && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
                && !b.contains(&b'"');
            if plain {
                ("octet_str", format!("\"{}\"", String::from_utf8_lossy(b)))
            } else if b.is_empty() {
                ("octet_str", "\"\"".to_string())
            } else {
                (
                    "octet_str",
                    format!(
                        "0x{}",
                        b.iter().map(|c| format!("{c:02X}")).collect::<String>()
                    ),
                )
            }
        }
        Value::ObjectId(o) => ("object_id", format!(".{o}")),
        Value::Counter32(c) => ("counter", c.to_string()),
        Value::Gauge32(g) => ("gauge", g.to_string()),
        Value::TimeTicks(t) => ("timeticks", t.to_string()),
        _ => return None,
    };
    Some(format!("override .{oid} {ty} {val}\n"))
}

fn start_snmpd(device: &SimDevice) -> (Snmpd, SocketAddr) {
    assert!(
        Command::new("snmpd")
            .arg("-v")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "net-snmp's snmpd is not installed: run .ci/run or `apt-get install snmpd snmp`"
    );
    let dir = std::env::temp_dir().join(format!(
        "printwatch-snmpd-{}-{}",
        std::process::id(),
        device.name
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = tempdir::Dir(dir);
    let mut conf = String::from("rocommunity public 127.0.0.0/8\n");
    let wanted = [
        "1.3.6.1.2.1.1.1.0",
        "1.3.6.1.2.1.1.2.0",
        "1.3.6.1.2.1.25.3",
        "1.3.6.1.2.1.43",
        "1.3.6.1.4.1",
    ];
    for (oid, v) in &device.view {
        if wanted.iter().any(|w| oid.to_string().starts_with(w)) {
            conf.extend(override_line(oid, v));
        }
    }
    let conf_path = dir.0.join("snmpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // A free port on a loopback address of our own.
    let probe = UdpSocket::bind(loopback()).unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let child = Command::new("snmpd")
        .args(["-f", "-C", "-c"])
        .arg(&conf_path)
        .args(["-I", "-smux,hr_device,hr_print,hr_system,hr_storage,hr_disk,hr_network,hr_proc,hr_swrun,hr_swinst,hr_filesys,ifTable,interfaces", "-Lf"])
        .arg(dir.0.join("snmpd.log"))
        .arg(format!("udp:{addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd starts");
    (Snmpd(child, dir), addr)
}

/// As `printwatch_tests::essence`, without the MAC: // snmpd answers the ifTable of this host, not the recording's
fn essence(r: Reading) -> Reading {
    let mut r = printwatch_tests::essence(r);
    r.identity.mac = None;
    r
}

async fn read_until_up(t: &Transport, addr: SocketAddr) -> Reading {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let target = Target {
            timeout: Duration::from_millis(300),
            retries: 1,
            ..Target::new(addr)
        };
        match first_poll(&mut Session::new(t.clone(), target)).await {
            Ok((r, _)) if r.identity.sys_object_id.is_some() => return r,
            other if Instant::now() > deadline => {
                panic!("snmpd at {addr} did not come up: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// net-snmp's snmpd serving each recording gives the same reading as the simulator
/// serving it, and a steady poll against snmpd keeps the budget's round trips.
async fn snmpd_agrees_with_the_simulator(recs: Vec<(String, std::path::PathBuf)>) {
    assert!(!recs.is_empty());
    let t = Transport::bind_default().await.unwrap();
    for (name, p) in recs {
        let device = sim_device(&name, &p);
        let (snmpd, addr) = start_snmpd(&device);
        let sim = serve(vec![(loopback(), device)]).await.unwrap();
        let theirs = read_until_up(&t, addr).await;
        let (ours, _) = first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
            .await
            .unwrap();
        assert!(
            !theirs.supplies.is_empty(),
            "{name}: no supplies from snmpd"
        );
        assert_eq!(
            essence(theirs.clone()),
            essence(ours),
            "{name}: snmpd and the simulator disagree"
        );

        // The steady-state poll works against snmpd too, within the budget's round trips.
        let (_, mut plan) = first_poll(&mut Session::new(t.clone(), Target::new(addr)))
            .await
            .unwrap();
        let mut s = Session::new(t.clone(), Target::new(addr));
        let steady = steady_poll(&mut s, &mut plan, Due { meters: false })
            .await
            .unwrap();
        assert_eq!(
            steady.supplies, theirs.supplies,
            "{name}: steady poll against snmpd"
        );
        assert!(
            s.counters.requests <= 2,
            "{name}: {} round trips",
            s.counters.requests
        );
        drop(snmpd);
    }
}

#[tokio::test]
async fn net_snmp_serves_the_fixture_printers_as_we_read_them() {
    snmpd_agrees_with_the_simulator(fixtures("printers")).await;
}

#[tokio::test]
#[cfg_attr(
    not(corpus),
    ignore = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)"
)]
async fn net_snmp_serves_the_corpus_printers_as_we_read_them() {
    let wanted = [
        "jetdirect_m880",
        "xerox",
        "brother_hl5370dw",
        "konica_c250i",
    ];
    let recs = printwatch_tests::corpus("printers")
        .into_iter()
        .filter(|(n, _)| wanted.contains(&n.as_str()))
        .collect::<Vec<_>>();
    assert_eq!(recs.len(), wanted.len());
    snmpd_agrees_with_the_simulator(recs).await;
}
