//! Rules about the tests themselves, checked on the workspace's source.
//!
//! A test that sleeps a fixed time and then asserts passes on an idle machine and fails (or
//! proves nothing) on a busy one. Tests wait for the event they need instead (`until`,
//! `Process::wait_for`, a metric, a counter); a sleep belongs only inside a loop that polls
//! with a deadline, or as a stimulus (a stop that fires after a while).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};

/// Every `.rs` file of the workspace under `dir`, but for build output.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "corpus") {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// A line that carries a statement: not blank, not a comment, not only closing brackets.
fn significant(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty()
        || t.starts_with("//")
        || t.chars().all(|c| matches!(c, '}' | ')' | ']' | ';' | ',')))
}

/// Where a sleep is followed, in its own block and within the next two statements, by an
/// assertion. Leaving the block (a polling loop's end, a stimulus task's end) ends the look.
fn sleeps_then_asserts(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("//") || !line.contains("sleep(") {
            continue;
        }
        let mut depth = 0i32;
        let mut statements = 0;
        for next in &lines[i + 1..] {
            depth += next.matches('{').count() as i32 - next.matches('}').count() as i32;
            if depth < 0 || statements == 2 {
                break;
            }
            if significant(next) {
                statements += 1;
                if next.trim_start().starts_with("assert") {
                    found.push(i + 1);
                    break;
                }
            }
        }
    }
    found
}

#[test]
fn the_rule_sees_a_sleep_then_an_assertion_and_not_a_polling_loop() {
    let bad = "tokio::time::sleep(Duration::from_secs(2)).await;\n\
               assert_eq!(stored(), 3);\n";
    assert_eq!(sleeps_then_asserts(bad), vec![1]);
    let bad = "std::thread::sleep(WAIT);\n\nlet n = stored();\nassert!(n > 0);\n";
    assert_eq!(sleeps_then_asserts(bad), vec![1]);
    let polling = "while !done() {\n    assert!(Instant::now() < deadline, \"timed out\");\n    \
                   std::thread::sleep(POLL);\n}\n}\n\nfn next() {\n    assert!(ok());\n}\n";
    assert!(sleeps_then_asserts(polling).is_empty());
    let arm = "match r {\n    Ok(v) => return v,\n    _ => sleep(WAIT).await,\n}\n}\n\
               async fn next() {\n    assert!(ok());\n}\n";
    assert!(sleeps_then_asserts(arm).is_empty());
}

#[test]
fn no_test_asserts_after_a_fixed_sleep() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(
        files.len() > 50,
        "the workspace's sources were not found from {}",
        root.display()
    );
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // This file's own examples are strings, not tests.
        if f.ends_with("tests/tests/hygiene.rs") {
            continue;
        }
        for line in sleeps_then_asserts(&text) {
            offenders.push(format!("{}:{line}", f.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "a sleep followed by an assertion; wait for the event instead (printwatch_tests::until):\n{}",
        offenders.join("\n")
    );
}

/// Where a library prints instead of logging: `eprintln!`/`println!` outside the
/// binaries. A service's library speaks through `tracing`, so its lines get the level,
/// the time, the fields and the format (text or JSON) its operator chose.
fn prints(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.starts_with("//") && (t.contains("eprintln!(") || t.contains("println!("))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn libraries_log_instead_of_printing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The binaries' own files: they speak to a person at a terminal.
    let binaries = [
        "collector/src/main.rs",
        "collector/src/discover_cmd.rs",
        "coordinator/src/main.rs",
        // The one place the binaries write results and their final error.
        "agent-core/src/output.rs",
    ];
    let mut offenders = Vec::new();
    for krate in [
        "agent-core",
        "collector",
        "coordinator",
        "telemetry",
        "pki",
        "proto",
    ] {
        let mut files = Vec::new();
        sources(&root.join(krate).join("src"), &mut files);
        assert!(!files.is_empty(), "no sources in {krate}/src");
        for f in files {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if binaries.contains(&rel.as_str()) || rel.contains("/src/bin/") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for line in prints(&text) {
                offenders.push(format!("{rel}:{line}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a library prints; use tracing (info!, warn!, error!) instead:\n{}",
        offenders.join("\n")
    );
}
