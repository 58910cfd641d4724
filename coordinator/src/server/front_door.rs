//! The front door: TCP connections are taken in here, not by tonic, so that a flood of
//! connections that never speak cannot exhaust the coordinator. Each connection gets a
//! TLS handshake with a deadline; at most [`Limits::per_address`] handshakes wait per
//! source address; at most [`Limits::connections`] connections are open at once, fewer
//! than the process may open files, so accept never fails for want of one (which spun
//! tonic's accept loop at full CPU while every operator call timed out). Over a limit, a
//! connection is closed at once. What passes is handed to tonic as a TLS stream that
//! carries the client's certificate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How much the front door lets in.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once (handshaking or served).
    pub connections: usize,
    /// Handshakes waiting at once from one source address.
    pub per_address: usize,
    /// How long a client may take to finish its TLS handshake.
    pub handshake: Duration,
}

/// Files kept for everything but connections: the database, logs, the metrics endpoint.
const FILES_KEPT: u64 = 200;

impl Limits {
    /// At most `configured` connections, and fewer than this process may open files.
    pub fn within_file_limit(configured: usize) -> Limits {
        let files = open_file_limit().saturating_sub(FILES_KEPT).max(16);
        Limits {
            connections: configured.min(usize::try_from(files).unwrap_or(usize::MAX)),
            per_address: 64,
            handshake: Duration::from_secs(10),
        }
    }
}

/// The soft limit on open files of this process.
fn open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct this function owns.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

/// A connection let in: its TLS stream, and its place among the open connections, given
/// back when tonic drops it.
pub struct Admitted {
    io: TlsStream<TcpStream>,
    _place: OwnedSemaphorePermit,
}

impl Admitted {
    /// Who connected.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.io.get_ref().0.peer_addr().ok()
    }
}

impl tonic::transport::server::Connected for Admitted {
    type ConnectInfo = <TlsStream<TcpStream> as tonic::transport::server::Connected>::ConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Handshakes in progress per source address.
type Waiting = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Takes connections on `listener` within `limits` and yields those whose handshake
/// completed, for tonic's `serve_with_incoming`. The accepting task ends when the stream
/// is dropped.
pub fn admit(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
) -> tokio_stream::wrappers::ReceiverStream<Result<Admitted, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(tls);
    let places = Arc::new(Semaphore::new(limits.connections));
    let waiting: Waiting = Arc::default();
    tokio::spawn(async move {
        let mut full = false;
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of files or memory for a moment: wait instead of spinning.
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            let Ok(place) = places.clone().try_acquire_owned() else {
                if !full {
                    tracing::warn!(
                        limit = limits.connections,
                        "the connection limit is reached: new connections are closed at once"
                    );
                }
                full = true;
                continue;
            };
            full = false;
            let ip = peer.ip();
            {
                let mut w = waiting.lock().unwrap_or_else(|p| p.into_inner());
                let n = w.entry(ip).or_default();
                if *n >= limits.per_address {
                    tracing::debug!(%ip, "too many handshakes waiting from one address");
                    continue;
                }
                *n += 1;
            }
            let (acceptor, tx, waiting) = (acceptor.clone(), tx.clone(), waiting.clone());
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let shaken = tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await;
                {
                    let mut w = waiting.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(n) = w.get_mut(&ip) {
                        *n -= 1;
                        if *n == 0 {
                            w.remove(&ip);
                        }
                    }
                }
                match shaken {
                    Ok(Ok(io)) => {
                        let _ = tx.send(Ok(Admitted { io, _place: place })).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%ip, "a TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%ip, "a TLS handshake took too long"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// The TLS configuration: the coordinator's certificate, client certificates from the
/// fleet CA required, HTTP/2 by ALPN.
pub fn tls_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let c = c.map_err(|e| format!("the fleet CA certificate: {e}"))?;
        roots
            .add(c)
            .map_err(|e| format!("the fleet CA certificate: {e}"))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| format!("the fleet CA certificate: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the coordinator certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the coordinator key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("the coordinator certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
