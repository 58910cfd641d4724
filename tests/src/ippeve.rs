//! CUPS's `ippeveprinter` (Debian's `cups-ipp-utils`), a real IPP Everywhere printer,
//! started by a test on a loopback port of its own and killed when the test ends. It
//! serves IPP and IPPS on the same port (with a self-signed certificate it makes in the
//! test's directory), and its supplies web form changes its levels.
//!
//! It will not start without DNS-SD: a system D-Bus and avahi-daemon must run, and
//! [`start`] starts them when they do not (which needs root, as CI is).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The serial the printer gives in its `printer-device-id`.
pub const SERIAL: &str = "EXS12345";
/// Its make and model.
pub const MAKE_AND_MODEL: &str = "Example Laser 9000";

/// A running `ippeveprinter` and its directory, removed when the test ends.
pub struct IppEve {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its directory: the attributes file, the spool and the TLS key and certificate.
    pub dir: PathBuf,
}

impl Drop for IppEve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl IppEve {
    /// `ipp://` (or `ipps://`) to its print queue.
    pub fn uri(&self, secure: bool) -> String {
        let scheme = if secure { "ipps" } else { "ipp" };
        format!("{scheme}://{}/ipp/print", self.addr)
    }

    /// Its self-signed certificate (PEM), made when it first served TLS.
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("keys").join("localhost.crt")
    }

    /// Sets its supplies' levels in percent, in their order (the waste tank, then the
    /// black toner), through its own supplies form, as a person at the printer would.
    pub fn set_levels(&self, levels: &[u8]) {
        let query: Vec<String> = levels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("supply{i}={l}"))
            .collect();
        let mut s = TcpStream::connect(self.addr).expect("ippeveprinter's web form");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // ippeveprinter keeps every connection open for its keep-alive time, whatever
        // the request asks: the answer is read to its last chunk, not to the close.
        write!(
            s,
            "GET /supplies?{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
            query.join("&")
        )
        .unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 16384];
        while !answer.ends_with(b"\r\n0\r\n\r\n") {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
            "the supplies form: {}",
            answer.lines().next().unwrap_or_default()
        );
    }
}

/// The attributes it starts with: the supplies of a monochrome laser printer and a
/// device ID with a serial.
const ATTRIBUTES: &str = r#"ATTR text printer-make-and-model "Example Laser 9000"
ATTR text printer-device-id "MFG:Example;MDL:Laser 9000;SN:EXS12345;CMD:PWG,URF;"
ATTR text printer-firmware-string-version "2.4.2"
ATTR octetString printer-supply "index=1;class=receptacleThatIsFilled;type=wasteToner;unit=percent;maxcapacity=100;level=25;colorantname=unknown;","index=2;class=supplyThatIsConsumed;type=toner;unit=percent;maxcapacity=100;level=75;colorantname=black;"
ATTR text printer-supply-description "Toner Waste Tank","Black Toner"
"#;

/// Starts D-Bus and avahi when they are not running: ippeveprinter exits at once
/// without DNS-SD.
fn dns_sd() {
    // Tests start printers in parallel: one of them starts the daemons.
    static STARTED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if *started {
        return;
    }
    let bus = std::path::Path::new("/run/dbus/system_bus_socket");
    // A socket file alone is not a bus: one killed leaves it, and its pid file, behind.
    if std::os::unix::net::UnixStream::connect(bus).is_err() {
        let _ = std::fs::remove_file(bus);
        let _ = std::fs::remove_file("/run/dbus/pid");
        let _ = std::fs::create_dir_all("/run/dbus");
        let ok = Command::new("dbus-daemon")
            .args(["--system", "--fork"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok && std::os::unix::net::UnixStream::connect(bus).is_ok(),
            "ippeveprinter needs a system D-Bus: `dbus-daemon --system --fork` failed (as root, with Debian's dbus)"
        );
    }
    let running = Command::new("avahi-daemon")
        .arg("--check")
        .status()
        .is_ok_and(|s| s.success());
    if !running {
        let _ = std::fs::remove_file("/run/avahi-daemon/pid");
        let ok = Command::new("avahi-daemon")
            .args(["--daemonize", "--no-drop-root", "--no-chroot"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "ippeveprinter needs avahi: `avahi-daemon --daemonize --no-drop-root --no-chroot` failed (as root, with Debian's avahi-daemon)"
        );
    }
    *started = true;
}

/// Starts an `ippeveprinter` on a free loopback port and waits until it answers.
pub fn start(tag: &str) -> IppEve {
    dns_sd();
    let dir = crate::tempdir(&format!("ippeve-{tag}"));
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::create_dir_all(dir.join("spool")).unwrap();
    std::fs::write(dir.join("printer.conf"), ATTRIBUTES).unwrap();
    let port = crate::free_port();
    let eve = IppEve {
        child: spawn(&dir, port),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    eve.listening()
}

fn spawn(dir: &std::path::Path, port: u16) -> Child {
    Command::new("ippeveprinter")
        .arg("-a")
        .arg(dir.join("printer.conf"))
        .arg("-K")
        .arg(dir.join("keys"))
        .arg("-d")
        .arg(dir.join("spool"))
        .args(["-r", "off", "-n", "localhost", "-p", &port.to_string()])
        .arg("printwatch-test")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("ippeveprinter.log")).unwrap())
        .spawn()
        .expect("starting ippeveprinter (Debian's cups-ipp-utils)")
}

impl IppEve {
    /// The printer with a new certificate, as after a firmware reset: stopped, its key
    /// thrown away, started again on the same port (it makes a new key at the next TLS
    /// connection).
    pub fn renew_certificate(mut self) -> IppEve {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(self.dir.join("keys"));
        std::fs::create_dir_all(self.dir.join("keys")).unwrap();
        self.child = spawn(&self.dir, self.addr.port());
        self.listening()
    }

    /// Waits until it accepts connections.
    fn listening(mut self) -> IppEve {
        let listens = crate::wait::poll_blocking(20, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.join("ippeveprinter.log")).unwrap_or_default();
                panic!("ippeveprinter exited ({status}): {log}");
            }
            TcpStream::connect(self.addr).is_ok()
        });
        assert!(listens, "ippeveprinter did not listen within 20 s");
        self
    }
}
