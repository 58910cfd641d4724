//! Configuration files the way every printwatch program reads them: defaults, then a TOML
//! file, then `PRINTWATCH_*` environment variables (`PRINTWATCH_TLS__CA` sets `tls.ca`),
//! through figment. An unknown key or a bad value is an error naming the key and where it
//! came from; `PRINTWATCH_` variables that belong to other programs are left alone.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file given does not exist.
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
    /// A key is wrong; the message names it and its source, never the value given (it may
    /// be a password).
    #[error("configuration: {}", redacted(.0))]
    Invalid(#[from] Box<figment::Error>),
    /// A value of the right type that cannot be used.
    #[error("configuration: {key} = {value}: {why}")]
    OutOfRange {
        /// The key, dotted (`sites.hq.reorder_percent`).
        key: String,
        /// The value given (only ever a number or a choice, never a secret).
        value: String,
        /// What it must be.
        why: String,
    },
}

impl SettingsError {
    /// A value out of range, for the checks a program runs after loading.
    pub fn out_of_range(key: &str, value: impl std::fmt::Display, why: &str) -> SettingsError {
        SettingsError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        }
    }
}

/// A figment error as people read it: each key that failed, what it must be, and where the
/// value came from, without the value itself. A password given where a number belongs
/// would otherwise be printed back.
fn redacted(e: &figment::Error) -> String {
    use figment::error::{Actual, Kind};
    let kind = |a: &Actual| match a {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    };
    e.clone()
        .into_iter()
        .map(|e| {
            let key = match e.path.join(".") {
                k if k.is_empty() => "the configuration".to_string(),
                k => k,
            };
            let what = match &e.kind {
                Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                    format!("expected {expected}, found {}", kind(actual))
                }
                Kind::Message(_) => "not a valid value here".to_string(),
                other => other.to_string(),
            };
            let from = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (in {} {source})", m.name),
                    None => format!(" (in {})", m.name),
                })
                .unwrap_or_default();
            format!("{key}: {what}{from}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads `T`: `defaults`, then `file` (if given), then the `PRINTWATCH_*` variables whose
/// first key is one of `T`'s top-level keys (taken from `defaults`, so a key added to `T`
/// is settable from the environment without anyone remembering to list it). A variable
/// naming a whole section (`PRINTWATCH_COORDINATOR`, which the operator client reads as an
/// address) is another program's and left alone; `PRINTWATCH_COORDINATOR__ENDPOINT` is ours.
pub fn load<T: Serialize + DeserializeOwned>(
    defaults: T,
    file: Option<&Path>,
) -> Result<T, SettingsError> {
    // Each top-level key, and whether it is a section (a table of keys).
    let keys: Vec<(String, bool)> = match Value::serialize(&defaults) {
        Ok(Value::Dict(_, top)) => top
            .iter()
            .map(|(k, v)| (k.clone(), matches!(v, Value::Dict(..))))
            .collect(),
        _ => Vec::new(),
    };
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(f) = file {
        if !f.is_file() {
            return Err(SettingsError::Missing(f.to_path_buf()));
        }
        figment = figment.merge(Toml::file_exact(f));
    }
    // The filter sees a variable's name as it is spelled, before figment lowercases it
    // (`TLS__CA`, not `tls.ca`): keys are compared without regard to case.
    let ours = move |name: &str| {
        let mut parts = name.split("__");
        let first = parts.next().unwrap_or_default();
        let nested = parts.next().is_some();
        keys.iter()
            .any(|(known, section)| known.eq_ignore_ascii_case(first) && (nested || !section))
    };
    figment = figment.merge(
        Env::prefixed("PRINTWATCH_")
            .filter(move |k| ours(k.as_str()))
            .split("__"),
    );
    figment
        .extract()
        .map_err(|e| SettingsError::Invalid(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_is_named_by_its_key_and_never_echoed() {
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Secretive {
            settingsecret_port: u16,
        }
        let file = std::env::temp_dir().join(format!("pw-secret-{}.toml", std::process::id()));
        std::fs::write(&file, "settingsecret_port = \"hunter2-password\"\n").unwrap();
        let e = load(
            Secretive {
                settingsecret_port: 1,
            },
            Some(&file),
        )
        .unwrap_err()
        .to_string();
        let _ = std::fs::remove_file(&file);
        assert!(e.contains("settingsecret_port"), "{e}");
        assert!(e.contains("found a string"), "{e}");
        assert!(e.contains(&file.display().to_string()), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        settingsprobe: Inner,
        /// A plain key, unset by default: the environment can still set it.
        settingsprobe_plain: Option<u32>,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        name: String,
        list: Vec<String>,
    }

    /// The variables are this test's alone (no other settings know `settingsprobe`), so
    /// setting them cannot change what another test loads.
    #[test]
    fn variables_override_the_file_and_a_section_alone_is_not_ours() {
        let file = std::env::temp_dir().join(format!("pw-settings-{}.toml", std::process::id()));
        std::fs::write(
            &file,
            "[settingsprobe]\nname = \"from the file\"\nlist = [\"a\", \"b\"]\n",
        )
        .unwrap();
        let defaults = || Probe {
            settingsprobe: Inner {
                name: "default".into(),
                list: Vec::new(),
            },
            settingsprobe_plain: None,
        };
        let loaded: Probe = load(defaults(), Some(&file)).unwrap();
        assert_eq!(loaded.settingsprobe.name, "from the file");
        assert_eq!(loaded.settingsprobe.list, ["a", "b"]);

        std::env::set_var("PRINTWATCH_SETTINGSPROBE__NAME", "from the environment");
        std::env::set_var("PRINTWATCH_SETTINGSPROBE__LIST", "[]");
        std::env::set_var("PRINTWATCH_SETTINGSPROBE", "https://another.program:1");
        std::env::set_var("PRINTWATCH_SETTINGSPROBE_PLAIN", "7");
        let loaded: Probe = load(defaults(), Some(&file)).unwrap();
        std::env::remove_var("PRINTWATCH_SETTINGSPROBE__NAME");
        std::env::remove_var("PRINTWATCH_SETTINGSPROBE__LIST");
        std::env::remove_var("PRINTWATCH_SETTINGSPROBE");
        std::env::remove_var("PRINTWATCH_SETTINGSPROBE_PLAIN");
        let _ = std::fs::remove_file(&file);
        assert_eq!(loaded.settingsprobe.name, "from the environment");
        assert!(
            loaded.settingsprobe.list.is_empty(),
            "an empty list in the environment replaces the file's"
        );
        assert_eq!(
            loaded.settingsprobe_plain,
            Some(7),
            "every top-level key is settable, without a list of them to keep"
        );
    }
}
