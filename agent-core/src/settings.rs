//! Configuration files the way every printwatch program reads them: defaults, then a TOML
//! file, then `PRINTWATCH_*` environment variables (`PRINTWATCH_TLS__CA` sets `tls.ca`),
//! through figment. An unknown key or a bad value is an error naming the key and where it
//! came from; `PRINTWATCH_` variables that belong to other programs are left alone.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file given does not exist.
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
    /// A key is wrong; the message names it and its source.
    #[error("configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

/// Loads `T`: `defaults`, then `file` (if given), then the `PRINTWATCH_*` variables whose
/// first key is one of `keys` (the top-level keys of `T`).
pub fn load<T: Serialize + DeserializeOwned>(
    defaults: T,
    file: Option<&Path>,
    keys: &'static [&'static str],
) -> Result<T, SettingsError> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(f) = file {
        if !f.is_file() {
            return Err(SettingsError::Missing(f.to_path_buf()));
        }
        figment = figment.merge(Toml::file_exact(f));
    }
    figment = figment.merge(Env::prefixed("PRINTWATCH_").split("__").filter(move |k| {
        keys.iter()
            .any(|known| k.as_str().split('.').next() == Some(known))
    }));
    figment
        .extract()
        .map_err(|e| SettingsError::Invalid(Box::new(e)))
}
