//! Invariants of the coordinator's shape that no type can express, checked in its source:
//! every actor is spawned in one place (`service.rs`), and the store decides nothing (it
//! uses neither the policy nor ingest). The one-writer rule itself is a type: see the
//! compile-fail examples on `printwatch_coordinator::store::Store`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

/// The code of a source file before its test module, if it has one, without comments
/// (doc comments link to other modules by name).
fn code(text: &str) -> Vec<&str> {
    text.split("#[cfg(test)]")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect()
}

/// True when a line spawns or prepares an actor: `Type::spawn(` or `Type::prepare()` with
/// a type's name (tasks are `tokio::spawn`).
fn starts_an_actor(line: &str) -> bool {
    ["::spawn(", "::prepare()", "::spawn_with_mailbox("]
        .iter()
        .any(|needle| {
            line.match_indices(needle).any(|(at, _)| {
                let before = &line[..at];
                let name = before
                    .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                name.starts_with(|c: char| c.is_ascii_uppercase())
            })
        })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert!(starts_an_actor(
        "    let q = Queries::spawn((reader, policy));"
    ));
    assert!(starts_an_actor("let i = Ingestor::prepare();"));
    assert!(!starts_an_actor("    tokio::spawn(async move {"));
    assert_eq!(
        code("a\n/// [`crate::policy`]\nb\n#[cfg(test)]\nc"),
        ["a", "b"]
    );
}

#[test]
fn every_actor_is_spawned_in_service_rs() {
    let mut elsewhere = Vec::new();
    for (path, text) in sources(&src()) {
        if path.ends_with("service.rs") || path.ends_with("ingest/tests.rs") {
            continue;
        }
        for line in code(&text) {
            if starts_an_actor(line) {
                elsewhere.push(format!("{}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
}

#[test]
fn the_store_decides_nothing() {
    let store = sources(&src().join("store"));
    assert!(store.len() >= 9, "the store's modules: {}", store.len());
    let mut decides = Vec::new();
    for (path, text) in store {
        for line in code(&text) {
            for needle in [
                "crate::policy",
                "crate::ingest",
                "crate::watchdog",
                "crate::mail",
                "crate::dealer",
            ] {
                if line.contains(needle) {
                    decides.push(format!("{}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert!(decides.is_empty(), "{decides:?}");
}

#[test]
fn the_coordinator_depends_on_no_collector() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        !text.contains("printwatch-collector") && !text.contains("printwatch-cli"),
        "the coordinator is the server and its library: {text}"
    );
}
