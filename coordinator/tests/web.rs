//! The dashboard over HTTP (the real-browser test is tests/tests/dashboard.rs): sign-in
//! and its refusals, the session cookie's flags, the security headers, CSRF on every form,
//! a site-limited viewer kept from other sites and from admin actions, admin actions with
//! the fleet service's own checks, a printer's text shown as text, never markup; and the
//! dashboard over HTTPS with the coordinator's certificate and a Secure cookie.

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

/// The CSRF token in a page's forms.
fn csrf_of(page: &str) -> String {
    let mark = "name=\"csrf\" value=\"";
    let at = page.find(mark).expect("a form with a CSRF token") + mark.len();
    page[at..at + 32].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_sessions_csrf_sites_and_escaping() {
    let dir = printwatch_tests::tempdir("web");
    certs::init(&dir, &[], &["hq".into(), "branch".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.web.listen = Some("127.0.0.1:0".parse().unwrap());
    c.web.https = false;
    let coordinator = service::start(c).await.unwrap();
    let base = coordinator.web.expect("a dashboard").url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
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

    // A viewer reaches no admin page and no admin action, token or not.
    let anna_csrf = csrf_of(&get("/", &anna_cookie).await.text().await.unwrap());
    assert!(!get("/", &anna_cookie)
        .await
        .text()
        .await
        .unwrap()
        .contains("/admin/"));
    for path in ["/admin/printers", "/admin/users"] {
        assert_eq!(get(path, &anna_cookie).await.status(), 403, "{path}");
    }
    let post = async |path: &str, cookie: &str, fields: &[(&str, &str)]| {
        http.post(format!("{base}{path}"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .unwrap()
    };
    let r = post(
        "/admin/printers/add",
        &anna_cookie,
        &[
            ("csrf", &anna_csrf),
            ("site", "branch"),
            ("host", "127.0.0.9"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post(
        "/admin/users/add",
        &anna_cookie,
        &[
            ("csrf", &anna_csrf),
            ("name", "mallory"),
            ("password", "a long password"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);

    // An admin's forms: without the session's token, each is refused and changes nothing.
    let boss_csrf = csrf_of(&get("/", &cookie).await.text().await.unwrap());
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
    let carol = [
        ("name", "carol"),
        ("password", "carol's long password"),
        ("role", "viewer"),
        ("sites", "hq"),
    ];
    for csrf in ["", "forged"] {
        let mut fields = vec![("csrf", csrf)];
        fields.extend(carol);
        assert_eq!(
            post("/admin/users/add", &cookie, &fields).await.status(),
            403
        );
        assert_eq!(
            post("/printer/sn:HQ1/remove", &cookie, &[("csrf", csrf)])
                .await
                .status(),
            403
        );
    }
    assert!(!users().await.contains(&"carol".to_string()));
    // With it: carol is made (hashed here, stored by ingest) and can sign in.
    let mut fields = vec![("csrf", boss_csrf.as_str())];
    fields.extend(carol);
    let made = post("/admin/users/add", &cookie, &fields).await;
    assert_eq!(made.status(), 200);
    assert!(made.text().await.unwrap().contains("carol can sign in now"));
    assert!(users().await.contains(&"carol".to_string()));
    assert_eq!(
        sign_in("carol", "carol's long password").await.status(),
        303
    );
    // The fleet service's checks hold here too: a short password, an address that is none.
    let short = post(
        "/admin/users/add",
        &cookie,
        &[
            ("csrf", &boss_csrf),
            ("name", "dave"),
            ("password", "short"),
            ("role", "viewer"),
        ],
    )
    .await;
    assert_eq!(short.status(), 400);
    assert!(short.text().await.unwrap().contains("too short"));
    let bad = post(
        "/admin/printers/add",
        &cookie,
        &[("csrf", &boss_csrf), ("site", "hq"), ("host", "300.1.1.1")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    // No collector is connected: the command cannot be delivered, and the page says so.
    let gone = post("/printer/sn:HQ1/remove", &cookie, &[("csrf", &boss_csrf)]).await;
    assert_eq!(gone.status(), 400);
    assert!(gone.text().await.unwrap().contains("no collector for site"));
    // Removed, carol's session ends at once.
    let carol_cookie = sign_in("carol", "carol's long password").await.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(get("/", &carol_cookie).await.status(), 200);
    let removed = post(
        "/admin/users/remove",
        &cookie,
        &[("csrf", &boss_csrf), ("name", "carol")],
    )
    .await;
    assert_eq!(removed.status(), 200);
    assert_eq!(get("/", &carol_cookie).await.status(), 303, "signed out");

    // The other pages answer, each for the user's sites only.
    let alerts = get("/alerts?state=all", &anna_cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!alerts.contains("HQ1"), "{alerts}");
    let sites = get("/sites", &anna_cookie).await.text().await.unwrap();
    assert!(
        sites.contains("branch") && !sites.contains(">hq<"),
        "{sites}"
    );
    let sites = get("/sites", &cookie).await.text().await.unwrap();
    assert!(
        sites.contains(">hq<") && sites.contains("not connected"),
        "{sites}"
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
    let csrf = boss_csrf;
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

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_over_https_with_the_coordinators_certificate() {
    let dir = printwatch_tests::tempdir("web-https");
    certs::init(&dir, &["localhost".into()], &["hq".into()], "admin").unwrap();
    let mut c = CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    c.web.listen = Some("127.0.0.1:0".parse().unwrap());
    let coordinator = service::start(c).await.unwrap();
    let at = coordinator.web.expect("a dashboard");
    assert!(at.https, "HTTPS by default");
    let admin = certs::paths(&dir, Role::Operator, "admin");
    let op = channel(
        coordinator.listen,
        &dir.join("ca.pem"),
        Some((&admin.cert, &admin.key)),
    )
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

    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", at.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", at.addr.port());
    let r = https
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("name", "boss"),
            ("password", "boss's long password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("Secure") && set.contains("HttpOnly"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let fleet = https
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.status(), 200);
    assert!(fleet.text().await.unwrap().contains("<h1>Fleet</h1>"));
    // Plain HTTP to the HTTPS port gets no page.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/login", at.addr))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let _ = std::fs::remove_dir_all(&dir);
}
