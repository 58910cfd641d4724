//! The services' logs, through `tracing`: what happened and why, one event per line on
//! stderr, where systemd's journal or a container runtime picks it up. Libraries only emit
//! events (`tracing::warn!` and friends); a binary decides where they go by calling
//! [`init`] once, after its configuration is read, so `log_format` can be set like any
//! other key.
//!
//! `RUST_LOG` picks what is shown, as everywhere in Rust (`RUST_LOG=debug`,
//! `RUST_LOG=printwatch_coordinator=debug`). Without it printwatch's own crates speak at
//! `info` and its dependencies only at `warn`: an administrator reads what printwatch did,
//! not what hyper did.

use std::io::IsTerminal as _;

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// How a log line looks. Text for a person at a terminal or reading the journal; JSON
/// (one object per line, with `timestamp`, `level` and `fields`) for a log shipper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-11-29T10:00:00.000000Z  INFO message key=value`.
    #[default]
    Text,
    /// `{"timestamp":"…","level":"INFO","fields":{"message":"…","key":"value"}}`.
    Json,
}

/// What shows when `RUST_LOG` is not set: printwatch's crates at `info`, the rest at `warn`.
pub const DEFAULT_FILTER: &str = "warn,printwatch_collector=info,printwatch_coordinator=info,\
    printwatch_telemetry=info,printwatch_cli=info,printwatch=info,agent_core=info";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `RUST_LOG` does not parse as a filter.
    #[error("RUST_LOG: {0}")]
    Filter(String),
    /// A subscriber was already installed in this process.
    #[error("logging was already set up: {0}")]
    AlreadySet(String),
}

/// Sends this process's events to stderr in `format`, filtered by `RUST_LOG` (or
/// [`DEFAULT_FILTER`]). Colour only when stderr is a terminal, so files and the journal get
/// plain text. Call it once, early: events before it are not recorded.
pub fn init(format: LogFormat) -> Result<(), LogError> {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref())?;
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_target(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
    result.map_err(|e| LogError::AlreadySet(e.to_string()))
}

/// The filter `rust_log` (the value of `RUST_LOG`, when set and not blank) asks for.
fn filter(rust_log: Option<&str>) -> Result<EnvFilter, LogError> {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| LogError::Filter(format!("{directives:?}: {e}"))),
        None => EnvFilter::try_new(DEFAULT_FILTER).map_err(|e| LogError::Filter(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

    use super::*;

    #[test]
    fn the_default_filter_parses_and_a_bad_rust_log_is_named() {
        assert!(filter(None).is_ok());
        assert!(filter(Some("  ")).is_ok(), "blank is the same as unset");
        assert!(filter(Some("printwatch_coordinator=debug")).is_ok());
        let e = filter(Some("printwatch=loud")).unwrap_err().to_string();
        assert!(e.starts_with("RUST_LOG: \"printwatch=loud\""), "{e}");
    }

    #[test]
    fn the_format_is_spelled_in_lowercase_in_configuration() {
        #[derive(Deserialize)]
        struct C {
            log_format: LogFormat,
        }
        let c: C = serde_json::from_str(r#"{"log_format":"json"}"#).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let c: C = serde_json::from_str(r#"{"log_format":"text"}"#).unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(serde_json::from_str::<C>(r#"{"log_format":"xml"}"#).is_err());
    }
}
