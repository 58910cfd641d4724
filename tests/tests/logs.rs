//! What the services log, run as the real binaries: `log_format = "json"` gives one JSON
//! object per line, the start-up line says what is served, `RUST_LOG` picks the levels, and
//! a bad `RUST_LOG` is an error that names it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use printwatch_pki::{self as certs, Role};
use printwatch_tests::{until_blocking, Kill, Process};

/// A coordinator's configuration in `dir` (certificates made there), listening on a port
/// the system picks, with `extra` TOML top-level keys.
fn coordinator_config(dir: &Path, extra: &str) -> PathBuf {
    let files = certs::paths(dir, Role::Coordinator, "coordinator");
    let config = dir.join("coordinator.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ncache_mb = 8\n{extra}\n\
             [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            dir.join("db").display(),
            dir.join("ca.pem").display(),
            files.cert.display(),
            files.key.display(),
        ),
    )
    .unwrap();
    config
}

#[test]
fn json_lines_and_a_start_up_line_that_says_what_is_served() {
    let dir = printwatch_tests::tempdir("logs-json");
    certs::init(&dir, &[], &[], "admin").unwrap();
    // Set from the environment, as the README shows (`log_format` in the file is the same
    // key through the same loader).
    let config = coordinator_config(&dir, "");
    let mut cmd = Command::new(printwatch_tests::binary("printwatch-coordinator"));
    cmd.arg("--config")
        .arg(&config)
        .env("PRINTWATCH_LOG_FORMAT", "json");
    let coordinator = Process::start(
        "printwatch-coordinator",
        cmd,
        &config.with_extension("log"),
        printwatch_coordinator::service::SERVING,
    );
    let text = coordinator.log_text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let serving = lines
        .iter()
        .find(|l| l["fields"]["message"] == printwatch_coordinator::service::SERVING)
        .unwrap_or_else(|| panic!("no start-up line in:\n{text}"));
    assert_eq!(serving["level"], "INFO");
    let listen: SocketAddr = serving["fields"]["listen"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the start-up line names no address: {serving}"));
    assert!(
        listen.ip().is_loopback() && listen.port() != 0,
        "the address bound, not the one asked for: {listen}"
    );
    assert_eq!(
        serving["fields"]["data"].as_str(),
        Some(dir.join("db").to_str().unwrap())
    );
    assert!(
        serving["timestamp"].is_string(),
        "every line has its time: {serving}"
    );
}

/// `RUST_LOG=warn`: a printer that does not answer is still said (a warning), the
/// start-up line (info), which comes before it, is not.
#[test]
fn rust_log_picks_the_levels() {
    let dir = printwatch_tests::tempdir("logs-filter");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let hq = certs::paths(&dir, Role::Collector, "hq");
    // A loopback port where nothing answers: bound here, so no one else takes it, and
    // never read.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let printer = silent.local_addr().unwrap();
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "site = \"hq\"\ndata_dir = \"{}\"\ntargets = [\"{printer}\"]\n\
             [coordinator]\nendpoint = \"https://127.0.0.1:9\"\nserver_name = \"localhost\"\n\
             [tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
             [snmp]\ntimeout_ms = 200\nretries = 0\n[intervals]\nstatus_seconds = 1\n",
            dir.join("outbox").display(),
            dir.join("ca.pem").display(),
            hq.cert.display(),
            hq.key.display()
        ),
    )
    .unwrap();
    let log = config.with_extension("log");
    let mut cmd = Command::new(printwatch_tests::binary("printwatch-collector"));
    cmd.args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn");
    let collector = Process::start(
        "printwatch-collector",
        cmd,
        &log,
        "the printer does not answer",
    );
    let text = collector.log_text();
    assert!(text.contains(" WARN "), "{text}");
    assert!(
        text.contains(&printer.to_string()),
        "the warning names the printer: {text}"
    );
    assert!(
        !text.contains(printwatch_collector::agent::RUNNING) && !text.contains(" INFO "),
        "RUST_LOG=warn leaves out info lines: {text}"
    );
    // Why the link failed says more than tonic's "transport error".
    assert!(
        text.contains("connecting to https://127.0.0.1:9: transport error: ")
            && text.to_lowercase().contains("refused"),
        "the link's failure gives its cause: {text}"
    );
    // The coordinator is not there either: retried every half second and more since the
    // start, and said once (the retries are debug lines).
    assert!(
        text.matches("the link to the coordinator failed").count() <= 1,
        "an outage is said once: {text}"
    );
}

#[test]
fn a_bad_rust_log_is_an_error_that_names_it() {
    let dir = printwatch_tests::tempdir("logs-bad");
    certs::init(&dir, &[], &[], "admin").unwrap();
    let config = coordinator_config(&dir, "");
    let child = Command::new(printwatch_tests::binary("printwatch-coordinator"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "printwatch=loud")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Kill(child);
    let mut status = None;
    until_blocking("the coordinator to exit", 30, || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.starts_with("error: RUST_LOG: \"printwatch=loud\""),
        "{stderr}"
    );
}
