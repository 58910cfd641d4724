//! Waiting for what a test needs, with a deadline, never for a fixed time: a test that
//! sleeps and then asserts passes on an idle machine and fails, or proves nothing, on a
//! busy one. Each helper polls its condition often and fails with what it waited for when
//! the (generous) deadline passes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `f` until it gives a value, for at most `secs`.
pub async fn eventually<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `ok` holds, for at most `secs` (a condition that needs no waiting is written
/// `async || cond`).
pub async fn until(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    eventually(what, secs, async || ok().await.then_some(())).await
}

/// [`until`] for a test without an async runtime (or one that must block).
pub fn until_blocking(what: &str, secs: u64, ok: impl FnMut() -> bool) {
    assert!(
        poll_blocking(secs, ok),
        "timed out after {secs} s waiting for {what}"
    );
}

/// Polls `ok` until it holds (true) or `secs` pass (false), blocking: for callers that
/// say more than [`until_blocking`] when time runs out.
pub fn poll_blocking(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until something listens on `addr` (a process just started).
pub fn wait_port(addr: SocketAddr, what: &str) {
    until_blocking(&format!("{what} to listen on {addr}"), 30, || {
        std::net::TcpStream::connect(addr).is_ok()
    });
}
