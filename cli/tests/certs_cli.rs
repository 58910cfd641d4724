//! `printwatch certs`: a fleet CA and its certificates from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

fn printwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_printwatch"))
}

#[test]
fn init_then_issue_then_refuse_to_overwrite() {
    let dir = printwatch_tests::tempdir("certs-cli");
    let out = printwatch()
        .args(["certs", "init", "--collector", "hq", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "ca.pem",
        "ca.key",
        "coordinator.pem",
        "coordinator.key",
        "collector-hq.pem",
        "operator-admin.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let out = printwatch()
        .args(["certs", "issue", "collector", "branch2", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let der = {
        let text = std::fs::read_to_string(dir.join("collector-branch2.pem")).unwrap();
        x509_parser::pem::parse_x509_pem(text.as_bytes())
            .unwrap()
            .1
            .contents
    };
    let (role, name) = printwatch_pki::identity_of(&der).unwrap();
    assert_eq!(
        (role, name.as_str()),
        (printwatch_pki::Role::Collector, "branch2")
    );

    let again = printwatch()
        .args(["certs", "init", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("already holds a fleet CA"),
        "{err}"
    );
    let bad = printwatch()
        .args(["certs", "issue", "collector", "../x", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a usable name"));
    let _ = std::fs::remove_dir_all(&dir);
}
