//! One printer's IPP connection: a Get-Printer-Attributes request per poll over one
//! kept-alive HTTP/1.1 connection (TLS for `ipps://`), every byte counted.
//!
//! A printer is not trusted: the answer is cut at [`MAX_ANSWER`] bytes, the whole
//! exchange at the timeout, and anything that is not HTTP carrying IPP is an error that
//! says so. Over TLS a printer's self-signed certificate is trusted on first use and
//! pinned by its SHA-256 fingerprint, as SSH does a host key; one that changes is refused
//! with both fingerprints until the pin is forgotten. A CA file trusts what it signed
//! instead.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::message::{self, BadMessage, Response};
use super::uri::IppUri;

/// The most an answer may be. A Get-Printer-Attributes answer for what a poll asks is a
/// few kilobytes; one for every attribute, tens.
pub const MAX_ANSWER: usize = 1 << 20;

/// A certificate's SHA-256 fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Parses the `ab:cd:...` form [`fmt::Display`] writes (colons optional).
    pub fn parse(s: &str) -> Option<Fingerprint> {
        let hex: String = s.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whom an `ipps://` printer's certificate must satisfy.
#[derive(Clone)]
pub enum Trust {
    /// Its first certificate: `None` until one was seen, then that one only.
    FirstUse(Option<Fingerprint>),
    /// A certificate that chains to these roots and names the printer's host.
    Roots(Arc<rustls::RootCertStore>),
}

impl Trust {
    /// Roots read from a PEM file.
    pub fn ca_file(path: &std::path::Path) -> Result<Trust, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        let mut reader = pem.as_slice();
        for cert in rustls_pemfile_certs(&mut reader) {
            roots
                .add(cert)
                .map_err(|e| format!("{}: a certificate rustls refuses: {e}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        Ok(Trust::Roots(Arc::new(roots)))
    }
}

/// The certificates of a PEM bundle (anything else in it is passed over).
fn rustls_pemfile_certs(pem: &mut &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Why a poll over IPP failed: the printer, and what went wrong.
#[derive(Debug, Error)]
#[error("{uri}: {failure}")]
pub struct IppError {
    /// The printer's URI.
    pub uri: String,
    /// What went wrong.
    pub failure: Failure,
}

/// What went wrong in an exchange with a printer.
#[derive(Debug, Error)]
pub enum Failure {
    /// No TCP connection.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The exchange did not finish in time (a printer that never answers, or never stops).
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// The TLS handshake failed (a printer that does not speak TLS on that port, or a
    /// certificate the CA file does not vouch for).
    #[error("TLS: {0}")]
    Tls(String),
    /// The printer's certificate is not the one pinned.
    #[error(
        "the printer's certificate has changed (pinned {pinned}, now {seen}); if the printer \
         was reset or its certificate renewed, trust the new one: `printwatch-collector pins \
         --forget URI` (or, with poll, --ipp-pin)"
    )]
    CertificateChanged {
        /// The fingerprint trusted on first use.
        pinned: Fingerprint,
        /// The one shown now.
        seen: Fingerprint,
    },
    /// The peer is not an HTTP server, or broke the exchange off.
    #[error("not an IPP printer: {0}")]
    Protocol(String),
    /// HTTP answered, but not with IPP: the status and the content type.
    #[error("HTTP {0} ({1:?}): not an IPP printer at that path")]
    NotIpp(u16, String),
    /// The answer is larger than [`MAX_ANSWER`].
    #[error("the answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
    /// The answer is IPP, but broken.
    #[error(transparent)]
    Bad(#[from] BadMessage),
    /// The printer refused the request: its status code and message.
    #[error("the printer refused: status {0:#06x} {1}")]
    Refused(u16, String),
}

/// What one exchange cost: TCP payload bytes (TLS and HTTP included) and requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Bytes sent, a new connection's handshake included.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Requests sent (one per poll).
    pub round_trips: u32,
    /// A new connection was opened for it.
    pub connected: bool,
}

/// A printer's IPP connection, opened on first use and kept between polls.
pub struct IppClient {
    uri: IppUri,
    addr: SocketAddr,
    trust: Trust,
    timeout: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
    counts: Arc<Counts>,
    request_id: u32,
    seen: Option<Fingerprint>,
}

/// Bytes through the connection, counted as they pass.
#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    received: AtomicU64,
}

impl IppClient {
    /// A client for the printer at `uri`, reached at `addr`.
    pub fn new(uri: IppUri, addr: SocketAddr, trust: Trust, timeout: Duration) -> IppClient {
        IppClient {
            uri,
            addr,
            trust,
            timeout,
            conn: None,
            counts: Arc::new(Counts::default()),
            request_id: 0,
            seen: None,
        }
    }

    /// Where it reaches the printer.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The printer's URI.
    pub fn uri(&self) -> &IppUri {
        &self.uri
    }

    /// True when it trusts a certificate it pins itself (no CA file).
    pub fn trusts_first_use(&self) -> bool {
        matches!(self.trust, Trust::FirstUse(_))
    }

    /// The fingerprint of the certificate the printer showed last (`ipps://` only): what
    /// a caller pins after the first use.
    pub fn certificate(&self) -> Option<Fingerprint> {
        self.seen
    }

    /// Asks for `attributes`; the answer, and what asking cost.
    pub async fn get_printer_attributes(
        &mut self,
        attributes: &[&str],
    ) -> Result<(Response, Cost), IppError> {
        let before = (
            self.counts.sent.load(Ordering::Relaxed),
            self.counts.received.load(Ordering::Relaxed),
        );
        let timeout = self.timeout;
        let result = match tokio::time::timeout(timeout, self.exchange(attributes)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout(timeout)),
        };
        let (response, connected) = result.map_err(|failure| {
            // Whatever state the connection is in, the next poll starts a new one.
            self.conn = None;
            IppError {
                uri: self.uri.to_string(),
                failure,
            }
        })?;
        let cost = Cost {
            bytes_sent: self.counts.sent.load(Ordering::Relaxed) - before.0,
            bytes_received: self.counts.received.load(Ordering::Relaxed) - before.1,
            round_trips: 1,
            connected,
        };
        Ok((response, cost))
    }

    async fn exchange(&mut self, attributes: &[&str]) -> Result<(Response, bool), Failure> {
        let reusable = match &mut self.conn {
            Some(c) => c.ready().await.is_ok(),
            None => false,
        };
        let connected = !reusable;
        if connected {
            self.conn = Some(self.connect().await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Failure::Protocol("no connection".into()));
        };
        self.request_id = self.request_id.wrapping_add(1).max(1);
        let body =
            message::get_printer_attributes(self.request_id, &self.uri.printer_uri(), attributes);
        let request = hyper::Request::post(self.uri.path.as_str())
            .header(hyper::header::HOST, self.uri.host_header())
            .header(hyper::header::CONTENT_TYPE, "application/ipp")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::Protocol(e.to_string()))?;
        let response = conn
            .send_request(request)
            .await
            .map_err(|e| Failure::Protocol(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if status != 200 || !content_type.starts_with("application/ipp") {
            return Err(Failure::NotIpp(status, content_type));
        }
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(
                |e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                    Some(_) => Failure::TooLarge,
                    None => Failure::Protocol(e.to_string()),
                },
            )?
            .to_bytes();
        let answer = message::decode(&body)?;
        if !answer.is_success() {
            let message = answer.status_message.clone().unwrap_or_default();
            return Err(Failure::Refused(answer.status, message));
        }
        Ok((answer, connected))
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let counted = Counted {
            inner: tcp,
            counts: self.counts.clone(),
        };
        if !self.uri.secure {
            return handshake(counted).await;
        }
        let config = client_config(&self.trust).map_err(Failure::Tls)?;
        let name =
            ServerName::try_from(self.uri.host.clone()).map_err(|e| Failure::Tls(e.to_string()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, counted)
            .await
            .map_err(|e| Failure::Tls(e.to_string()))?;
        let seen = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| Fingerprint::of(c.as_ref()));
        if let (Trust::FirstUse(Some(pinned)), Some(seen)) = (&self.trust, seen) {
            if *pinned != seen {
                return Err(Failure::CertificateChanged {
                    pinned: *pinned,
                    seen,
                });
            }
        }
        if let (Trust::FirstUse(pin @ None), Some(seen)) = (&mut self.trust, seen) {
            // Trusted on first use, then only that one, on every later connection too.
            *pin = Some(seen);
        }
        self.seen = seen;
        handshake(tls).await
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Protocol(e.to_string()))?;
    // The connection's task ends when the client is dropped or the printer hangs up.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match trust {
        Trust::FirstUse(_) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FirstUse(provider)))
            .with_no_client_auth(),
        Trust::Roots(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Trust on first use: any certificate, checked against its pin after the handshake,
/// whose signature over the handshake must still verify (the printer holds its key).
#[derive(Debug)]
struct FirstUse(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for FirstUse {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A stream that counts what passes through it.
struct Counted<S> {
    inner: S,
    counts: Arc<Counts>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counts.received.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.counts.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_what_it_writes() {
        let f = Fingerprint::of(b"a certificate");
        let s = f.to_string();
        assert_eq!(s.len(), 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&s), Some(f));
        assert_eq!(Fingerprint::parse(&s.replace(':', "")), Some(f));
        assert_eq!(Fingerprint::parse("ab:cd"), None);
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), None);
        assert_eq!(Fingerprint::parse(&"é".repeat(32)), None);
    }
}
