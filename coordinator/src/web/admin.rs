//! What only an administrator does from the dashboard: add a printer to a site's
//! collector, remove one, start (or cancel) a discovery sweep, and manage the dashboard's
//! users. Every change goes through the same fleet service as `printwatch` (so the checks
//! are the same), carries the session's CSRF token, and stays within the sites the admin
//! sees; users are managed only by an admin who sees every site.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_server::Fleet;
use serde::Deserialize;
use tonic::Request;

use super::html::{csrf_field, escape, page as layout};
use super::{refusal, respond, unavailable, Admin, Signed, Web};
use crate::queries;

/// What a change came to, shown at the top of the page it came from.
enum Outcome {
    Done(String),
    Failed(String),
}

fn outcome_html(o: Option<&Outcome>) -> String {
    match o {
        Some(Outcome::Done(t)) => format!("<p class=\"notice\" id=\"outcome\">{}</p>", escape(t)),
        Some(Outcome::Failed(t)) => format!("<p class=\"error\" id=\"outcome\">{}</p>", escape(t)),
        None => String::new(),
    }
}

fn status_code(o: &Outcome) -> StatusCode {
    match o {
        Outcome::Done(_) => StatusCode::OK,
        Outcome::Failed(_) => StatusCode::BAD_REQUEST,
    }
}

/// The sites an admin can act on: those with a connected collector or printers, that
/// they see.
async fn sites(web: &Web, s: &Signed) -> Vec<String> {
    let mut sites = web
        .registry
        .ask(crate::registry::Sites)
        .await
        .unwrap_or_default();
    if let Ok(devices) = web.queries.ask(queries::ListDevices(String::new())).await {
        sites.extend(devices.into_iter().map(|d| d.site));
    }
    sites.sort();
    sites.dedup();
    sites.retain(|site| s.sees(site));
    sites
}

fn site_select(sites: &[String]) -> String {
    let options: String = sites
        .iter()
        .map(|x| format!("<option value=\"{0}\">{0}</option>", escape(x)))
        .collect();
    format!("<select name=\"site\" required>{options}</select>")
}

async fn printers_page(web: &Web, s: &Signed, outcome: Option<Outcome>) -> Response {
    let sites = sites(web, s).await;
    let body = format!(
        "<h1>Printers</h1>{}\
         <h2>Add a printer</h2><form class=\"stack\" method=\"post\" action=\"/admin/printers/add\">{csrf}\
         <label>Site{select}</label><label>Address or host name<input name=\"host\" required \
         placeholder=\"10.1.2.30\"></label><label>SNMP community (empty: the site's default)\
         <input name=\"community\" autocomplete=\"off\"></label><button>Add</button></form>\
         <h2>Find printers on a network</h2><form class=\"stack\" method=\"post\" \
         action=\"/admin/discover\">{csrf}<label>Site{select}</label><label>Ranges (CIDR or \
         first-last, separated by spaces)<input name=\"ranges\" required placeholder=\"10.1.2.0/24\">\
         </label><label>Leave out<input name=\"exclude\"></label><label>Communities to try \
         (empty: the site's)<input name=\"communities\" autocomplete=\"off\"></label>\
         <label><input type=\"checkbox\" name=\"large\" value=\"yes\"> more than a /16 \
         (65,536 addresses)</label><button>Start</button> <button name=\"cancel\" value=\"yes\" \
         formnovalidate>Cancel the site's sweeps</button></form>\
         <p>To stop watching a printer, open it from the fleet page and remove it there.</p>",
        outcome_html(outcome.as_ref()),
        csrf = csrf_field(s),
        select = site_select(&sites),
    );
    let status = outcome.as_ref().map_or(StatusCode::OK, status_code);
    respond(status, layout("Printers", Some(s), &body))
}

/// `GET /admin/printers`.
pub async fn printers(State(web): State<Web>, Admin(s): Admin) -> Response {
    printers_page(&web, &s, None).await
}

/// The add-a-printer form.
#[derive(Deserialize)]
pub struct AddPrinter {
    #[serde(default)]
    csrf: String,
    site: String,
    host: String,
    #[serde(default)]
    community: String,
}

/// A gRPC status as a sentence for the page.
fn said(e: tonic::Status) -> String {
    e.message().to_string()
}

/// `POST /admin/printers/add`.
pub async fn add_printer(
    State(web): State<Web>,
    Admin(s): Admin,
    Form(f): Form<AddPrinter>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf) {
        return refused;
    }
    if !s.sees(&f.site) {
        return refusal(StatusCode::FORBIDDEN, "That site is not one of yours.");
    }
    let host = f.host.trim().to_string();
    let outcome = match web
        .fleet
        .add_printer(Request::new(p::AddPrinterRequest {
            site: f.site.clone(),
            host: host.clone(),
            community: f.community,
        }))
        .await
    {
        Ok(_) => Outcome::Done(format!(
            "Asked {}'s collector to watch {host}; it appears on the fleet page after its first reading.",
            f.site
        )),
        Err(e) => Outcome::Failed(format!("Not added: {}", said(e))),
    };
    printers_page(&web, &s, Some(outcome)).await
}

/// The discovery form.
#[derive(Deserialize)]
pub struct Discover {
    #[serde(default)]
    csrf: String,
    site: String,
    #[serde(default)]
    ranges: String,
    #[serde(default)]
    exclude: String,
    #[serde(default)]
    communities: String,
    #[serde(default)]
    large: String,
    #[serde(default)]
    cancel: String,
}

fn words(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n', '\t'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// `POST /admin/discover`.
pub async fn discover(
    State(web): State<Web>,
    Admin(s): Admin,
    Form(f): Form<Discover>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf) {
        return refused;
    }
    if !s.sees(&f.site) {
        return refusal(StatusCode::FORBIDDEN, "That site is not one of yours.");
    }
    let cancel = f.cancel == "yes";
    let outcome = match web
        .fleet
        .discover(Request::new(p::DiscoverRequest {
            site: f.site.clone(),
            ranges: words(&f.ranges),
            exclude: words(&f.exclude),
            communities: words(&f.communities),
            large: f.large == "yes",
            cancel,
            ..Default::default()
        }))
        .await
    {
        Ok(_) if cancel => Outcome::Done(format!("Asked {} to cancel its sweeps.", f.site)),
        Ok(_) => Outcome::Done(format!(
            "{}'s collector is sweeping {}; printers it finds appear on the fleet page.",
            f.site,
            f.ranges.trim()
        )),
        Err(e) => Outcome::Failed(format!("Not started: {}", said(e))),
    };
    printers_page(&web, &s, Some(outcome)).await
}

/// The remove button's form.
#[derive(Deserialize)]
pub struct Confirm {
    #[serde(default)]
    csrf: String,
}

/// `POST /printer/{id}/remove`.
pub async fn remove_printer(
    State(web): State<Web>,
    Admin(s): Admin,
    Path(id): Path<String>,
    Form(f): Form<Confirm>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf) {
        return refused;
    }
    match web.queries.ask(queries::GetRecord(id.clone())).await {
        Ok(d) if s.sees(&d.site) => {}
        _ => return refusal(StatusCode::NOT_FOUND, "No such printer."),
    }
    let outcome = match web
        .fleet
        .remove_printer(Request::new(p::RemovePrinterRequest { device_id: id }))
        .await
    {
        Ok(r) => Outcome::Done(format!(
            "Asked {}'s collector to stop polling the printer.",
            r.into_inner().site
        )),
        Err(e) => Outcome::Failed(format!("Not removed: {}", said(e))),
    };
    printers_page(&web, &s, Some(outcome)).await
}

/// Users are managed by an admin who sees every site: one limited to some sites could
/// otherwise make themselves a user who sees all.
fn user_admin(s: &Signed) -> Option<Response> {
    (!s.session.user.sites.is_empty()).then(|| {
        refusal(
            StatusCode::FORBIDDEN,
            "Only an administrator of every site manages users.",
        )
    })
}

async fn users_page(web: &Web, s: &Signed, outcome: Option<Outcome>) -> Response {
    let users = match web
        .fleet
        .list_users(Request::new(p::ListUsersRequest {}))
        .await
    {
        Ok(u) => u.into_inner().users,
        Err(e) => return unavailable("Users", s, said(e)),
    };
    let mut body = format!(
        "<h1>Users</h1>{}<table id=\"users\"><thead><tr><th>Name</th><th>Role</th><th>Sites</th>\
         <th>Since</th><th></th></tr></thead><tbody>",
        outcome_html(outcome.as_ref())
    );
    for u in &users {
        body.push_str(&format!(
            "<tr><td>{0}</td><td>{1}</td><td>{2}</td><td>{3}</td><td><form class=\"inline\" \
             method=\"post\" action=\"/admin/users/remove\">{4}<input type=\"hidden\" name=\"name\" \
             value=\"{0}\"><button>Remove</button></form></td></tr>",
            escape(&u.name),
            escape(&u.role),
            if u.sites.is_empty() {
                "every site".to_string()
            } else {
                escape(&u.sites.join(", "))
            },
            escape(&u.created),
            csrf_field(s),
        ));
    }
    body.push_str(&format!(
        "</tbody></table><h2>Add a user</h2><form class=\"stack\" method=\"post\" \
         action=\"/admin/users/add\">{csrf}<label>Name<input name=\"name\" required \
         autocomplete=\"off\"></label><label>Password (at least {min} characters)<input \
         name=\"password\" type=\"password\" required autocomplete=\"new-password\"></label>\
         <label>Role<select name=\"role\"><option value=\"viewer\">viewer: sees supplies and \
         alerts</option><option value=\"admin\">admin: also changes printers and users</option>\
         </select></label><label>Sites (separated by spaces; empty: every site)<input \
         name=\"sites\"></label><button>Add</button></form>\
         <h2>Set a password</h2><form class=\"stack\" method=\"post\" \
         action=\"/admin/users/password\">{csrf}<label>Name<input name=\"name\" required></label>\
         <label>New password<input name=\"password\" type=\"password\" required \
         autocomplete=\"new-password\"></label><button>Set</button></form>",
        csrf = csrf_field(s),
        min = crate::users::MIN_PASSWORD,
    ));
    let status = outcome.as_ref().map_or(StatusCode::OK, status_code);
    respond(status, layout("Users", Some(s), &body))
}

/// `GET /admin/users`.
pub async fn users(State(web): State<Web>, Admin(s): Admin) -> Response {
    if let Some(refused) = user_admin(&s) {
        return refused;
    }
    users_page(&web, &s, None).await
}

/// The add-a-user and set-a-password forms.
#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    sites: String,
}

/// The password's hash, made off the async threads (argon2 takes a moment on purpose).
async fn hashed(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || crate::users::hash(&password))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// `POST /admin/users/add`.
pub async fn add_user(
    State(web): State<Web>,
    Admin(s): Admin,
    Form(f): Form<UserForm>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf).or_else(|| user_admin(&s)) {
        return refused;
    }
    let outcome = match hashed(f.password).await {
        Err(e) => Outcome::Failed(format!("Not added: {e}")),
        Ok(hash) => match web
            .fleet
            .put_user(Request::new(p::User {
                name: f.name.trim().to_string(),
                role: f.role,
                sites: words(&f.sites),
                password_hash: hash,
                created: String::new(),
            }))
            .await
        {
            Ok(u) => Outcome::Done(format!("{} can sign in now.", u.into_inner().name)),
            Err(e) => Outcome::Failed(format!("Not added: {}", said(e))),
        },
    };
    users_page(&web, &s, Some(outcome)).await
}

/// `POST /admin/users/password`.
pub async fn set_password(
    State(web): State<Web>,
    Admin(s): Admin,
    Form(f): Form<UserForm>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf).or_else(|| user_admin(&s)) {
        return refused;
    }
    let outcome = match hashed(f.password).await {
        Err(e) => Outcome::Failed(format!("Not changed: {e}")),
        Ok(hash) => match web
            .fleet
            .set_password(Request::new(p::SetPasswordRequest {
                name: f.name.trim().to_string(),
                password_hash: hash,
            }))
            .await
        {
            Ok(u) => Outcome::Done(format!("{}'s password is changed.", u.into_inner().name)),
            Err(e) => Outcome::Failed(format!("Not changed: {}", said(e))),
        },
    };
    users_page(&web, &s, Some(outcome)).await
}

/// `POST /admin/users/remove`.
pub async fn remove_user(
    State(web): State<Web>,
    Admin(s): Admin,
    Form(f): Form<UserForm>,
) -> Response {
    if let Some(refused) = s.forged(&f.csrf).or_else(|| user_admin(&s)) {
        return refused;
    }
    if f.name == s.session.user.name {
        return users_page(
            &web,
            &s,
            Some(Outcome::Failed(
                "You cannot remove yourself: ask another administrator.".into(),
            )),
        )
        .await;
    }
    let outcome = match web
        .fleet
        .remove_user(Request::new(p::RemoveUserRequest {
            name: f.name.clone(),
        }))
        .await
    {
        // Their sessions end at their next request: `Signed` finds no user.
        Ok(_) => Outcome::Done(format!("{} is removed and signed out.", f.name)),
        Err(e) => Outcome::Failed(format!("Not removed: {}", said(e))),
    };
    users_page(&web, &s, Some(outcome)).await
}
