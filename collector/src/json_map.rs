//! A small map of strings kept as one JSON object in the data directory (the pinned
//! certificates, the way each printer answers): read whole, written whole beside the old
//! file and renamed over it, so a crash leaves the old map or the new, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a map file could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what this program writes.
    #[error("{path}: not a file this collector wrote ({why}); move it aside to start afresh")]
    Garbled {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl MapError {
    /// `path` holds something else than this program writes.
    pub fn garbled(path: &Path, why: impl Into<String>) -> MapError {
        MapError::Garbled {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

/// The map in `path`; empty when there is no file yet.
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, MapError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(MapError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| MapError::garbled(path, e.to_string()))
}

/// Writes `map` to `path`, durably, before it returns.
pub fn write(path: &Path, map: &BTreeMap<String, String>) -> Result<(), MapError> {
    write_io(path, map).map_err(|source| MapError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_io(path: &Path, map: &BTreeMap<String, String>) -> std::io::Result<()> {
    let mut body = serde_json::to_string_pretty(map).map_err(std::io::Error::other)?;
    body.push('\n');
    let tmp = path.with_extension("json.new");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
