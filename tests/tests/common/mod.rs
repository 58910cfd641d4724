//! What the end-to-end tests here share that needs the services themselves (the
//! `printwatch-tests` library depends on none of them, so every crate's tests can use it).
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service::{self, Running};

/// A coordinator in this process for the fleet whose certificates are in `pki`, its
/// database in `pki/db`, on a loopback port of its own; listening when this returns.
pub async fn coordinator(pki: &Path) -> Running {
    let mut c = CoordinatorConfig::with_pki(pki, pki.join("db"), "127.0.0.1:0".parse().unwrap());
    c.cache_mb = 8;
    service::start(c).await.expect("the coordinator starts")
}

/// What the dealer endpoint received: (idempotency key, body), in order.
pub type Received = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A minimal HTTPS endpoint (HTTP/1.1, one request per connection) with a certificate
/// from the test's CA, recording each POST.
pub async fn dealer_endpoint(
    listener: tokio::net::TcpListener,
    pki: &Path,
    received: Received,
) -> tokio::task::JoinHandle<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<_> = rustls_pemfile_certs(&pki.join("coordinator.pem"));
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.join("coordinator.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, received) = (acceptor.clone(), received.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length, key) = loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let header = |name: &str| {
                            head.lines()
                                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                        };
                        let length = header("content-length:")
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        break (
                            i + 4,
                            length,
                            header("idempotency-key:").unwrap_or_default(),
                        );
                    }
                };
                while buf.len() < head_end + length {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body: serde_json::Value =
                    serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or_default();
                received.lock().unwrap().push((key, body));
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    })
}

fn rustls_pemfile_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}
