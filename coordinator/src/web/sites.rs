//! The sites page: each site the user sees, whether its collector is connected now, when
//! a reading from it last arrived, and its printers (a link to the fleet page filtered
//! to the site).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::html::{escape, page as layout, query_value};
use super::{respond, Signed, Web};
use crate::registry::Sites;

/// One site's line.
#[derive(Default)]
struct SiteLine {
    printers: usize,
    last_reading: String,
    silent_alert: bool,
}

/// `GET /sites`.
pub async fn page(State(web): State<Web>, s: Signed) -> Response {
    let connected = web.registry.ask(Sites).await.unwrap_or_default();
    let (board, alerts) = match super::board_and_open_alerts(&web, &s, "Sites").await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let mut sites: BTreeMap<String, SiteLine> = BTreeMap::new();
    for site in &connected {
        sites.entry(site.clone()).or_default();
    }
    for d in board.iter().map(|e| &e.device) {
        let line = sites.entry(d.site.clone()).or_default();
        line.printers += 1;
        // RFC 3339 times in UTC compare as text.
        if d.last_seen > line.last_reading {
            line.last_reading = d.last_seen.clone();
        }
    }
    for a in alerts.iter().filter(|a| a.kind == "collector_silent") {
        sites.entry(a.site.clone()).or_default().silent_alert = true;
    }
    let mut body = String::from(
        "<h1>Sites</h1><p>Each site has one collector on its network; it polls the site's \
         printers and sends their readings here.</p><table id=\"sites\"><thead><tr>\
         <th>Site</th><th>Collector</th><th>Last reading</th><th>Printers</th></tr></thead><tbody>",
    );
    for (site, line) in sites.iter().filter(|(site, _)| s.sees(site)) {
        let collector = if connected.contains(site) {
            "<span class=\"ok\">connected</span>".to_string()
        } else if line.silent_alert {
            "<span class=\"low\">not connected (alert open)</span>".to_string()
        } else {
            "<span class=\"low\">not connected</span>".to_string()
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{collector}</td><td>{}</td><td><a href=\"/?site={}\">{} \
             printers</a></td></tr>",
            escape(site),
            if line.last_reading.is_empty() {
                "never".to_string()
            } else {
                escape(&line.last_reading)
            },
            query_value(site),
            line.printers,
        ));
    }
    body.push_str("</tbody></table>");
    respond(StatusCode::OK, layout("Sites", Some(&s), &body))
}
