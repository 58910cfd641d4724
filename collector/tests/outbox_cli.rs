//! `printwatch-collector outbox check`: what an outbox holds, and damage with the
//! envelopes it cost; it changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

use printwatch_collector::outbox::Outbox;
use printwatch_proto::v1 as p;

fn check(dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_printwatch-collector"))
        .args(["outbox", "check", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn check_says_what_waits_and_what_damage_cost() {
    let dir = printwatch_tests::tempdir("outbox-check");
    let o = Outbox::open(&dir).unwrap();
    for n in 1..=5u64 {
        o.push(p::envelope::Body::SweepDone(p::SweepDone {
            probed: n,
            ..Default::default()
        }))
        .await
        .unwrap();
    }
    o.ack(2).unwrap();
    let (code, text) = check(&dir);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("waiting       3 envelopes") && text.contains("no damage"),
        "{text}"
    );
    drop(o);

    // A byte flipped in the middle of the segment.
    let segment = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();
    let (code, text) = check(&dir);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("DAMAGE") && text.contains("envelope 3 lost"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "check changes nothing"
    );

    // The collector recovers the records after it.
    let o = Outbox::open(&dir).unwrap();
    let seqs: Vec<u64> = o
        .pending_after(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [4, 5]);
    drop(o);
    let (code, text) = check(&dir);
    assert_eq!(code, Some(0), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
