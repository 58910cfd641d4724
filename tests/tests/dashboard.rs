//! The dashboard in a real browser: Debian's chromium, driven over WebDriver by
//! chromedriver, against a coordinator with two sites whose collectors poll simulated
//! printers. Sign-in works and a wrong password does not; the fleet page lists the
//! printers; a toner drained in the simulator shows as low on the open page without a
//! reload; a printer whose supply is called `<img src=x onerror=alert(1)>` shows that text
//! and runs nothing; an admin adds a printer from the browser and it appears; a POST
//! without the CSRF token is refused; a viewer limited to one site sees only it and
//! reaches no admin action. A screenshot of each page goes to
//! target/dashboard-screenshots/.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use agent_core::message::Value;
use agent_core::mib;
use agent_core::sim::{serve as serve_sim, synthetic, SimDevice};
use fantoccini::{Client, ClientBuilder, Locator};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::channel;
use printwatch_tests::{free_port, until, wait_port, Kill};

/// A simulated printer with every supply full but its first at `first` percent, no
/// standing alerts, and its first supply's description `description` when given.
fn printer(index: u32, first: i64, description: Option<&str>) -> SimDevice {
    let mut d = printwatch_tests::sim::steady(synthetic::printer(17, index));
    d.view.insert(
        mib::supply_max_capacity().child(&[1, 1]),
        Value::Integer(100),
    );
    d.view
        .insert(mib::supply_level().child(&[1, 1]), Value::Integer(first));
    if let Some(text) = description {
        d.view.insert(
            mib::supply_description().child(&[1, 1]),
            Value::OctetString(text.as_bytes().to_vec()),
        );
    }
    d
}

/// The text of the page's body, read in one step (the live script may swap parts of the
/// page between two steps; a page still loading reads as empty).
async fn body(b: &Client) -> String {
    match b
        .execute(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )
        .await
    {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// Waits until the page's body says `what`.
async fn shows(b: &Client, what: &str, secs: u64) {
    until(&format!("the page to show {what:?}"), secs, async || {
        body(b).await.contains(what)
    })
    .await;
}

/// Fills a form's fields (by name) and presses its button.
async fn fill_and_submit(b: &Client, form: &str, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let field = b
            .find(Locator::Css(&format!("{form} [name={name}]")))
            .await
            .unwrap();
        if field.tag_name().await.unwrap() == "select" {
            field.select_by_value(value).await.unwrap();
        } else {
            field.clear().await.unwrap();
            field.send_keys(value).await.unwrap();
        }
    }
    b.find(Locator::Css(&format!("{form} button:not([name])")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is at a page whose path ends with `path`.
async fn at(b: &Client, path: &str) {
    until(&format!("the browser at {path}"), 10, async || {
        b.current_url()
            .await
            .is_ok_and(|u| u.path().ends_with(path))
    })
    .await;
}

async fn sign_in(b: &Client, base: &str, name: &str, password: &str) {
    b.goto(&format!("{base}/login")).await.unwrap();
    fill_and_submit(b, "form.signin", &[("name", name), ("password", password)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_in_a_real_browser() {
    let dir = printwatch_tests::tempdir("dashboard");
    let sites = ["hq", "branch"];
    certs::init(&dir, &[], &sites.map(String::from), "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.web.listen = Some("127.0.0.1:0".parse().unwrap());
    c.web.https = false;
    let coordinator = service::start(c).await.unwrap();
    let base = coordinator.web.expect("a dashboard").url();

    // hq: printer 0, its black toner at 60 %; printer 2 waits for an admin to add it.
    // branch: printer 1, whose first supply's description is a script.
    let hostile = "<img src=x onerror=alert(1)>";
    let sim = serve_sim(vec![
        ("127.92.0.1:0".parse().unwrap(), printer(0, 60, None)),
        (
            "127.92.0.2:0".parse().unwrap(),
            printer(1, 70, Some(hostile)),
        ),
        ("127.92.0.3:0".parse().unwrap(), printer(2, 80, None)),
    ])
    .await
    .unwrap();
    let addrs = sim.addrs().to_vec();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut collectors = Vec::new();
    for (site, target) in [("hq", addrs[0]), ("branch", addrs[1])] {
        let files = certs::paths(&dir, Role::Collector, site);
        let mut c = printwatch_collector::config::CollectorConfig {
            site: site.into(),
            data_dir: dir.join(format!("outbox-{site}")),
            targets: vec![target.to_string()],
            ..Default::default()
        };
        c.coordinator.endpoint = format!("https://{}", coordinator.listen);
        c.tls.ca = dir.join("ca.pem");
        c.tls.cert = files.cert;
        c.tls.key = files.key;
        c.intervals.status_seconds = 1;
        c.intervals.meters_seconds = 1;
        let mut stopped = stopped.clone();
        collectors.push(tokio::spawn(printwatch_collector::agent::run(
            c,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        )));
    }
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(
        coordinator.listen,
        &dir.join("ca.pem"),
        Some((&admin.cert, &admin.key)),
    )
    .await
    .unwrap();
    for (name, role, sites) in [
        ("boss", "admin", vec![]),
        ("anna", "viewer", vec!["branch".to_string()]),
    ] {
        FleetClient::new(op.clone())
            .put_user(p::User {
                name: name.into(),
                role: role.into(),
                sites,
                password_hash: printwatch_coordinator::users::hash(&format!(
                    "{name}'s long password"
                ))
                .unwrap(),
                created: String::new(),
            })
            .await
            .unwrap();
    }
    let users = async || {
        FleetClient::new(op.clone())
            .list_users(p::ListUsersRequest {})
            .await
            .unwrap()
            .into_inner()
            .users
            .into_iter()
            .map(|u| u.name)
            .collect::<Vec<_>>()
    };

    // chromedriver, and a headless chromium through it.
    let port = free_port();
    let _driver = Kill(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver)"),
    );
    wait_port(SocketAddr::from(([127, 0, 0, 1], port)), "chromedriver");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"]}),
    );
    let b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    let shots: PathBuf =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = async |name: &str| {
        let png = b.screenshot().await.unwrap();
        std::fs::write(shots.join(format!("{name}.png")), png).unwrap();
    };

    // Signed out, the dashboard asks for a sign-in; a wrong password is refused.
    b.goto(&format!("{base}/")).await.unwrap();
    at(&b, "/login").await;
    shot("sign-in").await;
    sign_in(&b, &base, "boss", "not the password").await;
    shows(&b, "Wrong name or password", 10).await;
    at(&b, "/login").await;

    // Signed in: the fleet, both sites' printers, the hostile text as text.
    sign_in(&b, &base, "boss", "boss's long password").await;
    at(&b, "/").await;
    // The page is live: the printers appear as their first readings arrive.
    shows(&b, "SIM17-00000", 30).await;
    shows(&b, "SIM17-00001", 30).await;
    shows(&b, "live", 10).await;
    let text = body(&b).await;
    assert!(
        text.contains(hostile),
        "a printer's text is shown as text: {text}"
    );
    assert!(
        b.find_all(Locator::Css("main img"))
            .await
            .unwrap()
            .is_empty(),
        "and never becomes an element"
    );
    assert!(b.get_alert_text().await.is_err(), "no script ran");
    shot("fleet").await;

    // A toner drained in the simulator shows as low without a reload: a mark set in the
    // page survives (a reload would clear it).
    b.execute(
        "window.printwatchMark = 'still this page'; return null;",
        vec![],
    )
    .await
    .unwrap();
    sim.set(0, mib::supply_level().child(&[1, 1]), Value::Integer(3));
    until("the drained toner to show as low", 30, async || {
        let Ok(row) = b
            .find(Locator::Css("tr[data-device='sn:SIM17-00000']"))
            .await
        else {
            return false;
        };
        let Ok(low) = row.find_all(Locator::Css(".supply.low")).await else {
            return false;
        };
        for l in low {
            if l.text().await.is_ok_and(|t| t.starts_with("3 %")) {
                return true;
            }
        }
        false
    })
    .await;
    let mark = b
        .execute("return window.printwatchMark || null;", vec![])
        .await
        .unwrap();
    assert_eq!(mark, serde_json::json!("still this page"), "no reload");
    let first = b
        .execute(
            "return document.querySelector('#fleet tbody tr').dataset.device;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        serde_json::json!("sn:SIM17-00000"),
        "most urgent first"
    );
    shot("fleet-live").await;

    // The printer's page: supplies, the level chart drawn on the server.
    // (Followed by its link, read in one step: the live script may swap the row.)
    let link = b
        .execute(
            "return document.querySelector(\"tr[data-device='sn:SIM17-00000'] a\").href;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        link.as_str()
            .is_some_and(|l| l.ends_with("/printer/sn:SIM17-00000")),
        "{link}"
    );
    b.goto(link.as_str().unwrap()).await.unwrap();
    shows(&b, "Levels over time", 10).await;
    assert!(!b
        .find_all(Locator::Css("svg.chart path"))
        .await
        .unwrap()
        .is_empty());
    shot("printer").await;

    // The shopping list, alerts and sites.
    b.goto(&format!("{base}/order")).await.unwrap();
    shows(&b, "To order", 10).await;
    let order = b
        .find(Locator::Css("main table"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(order.contains("SIM17-00000"), "{order}");
    shot("to-order").await;
    b.goto(&format!("{base}/alerts")).await.unwrap();
    shows(&b, "supply low", 30).await;
    shot("alerts").await;
    b.goto(&format!("{base}/sites")).await.unwrap();
    let sites_text = b
        .find(Locator::Css("#sites"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        sites_text.contains("hq")
            && sites_text.contains("branch")
            && sites_text.contains("connected"),
        "{sites_text}"
    );
    shot("sites").await;

    // An admin adds hq's second printer from the browser; it appears on the fleet page.
    b.goto(&format!("{base}/admin/printers")).await.unwrap();
    let form = "form[action='/admin/printers/add']";
    fill_and_submit(&b, form, &[("site", "hq"), ("host", &addrs[2].to_string())]).await;
    shows(&b, "Asked hq's collector to watch", 10).await;
    shot("admin-printers").await;
    b.goto(&format!("{base}/")).await.unwrap();
    shows(&b, "SIM17-00002", 30).await;
    b.goto(&format!("{base}/admin/users")).await.unwrap();
    shows(&b, "anna", 10).await;
    shot("admin-users").await;

    // A POST without the CSRF token, from the dashboard's own page: refused, nothing made.
    b.execute(
        "const f = document.createElement('form'); f.method = 'post'; \
         f.action = '/admin/users/add'; \
         for (const [k, v] of [['name', 'mallory'], ['password', 'a long password here'], \
         ['role', 'admin']]) { const i = document.createElement('input'); i.name = k; \
         i.value = v; f.appendChild(i); } document.body.appendChild(f); f.submit(); return null;",
        vec![],
    )
    .await
    .unwrap();
    shows(&b, "stale or forged", 10).await;
    shot("csrf-refused").await;
    assert!(!users().await.contains(&"mallory".to_string()));

    // Sign out; anna sees branch only and no admin action.
    b.goto(&format!("{base}/")).await.unwrap();
    b.find(Locator::Css("nav form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    at(&b, "/login").await;
    sign_in(&b, &base, "anna", "anna's long password").await;
    shows(&b, "SIM17-00001", 30).await;
    let text = body(&b).await;
    assert!(
        !text.contains("SIM17-00000") && !text.contains("SIM17-00002"),
        "{text}"
    );
    assert!(
        b.find_all(Locator::Css("a[href^='/admin/']"))
            .await
            .unwrap()
            .is_empty(),
        "no admin links"
    );
    let options = b
        .find(Locator::Css("select[name=site]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!options.contains("hq"), "{options}");
    shot("viewer").await;
    b.goto(&format!("{base}/admin/printers")).await.unwrap();
    shows(&b, "Only an administrator", 10).await;
    b.goto(&format!("{base}/printer/sn:SIM17-00000"))
        .await
        .unwrap();
    shows(&b, "No such printer", 10).await;

    b.close().await.unwrap();
    let _ = stop.send(true);
    for c in collectors {
        let _ = tokio::time::timeout(Duration::from_secs(10), c).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
