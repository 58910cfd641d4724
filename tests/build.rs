//! Whether the shared printer corpus is here: `cfg(corpus)` when it is, so that the tests of
//! the real recordings run, and are compiled as ignored (with the reason) in a clone of the
//! repository alone. Under CI (`CI=true`) a missing corpus fails the build: CI must never
//! skip those tests silently.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(corpus)");
    println!("cargo::rerun-if-env-changed=PRINTWATCH_CORPUS");
    println!("cargo::rerun-if-env-changed=CI");
    let dir = std::env::var_os("PRINTWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let printers = dir.join("printers");
    // scripts/test says whether it found the corpus, so a corpus that appears later is
    // noticed (a plain `cargo test` after that needs `touch tests/build.rs`).
    println!("cargo::rerun-if-env-changed=PRINTWATCH_CORPUS_FOUND");
    if printers.is_dir() {
        // Run again when it changes or goes. Not when it is missing: cargo takes a missing
        // path as changed, and would rebuild these tests on every run of a clone alone.
        println!("cargo::rerun-if-changed={}", printers.display());
        println!("cargo::rustc-cfg=corpus");
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true and the printer corpus is not at {}: CI runs every corpus test (set PRINTWATCH_CORPUS)",
            dir.display()
        );
    }
}
