//! Helpers for printwatch's tests: where the corpus is, loading recordings and their
//! expected values, loopback addresses that do not collide between tests, processes that
//! are killed when a test ends, waiting with a deadline, the built binaries, and a
//! collector's side of a gRPC session (see [`grpc`]).

// Helpers for tests: when something a test needs is not there, panicking with what is
// missing is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod expect;
pub mod grpc;
pub mod ippeve;
pub mod process;
pub mod sim;
pub mod snmpd;
pub mod wait;

pub use expect::check_reading;
pub use process::{coordinator_config, Kill, Process};
pub use wait::{eventually, until, until_blocking, wait_port};

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use agent_core::model::Reading;
use agent_core::sim::SimDevice;

/// Where the shared printer corpus is, if it is anywhere: `$PRINTWATCH_CORPUS`, or
/// `../shared/corpus` beside the checkout. A clone of the repository alone has none; the
/// tests that need it are compiled as ignored then (see `build.rs`, `cfg(corpus)`), and
/// the project's own fixtures stand in.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PRINTWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    dir.join("printers").is_dir().then_some(dir)
}

/// Why a corpus test is ignored: the line a run without the corpus shows for each.
pub const NO_CORPUS: &str = "the printer corpus is not at ../shared/corpus (set PRINTWATCH_CORPUS)";

/// The project's own fixtures (`tests/fixtures`): printers written for printwatch's tests,
/// always there.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every recording in a subdirectory (`printers` or `others`) of the project's fixtures,
/// by name, sorted.
pub fn fixtures(sub: &str) -> Vec<(String, PathBuf)> {
    recordings_in(&fixtures_dir().join(sub))
}

/// Every recording in a subdirectory (`printers` or `others`) of the shared corpus, by
/// name, sorted. Only tests compiled with `cfg(corpus)` call this.
pub fn corpus(sub: &str) -> Vec<(String, PathBuf)> {
    let dir = corpus_dir().unwrap_or_else(|| panic!("{NO_CORPUS}"));
    recordings_in(&dir.join(sub))
}

fn recordings_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
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

/// One recording by name, from the fixtures.
pub fn fixture(name: &str) -> (String, PathBuf) {
    fixtures("printers")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
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

/// The expected values of a printer recording (`NAME.expected.json` beside it).
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

/// Raises this process's limit on open files to the hard limit, for tests that hold
/// thousands of connections; returns the limit now in force.
pub fn raise_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit write and read the struct this function owns.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
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
