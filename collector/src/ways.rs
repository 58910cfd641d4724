//! Which way each printer answers: the IPP URI of a printer given by its address that
//! stopped answering SNMP (turned off on it), or whose SNMP says nothing of its supplies,
//! and answered IPP instead. Kept in the data directory, so that after a restart the
//! collector asks it over IPP straight away instead of waiting for SNMP to fail again.
//!
//! The scheduler owns the store and is its only writer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agent_core::ipp::IppUri;

use crate::json_map::MapError;

/// The file's name in the data directory.
pub const FILE: &str = "ipp-ways.json";

/// Each printer read over IPP though it was given by its SNMP address: the address to the
/// URI that answers.
#[derive(Debug)]
pub struct WayStore {
    path: PathBuf,
    ways: BTreeMap<SocketAddr, IppUri>,
}

impl WayStore {
    /// The ways kept in `data_dir` (none when the file is not there yet).
    pub fn open(data_dir: &Path) -> Result<WayStore, MapError> {
        let path = data_dir.join(FILE);
        let ways = crate::json_map::read(&path)?
            .into_iter()
            .map(|(addr, uri)| {
                let a = addr.parse::<SocketAddr>().map_err(|e| {
                    MapError::garbled(&path, format!("{addr:?} is not an address: {e}"))
                })?;
                let u = uri
                    .parse::<IppUri>()
                    .map_err(|e| MapError::garbled(&path, e.to_string()))?;
                Ok((a, u))
            })
            .collect::<Result<_, MapError>>()?;
        Ok(WayStore { path, ways })
    }

    /// The URI that answers for the printer at `addr`, when it answers IPP and not SNMP.
    pub fn get(&self, addr: SocketAddr) -> Option<&IppUri> {
        self.ways.get(&addr)
    }

    /// Remembers that the printer at `addr` answers at `uri`, on disk before it returns.
    pub fn remember(&mut self, addr: SocketAddr, uri: IppUri) -> Result<(), MapError> {
        if self.ways.get(&addr) == Some(&uri) {
            return Ok(());
        }
        self.ways.insert(addr, uri);
        self.write()
    }

    /// Forgets the way of `addr` (it answers SNMP again, or is no longer polled).
    pub fn forget(&mut self, addr: SocketAddr) -> Result<(), MapError> {
        if self.ways.remove(&addr).is_none() {
            return Ok(());
        }
        self.write()
    }

    fn write(&self) -> Result<(), MapError> {
        let text: BTreeMap<String, String> = self
            .ways
            .iter()
            .map(|(a, u)| (a.to_string(), u.to_string()))
            .collect();
        crate::json_map::write(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_way_outlives_the_store_and_a_bad_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("pw-ways-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let addr: SocketAddr = "10.0.0.7:161".parse().unwrap();
        let uri: IppUri = "ipps://10.0.0.7/ipp/print".parse().unwrap();
        let mut ways = WayStore::open(&dir).unwrap();
        assert_eq!(ways.get(addr), None);
        ways.remember(addr, uri.clone()).unwrap();
        assert_eq!(WayStore::open(&dir).unwrap().get(addr), Some(&uri));
        ways.forget(addr).unwrap();
        assert_eq!(WayStore::open(&dir).unwrap().get(addr), None);

        std::fs::write(dir.join(FILE), r#"{"10.0.0.7:161": "http://x"}"#).unwrap();
        let e = WayStore::open(&dir).unwrap_err().to_string();
        assert!(e.contains("not an IPP printer's address"), "{e}");
        std::fs::write(dir.join(FILE), r#"{"nowhere": "ipp://x"}"#).unwrap();
        assert!(WayStore::open(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
