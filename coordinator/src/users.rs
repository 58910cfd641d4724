//! Who may sign in to the dashboard: names, roles, sites, and passwords checked against
//! argon2id hashes. A password is hashed once when set (a fresh salt each time) and
//! never stored or logged; checking takes the same time whether the name exists or not,
//! so a sign-in does not tell which names are real.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::store::users::{UserRecord, UserRole};
use crate::store::{StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// Why a user cannot be made or changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    /// A name that is empty, too long or has characters a sign-in form would mangle.
    #[error("user name {0:?}: use 1 to 64 letters, digits, '.', '-', '_' or '@'")]
    BadName(String),
    /// Too short to be worth hashing.
    #[error("the password is too short: use at least {MIN_PASSWORD} characters")]
    ShortPassword,
    /// No such user.
    #[error("no user {0:?}")]
    NoSuchUser(String),
    /// Hashing failed (it does not, with these parameters).
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_string()))
    }
}

/// The argon2id hash of `password` with a fresh salt, in PHC form.
pub fn hash(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::ShortPassword);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// True when `password` is the one `phc` was made from.
pub fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a hash made elsewhere (the operator's CLI): an argon2id PHC string.
pub fn check_hash(phc: &str) -> Result<(), UserError> {
    match PasswordHash::new(phc) {
        Ok(h) if h.algorithm.as_str() == "argon2id" && h.hash.is_some() => Ok(()),
        _ => Err(UserError::Hash(
            "not an argon2id hash in PHC form ($argon2id$...)".into(),
        )),
    }
}

/// A new user's record.
pub fn new_user(
    name: &str,
    role: UserRole,
    sites: Vec<String>,
    password: &str,
) -> Result<UserRecord, UserError> {
    check_name(name)?;
    Ok(UserRecord {
        name: name.to_string(),
        role,
        sites,
        hash: hash(password)?,
        created: Timestamp::now(),
    })
}

/// A hash of a password nobody has, checked when a name is unknown so that a sign-in
/// costs the same either way.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("no one has this password").unwrap_or_default())
}

/// The user signing in with `name` and `password`, when both are right.
pub fn sign_in(
    store: &StoreReader,
    name: &str,
    password: &str,
) -> Result<Option<UserRecord>, StoreError> {
    match store.user(name)? {
        Some(u) if verify(&u.hash, password) => Ok(Some(u)),
        Some(_) => Ok(None),
        None => {
            let _ = verify(decoy(), password);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_password() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify(&a, "correct horse battery"));
        assert!(!verify(&a, "correct horse batterY"));
        assert!(!verify("not a hash", "correct horse battery"));
        assert_eq!(hash("short"), Err(UserError::ShortPassword));
        assert!(check_name("office.manager@example").is_ok());
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
