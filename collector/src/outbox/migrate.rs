//! Carrying over the outbox of an earlier version: a sled database in the same directory,
//! with the pending envelopes in a `pending` tree keyed by number and the last number
//! used in `meta`. What it holds is appended to the log under the same numbers, and then
//! the database is removed; an upgrade loses nothing and repeats no number.

use std::path::Path;

use printwatch_proto::v1 as p;
use prost::Message;

use super::{io_at, OutboxError};

/// What an earlier outbox held.
pub struct Earlier {
    /// Envelopes not yet acknowledged, oldest first.
    pub pending: Vec<p::Envelope>,
    /// The last number it handed out.
    pub last: u64,
}

/// The files sled 0.34 keeps in its directory.
const SLED_FILES: &[&str] = &["db", "conf"];

/// Reads the earlier outbox in `dir`, if there is one.
pub fn earlier_outbox(dir: &Path) -> Result<Option<Earlier>, OutboxError> {
    if !SLED_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(None);
    }
    let db = sled::Config::new().path(dir).open()?;
    let mut pending = Vec::new();
    for kv in db.open_tree("pending")?.iter() {
        pending.push(p::Envelope::decode(kv?.1.as_ref())?);
    }
    let counter = db
        .open_tree("meta")?
        .get(b"next_seq")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes);
    let newest = pending.last().map_or(0, |e| e.seq);
    Ok(Some(Earlier {
        pending,
        last: counter.max(newest),
    }))
}

/// Removes the earlier outbox's files, once what it held is in the log.
pub fn remove(dir: &Path) -> Result<(), OutboxError> {
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if SLED_FILES.contains(&name.as_ref()) || name.starts_with("snap.") {
            std::fs::remove_file(&path).map_err(io_at(&path))?;
        } else if name == "blobs" {
            std::fs::remove_dir_all(&path).map_err(io_at(&path))?;
        }
    }
    Ok(())
}
