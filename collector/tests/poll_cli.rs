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
