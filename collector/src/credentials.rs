//! Who the collector is to its printers: an ordered list of SNMP credentials (v3 users and
//! v1/v2c communities), from the configuration file or the command line, with the v3
//! passphrases read from a file only the service can read or from the environment.
//!
//! A passphrase is turned into keys as soon as it is read and kept nowhere else: it is
//! never an argument (a process list shows those), and no `Debug` or `Display` of what
//! this module returns shows it.

use std::path::{Path, PathBuf};

use agent_core::message::Version;
use agent_core::transport::Security;
use agent_core::usm::{AuthProtocol, PrivProtocol, UsmUser};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The environment variable `poll` and `discover` read the authentication passphrase from
/// when no file is given.
pub const AUTH_PASS_ENV: &str = "PRINTWATCH_V3_AUTH_PASS";
/// The same for the privacy passphrase.
pub const PRIV_PASS_ENV: &str = "PRINTWATCH_V3_PRIV_PASS";

/// One credential in `[[snmp.credentials]]`: either `community` (with `version`) or
/// `user` (with its protocols and where its passphrases are).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// A v1/v2c community string.
    pub community: Option<String>,
    /// "1" or "2c" for a community (default "2c").
    pub version: Option<String>,
    /// A v3 user name.
    pub user: Option<String>,
    /// MD5, SHA, SHA224, SHA256, SHA384 or SHA512; none for noAuthNoPriv.
    pub auth: Option<String>,
    /// A file holding the authentication passphrase, readable by the service alone.
    pub auth_pass_file: Option<PathBuf>,
    /// Or the environment variable holding it.
    pub auth_pass_env: Option<String>,
    /// DES, AES, AES192 or AES256; none for authNoPriv.
    #[serde(rename = "priv")]
    pub privacy: Option<String>,
    /// A file holding the privacy passphrase, readable by the service alone.
    pub priv_pass_file: Option<PathBuf>,
    /// Or the environment variable holding it.
    pub priv_pass_env: Option<String>,
    /// The SNMPv3 context name (default: the default context).
    pub context: Option<String>,
}

/// The v3 flags `poll` and `discover` share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct V3Args {
    /// Read over SNMPv3 as this user (then no community is sent unless given too).
    #[arg(long, value_name = "NAME")]
    pub v3_user: Option<String>,
    /// The user's authentication protocol: MD5, SHA, SHA224, SHA256, SHA384 or SHA512.
    /// The passphrase comes from --v3-auth-pass-file or PRINTWATCH_V3_AUTH_PASS, never
    /// from the command line.
    #[arg(long, value_name = "PROTOCOL", requires = "v3_user")]
    pub v3_auth: Option<String>,
    /// The user's privacy protocol: DES, AES, AES192 or AES256. The passphrase comes from
    /// --v3-priv-pass-file or PRINTWATCH_V3_PRIV_PASS.
    #[arg(long, value_name = "PROTOCOL", requires = "v3_auth")]
    pub v3_priv: Option<String>,
    /// The SNMPv3 context to read (most printers use the default, empty one).
    #[arg(long, value_name = "NAME", requires = "v3_user")]
    pub v3_context: Option<String>,
    /// A file holding the authentication passphrase (chmod 600).
    #[arg(long, value_name = "FILE", requires = "v3_auth")]
    pub v3_auth_pass_file: Option<PathBuf>,
    /// A file holding the privacy passphrase (chmod 600).
    #[arg(long, value_name = "FILE", requires = "v3_priv")]
    pub v3_priv_pass_file: Option<PathBuf>,
}

impl V3Args {
    /// The v3 user the flags describe, if any.
    pub fn user(&self) -> Result<Option<Security>> {
        let Some(name) = &self.v3_user else {
            return Ok(None);
        };
        let c = CredentialConfig {
            user: Some(name.clone()),
            auth: self.v3_auth.clone(),
            auth_pass_file: self.v3_auth_pass_file.clone(),
            auth_pass_env: Some(AUTH_PASS_ENV.into()),
            privacy: self.v3_priv.clone(),
            priv_pass_file: self.v3_priv_pass_file.clone(),
            priv_pass_env: Some(PRIV_PASS_ENV.into()),
            context: self.v3_context.clone(),
            ..CredentialConfig::default()
        };
        credential(&c).map(Some)
    }
}

/// Turns one configured credential into what the transport sends, reading its
/// passphrases. Errors name what is wrong, never a secret.
pub fn credential(c: &CredentialConfig) -> Result<Security> {
    match (&c.community, &c.user) {
        (Some(_), Some(_)) => bail!("a credential is a community or a v3 user, not both"),
        (None, None) => bail!("a credential needs a community or a v3 user"),
        (Some(community), None) => {
            if c.auth.is_some() || c.privacy.is_some() || c.context.is_some() {
                bail!("auth, priv and context belong to a v3 user, not to a community");
            }
            let version: Version = c
                .version
                .as_deref()
                .unwrap_or("2c")
                .parse()
                .map_err(|e: String| anyhow!(e))?;
            Ok(Security::Community {
                version,
                community: community.as_bytes().to_vec(),
            })
        }
        (None, Some(name)) => {
            if c.version.is_some() {
                bail!("version belongs to a community; a user is always SNMPv3");
            }
            let auth: Option<(AuthProtocol, _)> = protocol_and_passphrase(
                "authentication",
                c.auth.as_deref(),
                c.auth_pass_file.as_deref(),
                c.auth_pass_env.as_deref(),
            )?;
            let privacy: Option<(PrivProtocol, _)> = protocol_and_passphrase(
                "privacy",
                c.privacy.as_deref(),
                c.priv_pass_file.as_deref(),
                c.priv_pass_env.as_deref(),
            )?;
            let user = UsmUser::new(
                name,
                auth.as_ref().map(|(a, p)| (*a, p.as_slice())),
                privacy.as_ref().map(|(a, p)| (*a, p.as_slice())),
                c.context.as_deref().unwrap_or(""),
            )
            .with_context(|| format!("v3 user {name:?}"))?;
            Ok(Security::Usm(user))
        }
    }
}

/// The configured list in order; an empty list is the one community of `[snmp]`.
pub fn list(
    configured: &[CredentialConfig],
    community: &str,
    version: &str,
) -> Result<Vec<Security>> {
    if configured.is_empty() {
        let c = CredentialConfig {
            community: Some(community.into()),
            version: Some(version.into()),
            ..CredentialConfig::default()
        };
        return Ok(vec![credential(&c).context("snmp.community")?]);
    }
    configured
        .iter()
        .enumerate()
        .map(|(i, c)| credential(c).with_context(|| format!("snmp.credentials[{i}]")))
        .collect()
}

/// A protocol named in a credential and, when there is one, its passphrase.
fn protocol_and_passphrase<P: std::str::FromStr<Err = String>>(
    what: &str,
    protocol: Option<&str>,
    file: Option<&Path>,
    env: Option<&str>,
) -> Result<Option<(P, Vec<u8>)>> {
    let Some(name) = protocol else {
        return Ok(None);
    };
    let proto: P = name.parse().map_err(|e: String| anyhow!(e))?;
    Ok(Some((proto, passphrase(what, file, env)?)))
}

fn passphrase(what: &str, file: Option<&Path>, env: Option<&str>) -> Result<Vec<u8>> {
    if let Some(path) = file {
        return read_secret_file(path).with_context(|| format!("the {what} passphrase"));
    }
    if let Some(var) = env {
        return match std::env::var_os(var) {
            Some(v) if !v.is_empty() => Ok(v.into_encoded_bytes()),
            _ => bail!(
                "the {what} passphrase: give a file (chmod 600) or set the environment variable {var}"
            ),
        };
    }
    bail!("the {what} passphrase: give a file (chmod 600) or an environment variable")
}

/// A secret's file: refused if others than its owner may read it, so a passphrase never
/// sits in a world-readable place unnoticed. One trailing newline is not part of it.
fn read_secret_file(path: &Path) -> Result<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} may be read by others than its owner: chmod 600 it",
                path.display()
            );
        }
    }
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secret_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_v3_user_from_files_and_errors_that_show_no_secret() {
        let dir = std::env::temp_dir().join(format!("pw-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let auth = secret_file(&dir, "auth", "s3cret-auth-pass\n", 0o600);
        let privf = secret_file(&dir, "priv", "s3cret-priv-pass", 0o600);
        let open = secret_file(&dir, "open", "s3cret-open-pass", 0o644);
        let mut c = CredentialConfig {
            user: Some("monitor".into()),
            auth: Some("SHA-256".into()),
            auth_pass_file: Some(auth),
            privacy: Some("AES".into()),
            priv_pass_file: Some(privf),
            ..Default::default()
        };
        let s = credential(&c).unwrap();
        assert_eq!(s.to_string(), "v3 user monitor (SHA256/AES)");
        assert!(!format!("{s:?}").contains("s3cret"));

        c.priv_pass_file = Some(open.clone());
        let e = format!("{:#}", credential(&c).unwrap_err());
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");

        c.priv_pass_file = None;
        c.priv_pass_env = Some("PRINTWATCH_TEST_UNSET_VARIABLE".into());
        let e = format!("{:#}", credential(&c).unwrap_err());
        assert!(e.contains("PRINTWATCH_TEST_UNSET_VARIABLE"), "{e}");

        c.privacy = Some("3DES".into());
        let e = format!("{:#}", credential(&c).unwrap_err());
        assert!(e.contains("DES, AES, AES192 or AES256"), "{e}");

        let both = CredentialConfig {
            community: Some("public".into()),
            user: Some("monitor".into()),
            ..Default::default()
        };
        assert!(credential(&both).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_list_is_the_one_community() {
        let l = list(&[], "site7", "1").unwrap();
        assert_eq!(
            l,
            vec![Security::Community {
                version: Version::V1,
                community: b"site7".to_vec()
            }]
        );
    }
}
