//! The dashboard (work in progress for issue 17): pages rendered on the server from the
//! same query side as the gRPC fleet service, behind a sign-in. So far: sign-in and
//! sign-out with sessions, CSRF tokens and a brake on guessing; the fleet page; strict
//! security headers. Plain HTTP is served only on loopback.

pub mod html;
pub mod order;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use kameo::actor::ActorRef;
use serde::{Deserialize, Serialize};

use crate::queries::{self, Queries};
use crate::store::StoreReader;
use html::{escape, page};
use sessions::Sessions;

/// `[web]` in the coordinator's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Where the dashboard listens; unset: no dashboard. Plain HTTP, so loopback only
    /// until HTTPS is served.
    pub listen: Option<SocketAddr>,
}

impl WebConfig {
    /// Refuses what cannot be served safely.
    pub fn check(&self) -> Result<(), String> {
        match self.listen {
            Some(a) if !a.ip().is_loopback() => Err(format!(
                "web.listen = {a}: the dashboard is served over plain HTTP, so only on a \
                 loopback address (HTTPS is not served yet)"
            )),
            _ => Ok(()),
        }
    }
}

/// What every page handler has.
#[derive(Clone)]
pub struct Web {
    queries: ActorRef<Queries>,
    store: StoreReader,
    sessions: Arc<Mutex<Sessions>>,
}

const COOKIE: &str = "pw_session";

impl Web {
    /// The dashboard's state.
    pub fn new(queries: ActorRef<Queries>, store: StoreReader) -> Web {
        Web {
            queries,
            store,
            sessions: Arc::default(),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session a request's cookie names, if live.
    fn session(&self, headers: &HeaderMap) -> Option<(String, sessions::Session)> {
        let token = cookie(headers, COOKIE)?;
        let s = self.sessions().get(&token).cloned()?;
        Some((token, s))
    }
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
        .route("/", get(fleet))
        .route("/order", get(order_page))
        .route("/printer/{id}", get(printer_page))
        .route("/order.csv", get(order_csv))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn login_form() -> Response {
    html(StatusCode::OK, page("Sign in", &sign_in_form("")))
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
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                sessions::SESSION_HOURS * 3600
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Ok(None)) => {
            web.sessions().failed(&f.name, peer.ip());
            html(
                StatusCode::UNAUTHORIZED,
                page("Sign in", &sign_in_form("Wrong name or password.")),
            )
        }
        _ => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page(
                "Sign in",
                &sign_in_form("The dashboard cannot check sign-ins now."),
            ),
        ),
    }
}

/// A form that changes something: its CSRF token.
#[derive(Deserialize)]
pub struct Csrf {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(web): State<Web>, headers: HeaderMap, Form(f): Form<Csrf>) -> Response {
    match web.session(&headers) {
        Some((token, s)) if !f.csrf.is_empty() && f.csrf == s.csrf => {
            web.sessions().end(&token);
            Redirect::to("/login").into_response()
        }
        Some(_) => html(
            StatusCode::FORBIDDEN,
            page(
                "Refused",
                "<p>This form is stale or forged: reload the page.</p>",
            ),
        ),
        None => Redirect::to("/login").into_response(),
    }
}

async fn fleet(State(web): State<Web>, headers: HeaderMap) -> Response {
    let Some((_, s)) = web.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let devices = match web.queries.ask(queries::ListDevices(String::new())).await {
        Ok(d) => d,
        Err(e) => {
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                page("Fleet", &escape(&e.to_string())),
            )
        }
    };
    let mut rows = String::new();
    for d in devices
        .iter()
        .filter(|d| s.user.sites.is_empty() || s.user.sites.contains(&d.site))
    {
        let id = d.identity.clone().unwrap_or_default();
        let supplies: String = d
            .latest
            .iter()
            .flat_map(|r| &r.supplies)
            .map(|x| {
                let pct = x.percent.unwrap_or(0).min(100);
                format!(
                    "<div>{} <span class=\"bar\"><span style=\"width:{pct}%;background:#555\"></span></span> {}</div>",
                    escape(&x.description),
                    x.percent.map_or_else(|| "?".to_string(), |p| format!("{p} %"))
                )
            })
            .collect();
        rows.push_str(&format!(
            "<tr><td><a href=\"/printer/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{supplies}</td></tr>",
            escape(&path_segment(&d.id)),
            escape(id.model.as_deref().unwrap_or("(no model)")),
            escape(id.serial.as_deref().unwrap_or("")),
            escape(&d.site),
            escape(d.addresses.last().map(String::as_str).unwrap_or("")),
        ));
    }
    let body = format!(
        "<h1>Fleet</h1><form method=\"post\" action=\"/logout\"><input type=\"hidden\" \
         name=\"csrf\" value=\"{}\"><button>Sign out {}</button></form>\
         <table><thead><tr><th>Model</th><th>Serial</th><th>Site</th><th>Address</th>\
         <th>Supplies</th></tr></thead><tbody>{rows}</tbody></table>",
        escape(&s.csrf),
        escape(&s.user.name)
    );
    html(StatusCode::OK, page("Fleet", &body))
}

async fn printer_page(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some((_, s)) = web.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let not_found = || {
        html(
            StatusCode::NOT_FOUND,
            page("Not found", "<p>No such printer.</p>"),
        )
    };
    let Ok(d) = web.queries.ask(queries::GetDevice(id.clone())).await else {
        return not_found();
    };
    if !(s.user.sites.is_empty() || s.user.sites.contains(&d.site)) {
        return not_found();
    }
    let supplies = web
        .queries
        .ask(queries::ListSupplies {
            low_only: false,
            site: d.site.clone(),
        })
        .await
        .unwrap_or_default();
    let alerts = web
        .queries
        .ask(queries::ListAlerts {
            include_closed: true,
        })
        .await
        .unwrap_or_default();
    let idn = d.identity.clone().unwrap_or_default();
    let mut body = format!(
        "<p><a href=\"/\">Fleet</a> · <a href=\"/order\">To order</a></p><h1>{} {}</h1>\
         <p>Site {} · address {} · firmware {}</p>",
        escape(idn.vendor.as_deref().unwrap_or("")),
        escape(idn.model.as_deref().unwrap_or("")),
        escape(&d.site),
        escape(d.addresses.last().map(String::as_str).unwrap_or("")),
        escape(idn.firmware.as_deref().unwrap_or("unknown")),
    );
    body.push_str(
        "<h2>Supplies</h2><table><thead><tr><th>Supply</th><th>Level</th><th>Part</th>\
         <th>Reorder at</th><th>Days left</th></tr></thead><tbody>",
    );
    for r in supplies.iter().filter(|r| r.device_id == d.id) {
        let Some(x) = &r.supply else { continue };
        let pct = x.percent.unwrap_or(0).min(100);
        let low = x.percent.is_some_and(|p| p <= r.reorder_percent);
        body.push_str(&format!(
            "<tr><td>{}</td><td{}><span class=\"bar\"><span style=\"width:{pct}%;background:#555\"></span></span> {}</td><td>{}</td><td>{} %</td><td>{}</td></tr>",
            escape(&x.description),
            if low { " class=\"low\"" } else { "" },
            x.percent.map_or_else(|| "?".to_string(), |p| format!("{p} %")),
            escape(x.part_number.as_deref().unwrap_or("")),
            r.reorder_percent,
            escape(&r.forecast),
        ));
    }
    body.push_str("</tbody></table><h2>Page meters</h2><ul>");
    for m in d.latest.iter().flat_map(|r| &r.meters) {
        body.push_str(&format!("<li>{}: {}</li>", escape(&m.name), m.value));
    }
    body.push_str("</ul><h2>Alerts</h2><ul>");
    for a in alerts.iter().filter(|a| a.device_id == d.id) {
        body.push_str(&format!(
            "<li>{} {} {} ({})</li>",
            escape(&a.opened_at),
            escape(&a.kind),
            escape(&a.detail),
            if a.closed_at.is_some() {
                "closed"
            } else {
                "open"
            }
        ));
    }
    body.push_str("</ul>");
    html(
        StatusCode::OK,
        page(idn.model.as_deref().unwrap_or("Printer"), &body),
    )
}

/// A device id as a path segment: percent-encoded where a URL would take it apart.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `?days=N` on the shopping list: supplies forecast to run out within N days.
#[derive(Deserialize)]
pub struct Within {
    #[serde(default = "two_weeks")]
    days: f64,
}

fn two_weeks() -> f64 {
    14.0
}

/// The shopping list of the sites the signed-in user sees.
async fn shopping(
    web: &Web,
    s: &sessions::Session,
    days: f64,
) -> Result<Vec<order::ToOrder>, String> {
    let rows = web
        .queries
        .ask(queries::ListSupplies {
            low_only: false,
            site: String::new(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let mine: Vec<_> = rows
        .into_iter()
        .filter(|r| s.user.sites.is_empty() || s.user.sites.contains(&r.site))
        .collect();
    Ok(order::shopping_list(&mine, days))
}

async fn order_page(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::extract::Query(w): axum::extract::Query<Within>,
) -> Response {
    let Some((_, s)) = web.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match shopping(&web, &s, w.days).await {
        Ok(list) => html(
            StatusCode::OK,
            page(
                "To order",
                &format!(
                    "<h1>To order</h1><p>Supplies at their reorder point, or forecast to run out within {} days. <a href=\"/order.csv?days={}\">Download as CSV</a></p>{}",
                    w.days,
                    w.days,
                    order::table(&list)
                ),
            ),
        ),
        Err(e) => html(StatusCode::SERVICE_UNAVAILABLE, page("To order", &escape(&e))),
    }
}

async fn order_csv(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::extract::Query(w): axum::extract::Query<Within>,
) -> Response {
    let Some((_, s)) = web.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match shopping(&web, &s, w.days).await {
        Ok(list) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"printwatch-to-order.csv\"",
                ),
            ],
            order::csv(&list),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    web: Web,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(web).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
