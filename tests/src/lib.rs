//! Helpers for printwatch's tests: where the corpus is, loading recordings and their
//! expected values, loopback addresses that do not collide between tests, processes that
//! are killed when a test ends, waiting with a deadline, the built binaries, and a
//! collector's side of a gRPC session (see [`grpc`]).

pub mod grpc;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use agent_core::model::Reading;
use agent_core::sim::SimDevice;

/// The corpus directory: `$PRINTWATCH_CORPUS`, or `../shared/corpus` beside the checkout.
/// Panics with a clear message when it is missing: the tests are meaningless without it.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("PRINTWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(
        dir.join("printers").is_dir(),
        "printer corpus not found at {} (set PRINTWATCH_CORPUS)",
        dir.display()
    );
    dir
}

/// Every recording in a corpus subdirectory (`printers` or `others`), by name, sorted.
pub fn recordings(sub: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(corpus_dir().join(sub))
        .expect("corpus directory readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snmprec"))
        .map(|p| {
            (
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                p,
            )
        })
        .collect();
    out.sort();
    out
}

/// A simulated device serving one recording.
pub fn sim_device(name: &str, path: &Path) -> SimDevice {
    let text = std::fs::read_to_string(path).expect("recording readable");
    let (device, skipped) = SimDevice::from_snmprec(name, &text);
    // Anonymised values (`4x|346288XXYYZZ`) are all a recording may lose.
    let lines = text.lines().count();
    assert!(
        skipped.len() * 20 < lines,
        "{name}: {} of {lines} lines unreadable, first: {}",
        skipped.len(),
        skipped[0]
    );
    device
}

/// The expected values of a printer recording.
pub fn expected(path: &Path) -> serde_json::Value {
    let p = path.with_extension("expected.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("expected.json readable"))
        .expect("expected.json parses")
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A fresh loopback address with port 0 (the OS picks the port). Each call within a test
/// binary gives another address in 127.(pid-derived).x.y, so parallel tests never collide.
pub fn loopback() -> SocketAddr {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let b = 100 + (std::process::id() % 100) as u8;
    SocketAddr::from((Ipv4Addr::new(127, b, (n >> 8) as u8, (n & 0xff) as u8), 0))
}

/// A reading without what legitimately differs between two polls of the same data: the
/// time, the wire counters and the address it was read at.
pub fn essence(mut r: Reading) -> Reading {
    r.polled_at.clear();
    r.bytes_sent = 0;
    r.bytes_received = 0;
    r.round_trips = 0;
    r.identity.address.clear();
    r
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves no
/// coordinator or peer running.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// Waits until something listens on `addr` (a process just started).
pub fn wait_port(addr: SocketAddr, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Polls `f` until it gives a value, for at most `secs`.
pub async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A fresh directory for one test, under the system's temporary directory.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("printwatch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A file's text; a test's own files only.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// One of the workspace's programs (`printwatch`, `printwatch-coordinator`,
/// `printwatch-collector`, `printwatch-sim`), as cargo built it beside this test: tests of
/// one crate cannot name another crate's binaries, so they are found in the target
/// directory. `cargo test` for the workspace (what `scripts/test` runs) builds them all;
/// `PRINTWATCH_BIN_DIR` points elsewhere.
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("PRINTWATCH_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        // target/<profile>/deps/<this test> -> target/<profile>
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
            .expect("the test's own path"),
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --bins` (or the whole workspace's `cargo test`, as scripts/test does), or set PRINTWATCH_BIN_DIR",
        path.display()
    );
    path
}
