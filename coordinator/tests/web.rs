//! The dashboard over HTTP (the real-browser test comes with the rest of issue 17):
//! sign-in and its refusals, the session cookie's flags, the security headers, CSRF on
//! sign-out, a site-limited viewer, and a printer's text shown as text, never markup.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_pki::{self as certs, Role};
use printwatch_proto::v1 as p;
use printwatch_proto::v1::fleet_client::FleetClient;
use printwatch_tests::grpc::{channel, envelope, hello, reading, session};

/// An HTML form's body.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |t: &str| {
        t.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_sessions_csrf_sites_and_escaping() {
    let dir = printwatch_tests::tempdir("web");
    certs::init(&dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.web.listen = Some("127.0.0.1:0".parse().unwrap());
    let coordinator = service::start(c).await.unwrap();
    let base = format!("http://{}", coordinator.web.expect("a dashboard"));
    let ca = dir.join("ca.pem");

    // A printer at each site; hq's says something hostile about its toner.
    for (site, serial) in [("hq", "HQ1"), ("branch", "BR1")] {
        let files = certs::paths(&dir, Role::Collector, site);
        let ch = channel(coordinator.listen, &ca, Some((&files.cert, &files.key)))
            .await
            .unwrap();
        let mut r = reading(serial);
        r.supplies.push(p::Supply {
            description: "<img src=x onerror=alert(1)>".into(),
            class: 1,
            state: 1,
            level: 40,
            max_capacity: 100,
            percent: Some(40),
            ..Default::default()
        });
        r.supplies.push(p::Supply {
            index: 2,
            description: "Black Toner".into(),
            part_number: Some("CF259A".into()),
            class: 1,
            state: 2,
            level: 5,
            max_capacity: 100,
            percent: Some(5),
            ..Default::default()
        });
        session(ch, vec![hello(site), envelope(1, r)])
            .await
            .unwrap();
    }
    // Users: an admin of everything, a viewer of branch only.
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(coordinator.listen, &ca, Some((&admin.cert, &admin.key)))
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

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed out: to the sign-in page");
    assert_eq!(r.headers()["location"], "/login");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");

    let sign_in = async |name: &str, password: &str| {
        http.post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("name", name), ("password", password)]))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(sign_in("boss", "not the password").await.status(), 401);
    assert_eq!(
        sign_in("nobody", "boss's long password").await.status(),
        401
    );
    let ok = sign_in("boss", "boss's long password").await;
    assert_eq!(ok.status(), 303);
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();

    let page = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("HQ1") && page.contains("BR1"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img"), "a printer's text is never markup");

    // The shopping list: both printers need CF259A; as a page and as CSV.
    let get = async |path: &str, cookie: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    };
    let order = get("/order", &cookie).await.text().await.unwrap();
    assert!(
        order.contains("<td>CF259A</td><td>Black Toner</td><td>2</td>"),
        "{order}"
    );
    let csv = get("/order.csv", &cookie).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("part,description,count,printers\r\nCF259A,Black Toner,2,"),
        "{csv}"
    );
    assert_eq!(get("/order.csv", "pw_session=forged").await.status(), 303);

    // A printer's page: its supplies with their reorder points and forecasts.
    let printer = get("/printer/sn:HQ1", &cookie).await;
    assert_eq!(printer.status(), 200);
    let printer = printer.text().await.unwrap();
    assert!(
        printer.contains("CF259A")
            && printer.contains("15 %")
            && printer.contains("not enough data"),
        "{printer}"
    );
    assert!(printer.contains("&lt;img src=x onerror=alert(1)&gt;") && !printer.contains("<img"));
    assert_eq!(get("/printer/sn:NOPE", &cookie).await.status(), 404);

    // A viewer of branch sees branch only.
    let anna = sign_in("anna", "anna's long password").await;
    let anna_cookie = anna.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = http
        .get(format!("{base}/"))
        .header("cookie", &anna_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("BR1") && !page.contains("HQ1"), "{page}");
    assert_eq!(
        get("/printer/sn:HQ1", &anna_cookie).await.status(),
        404,
        "another site's printer is not there for her"
    );

    // Sign-out is a form with the session's CSRF token: without it, refused.
    let refused = http
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", "forged")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let csrf = {
        let page = http
            .get(format!("{base}/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        page[at..at + 32].to_string()
    };
    let out = http
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session ended");
    let _ = std::fs::remove_dir_all(&dir);
}
