//! SNMPv3 against an agent this project did not write: net-snmp's snmpd, with a user for
//! every security level, authentication protocol and privacy protocol, must read the same
//! printer rows as v2c does; each wrong credential must say what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::time::Duration;

use agent_core::model::Reading;
use agent_core::poll::{first_poll, steady_poll, Due};
use agent_core::session::Session;
use agent_core::sim::serve;
use agent_core::transport::{Security, SnmpError, Target, Transport};
use agent_core::usm::{AuthProtocol, PrivProtocol, UsmUser};
use printwatch_tests::snmpd::read_when_up;
use printwatch_tests::{fixtures, loopback, sim_device};

const AUTH_PASS: &str = "auth-pass-1234";

/// Whether an error is the one a case expects.
type IsExpected = fn(&SnmpError) -> bool;
const PRIV_PASS: &str = "priv-pass-5678";

/// net-snmp's spelling of a protocol in `createUser`.
fn net_snmp_auth(a: AuthProtocol) -> &'static str {
    match a {
        AuthProtocol::Md5 => "MD5",
        AuthProtocol::Sha1 => "SHA",
        AuthProtocol::Sha224 => "SHA-224",
        AuthProtocol::Sha256 => "SHA-256",
        AuthProtocol::Sha384 => "SHA-384",
        AuthProtocol::Sha512 => "SHA-512",
    }
}

fn net_snmp_priv(p: PrivProtocol) -> &'static str {
    match p {
        PrivProtocol::Des => "DES",
        PrivProtocol::Aes128 => "AES",
        PrivProtocol::Aes192 => "AES-192",
        PrivProtocol::Aes256 => "AES-256",
    }
}

/// Every combination the issue names: noAuthNoPriv; each authentication protocol alone;
/// each with DES, AES-128 and AES-256; AES-192 with the short hashes whose keys net-snmp
/// extends.
fn combinations() -> Vec<(String, Option<AuthProtocol>, Option<PrivProtocol>)> {
    let mut out = vec![("plain".to_string(), None, None)];
    for a in AuthProtocol::ALL {
        out.push((format!("a{a}"), Some(a), None));
        for p in [
            PrivProtocol::Des,
            PrivProtocol::Aes128,
            PrivProtocol::Aes256,
        ] {
            out.push((format!("a{a}p{p}"), Some(a), Some(p)));
        }
    }
    for a in [AuthProtocol::Md5, AuthProtocol::Sha1, AuthProtocol::Sha256] {
        out.push((format!("a{a}pAES192"), Some(a), Some(PrivProtocol::Aes192)));
    }
    out
}

fn config_for(users: &[(String, Option<AuthProtocol>, Option<PrivProtocol>)]) -> String {
    let mut conf = String::new();
    for (name, a, p) in users {
        match (a, p) {
            (None, _) => {
                conf.push_str(&format!("createUser {name}\nrouser -s usm {name} noauth\n"));
            }
            (Some(a), None) => conf.push_str(&format!(
                "createUser {name} {} \"{AUTH_PASS}\"\nrouser -s usm {name} auth\n",
                net_snmp_auth(*a)
            )),
            (Some(a), Some(p)) => conf.push_str(&format!(
                "createUser {name} {} \"{AUTH_PASS}\" {} \"{PRIV_PASS}\"\nrouser -s usm {name} priv\n",
                net_snmp_auth(*a),
                net_snmp_priv(*p)
            )),
        }
    }
    conf
}

fn user(name: &str, a: Option<AuthProtocol>, p: Option<PrivProtocol>, context: &str) -> UsmUser {
    UsmUser::new(
        name,
        a.map(|a| (a, AUTH_PASS.as_bytes())),
        p.map(|p| (p, PRIV_PASS.as_bytes())),
        context,
    )
    .unwrap()
}

fn target(addr: SocketAddr, security: Security) -> Target {
    Target {
        timeout: Duration::from_millis(500),
        retries: 1,
        ..Target::new(addr).with_security(security)
    }
}

/// As `printwatch_tests::essence`, without the MAC: snmpd answers this host's ifTable.
fn essence(r: Reading) -> Reading {
    let mut r = printwatch_tests::essence(r);
    r.identity.mac = None;
    r
}

#[tokio::test]
async fn every_v3_user_reads_what_v2c_reads_from_net_snmp() {
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    let device = sim_device(&name, &path);
    let sim = serve(vec![(loopback(), device.clone())]).await.unwrap();
    let users = combinations();
    let mut conf = config_for(&users);
    // A context: snmpd proxies context "printers" to the simulator over v2c.
    conf.push_str(&format!(
        "proxy -Cn printers -v 2c -c public {} .1.3\n",
        sim.addrs()[0]
    ));
    conf.push_str(&format!(
        "createUser ctx SHA-256 \"{AUTH_PASS}\" AES \"{PRIV_PASS}\"\nrouser -s usm ctx priv .1 printers\n"
    ));
    let (_snmpd, addr) = printwatch_tests::snmpd::start(&device, &conf);
    let t = Transport::bind_default().await.unwrap();
    let v2c = essence(read_when_up(&t, target(addr, Security::v2c("public"))).await);
    assert!(!v2c.supplies.is_empty());

    for (name, a, p) in &users {
        let u = user(name, *a, *p, "");
        let got = first_poll(&mut Session::new(
            t.clone(),
            target(addr, Security::Usm(u.clone())),
        ))
        .await
        .unwrap_or_else(|e| panic!("{u}: {e}"));
        assert_eq!(essence(got.0), v2c, "{u} reads otherwise than v2c");
    }
    // Keys are localised once per user for this engine, not per request.
    assert_eq!(t.totals().key_localisations, users.len() as u64);

    // The context reads the simulator's rows, as v2c to the simulator does.
    let direct = essence(
        first_poll(&mut Session::new(t.clone(), Target::new(sim.addrs()[0])))
            .await
            .unwrap()
            .0,
    );
    let ctx = user(
        "ctx",
        Some(AuthProtocol::Sha256),
        Some(PrivProtocol::Aes128),
        "printers",
    );
    let (through, _) = first_poll(&mut Session::new(
        t.clone(),
        target(addr, Security::Usm(ctx)),
    ))
    .await
    .unwrap();
    let mut through = essence(through);
    through.identity.address = direct.identity.address.clone();
    assert_eq!(through, direct, "context printers");
}

fn usm(name: &str, a: Option<(AuthProtocol, &str)>, p: Option<(PrivProtocol, &str)>) -> Security {
    Security::Usm(
        UsmUser::new(
            name,
            a.map(|(a, s)| (a, s.as_bytes())),
            p.map(|(p, s)| (p, s.as_bytes())),
            "",
        )
        .unwrap(),
    )
}

/// Each wrong credential gets its own error, none of them a timeout where snmpd says what
/// is wrong; the right users still read afterwards, on the same transport.
#[tokio::test]
async fn each_wrong_credential_says_what_is_wrong() {
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    let device = sim_device(&name, &path);
    let users = vec![
        (
            "good".to_string(),
            Some(AuthProtocol::Sha256),
            Some(PrivProtocol::Aes128),
        ),
        ("signer".to_string(), Some(AuthProtocol::Sha1), None),
    ];
    let (_snmpd, addr) = printwatch_tests::snmpd::start(&device, &config_for(&users));
    let t = Transport::bind_default().await.unwrap();
    let good = usm(
        "good",
        Some((AuthProtocol::Sha256, AUTH_PASS)),
        Some((PrivProtocol::Aes128, PRIV_PASS)),
    );
    read_when_up(&t, target(addr, good.clone())).await;

    let get = |security: Security| {
        let t = t.clone();
        async move {
            Session::new(t, target(addr, security))
                .get(&[agent_core::mib::sys_object_id()])
                .await
        }
    };
    let cases: Vec<(&str, Security, IsExpected)> = vec![
        (
            "unknown user",
            usm("nobody", Some((AuthProtocol::Sha256, AUTH_PASS)), None),
            |e| matches!(e, SnmpError::UnknownUser { .. }),
        ),
        (
            "wrong authentication passphrase",
            usm(
                "good",
                Some((AuthProtocol::Sha256, "not-the-pass")),
                Some((PrivProtocol::Aes128, PRIV_PASS)),
            ),
            |e| matches!(e, SnmpError::WrongAuth { .. }),
        ),
        (
            "wrong authentication protocol",
            usm(
                "good",
                Some((AuthProtocol::Md5, AUTH_PASS)),
                Some((PrivProtocol::Aes128, PRIV_PASS)),
            ),
            |e| matches!(e, SnmpError::WrongAuth { .. }),
        ),
        (
            "wrong privacy passphrase",
            usm(
                "good",
                Some((AuthProtocol::Sha256, AUTH_PASS)),
                Some((PrivProtocol::Aes128, "not-the-pass")),
            ),
            |e| matches!(e, SnmpError::WrongPriv { .. }),
        ),
        (
            "privacy for a user without it",
            usm(
                "signer",
                Some((AuthProtocol::Sha1, AUTH_PASS)),
                Some((PrivProtocol::Aes128, PRIV_PASS)),
            ),
            |e| matches!(e, SnmpError::UnsupportedLevel { .. }),
        ),
        (
            "no authentication for a user with it",
            usm("signer", None, None),
            |e| matches!(e, SnmpError::Refused { .. }),
        ),
    ];
    for (what, security, expected) in cases {
        let err = get(security).await.expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
        let shown = err.to_string();
        assert!(
            !shown.contains(AUTH_PASS) && !shown.contains(PRIV_PASS),
            "{shown}"
        );
        println!("{what}: {shown}");
    }
    // The right users still read.
    get(good).await.unwrap();
    get(usm("signer", Some((AuthProtocol::Sha1, AUTH_PASS)), None))
        .await
        .unwrap();
}

/// After discovery, a steady authPriv poll of a 4-supply printer keeps the budget: at most
/// 2 round trips and 1,100 bytes on the wire, by the transport's counters.
#[tokio::test]
async fn a_steady_auth_priv_poll_keeps_the_budget() {
    let (name, path) = fixtures("printers")
        .into_iter()
        .find(|(n, _)| n == "lexmark_four")
        .unwrap();
    let device = sim_device(&name, &path);
    let users = vec![(
        "monitor".to_string(),
        Some(AuthProtocol::Sha256),
        Some(PrivProtocol::Aes128),
    )];
    let (_snmpd, addr) = printwatch_tests::snmpd::start(&device, &config_for(&users));
    let t = Transport::bind_default().await.unwrap();
    let monitor = target(
        addr,
        usm(
            "monitor",
            Some((AuthProtocol::Sha256, AUTH_PASS)),
            Some((PrivProtocol::Aes128, PRIV_PASS)),
        ),
    );
    let first = read_when_up(&t, monitor.clone()).await;
    assert_eq!(first.supplies.len(), 4);
    let (_, mut plan) = first_poll(&mut Session::new(t.clone(), monitor.clone()))
        .await
        .unwrap();
    let mut s = Session::new(t.clone(), monitor);
    let steady = steady_poll(&mut s, &mut plan, Due { meters: false })
        .await
        .unwrap();
    assert_eq!(steady.supplies, first.supplies);
    let c = s.counters;
    println!("steady authPriv poll: {c:?}");
    assert!(c.requests <= 2, "{c:?}");
    assert!(c.bytes_sent + c.bytes_received <= 1_100, "{c:?}");
}

/// snmpd restarted (its boots count goes up): the engine time we hold is refused once
/// with notInTimeWindow, taken from the Report, and the next request reads.
#[tokio::test]
async fn a_restarted_agent_is_read_again_after_one_time_window_report() {
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    let device = sim_device(&name, &path);
    let users = vec![(
        "monitor".to_string(),
        Some(AuthProtocol::Sha1),
        Some(PrivProtocol::Des),
    )];
    let conf = config_for(&users);
    let (snmpd, addr) = printwatch_tests::snmpd::start(&device, &conf);
    let t = Transport::bind_default().await.unwrap();
    let monitor = target(
        addr,
        usm(
            "monitor",
            Some((AuthProtocol::Sha1, AUTH_PASS)),
            Some((PrivProtocol::Des, PRIV_PASS)),
        ),
    );
    read_when_up(&t, monitor.clone()).await;
    let before = t.engine_of(addr).unwrap();
    let snmpd = snmpd.restart();
    read_when_up(&t, monitor.clone()).await;
    let after = t.engine_of(addr).unwrap();
    assert_eq!(
        after.id, before.id,
        "the same engine, from its persistent state"
    );
    assert!(after.boots > before.boots, "{before:?} then {after:?}");
    drop(snmpd);
}

/// The simulator's v3 agent: every level and protocol reads as v2c does, each refusal is
/// its own error (the simulator reports a decryption error, as RFC 3414 asks), and keys
/// are localised once per engine and user however many polls follow.
#[tokio::test]
async fn the_simulator_speaks_v3_as_the_transport_does() {
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    let t = Transport::bind_default().await.unwrap();
    let mut levels = vec![(None, None), (Some(AuthProtocol::Md5), None)];
    for p in PrivProtocol::ALL {
        levels.push((Some(AuthProtocol::Sha1), Some(p)));
    }
    levels.push((Some(AuthProtocol::Sha512), Some(PrivProtocol::Aes256)));
    for (a, p) in levels {
        let u = user("sim", a, p, "");
        let mut device = sim_device(&name, &path);
        device.community = b"not-for-v3".to_vec();
        device.v3 = Some(agent_core::sim::SimUsm::new(
            b"\x80\x00\x1f\x88\x04sim".to_vec(),
            u.clone(),
        ));
        let sim = serve(vec![(loopback(), device)]).await.unwrap();
        let addr = sim.addrs()[0];
        let v2c = first_poll(&mut Session::new(
            t.clone(),
            target(addr, Security::v2c("not-for-v3")),
        ))
        .await
        .unwrap()
        .0;
        let before = t.totals().key_localisations;
        let (v3, mut plan) = first_poll(&mut Session::new(
            t.clone(),
            target(addr, Security::Usm(u.clone())),
        ))
        .await
        .unwrap_or_else(|e| panic!("{u}: {e}"));
        assert_eq!(
            printwatch_tests::essence(v3),
            printwatch_tests::essence(v2c),
            "{u}"
        );
        for _ in 0..3 {
            steady_poll(
                &mut Session::new(t.clone(), target(addr, Security::Usm(u.clone()))),
                &mut plan,
                Due { meters: true },
            )
            .await
            .unwrap();
        }
        assert_eq!(
            t.totals().key_localisations - before,
            1,
            "{u}: keys localised once"
        );

        if let (Some(a), Some(p)) = (a, p) {
            let cases: Vec<(Security, IsExpected)> = vec![
                (
                    usm("nobody", Some((a, AUTH_PASS)), Some((p, PRIV_PASS))),
                    |e| matches!(e, SnmpError::UnknownUser { .. }),
                ),
                (
                    usm("sim", Some((a, "wrong-pass-1")), Some((p, PRIV_PASS))),
                    |e| matches!(e, SnmpError::WrongAuth { .. }),
                ),
                (
                    usm("sim", Some((a, AUTH_PASS)), Some((p, "wrong-pass-2"))),
                    |e| matches!(e, SnmpError::WrongPriv { .. }),
                ),
                (usm("sim", Some((a, AUTH_PASS)), None), |e| {
                    matches!(e, SnmpError::UnsupportedLevel { .. })
                }),
            ];
            for (security, expected) in cases {
                let shown = security.to_string();
                let err = Session::new(t.clone(), target(addr, security))
                    .get(&[agent_core::mib::sys_object_id()])
                    .await
                    .expect_err(&shown);
                assert!(expected(&err), "{shown}: {err:?}");
            }
        }
    }
}

/// A sweep with a v3 user and a community: one engine-discovery request per address finds
/// the v3 agents before any user is tried; addresses without one cost that request and
/// the community's, so each address gets one request per credential; the credential that
/// answered is reported by its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_finds_v3_printers_with_one_engine_request_per_address() {
    use agent_core::discover::{sweep, EndReason, SweepConfig, SweepStats};
    use std::net::Ipv4Addr;
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    let monitor = user(
        "monitor",
        Some(AuthProtocol::Sha256),
        Some(PrivProtocol::Aes128),
        "",
    );
    let base = printwatch_tests::loopback().ip();
    let std::net::IpAddr::V4(base) = base else {
        unreachable!()
    };
    let base = u32::from(base) & !0xff;
    let port = 16_171;
    let mut devices = Vec::new();
    for i in 1..=6u32 {
        let mut d = sim_device(&name, &path);
        if i <= 3 {
            // v3 only: its community is nobody's.
            d.community = b"unguessable".to_vec();
            d.v3 = Some(agent_core::sim::SimUsm::new(
                [&b"\x80\x00\x1f\x88\x04sim"[..], &[i as u8]].concat(),
                monitor.clone(),
            ));
        }
        devices.push((SocketAddr::from((Ipv4Addr::from(base + i), port)), d));
    }
    let sim = serve(devices).await.unwrap();
    let t = Transport::bind_default().await.unwrap();
    let config = SweepConfig {
        addresses: (1..=10u32).map(|i| Ipv4Addr::from(base + i)).collect(),
        port,
        credentials: vec![Security::Usm(monitor.clone()), Security::v2c("public")],
        timeout: Duration::from_millis(300),
        retries: 0,
        read_printers: true,
        rate: 1_000,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = sweep(
        t,
        config,
        64,
        std::sync::Arc::new(SweepStats::default()),
        tx,
        std::future::pending::<EndReason>(),
    )
    .await;
    let mut found = Vec::new();
    while let Ok(f) = rx.try_recv() {
        found.push(f);
    }
    assert_eq!(found.len(), 6);
    for f in &found {
        let last: u32 = f
            .identity
            .address
            .rsplit(['.', ':'])
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let i = last - (base & 0xff);
        let reading = f.reading.as_ref().unwrap_or_else(|| panic!("{f:?}"));
        assert!(!reading.supplies.is_empty());
        if i <= 3 {
            assert_eq!(f.credential, 0);
            assert_eq!(f.credential_name, "v3 user monitor (SHA256/AES)");
        } else {
            assert_eq!(f.credential, 1);
            assert_eq!(f.credential_name, "v2c community #1");
        }
    }
    // v3 agents: engine discovery and the user's probe; the others: engine discovery and
    // the community's probe; empty addresses: the same two. Two credentials, two requests.
    assert_eq!(summary.requests, 10 * 2, "{summary:?}");
    let asked = sim.requests();
    assert!(asked.iter().all(|n| *n >= 2), "{asked:?}");
}

/// The simulator's v3 agent as net-snmp's own client sees it: `snmpget` reads it with
/// each privacy protocol, and names each refusal as net-snmp does.
#[tokio::test]
async fn net_snmp_reads_the_simulator_over_v3() {
    let (name, path) = fixtures("printers").into_iter().next().unwrap();
    for (a, p) in [
        (AuthProtocol::Sha1, PrivProtocol::Des),
        (AuthProtocol::Sha256, PrivProtocol::Aes128),
        (AuthProtocol::Md5, PrivProtocol::Aes192),
        (AuthProtocol::Sha512, PrivProtocol::Aes256),
    ] {
        let mut device = sim_device(&name, &path);
        let want = device.view.get(&agent_core::mib::sys_descr()).cloned();
        let Some(agent_core::message::Value::OctetString(want)) = want else {
            panic!("{name} has no sysDescr");
        };
        device.v3 = Some(agent_core::sim::SimUsm::new(
            b"\x80\x00\x1f\x88\x04netsnmp".to_vec(),
            user("sim", Some(a), Some(p), ""),
        ));
        let sim = serve(vec![(loopback(), device)]).await.unwrap();
        let addr = sim.addrs()[0].to_string();
        let get = |priv_pass: &'static str| {
            let addr = addr.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new("snmpget")
                    .args(["-v3", "-l", "authPriv", "-u", "sim", "-a", net_snmp_auth(a)])
                    .args(["-A", AUTH_PASS, "-x", net_snmp_priv(p), "-X", priv_pass])
                    .args([
                        "-r",
                        "0",
                        "-t",
                        "2",
                        "-Ov",
                        "-Oq",
                        &addr,
                        "1.3.6.1.2.1.1.1.0",
                    ])
                    .output()
                    .expect("snmpget runs (Debian's snmp)")
            })
        };
        let out = get(PRIV_PASS).await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{a}/{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(String::from_utf8_lossy(&want).as_ref()),
            "{a}/{p}: {text}"
        );
        let out = get("wrong-priv-pass").await.unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Decryption error"),
            "{a}/{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
