//! `printwatch-collector poll` as a user runs it: a real process against simulated printers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

use agent_core::sim::serve;
use printwatch_tests::{check_reading, expected, fixture, loopback, sim_device};

fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_printwatch-collector"))
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_one_reading_per_target_and_failures_on_stderr() {
    let recs = [fixture("special_levels"), fixture("ricoh_near_end")];
    let sim = serve(
        recs.iter()
            .map(|(n, p)| (loopback(), sim_device(n, p)))
            .collect(),
    )
    .await
    .unwrap();
    let silent = std::net::UdpSocket::bind(loopback()).unwrap(); // bound, never answers
    let mut args: Vec<String> = sim.addrs().iter().map(|a| a.to_string()).collect();
    args.insert(1, silent.local_addr().unwrap().to_string());
    args.push("no-such-printer.invalid".into());
    let out = tokio::task::spawn_blocking(move || {
        collector()
            .arg("poll")
            .args(&args)
            .args(["--json", "--timeout", "200ms", "--retries", "1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed target makes the exit status 1"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "the two printers still print: {stdout}");
    for ((name, path), line) in recs.iter().zip(&lines) {
        let want = expected(path);
        // What a pipe gets is the reading contract, and it reads exactly as the fixture says.
        let reading: agent_core::model::Reading =
            serde_json::from_value(line.clone()).expect("a reading");
        let wrong = check_reading(name, &reading, &want);
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(line["identity"]["sys_descr"], want["sys_descr"]);
        assert_eq!(
            line["supplies"].as_array().unwrap().len(),
            want["supplies"].as_array().unwrap().len()
        );
        for key in [
            "polled_at",
            "bytes_sent",
            "bytes_received",
            "round_trips",
            "meters",
            "status",
        ] {
            assert!(line.get(key).is_some(), "reading lacks {key}");
        }
        let s = &line["supplies"][0];
        for key in [
            "device_index",
            "index",
            "description",
            "part_number",
            "kind",
            "class",
            "color",
            "unit",
            "level",
            "max_capacity",
            "percent",
            "percent_source",
            "state",
        ] {
            assert!(s.get(key).is_some(), "supply lacks {key}");
        }
    }
    let acme = lines
        .iter()
        .find(|l| l["identity"]["model"] == "Acme Laser 3000")
        .expect("the generic printer read");
    assert_eq!(acme["supplies"][0]["part_number"], "ACM-0042");
    assert_eq!(acme["supplies"][0]["description"], "Black Toner");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("no answer from") && stderr.contains("wrong community"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot resolve no-such-printer.invalid"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn table_output_and_usage_errors() {
    let (n, p) = fixture("hp_hex");
    let sim = serve(vec![(loopback(), sim_device(&n, &p))]).await.unwrap();
    let addr = sim.addrs()[0].to_string();
    let out =
        tokio::task::spawn_blocking(move || collector().args(["poll", &addr]).output().unwrap())
            .await
            .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Cyan Cartridge HP W2031A")
            && text.contains("W2031A")
            && text.contains("12%"),
        "{text}"
    );

    let bad = collector()
        .args(["poll", "127.0.0.1", "--snmp-version", "3"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use 1 or 2c"));
    // Numbers a user can type but the program cannot use are usage errors, at once.
    for (flag, value, says) in [
        ("--timeout", "18446744073709551615s", "give 10ms to 60s"),
        ("--retries", "4294967295", "from 0 to 10"),
    ] {
        let bad = collector()
            .args(["poll", "127.0.0.1", flag, value])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains(says),
            "{flag}"
        );
    }
    let bad = collector().args(["poll", "300.1.1.1"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(
        !String::from_utf8_lossy(&bad.stderr).contains("cannot resolve"),
        "not sent to DNS"
    );
    let none = collector().arg("poll").output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    let help = collector().args(["poll", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples"));
}

/// `poll` and `discover` over SNMPv3: the passphrases come from a file or the environment,
/// never the command line; a wrong one is named in the error; no passphrase is printed,
/// in `--help`, errors or output.
#[tokio::test(flavor = "multi_thread")]
async fn v3_from_a_pass_file_or_the_environment_and_no_secret_shown() {
    use agent_core::usm::{AuthProtocol, PrivProtocol, UsmUser};
    use std::os::unix::fs::PermissionsExt;
    const AUTH: &str = "auth-secret-4321";
    const PRIV: &str = "priv-secret-8765";
    let (n, p) = fixture("special_levels");
    let mut device = sim_device(&n, &p);
    device.community = b"nobody-knows".to_vec();
    let user = UsmUser::new(
        "monitor",
        Some((AuthProtocol::Sha512, AUTH.as_bytes())),
        Some((PrivProtocol::Aes256, PRIV.as_bytes())),
        "",
    )
    .unwrap();
    device.v3 = Some(agent_core::sim::SimUsm::new(
        b"\x80\x00\x1f\x88\x04cli".to_vec(),
        user,
    ));
    let sim = serve(vec![(loopback(), device)]).await.unwrap();
    let addr = sim.addrs()[0].to_string();
    let dir = printwatch_tests::tempdir("v3-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let auth_file = dir.join("auth");
    std::fs::write(&auth_file, format!("{AUTH}\n")).unwrap();
    std::fs::set_permissions(&auth_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let run = |args: Vec<String>, envs: Vec<(&'static str, &'static str)>| {
        tokio::task::spawn_blocking(move || {
            collector()
                .args(&args)
                .envs(envs)
                .env_remove("PRINTWATCH_V3_AUTH_PASS")
                .output()
                .unwrap()
        })
    };
    let v3 = |priv_pass_env: &'static str| {
        let mut a: Vec<String> = vec!["poll".into(), addr.clone(), "--json".into()];
        a.extend(
            [
                "--timeout",
                "300ms",
                "--retries",
                "0",
                "--v3-user",
                "monitor",
                "--v3-auth",
                "SHA512",
                "--v3-priv",
                "AES256",
            ]
            .map(String::from),
        );
        a.push("--v3-auth-pass-file".into());
        a.push(auth_file.display().to_string());
        (a, vec![("PRINTWATCH_V3_PRIV_PASS", priv_pass_env)])
    };
    let (args, envs) = v3(PRIV);
    let out = run(args, envs).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let reading: agent_core::model::Reading = serde_json::from_str(stdout.trim()).unwrap();
    assert!(!reading.supplies.is_empty());

    // A wrong privacy passphrase is named as such, and not shown.
    let (args, envs) = v3("not-the-priv-pass");
    let out = run(args, envs).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("wrong privacy passphrase"), "{stderr}");
    assert!(!stderr.contains("not-the-priv-pass"), "{stderr}");

    // Without the privacy passphrase anywhere: an error saying where to put it.
    let (args, _) = v3(PRIV);
    let out = run(args, vec![]).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("PRINTWATCH_V3_PRIV_PASS"), "{stderr}");

    // A passphrase file others may read is refused.
    std::fs::set_permissions(&auth_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (args, envs) = v3(PRIV);
    let out = run(args, envs).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains(AUTH), "{stderr}");
    std::fs::set_permissions(&auth_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Discover finds it with the v3 user, shows the user and no secret.
    let ip = sim.addrs()[0].ip().to_string();
    let port = sim.addrs()[0].port().to_string();
    let mut args: Vec<String> = vec![
        "discover".into(),
        ip,
        "--port".into(),
        port,
        "--json".into(),
    ];
    args.extend(
        [
            "--timeout",
            "300ms",
            "--v3-user",
            "monitor",
            "--v3-auth",
            "SHA-512",
            "--v3-priv",
            "AES-256",
        ]
        .map(String::from),
    );
    args.push("--v3-auth-pass-file".into());
    args.push(auth_file.display().to_string());
    let out = run(args, vec![("PRINTWATCH_V3_PRIV_PASS", PRIV)])
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let found: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(found["event"], "found", "{stdout}");
    assert_eq!(found["class"], "printer");
    assert_eq!(found["credential"], "v3 user monitor (SHA512/AES256)");
    assert!(!stdout.contains(AUTH) && !stdout.contains(PRIV));

    // --help teaches the flags and where passphrases go, and takes none.
    for cmd in ["poll", "discover"] {
        let out = run(vec![cmd.into(), "--help".into()], vec![])
            .await
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(help.contains("--v3-auth-pass-file"), "{help}");
        assert!(help.contains("PRINTWATCH_V3_AUTH_PASS"), "{help}");
        assert!(!help.contains("--v3-auth-pass "), "{help}");
    }
}
