//! The alerts page: open and closed alerts of the sites the user sees, newest first,
//! filtered by state, kind and site.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{escape, page as layout};
use super::{path_segment, respond, unavailable, Signed, Web};
use crate::queries;

/// Alerts shown at most on one page: the newest.
pub const SHOWN: usize = 1_000;

/// The page's filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// `open` (the default), `closed` or `all`.
    #[serde(default)]
    pub state: String,
    /// Only this kind (`supply_low`, `collector_silent`, ...); empty: every kind.
    #[serde(default)]
    pub kind: String,
    /// Only this site's; empty: every site the user sees.
    #[serde(default)]
    pub site: String,
}

/// `GET /alerts`.
pub async fn page(State(web): State<Web>, s: Signed, Query(f): Query<Filters>) -> Response {
    let state = match f.state.as_str() {
        "closed" | "all" => f.state.as_str(),
        _ => "open",
    };
    let alerts = match web
        .queries
        .ask(queries::ListAlerts {
            include_closed: state != "open",
        })
        .await
    {
        Ok(a) => a,
        Err(e) => return unavailable("Alerts", &s, e),
    };
    let visible: Vec<_> = alerts.iter().filter(|a| s.sees(&a.site)).collect();
    let mut kinds: Vec<&str> = visible.iter().map(|a| a.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut sites: Vec<&str> = visible.iter().map(|a| a.site.as_str()).collect();
    sites.sort_unstable();
    sites.dedup();
    let shown: Vec<_> = visible
        .iter()
        .filter(|a| match state {
            "closed" => a.closed_at.is_some(),
            "all" => true,
            _ => a.closed_at.is_none(),
        })
        .filter(|a| f.kind.is_empty() || a.kind == f.kind)
        .filter(|a| f.site.is_empty() || a.site == f.site)
        .collect();
    let select = |name: &str, all: &str, options: &[&str], chosen: &str| {
        let mut h = format!("<select name=\"{name}\"><option value=\"\">{all}</option>");
        for o in options {
            h.push_str(&format!(
                "<option value=\"{0}\"{1}>{2}</option>",
                escape(o),
                if *o == chosen { " selected" } else { "" },
                escape(&o.replace('_', " "))
            ));
        }
        h.push_str("</select>");
        h
    };
    let states: String = ["open", "closed", "all"]
        .iter()
        .map(|o| {
            format!(
                "<option value=\"{o}\"{}>{o}</option>",
                if *o == state { " selected" } else { "" }
            )
        })
        .collect();
    let mut body = format!(
        "<h1>Alerts</h1><form class=\"filters\" method=\"get\" action=\"/alerts\">\
         <label>Which<br><select name=\"state\">{states}</select></label>\
         <label>Kind<br>{}</label><label>Site<br>{}</label><button>Show</button></form>\
         <p>{} alerts{}</p>",
        select("kind", "every kind", &kinds, &f.kind),
        select("site", "every site", &sites, &f.site),
        shown.len(),
        if shown.len() > SHOWN {
            format!(", the newest {SHOWN} shown")
        } else {
            String::new()
        },
    );
    body.push_str(
        "<table id=\"alerts\"><thead><tr><th>Opened</th><th>Closed</th><th>Site</th>\
         <th>Printer</th><th>What</th><th>Detail</th></tr></thead><tbody>",
    );
    for a in shown.iter().take(SHOWN) {
        let printer = if a.device_id.is_empty() {
            escape(&a.printer)
        } else {
            format!(
                "<a href=\"/printer/{}\">{}</a>",
                escape(&path_segment(&a.device_id)),
                escape(if a.printer.is_empty() {
                    &a.device_id
                } else {
                    &a.printer
                })
            )
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{printer}</td><td>{}</td><td>{}</td></tr>",
            escape(&a.opened_at),
            a.closed_at
                .as_deref()
                .map_or_else(|| "<span class=\"low\">open</span>".into(), escape),
            escape(&a.site),
            escape(&a.kind.replace('_', " ")),
            escape(&a.detail),
        ));
    }
    body.push_str("</tbody></table>");
    respond(StatusCode::OK, layout("Alerts", Some(&s), &body))
}
