//! `printwatch demo`, the README's first command: a coordinator, two collectors and
//! simulated printers on loopback, and the fleet as the coordinator holds it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

#[test]
fn demo_shows_the_live_fleet_of_both_sites() {
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch"))
        .args([
            "demo",
            "--printers",
            "26",
            "--cycles",
            "8",
            "--interval",
            "1s",
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
    assert!(!text.contains('\x1b'), "no screen control codes in a pipe");
    // 26 printers at 27 addresses (one reachable from both sites), one switched off: 25
    // devices, split across the two sites. The shared printer belongs to whichever site
    // reported it last, so the split is 12/13 or 13/12.
    let last = text.rsplit("cycle ").next().unwrap();
    assert!(
        last.contains("25 devices in the fleet (north 12, south 13)")
            || last.contains("25 devices in the fleet (north 13, south 12)"),
        "{last}"
    );
    let rows = last.lines().filter(|l| l.starts_with("127.62.")).count();
    assert_eq!(rows, 25, "{last}");
    assert!(
        last.contains("SIM2026-00000"),
        "the printer both sites see is there, once"
    );
    assert_eq!(last.matches("SIM2026-00000").count(), 1);
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
