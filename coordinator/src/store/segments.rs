//! History's files: one append-only segment per UTC day of the readings it holds
//! (`history/<day>.log` beside sled's files), each a run of [`super::history_record`]s.
//! A segment is self-contained: a device's first record in it is a full one, so a
//! segment is read without any other, and retention deletes a day's file whole.
//!
//! What a segment holds is what sled says it holds: its committed length is written to
//! sled (with the heads that point into it) only after its bytes are on disk, and opening
//! the store cuts every segment back to that length. So a torn tail, or records written
//! for a batch that a crash kept from being acknowledged, are gone on open, and the
//! collector's replay of that batch writes them once.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::history_record::{header, BadRecord, Header};
use super::StoreError;
use crate::timestamp::Timestamp;

/// A segment's number: the day of the readings in it, counted from the Unix epoch.
pub type Day = u32;

/// The day `at` falls on.
pub fn day_of(at: Timestamp) -> Day {
    u32::try_from(at.unix_seconds().div_euclid(86_400)).unwrap_or(0)
}

/// The first instant of `day`.
pub fn day_start(day: Day) -> Timestamp {
    Timestamp::from_unix_seconds(i64::from(day) * 86_400)
}

/// Where segment `day` of the history in `dir` is.
pub fn path(dir: &Path, day: Day) -> PathBuf {
    dir.join(format!("{day:06}.log"))
}

/// The days whose segment files are in `dir`, whatever sled says of them.
pub fn on_disk(dir: &Path) -> Result<Vec<Day>, StoreError> {
    let mut days = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let Some(day) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        days.push(day);
    }
    days.sort_unstable();
    Ok(days)
}

/// Cuts segment `day` back to `len` bytes (deleting it at 0): what a crash or a failed
/// write left beyond what sled says was committed.
pub fn cut(dir: &Path, day: Day, len: u64) -> Result<(), StoreError> {
    let p = path(dir, day);
    if len == 0 {
        return match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(()),
        };
    }
    let f = OpenOptions::new().write(true).open(&p).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size < len {
        return Err(StoreError::Corrupt(format!(
            "history segment {} is {size} bytes, but {len} were written to it",
            p.display()
        )));
    }
    if size > len {
        f.set_len(len).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    Ok(())
}

/// Deletes segment `day`.
pub fn remove(dir: &Path, day: Day) -> Result<(), StoreError> {
    cut(dir, day, 0)
}

/// The segments the writer appends to, kept open.
#[derive(Debug, Default)]
pub struct Appender {
    files: HashMap<Day, File>,
}

impl Appender {
    /// Appends `bytes` to segment `day`, which holds `at` bytes now, and makes them
    /// durable.
    pub fn append(
        &mut self,
        dir: &Path,
        day: Day,
        at: u64,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        if !self.files.contains_key(&day) {
            // Few days are written at once (today, and the day before around midnight);
            // an old one written by a late batch is closed again soon.
            if self.files.len() >= 4 {
                self.files.clear();
            }
            let f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path(dir, day))
                .map_err(|e| StoreError::Unwritable(format!("history's segment: {e}")))?;
            self.files.insert(day, f);
        }
        let Some(f) = self.files.get_mut(&day) else {
            return Err(StoreError::Corrupt("a segment just opened is gone".into()));
        };
        // A write that fails is a disk that cannot be written (full, or read-only): the
        // coordinator stops taking readings until it has room, as when sled's flush fails.
        let unwritable = |e: std::io::Error| {
            StoreError::Unwritable(format!(
                "history's segment {}: {e}",
                path(dir, day).display()
            ))
        };
        f.write_all_at(bytes, at).map_err(unwritable)?;
        f.sync_data().map_err(unwritable)?;
        Ok(())
    }

    /// Closes every segment (before one is cut or deleted).
    pub fn close(&mut self) {
        self.files.clear();
    }
}

/// A segment opened for reading records at their offsets.
pub struct SegmentReader {
    file: File,
    /// What was read last, from where: a device's records sit close together in time,
    /// and a walk back often finds the next one in the same block.
    block: Vec<u8>,
    block_at: u64,
}

/// How much is read at once.
const BLOCK: usize = 4096;

impl SegmentReader {
    /// Opens segment `day`; `None` when it is gone (pruned).
    pub fn open(dir: &Path, day: Day) -> Result<Option<SegmentReader>, StoreError> {
        match File::open(path(dir, day)) {
            Ok(file) => Ok(Some(SegmentReader {
                file,
                block: Vec::new(),
                block_at: 0,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// The record at `at` (its bytes, whole) and its header.
    pub fn record(&mut self, at: u64) -> Result<(Header, Vec<u8>), StoreError> {
        let head = self.bytes(at, 24)?;
        let h = header(&head).map_err(corrupt)?;
        let whole = match h.len <= head.len() {
            true => head[..h.len].to_vec(),
            false => self.bytes(at, h.len)?,
        };
        if whole.len() < h.len {
            return Err(corrupt(BadRecord(format!("a record at {at} is cut short"))));
        }
        Ok((h, whole))
    }

    /// Up to `n` bytes from `at` (fewer at the end of the file).
    fn bytes(&mut self, at: u64, n: usize) -> Result<Vec<u8>, StoreError> {
        let end = self.block_at + self.block.len() as u64;
        if at >= self.block_at && at + n as u64 <= end {
            let from = (at - self.block_at) as usize;
            return Ok(self.block[from..from + n].to_vec());
        }
        // Blocks end where the record asked for does, so a walk back reads what comes
        // before it too.
        let want = n.max(BLOCK);
        let start = (at + n as u64).saturating_sub(want as u64);
        let mut buf = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match self.file.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        buf.truncate(got);
        self.block = buf;
        self.block_at = start;
        let from = (at - start) as usize;
        let to = (from + n).min(self.block.len());
        Ok(self
            .block
            .get(from..to)
            .map(<[u8]>::to_vec)
            .unwrap_or_default())
    }
}

/// A record and where it starts in its segment.
pub type Placed = (u64, Vec<u8>);

/// Every record of segment `day` up to `len`, in order, with its offset: for pruning's
/// count and for tools. `None` when the segment is gone.
pub fn scan(dir: &Path, day: Day, len: u64) -> Result<Option<Vec<Placed>>, StoreError> {
    let bytes = match std::fs::read(path(dir, day)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let end = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
    let mut out = Vec::new();
    let mut at = 0;
    while at < end {
        let h = header(&bytes[at..end]).map_err(corrupt)?;
        let Some(record) = bytes.get(at..at + h.len).filter(|_| at + h.len <= end) else {
            return Err(corrupt(BadRecord(format!("a record at {at} is cut short"))));
        };
        out.push((at as u64, record.to_vec()));
        at += h.len;
    }
    Ok(Some(out))
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Sled(sled::Error::Io(e))
}

fn corrupt(e: BadRecord) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_cut_back_to_what_was_committed_and_deleted_at_nothing() {
        let d = printwatch_tests::tempdir("segments");
        std::fs::create_dir_all(&d).unwrap();
        let mut a = Appender::default();
        a.append(&d, 7, 0, b"\x01\x01\x00").unwrap();
        a.append(&d, 7, 3, b"\x01\x01\x00").unwrap();
        a.close();
        assert_eq!(on_disk(&d).unwrap(), vec![7]);
        cut(&d, 7, 3).unwrap();
        assert_eq!(std::fs::metadata(path(&d, 7)).unwrap().len(), 3);
        assert!(matches!(cut(&d, 7, 9), Err(StoreError::Corrupt(_))));
        cut(&d, 7, 0).unwrap();
        assert!(on_disk(&d).unwrap().is_empty());
        assert!(SegmentReader::open(&d, 7).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&d);
    }
}
