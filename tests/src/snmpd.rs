//! net-snmp's snmpd, started by a test on a loopback port of its own and killed when the
//! test ends: serving a simulated device's rows through `override` lines, with whatever
//! more configuration the test adds (v3 users, proxied contexts).

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};

use agent_core::message::Value;
use agent_core::sim::SimDevice;

use crate::loopback;

/// The running snmpd and its directory (config, log, persistent state), removed when
/// the test ends.
pub struct Snmpd {
    child: Child,
    addr: SocketAddr,
    // Declared last: removed after the process is gone.
    dir: tempdir::Dir,
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Snmpd {
    /// Stops snmpd and starts it again on the same port with the same configuration and
    /// persistent state: the same engine, one more boot.
    pub fn restart(mut self) -> Snmpd {
        // SIGTERM, not SIGKILL: snmpd saves its engine boots and id on the way out.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
        self.child = spawn(&self.dir.0, self.addr);
        self
    }
}

fn spawn(dir: &std::path::Path, addr: SocketAddr) -> Child {
    // Its engine id and users' keys go to this directory, not to /var/lib/snmp.
    // -C keeps the host's configuration out, and with it the persistent file, which is
    // named again so a restarted snmpd keeps its engine and counts one more boot.
    let mut files = dir.join("snmpd.conf").display().to_string();
    let persisted = dir.join("persist").join("snmpd.conf");
    if persisted.exists() {
        files = format!("{files},{}", persisted.display());
    }
    Command::new("snmpd")
        .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
        .args(["-f", "-C", "-c", &files])
        .args(["-I", "-smux,hr_device,hr_print,hr_system,hr_storage,hr_disk,hr_network,hr_proc,hr_swrun,hr_swinst,hr_filesys,ifTable,interfaces", "-Lf"])
        .arg(dir.join("snmpd.log"))
        .arg(format!("udp:{addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd starts")
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

/// Starts snmpd serving `device`'s system, host-resources, Printer-MIB and enterprise
/// rows, with `rocommunity public` and the lines of `extra` (createUser, rouser, proxy).
pub fn start(device: &SimDevice, extra: &str) -> (Snmpd, SocketAddr) {
    assert!(
        Command::new("snmpd")
            .arg("-v")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "net-snmp's snmpd is not installed: run .ci/run or `apt-get install snmpd snmp`"
    );
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "printwatch-snmpd-{}-{}-{}",
        std::process::id(),
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        device.name
    ));
    std::fs::create_dir_all(dir.join("persist")).unwrap();
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
    conf.push_str(extra);
    let conf_path = dir.0.join("snmpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // A free port on a loopback address of our own.
    let probe = UdpSocket::bind(loopback()).unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let child = spawn(&dir.0, addr);
    (Snmpd { child, addr, dir }, addr)
}

/// The first full reading of `target` once snmpd answers it: snmpd takes a moment to bind
/// its port after it starts (and after a restart), so this polls, within a deadline.
pub async fn read_when_up(
    t: &agent_core::transport::Transport,
    target: agent_core::transport::Target,
) -> agent_core::model::Reading {
    use agent_core::poll::first_poll;
    use agent_core::session::Session;
    let what = format!("snmpd at {} to answer", target.addr);
    crate::eventually(&what, 20, async || {
        match first_poll(&mut Session::new(t.clone(), target.clone())).await {
            Ok((r, _)) if r.identity.sys_object_id.is_some() => Some(r),
            _ => None,
        }
    })
    .await
}
