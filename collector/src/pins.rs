//! The certificates trusted on first use: each `ipps://` printer's SHA-256 fingerprint,
//! pinned the first time it answered and kept across restarts in the collector's data
//! directory, as SSH keeps `known_hosts`. A printer whose certificate changes is not read
//! until a person says the new one is right (`printwatch-collector forget-pin`).
//!
//! The scheduler owns the store and is its only writer while the collector runs;
//! `forget-pin` edits the file, and the scheduler reads a printer's line again when its
//! certificate does not match, so a forgotten pin takes effect at the next poll.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agent_core::ipp::Fingerprint;

/// The file's name in the data directory.
pub const FILE: &str = "ipp-pins.json";

/// Why the pins could not be read or kept.
pub use crate::json_map::MapError as PinError;

/// Each `ipps://` printer's pinned fingerprint, by its URI.
#[derive(Debug)]
pub struct PinStore {
    path: PathBuf,
    pins: BTreeMap<String, Fingerprint>,
}

impl PinStore {
    /// The pins kept in `data_dir` (none when the file is not there yet).
    pub fn open(data_dir: &Path) -> Result<PinStore, PinError> {
        let path = data_dir.join(FILE);
        let pins = read(&path)?;
        Ok(PinStore { path, pins })
    }

    /// The fingerprint pinned for the printer at `uri`.
    pub fn get(&self, uri: &str) -> Option<Fingerprint> {
        self.pins.get(uri).copied()
    }

    /// Pins `fingerprint` for `uri` and keeps it on disk before it returns; true when it
    /// was not pinned already (nothing is written then).
    pub fn pin(&mut self, uri: &str, fingerprint: Fingerprint) -> Result<bool, PinError> {
        if self.pins.get(uri) == Some(&fingerprint) {
            return Ok(false);
        }
        self.pins.insert(uri.to_string(), fingerprint);
        write(&self.path, &self.pins).map(|()| true)
    }

    /// Forgets the pin of `uri`: the next certificate it shows is trusted. False when
    /// none was pinned.
    pub fn forget(&mut self, uri: &str) -> Result<bool, PinError> {
        if self.pins.remove(uri).is_none() {
            return Ok(false);
        }
        write(&self.path, &self.pins).map(|()| true)
    }

    /// Reads `uri`'s line again from the file (another process may have forgotten it):
    /// what is pinned for it now.
    pub fn reread(&mut self, uri: &str) -> Result<Option<Fingerprint>, PinError> {
        match read(&self.path)?.get(uri) {
            Some(f) => {
                self.pins.insert(uri.to_string(), *f);
                Ok(Some(*f))
            }
            None => {
                self.pins.remove(uri);
                Ok(None)
            }
        }
    }

    /// Every pin, by URI.
    pub fn all(&self) -> impl Iterator<Item = (&str, Fingerprint)> {
        self.pins.iter().map(|(u, f)| (u.as_str(), *f))
    }
}

fn read(path: &Path) -> Result<BTreeMap<String, Fingerprint>, PinError> {
    crate::json_map::read(path)?
        .into_iter()
        .map(|(uri, f)| match Fingerprint::parse(&f) {
            Some(f) => Ok((uri, f)),
            None => Err(PinError::garbled(
                path,
                format!("{uri}: {f:?} is not a SHA-256 fingerprint"),
            )),
        })
        .collect()
}

fn write(path: &Path, pins: &BTreeMap<String, Fingerprint>) -> Result<(), PinError> {
    let text: BTreeMap<String, String> = pins
        .iter()
        .map(|(u, f)| (u.clone(), f.to_string()))
        .collect();
    crate::json_map::write(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint([b; 32])
    }

    #[test]
    fn pins_outlive_the_store_and_forgetting_is_kept_too() {
        let dir = std::env::temp_dir().join(format!("pw-pins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut pins = PinStore::open(&dir).unwrap();
        assert_eq!(pins.get("ipps://a:631/ipp/print"), None);
        pins.pin("ipps://a:631/ipp/print", fp(1)).unwrap();
        pins.pin("ipps://b:631/ipp/print", fp(2)).unwrap();
        let mut again = PinStore::open(&dir).unwrap();
        assert_eq!(again.get("ipps://a:631/ipp/print"), Some(fp(1)));
        assert_eq!(again.all().count(), 2);

        // Another process forgets a pin; the first store learns it when it reads again.
        assert!(again.forget("ipps://a:631/ipp/print").unwrap());
        assert!(!again.forget("ipps://a:631/ipp/print").unwrap());
        assert_eq!(pins.get("ipps://a:631/ipp/print"), Some(fp(1)));
        assert_eq!(pins.reread("ipps://a:631/ipp/print").unwrap(), None);
        assert_eq!(pins.get("ipps://a:631/ipp/print"), None);
        assert_eq!(pins.get("ipps://b:631/ipp/print"), Some(fp(2)));

        std::fs::write(dir.join(FILE), "{\"ipps://a\": \"zz\"}").unwrap();
        let e = PinStore::open(&dir).unwrap_err().to_string();
        assert!(
            e.contains("not a file this collector wrote") && e.contains("zz"),
            "{e}"
        );
        std::fs::write(dir.join(FILE), "garbage").unwrap();
        assert!(matches!(
            PinStore::open(&dir),
            Err(PinError::Garbled { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
