//! The dashboard's users: a name, a role, the sites a viewer may see, and an argon2id hash
//! of the password (never the password). Who may sign in is decided by
//! [`crate::users`]; here the records are only kept.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError, StoreReader};
use crate::timestamp::Timestamp;

/// What a user may do on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Reads: the fleet, supplies, alerts, the shopping list.
    Viewer,
    /// Reads, and changes the fleet and the users.
    Admin,
}

impl UserRole {
    /// The word the CLI and the wire use.
    pub fn name(self) -> &'static str {
        match self {
            UserRole::Viewer => "viewer",
            UserRole::Admin => "admin",
        }
    }

    /// `viewer` or `admin`.
    pub fn parse(word: &str) -> Option<UserRole> {
        match word {
            "viewer" => Some(UserRole::Viewer),
            "admin" => Some(UserRole::Admin),
            _ => None,
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The sign-in name.
    pub name: String,
    /// What they may do.
    pub role: UserRole,
    /// The sites they see; empty: every site.
    pub sites: Vec<String>,
    /// The password's argon2id hash, in PHC form (its salt and parameters inside).
    pub hash: String,
    /// When the user was made.
    pub created: Timestamp,
}

impl Store {
    /// Writes a user's record.
    pub fn put_user(&mut self, u: &UserRecord) -> Result<(), StoreError> {
        self.t.users.insert(u.name.as_bytes(), encode(u))?;
        Ok(())
    }

    /// Removes a user; true when there was one.
    pub fn delete_user(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.t.users.remove(name.as_bytes())?.is_some())
    }
}

impl StoreReader {
    /// One user.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.t
            .users
            .get(name.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.t.users.iter().values().map(|v| decode(&v?)).collect()
    }
}
