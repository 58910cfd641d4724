//! IPP against servers that are not the printers they claim to be, on loopback: an
//! answer of 100 MB, one that never finishes, one that never starts, a peer that speaks
//! another protocol, a web page, broken IPP, TLS to a server without it. Each is a clear
//! error, within the timeout, and none makes the client hold more than its limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::time::Duration;

use agent_core::ipp::{self, Failure, IppClient, IppUri, Trust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that, for each connection, reads the request's first bytes and then does
/// `answer`.
async fn server<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        // Bounded: a test makes a few connections.
        for _ in 0..8 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            tokio::spawn(answer(s));
        }
    });
    addr
}

async fn poll(addr: SocketAddr, secure: bool, timeout: Duration) -> Failure {
    let scheme = if secure { "ipps" } else { "ipp" };
    let uri: IppUri = format!("{scheme}://{addr}/ipp/print").parse().unwrap();
    let mut c = IppClient::new(uri.clone(), addr, Trust::FirstUse(None), timeout);
    let e = ipp::poll(&mut c, &uri.to_string()).await.unwrap_err();
    assert!(
        e.to_string().starts_with(&uri.to_string()),
        "names the printer: {e}"
    );
    e.failure
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\n";

#[tokio::test]
async fn a_hundred_megabyte_answer_is_cut_at_the_limit() {
    for chunked in [false, true] {
        let addr = server(move |mut s| async move {
            let head = match chunked {
                false => format!("{HEAD}Content-Length: 104857600\r\n\r\n"),
                true => format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n"),
            };
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // A valid IPP start, then zeros, 100 MB of them, until the client hangs up.
            let block = vec![0u8; 64 * 1024];
            for i in 0..1600 {
                let mut out = Vec::with_capacity(block.len() + 16);
                if chunked {
                    out.extend_from_slice(format!("{:x}\r\n", block.len()).as_bytes());
                }
                if i == 0 {
                    out.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 1, 4]);
                    out.extend_from_slice(&block[9..]);
                } else {
                    out.extend_from_slice(&block);
                }
                if chunked {
                    out.extend_from_slice(b"\r\n");
                }
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let before = resident_kib();
        let f = poll(addr, false, Duration::from_secs(30)).await;
        assert!(matches!(f, Failure::TooLarge), "{f}");
        let grown_mib = resident_kib().saturating_sub(before) / 1024;
        assert!(grown_mib < 32, "held {grown_mib} MiB of a 100 MB answer");
    }
}

#[tokio::test]
async fn an_answer_that_never_ends_or_never_starts_times_out() {
    let never_ends = server(|mut s| async move {
        let _ = s
            .write_all(format!("{HEAD}Content-Length: 5000\r\n\r\n").as_bytes())
            .await;
        let _ = s.write_all(&[2, 0, 0, 0]).await;
        // Then nothing, with the connection open until the client gives up.
        let mut buf = [0u8; 16];
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await;
    })
    .await;
    let never_starts = server(|mut s| async move {
        let mut buf = [0u8; 16];
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await;
    })
    .await;
    for addr in [never_ends, never_starts] {
        let f = poll(addr, false, Duration::from_millis(500)).await;
        assert!(
            matches!(f, Failure::Timeout(t) if t == Duration::from_millis(500)),
            "{f}"
        );
    }
}

#[tokio::test]
async fn a_peer_that_is_not_an_ipp_printer_says_what_it_is_not() {
    let ssh = server(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
    })
    .await;
    let f = poll(ssh, false, Duration::from_secs(5)).await;
    assert!(matches!(f, Failure::Protocol(_)), "{f}");

    let web = server(|mut s| async move {
        let _ = s
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello",
            )
            .await;
    })
    .await;
    let f = poll(web, false, Duration::from_secs(5)).await;
    assert!(
        matches!(&f, Failure::NotIpp(200, t) if t == "text/html"),
        "{f}"
    );

    let broken = server(|mut s| async move {
        let body = [2u8, 0, 0, 0, 0, 0, 0, 1, 4, 0x44, 0x00, 0x40];
        let head = format!("{HEAD}Content-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&body).await;
    })
    .await;
    let f = poll(broken, false, Duration::from_secs(5)).await;
    assert!(matches!(f, Failure::Bad(_)), "{f}");

    let refused = server(|mut s| async move {
        // client-error-not-found, with a message.
        let mut body = vec![2u8, 0, 0x04, 0x06, 0, 0, 0, 1, 1];
        let (name, value) = ("status-message", "no such printer");
        body.push(0x41); // textWithoutLanguage
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value.as_bytes());
        body.push(3);
        let head = format!("{HEAD}Content-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(&body).await;
    })
    .await;
    let f = poll(refused, false, Duration::from_secs(5)).await;
    assert!(
        matches!(&f, Failure::Refused(0x0406, m) if m == "no such printer"),
        "{f}"
    );
}

#[tokio::test]
async fn tls_to_a_server_without_it_and_no_server_at_all() {
    let plain = server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await;
    let f = poll(plain, true, Duration::from_secs(5)).await;
    assert!(matches!(f, Failure::Tls(_)), "{f}");

    // A port nothing listens on: bound, then closed.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let f = poll(addr, false, Duration::from_secs(5)).await;
    assert!(matches!(f, Failure::Connect(_)), "{f}");
}
