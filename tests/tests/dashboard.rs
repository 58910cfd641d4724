//! The dashboard in a real browser: Debian's chromium, driven over WebDriver by
//! chromedriver. Sign-in works and a wrong password does not; the fleet page lists the
//! printers, and a printer whose supply is called `<img src=x onerror=alert(1)>` shows
//! that text and runs nothing. Screenshots go to target/dashboard-screenshots/.
//! (Issue 17 in progress: more pages and checks come with them.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::{channel, envelope, hello, reading, session};
use printwatch_tests::{free_port, wait_port, Kill};

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_and_the_fleet_page_in_a_real_browser() {
    let dir = printwatch_tests::tempdir("dashboard");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.web.listen = Some("127.0.0.1:0".parse().unwrap());
    let coordinator = service::start(c).await.unwrap();
    let base = format!("http://{}", coordinator.web.expect("a dashboard"));
    let ca = dir.join("ca.pem");
    let hq = certs::paths(&dir, Role::Collector, "hq");
    let ch = channel(coordinator.listen, &ca, Some((&hq.cert, &hq.key)))
        .await
        .unwrap();
    let mut r = reading("HQ1");
    r.supplies.push(p::Supply {
        description: "<img src=x onerror=alert(1)>".into(),
        class: 1,
        state: 1,
        level: 40,
        max_capacity: 100,
        percent: Some(40),
        ..Default::default()
    });
    session(ch, vec![hello("hq"), envelope(1, r)])
        .await
        .unwrap();
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(coordinator.listen, &ca, Some((&admin.cert, &admin.key)))
        .await
        .unwrap();
    FleetClient::new(op)
        .put_user(p::User {
            name: "boss".into(),
            role: "admin".into(),
            sites: vec![],
            password_hash: printwatch_coordinator::users::hash("boss's long password").unwrap(),
            created: String::new(),
        })
        .await
        .unwrap();

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
    wait_port(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        "chromedriver",
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"]}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    let shots =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = async |name: &str| {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(shots.join(format!("{name}.png")), png).unwrap();
    };

    // Signed out, the dashboard asks for a sign-in; a wrong password is refused.
    browser.goto(&format!("{base}/")).await.unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/login"));
    shot("sign-in").await;
    let sign_in = async |password: &str| {
        browser
            .find(Locator::Css("input[name=name]"))
            .await
            .unwrap()
            .send_keys("boss")
            .await
            .unwrap();
        browser
            .find(Locator::Css("input[name=password]"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        browser
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };
    sign_in("not the password").await;
    let text = browser
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Wrong name or password"), "{text}");
    sign_in("boss's long password").await;
    let fleet = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("table"))
        .await
        .expect("the fleet page");
    let text = fleet.text().await.unwrap();
    assert!(text.contains("HQ1"), "{text}");
    assert!(
        text.contains("<img src=x onerror=alert(1)>"),
        "a printer's text is shown as text: {text}"
    );
    assert!(
        browser
            .find_all(Locator::Css("table img"))
            .await
            .unwrap()
            .is_empty(),
        "and never becomes an element"
    );
    assert!(browser.get_alert_text().await.is_err(), "no script ran");
    shot("fleet").await;
    browser.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
