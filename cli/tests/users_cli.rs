//! `printwatch users` against a live coordinator: add, list, set a password, remove. The
//! password is hashed on the operator's side with argon2id; the coordinator keeps only the
//! hash and never sends it back; bad input is refused before anything is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Stdio};

use printwatch_coordinator::config::CoordinatorConfig;
use printwatch_coordinator::service;
use printwatch_pki as certs;

fn printwatch(pki: &Path, url: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_printwatch"))
        .args(args)
        .arg("--pki")
        .arg(pki)
        .args(["--coordinator", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_added_listed_changed_and_removed_with_only_hashes_kept() {
    let dir = printwatch_tests::tempdir("users");
    certs::init(&dir, &[], &["hq".into()], "admin").unwrap();
    let mut config =
        CoordinatorConfig::with_pki(&dir, dir.join("db"), "127.0.0.1:0".parse().unwrap());
    config.cache_mb = 8;
    let coordinator = service::start(config).await.unwrap();
    let (url, store) = (
        format!("https://{}", coordinator.listen),
        coordinator.store.clone(),
    );
    let run = |args: &'static [&'static str], stdin: &'static str| {
        let (d, u) = (dir.clone(), url.clone());
        tokio::task::spawn_blocking(move || printwatch(&d, &u, args, stdin))
    };

    let pw_file = dir.join("anna.pw");
    std::fs::write(&pw_file, "a long passphrase for anna\n").unwrap();
    let (d, u, f) = (dir.clone(), url.clone(), pw_file.clone());
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        let f = f.to_string_lossy().into_owned();
        printwatch(
            &d,
            &u,
            &[
                "users",
                "add",
                "anna",
                "--role",
                "viewer",
                "--site",
                "hq",
                "--password-file",
                &f,
            ],
            "",
        )
    })
    .await
    .unwrap();
    assert!(ok && out.contains("anna (viewer)"), "{err}");
    let (ok, _, err) = run(
        &["users", "add", "it-admin", "--role", "admin"],
        "admin's long password\n",
    )
    .await
    .unwrap();
    assert!(ok, "{err}");

    // Stored as an argon2id hash that the password opens, and nothing else does.
    let anna = store.user("anna").unwrap().unwrap();
    assert!(anna.hash.starts_with("$argon2id$"), "{}", anna.hash);
    assert!(!anna.hash.contains("passphrase"));
    assert_eq!(anna.sites, ["hq"]);
    let sign_in = |name: &str, pw: &str| {
        printwatch_coordinator::users::sign_in(&store, name, pw)
            .unwrap()
            .is_some()
    };
    assert!(sign_in("anna", "a long passphrase for anna"));
    assert!(!sign_in("anna", "a long passphrase for Anna"));
    assert!(!sign_in("nobody", "a long passphrase for anna"));

    // Listed without hashes.
    let (ok, out, _) = run(&["users", "list", "--json"], "").await.unwrap();
    assert!(ok);
    assert_eq!(out.lines().count(), 2);
    assert!(!out.contains("argon2"), "{out}");
    assert!(
        out.contains("\"role\":\"viewer\"") && out.contains("\"sites\":[\"hq\"]"),
        "{out}"
    );

    // A new password opens, the old one no longer.
    let (ok, _, err) = run(&["users", "passwd", "anna"], "another long passphrase\n")
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert!(sign_in("anna", "another long passphrase"));
    assert!(!sign_in("anna", "a long passphrase for anna"));

    // Refused before anything is sent: a short password, a bad role, a bad name.
    for (args, stdin, says) in [
        (
            &["users", "add", "bob", "--role", "viewer"][..],
            "short\n",
            "too short",
        ),
        (
            &["users", "add", "bob", "--role", "root"][..],
            "long enough password\n",
            "viewer",
        ),
        (
            &["users", "add", "b o b", "--role", "viewer"][..],
            "long enough password\n",
            "user name",
        ),
        (&["users", "remove", "nobody"][..], "", "no user"),
        (
            &["users", "passwd", "nobody"][..],
            "long enough password\n",
            "no user",
        ),
    ] {
        let (ok, _, err) = run(args, stdin).await.unwrap();
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    assert!(store.user("bob").unwrap().is_none());

    let (ok, _, _) = run(&["users", "remove", "anna"], "").await.unwrap();
    assert!(ok);
    assert!(store.user("anna").unwrap().is_none());
    assert!(!sign_in("anna", "another long passphrase"));
    let _ = std::fs::remove_dir_all(&dir);
}
