//! The fleet's certificates: a CA of its own, and certificates for the coordinator, each
//! collector and each operator, issued by it. `printwatch certs` makes them; the
//! coordinator reads them back to know who is calling.
//!
//! Who a peer is comes from its certificate alone: the role in the Organizational Unit
//! (`coordinator`, `collector`, `operator`) and the name in the Common Name (for a collector,
//! its site). The coordinator trusts only this CA, so a certificate from anywhere else, or
//! a collector's certificate used for the operator service, is refused.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// What a certificate lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server.
    Coordinator,
    /// A site's collector: may stream readings, nothing else.
    Collector,
    /// A person or script using the fleet service.
    Operator,
}

impl Role {
    fn ou(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Collector => "collector",
            Role::Operator => "operator",
        }
    }

    fn from_ou(s: &str) -> Option<Role> {
        match s {
            "coordinator" => Some(Role::Coordinator),
            "collector" => Some(Role::Collector),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::from_ou(s)
            .ok_or_else(|| format!("unknown role {s:?}: use coordinator, collector or operator"))
    }
}

/// Why certificates could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// rcgen refused.
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// `init` on a directory that already has a CA.
    #[error("{0} already holds a fleet CA (ca.pem): issue more certificates with `printwatch certs issue`, or choose another --dir")]
    CaExists(PathBuf),
    /// `issue` without a CA.
    #[error(
        "{0} holds no fleet CA (ca.pem and ca.key): run `printwatch certs init --dir {0}` first"
    )]
    NoCa(PathBuf),
    /// A name that cannot go into a certificate or a file name.
    #[error("{0:?} is not a usable name: use letters, digits, '-', '_' and '.'")]
    BadName(String),
    /// A certificate that does not say who its holder is.
    #[error("the certificate does not name a printwatch role and name: {0}")]
    NotOurs(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_name(name: &str) -> Result<(), CertError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(CertError::BadName(name.to_string()))
    }
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), CertError> {
    fs::write(path, text).map_err(io(path))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

/// The files of one issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM, readable by the owner only.
    pub key: PathBuf,
}

/// File names of a role's certificate in the fleet directory.
pub fn paths(dir: &Path, role: Role, name: &str) -> Issued {
    let stem = match role {
        Role::Coordinator => "coordinator".to_string(),
        _ => format!("{}-{name}", role.ou()),
    };
    Issued {
        cert: dir.join(format!("{stem}.pem")),
        key: dir.join(format!("{stem}.key")),
    }
}

/// Creates the fleet CA in `dir` and the first certificates: the coordinator's (valid for
/// `coordinator_names`, host names or addresses), one per collector in `collectors`, and
/// one operator's.
pub fn init(
    dir: &Path,
    coordinator_names: &[String],
    collectors: &[String],
    operator: &str,
) -> Result<Vec<Issued>, CertError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    if dir.join("ca.pem").exists() {
        return Err(CertError::CaExists(dir.to_path_buf()));
    }
    for n in collectors.iter().map(String::as_str).chain([operator]) {
        check_name(n)?;
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "printwatch fleet CA");
    dn.push(DnType::OrganizationName, "printwatch");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, 3650);
    let cert = params.self_signed(&key)?;
    write(&dir.join("ca.pem"), &cert.pem(), false)?;
    write(&dir.join("ca.key"), &key.serialize_pem(), true)?;

    let mut out = vec![issue(
        dir,
        Role::Coordinator,
        "coordinator",
        coordinator_names,
    )?];
    for c in collectors {
        out.push(issue(dir, Role::Collector, c, &[])?);
    }
    out.push(issue(dir, Role::Operator, operator, &[])?);
    Ok(out)
}

/// Issues a certificate for `role` and `name` from the CA in `dir`. For the coordinator,
/// `names` are the host names and addresses collectors and operators will dial.
pub fn issue(dir: &Path, role: Role, name: &str, names: &[String]) -> Result<Issued, CertError> {
    check_name(name)?;
    let (ca_pem, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    if !ca_pem.exists() || !ca_key.exists() {
        return Err(CertError::NoCa(dir.to_path_buf()));
    }
    let ca_key = KeyPair::from_pem(&fs::read_to_string(&ca_key).map_err(io(&ca_key))?)?;
    let issuer =
        Issuer::from_ca_cert_pem(&fs::read_to_string(&ca_pem).map_err(io(&ca_pem))?, ca_key)?;
    let mut sans: Vec<String> = names.to_vec();
    if role == Role::Coordinator && sans.is_empty() {
        sans = vec!["localhost".into(), "127.0.0.1".into()];
    }
    let mut params = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, role.ou());
    dn.push(DnType::OrganizationName, "printwatch");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![match role {
        Role::Coordinator => ExtendedKeyUsagePurpose::ServerAuth,
        _ => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, 825);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let files = paths(dir, role, name);
    write(&files.cert, &cert.pem(), false)?;
    write(&files.key, &key.serialize_pem(), true)?;
    Ok(files)
}

/// Who a peer certificate (DER) says its holder is: role and name.
pub fn identity_of(der: &[u8]) -> Result<(Role, String), CertError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| CertError::NotOurs(e.to_string()))?;
    let subject = cert.subject();
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        it.next().and_then(|a| a.as_str().ok()).map(str::to_string)
    };
    let ou = first(&mut subject.iter_organizational_unit())
        .ok_or_else(|| CertError::NotOurs("no OU".into()))?;
    let cn =
        first(&mut subject.iter_common_name()).ok_or_else(|| CertError::NotOurs("no CN".into()))?;
    let role = Role::from_ou(&ou).ok_or_else(|| CertError::NotOurs(format!("OU {ou:?}")))?;
    Ok((role, cn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        printwatch_tests::tempdir(&format!("certs-{tag}"))
    }

    fn der(path: &Path) -> Vec<u8> {
        let text = fs::read_to_string(path).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).unwrap();
        pem.contents
    }

    #[test]
    fn init_issues_a_chain_with_roles_and_names() {
        let dir = tempdir("init");
        let issued = init(
            &dir,
            &["localhost".into(), "127.0.0.1".into()],
            &["site-a".into(), "site-b".into()],
            "alice",
        )
        .unwrap();
        assert_eq!(issued.len(), 4);
        let ca_der = der(&dir.join("ca.pem"));
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        let want = [
            (Role::Coordinator, "coordinator"),
            (Role::Collector, "site-a"),
            (Role::Collector, "site-b"),
            (Role::Operator, "alice"),
        ];
        for (files, (role, name)) in issued.iter().zip(want) {
            let d = der(&files.cert);
            assert_eq!(identity_of(&d).unwrap(), (role, name.to_string()));
            let (_, leaf) = x509_parser::parse_x509_certificate(&d).unwrap();
            leaf.verify_signature(Some(ca.public_key()))
                .expect("signed by the fleet CA");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(
                    fs::metadata(&files.key).unwrap().permissions().mode() & 0o777,
                    0o600
                );
            }
        }
        // A new collector later, from the same CA.
        let more = issue(&dir, Role::Collector, "site-c", &[]).unwrap();
        assert_eq!(
            identity_of(&der(&more.cert)).unwrap(),
            (Role::Collector, "site-c".into())
        );
        // The CA is never overwritten.
        assert!(matches!(
            init(&dir, &[], &[], "bob"),
            Err(CertError::CaExists(_))
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn clear_errors() {
        let dir = tempdir("errors");
        assert!(matches!(
            issue(&dir, Role::Collector, "x", &[]),
            Err(CertError::NoCa(_))
        ));
        assert!(matches!(
            init(&dir, &[], &["../evil".into()], "op"),
            Err(CertError::BadName(_))
        ));
        assert!(identity_of(b"not a certificate").is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
