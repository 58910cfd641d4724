//! The dashboard: pages for the person who orders toner, rendered on the server from the
//! same query side (and, for changes, the same fleet service) that answers operators over
//! gRPC, so the two never disagree. Everything ships in the binary; pages read without
//! JavaScript, and one small script keeps the fleet page live from the fleet's event
//! stream.
//!
//! One module per page or concern: [`sessions`] (sign-in, CSRF, the brake on guessing),
//! [`html`] (escaping and the layout), [`fleet`], [`printer`] with its [`chart`],
//! [`order`], [`alerts`], [`sites`], [`admin`] and [`live`] (server-sent events).
//! [`serve`] takes HTTPS connections through the coordinator's front door, or plain HTTP
//! on loopback only.

pub mod admin;
pub mod alerts;
pub mod chart;
pub mod fleet;
pub mod html;
pub mod live;
pub mod order;
pub mod printer;
pub mod sessions;
pub mod sites;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kameo::actor::ActorRef;
use serde::{Deserialize, Serialize};

use crate::queries::Queries;
use crate::registry::Registry;
use crate::server::fleet_service::FleetService;
use crate::store::users::UserRole;
use crate::store::StoreReader;
use html::{escape, page};
use sessions::Sessions;

/// `[web]` in the coordinator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Where the dashboard listens; unset: no dashboard.
    pub listen: Option<SocketAddr>,
    /// HTTPS (the default). Plain HTTP is allowed only on a loopback address, where
    /// nothing crosses a network: the demo, or behind a local TLS proxy.
    pub https: bool,
    /// The certificate chain browsers see (PEM); unset: the coordinator's own
    /// (`tls.cert`). Browsers trust it only if they trust its CA: give one from the
    /// company's CA here for a dashboard without warnings.
    pub cert: Option<PathBuf>,
    /// Its key (PEM); unset: the coordinator's (`tls.key`).
    pub key: Option<PathBuf>,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: None,
            https: true,
            cert: None,
            key: None,
        }
    }
}

impl WebConfig {
    /// Refuses what cannot be served safely.
    pub fn check(&self) -> Result<(), String> {
        match self.listen {
            Some(a) if !self.https && !a.ip().is_loopback() => Err(format!(
                "web.listen = {a} with web.https = false: plain HTTP would send passwords \
                 across the network, so it is served only on a loopback address \
                 (127.0.0.1); serve HTTPS (web.https = true) on {a}"
            )),
            _ => Ok(()),
        }
    }
}

/// What every page handler has: the query side, the fleet service for changes, the
/// connected collectors, the sessions.
#[derive(Clone)]
pub struct Web {
    queries: ActorRef<Queries>,
    registry: ActorRef<Registry>,
    fleet: Arc<FleetService>,
    store: StoreReader,
    sessions: Arc<Mutex<Sessions>>,
    /// Served over HTTPS: cookies are marked Secure.
    secure: bool,
}

const COOKIE: &str = "pw_session";

impl Web {
    /// The dashboard's state. `secure`: served over HTTPS.
    pub fn new(
        queries: ActorRef<Queries>,
        registry: ActorRef<Registry>,
        fleet: FleetService,
        store: StoreReader,
        secure: bool,
    ) -> Web {
        Web {
            queries,
            registry,
            fleet: Arc::new(fleet),
            store,
            sessions: Arc::default(),
            secure,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A signed-in user's request: every page but sign-in takes one, so no page can forget
/// to ask. Signed out, the answer is the sign-in page.
pub struct Signed {
    token: String,
    /// The session: who, and the CSRF token its forms carry.
    pub session: sessions::Session,
}

impl Signed {
    /// Whether this user sees `site` (a viewer limited to some sites sees only those).
    pub fn sees(&self, site: &str) -> bool {
        let sites = &self.session.user.sites;
        sites.is_empty() || sites.iter().any(|s| s == site)
    }

    /// Whether this user may change the fleet and the users.
    pub fn is_admin(&self) -> bool {
        self.session.user.role == UserRole::Admin
    }

    /// `None` when `csrf` is this session's token; else the refusal to send.
    pub fn forged(&self, csrf: &str) -> Option<Response> {
        use subtle_eq::eq;
        if !csrf.is_empty() && eq(csrf.as_bytes(), self.session.csrf.as_bytes()) {
            return None;
        }
        Some(refusal(
            StatusCode::FORBIDDEN,
            "This form is stale or forged: reload the page and try again.",
        ))
    }
}

/// Comparing tokens without leaking, through timing, how much of a guess was right.
mod subtle_eq {
    /// Whether `a` and `b` are equal, in time that depends only on their lengths.
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

impl FromRequestParts<Web> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Signed, Response> {
        let signed_out = || Redirect::to("/login").into_response();
        let token = cookie(&parts.headers, COOKIE).ok_or_else(signed_out)?;
        let mut session = web.sessions().get(&token).cloned().ok_or_else(signed_out)?;
        // The user as stored now: removed, or given a new password, ends the session; a
        // role or sites changed (by `printwatch users add`) apply at once.
        match web.store.user(&session.user.name) {
            Ok(Some(now)) if now.hash == session.user.hash => session.user = now,
            Ok(_) => {
                web.sessions().end(&token);
                return Err(signed_out());
            }
            Err(e) => return Err(refusal(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())),
        }
        Ok(Signed { token, session })
    }
}

/// An administrator's request: a viewer is refused, whatever the page.
pub struct Admin(pub Signed);

impl FromRequestParts<Web> for Admin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Admin, Response> {
        let s = Signed::from_request_parts(parts, web).await?;
        if !s.is_admin() {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "Only an administrator can do this.",
            ));
        }
        Ok(Admin(s))
    }
}

/// A page that says no.
fn refusal(status: StatusCode, why: &str) -> Response {
    respond(
        status,
        page(
            "Refused",
            None,
            &format!(
                "<h1>Refused</h1><p>{}</p><p><a href=\"/\">Back to the fleet</a></p>",
                escape(why)
            ),
        ),
    )
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The routes, with the security headers on every answer.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(fleet::page))
        .route("/printer/{id}", get(printer::page))
        .route("/printer/{id}/remove", post(admin::remove_printer))
        .route("/order", get(order::page))
        .route("/order.csv", get(order::csv_file))
        .route("/alerts", get(alerts::page))
        .route("/sites", get(sites::page))
        .route("/admin/printers", get(admin::printers))
        .route("/admin/printers/add", post(admin::add_printer))
        .route("/admin/discover", post(admin::discover))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/add", post(admin::add_user))
        .route("/admin/users/password", post(admin::set_password))
        .route("/admin/users/remove", post(admin::remove_user))
        .route("/events", get(live::events))
        .route("/live.js", get(live::script))
        .route("/style.css", get(html::style))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// What every answer carries: no script but our own file, no styles but our own sheet,
/// no framing, no sniffing, no referrer, no caching of pages about the fleet.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

/// An HTML answer.
fn respond(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The query side failed: say so rather than show an empty fleet.
fn unavailable(title: &str, s: &Signed, e: impl std::fmt::Display) -> Response {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            title,
            Some(s),
            &format!(
                "<h1>{}</h1><p class=\"low\">The coordinator cannot answer now: {}</p>",
                escape(title),
                escape(&e.to_string())
            ),
        ),
    )
}

/// The board and the open alerts: what the fleet and sites pages draw from. An error is
/// the page that says the coordinator cannot answer.
async fn board_and_open_alerts(
    web: &Web,
    s: &Signed,
    title: &str,
) -> Result<
    (
        Vec<Arc<crate::queries::BoardEntry>>,
        Vec<printwatch_proto::v1::FleetAlert>,
    ),
    Response,
> {
    let board = web
        .queries
        .ask(crate::queries::Board)
        .await
        .map_err(|e| unavailable(title, s, e))?;
    let alerts = web
        .queries
        .ask(crate::queries::ListAlerts {
            include_closed: false,
        })
        .await
        .map_err(|e| unavailable(title, s, e))?;
    Ok((board, alerts))
}

async fn login_form() -> Response {
    respond(StatusCode::OK, page("Sign in", None, &sign_in_form("")))
}

fn sign_in_form(message: &str) -> String {
    format!(
        "<form class=\"signin\" method=\"post\" action=\"/login\"><h1>printwatch</h1>{}\
         <label>Name<input name=\"name\" autocomplete=\"username\" required></label>\
         <label>Password<input name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>",
        if message.is_empty() {
            String::new()
        } else {
            format!("<p class=\"low\">{}</p>", escape(message))
        }
    )
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignIn {
    name: String,
    password: String,
}

async fn login(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<SignIn>,
) -> Response {
    let wait = web.sessions().brake(&f.name, peer.ip());
    tokio::time::sleep(wait).await;
    let (store, name, password) = (web.store.clone(), f.name.clone(), f.password);
    let user =
        tokio::task::spawn_blocking(move || crate::users::sign_in(&store, &name, &password)).await;
    match user {
        Ok(Ok(Some(user))) => {
            web.sessions().succeeded(&f.name, peer.ip());
            let token = web.sessions().start(user);
            let mut r = Redirect::to("/").into_response();
            let c = format!(
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                sessions::SESSION_HOURS * 3600,
                if web.secure { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Ok(None)) => {
            web.sessions().failed(&f.name, peer.ip());
            respond(
                StatusCode::UNAUTHORIZED,
                page("Sign in", None, &sign_in_form("Wrong name or password.")),
            )
        }
        _ => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                "Sign in",
                None,
                &sign_in_form("The dashboard cannot check sign-ins now."),
            ),
        ),
    }
}

/// A form that changes nothing but carries the CSRF token (sign-out).
#[derive(Deserialize)]
pub struct Csrf {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(web): State<Web>, s: Signed, Form(f): Form<Csrf>) -> Response {
    if let Some(refused) = s.forged(&f.csrf) {
        return refused;
    }
    web.sessions().end(&s.token);
    Redirect::to("/login").into_response()
}

pub use html::path_segment;

/// Serves the dashboard on `listener` until `shutdown` completes: HTTPS through the
/// front door when `tls` is given (the same limits on connections and handshakes as the
/// gRPC port), else plain HTTP (which [`WebConfig::check`] allows only on loopback).
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: crate::server::front_door::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(web);
    let Some(tls) = tls else {
        return axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
    };
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_stream::StreamExt;
    let mut admitted = crate::server::front_door::admit(listener, tls, limits);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            c = admitted.next() => c,
            () = &mut shutdown => break,
        };
        let Some(Ok(io)) = conn else { break };
        let peer = io
            .remote_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move {
                use tower::Service;
                app.call(req.map(axum::body::Body::new)).await
            }
        });
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "a dashboard connection: {e}");
            }
        });
    }
    // Connections in flight finish (live pages end their event streams on shutdown).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
    Ok(())
}

/// The TLS configuration browsers meet: a certificate and key, no client certificate,
/// HTTP/1.1 and HTTP/2 by ALPN.
pub fn tls_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the dashboard's certificate: {e}"))?;
    if chain.is_empty() {
        return Err("the dashboard's certificate: no PEM certificate in the file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the dashboard's key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the dashboard's certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        let on = |addr: &str, https: bool| WebConfig {
            listen: Some(addr.parse().unwrap()),
            https,
            ..WebConfig::default()
        };
        assert!(on("127.0.0.1:8080", false).check().is_ok());
        assert!(on("[::1]:8080", false).check().is_ok());
        let why = on("0.0.0.0:8080", false).check().unwrap_err();
        assert!(why.contains("loopback"), "{why}");
        assert!(on("10.0.0.5:443", true).check().is_ok());
        assert!(WebConfig::default().https, "HTTPS unless asked otherwise");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(subtle_eq::eq(b"abc", b"abc"));
        assert!(!subtle_eq::eq(b"abc", b"abd"));
        assert!(!subtle_eq::eq(b"abc", b"ab"));
    }
}
