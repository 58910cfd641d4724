//! `printwatch demo`, the README's first command, runs and shows the fleet.

use std::process::Command;

#[test]
fn demo_shows_the_live_fleet() {
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch"))
        .args([
            "demo",
            "--printers",
            "26",
            "--cycles",
            "2",
            "--interval",
            "200ms",
            "--base",
            "127.62.0.1",
            "--port",
            "16161",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("cycle 2: 25 answered, 1 not answering"),
        "{text}"
    );
    let fleet_rows = text.lines().filter(|l| l.starts_with("127.62.0.")).count();
    assert_eq!(fleet_rows, 2 * 26);
    assert!(text.contains("NOT ANSWERING"));
    assert!(!text.contains('\x1b'), "no screen control codes in a pipe");
}

#[test]
fn demo_refuses_to_leave_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch"))
        .args(["demo", "--base", "10.0.0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
