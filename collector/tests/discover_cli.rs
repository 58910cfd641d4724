//! `printwatch-collector discover` as a user runs it: JSON Lines events, exclusions, names,
//! the time limit and Ctrl-C, against simulated printers on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use agent_core::sim::{serve, synthetic};

fn collector() -> Command {
    Command::new(env!("CARGO_BIN_EXE_printwatch-collector"))
}

fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_events_exclusions_and_names() {
    // Ten printers at 127.95.0.1-10; 127.95.0.4-6 will be excluded.
    let devices = (1..=10u8)
        .map(|i| {
            (
                SocketAddr::from((Ipv4Addr::new(127, 95, 0, i), 16161)),
                synthetic::printer(95, u32::from(i)),
            )
        })
        .collect();
    let sim = serve(devices).await.unwrap();
    let out = tokio::task::spawn_blocking(|| {
        collector()
            .args([
                "discover",
                "127.95.0.0/24",
                "no-such-printer.invalid",
                "--exclude",
                "127.95.0.4-127.95.0.6",
                "--port",
                "16161",
                "--rate",
                "2000",
                "--timeout",
                "300ms",
                "--json",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a name that does not resolve makes the exit status 1"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot resolve no-such-printer.invalid"));
    let events = lines(&out.stdout);
    let (done, found) = events.split_last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["reason"], "complete");
    assert_eq!(done["probed"], 254 - 3);
    assert_eq!(done["requests"], 254 - 3);
    assert_eq!(done["printers"], 7);
    for key in ["others", "bytes_sent", "bytes_received", "seconds"] {
        assert!(done.get(key).is_some(), "done lacks {key}");
    }
    assert_eq!(found.len(), 7);
    for f in found {
        assert_eq!(f["event"], "found");
        assert_eq!(f["class"], "printer");
        assert!(f["identity"]["serial"]
            .as_str()
            .unwrap()
            .starts_with("SIM95-"));
        assert!(f["reading"]["supplies"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
    }
    let asked = sim.requests();
    assert_eq!(&asked[3..6], &[0, 0, 0], "excluded addresses got nothing");
    assert!(asked
        .iter()
        .enumerate()
        .all(|(i, &n)| (3..6).contains(&i) || n > 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_time_limit_ends_the_sweep_and_says_so() {
    let out = tokio::task::spawn_blocking(|| {
        collector()
            .args([
                "discover",
                "127.96.0.0/16",
                "--port",
                "16161",
                "--rate",
                "300",
                "--time-limit",
                "1s",
                "--json",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let events = lines(&out.stdout);
    let done = events.last().unwrap();
    assert_eq!(done["reason"], "time_limit");
    assert!(done["seconds"].as_f64().unwrap() < 3.0);
    assert!(done["requests"].as_u64().unwrap() <= 400, "{done}");
}

#[test]
fn ctrl_c_stops_the_sweep_and_reports_what_was_found() {
    use std::io::BufRead;
    // A printer near the start of the range: the sweep is stopped once it has reported it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let printer = SocketAddr::from(([127, 97, 0, 3], 16161));
    let _sim = rt
        .block_on(serve(vec![(printer, synthetic::printer(97, 3))]))
        .unwrap();
    // With SIGINT inherited as ignored (a background job in CI): the handler must still work.
    let mut child = Command::new("bash")
        .args([
            "-c",
            "trap '' INT; exec \"$0\" discover 127.97.0.0/16 --port 16161 --rate 300 --json",
            env!("CARGO_BIN_EXE_printwatch-collector"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let found = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the printer reported before the sweep is stopped");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events = lines(found.as_bytes());
    events.extend(rx.try_iter().flat_map(|l| lines(l.as_bytes())));
    assert_eq!(events[0]["identity"]["address"], printer.to_string());
    let done = events.last().unwrap();
    assert_eq!(done["reason"], "cancelled");
    assert_eq!(done["printers"], 1, "what was found is reported");
    assert!(done["probed"].as_u64().unwrap() < 65_534);
}

#[test]
fn bad_ranges_are_refused_clearly() {
    let out = collector()
        .args(["discover", "10.0.0.0/33"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a range"));
    let out = collector()
        .args(["discover", "127.0.0.1", "--rate", "0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
    // A slip in a prefix length does not start hours of probing.
    let out = collector()
        .args(["discover", "127.0.0.0/8", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("more than a /16") && err.contains("--large"),
        "{err}"
    );
}
