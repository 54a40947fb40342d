//! People who sign in to Tandem's web app (and any SMART app registered
//! with it): local accounts with a role and the practices it covers, their
//! passwords hashed with Argon2id (a memory-hard KDF: a stolen database does
//! not give the passwords up cheaply), and a lockout after repeated
//! failures. Stored as JSON documents through [`AuthStore`]; managed with
//! `tandem user add|list|remove`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::fhir::id::is_valid_id;
use crate::store::StoreError;
use crate::store::auth::AuthStore;

/// Failed sign-ins in a row that lock an account.
pub const LOCK_AFTER: u32 = 5;
/// How long a locked account stays locked after its last failure.
pub const LOCK_MS: i64 = 15 * 60 * 1000;
/// The shortest password accepted (NIST SP 800-63B asks at least 8).
pub const MIN_PASSWORD: usize = 12;

pub use crate::caller::grant::UserRole;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub role: UserRole,
    /// Organization ids: a facilitator's assigned practices, a practice
    /// user's own (one); empty for program staff and operators.
    #[serde(default)]
    pub practices: Vec<String>,
    /// The Argon2id hash in PHC string form (salt and parameters inside).
    pub password: String,
    pub created_ms: i64,
}

/// Why a sign-in was refused. The caller tells the person only "wrong name
/// or password" or "locked"; which of the first two is never revealed.
#[derive(Debug, PartialEq)]
pub enum Refused {
    BadCredentials,
    /// Locked until this instant (ms).
    Locked(i64),
}

impl User {
    /// A new account; the message names what to fix.
    pub fn new(
        name: &str,
        role: UserRole,
        practices: Vec<String>,
        password: &str,
        now_ms: i64,
    ) -> Result<User, String> {
        check_password(password)?;
        let user = User {
            name: name.to_string(),
            role,
            practices,
            password: hash(password)?,
            created_ms: now_ms,
        };
        user.check()?;
        Ok(user)
    }

    pub fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
        if !name_ok {
            return Err("a user name is 1-64 characters of A-Z a-z 0-9 . _ @ -".into());
        }
        if let Some(bad) = self.practices.iter().find(|p| !is_valid_id(p)) {
            return Err(format!("practice '{bad}' is not an Organization id"));
        }
        match (self.role, self.practices.len()) {
            (UserRole::Facilitator, 0) => {
                Err("a facilitator needs --practices (the practices they coach)".into())
            }
            (UserRole::Practice, n) if n != 1 => {
                Err("a practice user belongs to exactly one practice (--practices ID)".into())
            }
            (UserRole::Program | UserRole::Operator, n) if n > 0 => {
                Err("program staff and operators see every practice; leave out --practices".into())
            }
            _ => Ok(()),
        }
    }
}

/// Refuses passwords too short to resist guessing.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes: OWASP's minimum).
fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

fn verifies(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the name is unknown, so an unknown name
/// takes as long as a wrong password.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password, never matches").unwrap_or_default())
}

/// A generated password (printed once by `tandem user add`): 20 characters
/// from 62, about 119 bits.
pub fn generate_password() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..20)
        .map(|_| {
            // Rejection sampling: no letter more likely than another.
            loop {
                let b = (OsRng.next_u32() & 0xff) as usize;
                if b < 248 {
                    return ALPHABET[b % 62] as char;
                }
            }
        })
        .collect()
}

/// Checks a sign-in: the account exists, is not locked, and the password
/// verifies. A failure counts toward the lockout; a success clears it.
pub async fn sign_in(
    store: &dyn AuthStore,
    name: &str,
    password: &str,
    now_ms: i64,
) -> Result<Result<User, Refused>, StoreError> {
    let user = match store.get_user(name).await? {
        Some(doc) => serde_json::from_str::<User>(&doc).ok(),
        None => None,
    };
    if let Some((count, last)) = store.sign_in_failures(name).await?
        && count >= LOCK_AFTER
        && now_ms < last + LOCK_MS
    {
        return Ok(Err(Refused::Locked(last + LOCK_MS)));
    }
    let phc = user
        .as_ref()
        .map_or(decoy(), |u| u.password.as_str())
        .to_string();
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verifies(&phc, &pw))
        .await
        .map_err(|e| StoreError::Backend(format!("password check failed: {e}")))?;
    match user {
        Some(u) if ok => {
            store.sign_in_succeeded(name).await?;
            Ok(Ok(u))
        }
        _ => {
            let (count, last) = store.sign_in_failed(name, now_ms).await?;
            if count >= LOCK_AFTER {
                return Ok(Err(Refused::Locked(last + LOCK_MS)));
            }
            Ok(Err(Refused::BadCredentials))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_take_the_practices_they_cover() {
        let new = |role, practices: &[&str]| {
            User::new(
                "ann",
                role,
                practices.iter().map(|p| p.to_string()).collect(),
                "correct horse battery",
                0,
            )
        };
        assert!(new(UserRole::Facilitator, &["p1", "p2"]).is_ok());
        assert!(
            new(UserRole::Facilitator, &[])
                .unwrap_err()
                .contains("--practices")
        );
        assert!(new(UserRole::Practice, &["p1"]).is_ok());
        assert!(new(UserRole::Practice, &["p1", "p2"]).is_err());
        assert!(new(UserRole::Program, &[]).is_ok());
        assert!(new(UserRole::Operator, &["p1"]).is_err());
        assert!(
            new(UserRole::Practice, &["not an id!"])
                .unwrap_err()
                .contains("Organization id")
        );
        let short = User::new("ann", UserRole::Program, vec![], "short", 0);
        assert!(short.unwrap_err().contains("at least 12"));
        let bad_name = User::new(
            "ann smith",
            UserRole::Program,
            vec![],
            "long enough pass",
            0,
        );
        assert!(bad_name.is_err());
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verify_only_themselves() {
        let u = User::new("ann", UserRole::Program, vec![], "correct horse battery", 0).unwrap();
        assert!(u.password.starts_with("$argon2id$"), "{}", u.password);
        assert!(!u.password.contains("correct horse"));
        assert!(verifies(&u.password, "correct horse battery"));
        assert!(!verifies(&u.password, "correct horse batterY"));
        assert!(!verifies("not a hash", "correct horse battery"));
        let again =
            User::new("ann", UserRole::Program, vec![], "correct horse battery", 0).unwrap();
        assert_ne!(u.password, again.password, "each hash has its own salt");
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_account_until_the_lock_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("t.db")).unwrap();
        let u = User::new("ann", UserRole::Program, vec![], "correct horse battery", 0).unwrap();
        assert!(
            store
                .put_user("ann", &serde_json::to_string(&u).unwrap())
                .await
                .unwrap()
        );
        let t0 = 1_000_000;
        let ok = sign_in(&store, "ann", "correct horse battery", t0)
            .await
            .unwrap();
        assert_eq!(ok.unwrap().name, "ann");
        // An unknown name and a wrong password are refused alike.
        let unknown = sign_in(&store, "bob", "correct horse battery", t0)
            .await
            .unwrap();
        assert_eq!(unknown.unwrap_err(), Refused::BadCredentials);
        for i in 1..LOCK_AFTER {
            let r = sign_in(&store, "ann", "wrong password!", t0 + i64::from(i))
                .await
                .unwrap();
            assert_eq!(r.unwrap_err(), Refused::BadCredentials, "failure {i}");
        }
        let last = t0 + i64::from(LOCK_AFTER);
        let r = sign_in(&store, "ann", "wrong password!", last)
            .await
            .unwrap();
        assert_eq!(r.unwrap_err(), Refused::Locked(last + LOCK_MS));
        // Locked: even the right password is refused, and does not extend it.
        let r = sign_in(&store, "ann", "correct horse battery", last + LOCK_MS - 1)
            .await
            .unwrap();
        assert_eq!(r.unwrap_err(), Refused::Locked(last + LOCK_MS));
        // The lock runs out; a success clears the count.
        let r = sign_in(&store, "ann", "correct horse battery", last + LOCK_MS)
            .await
            .unwrap();
        assert!(r.is_ok());
        assert_eq!(store.sign_in_failures("ann").await.unwrap(), None);
        let r = sign_in(&store, "ann", "wrong password!", last + LOCK_MS + 1)
            .await
            .unwrap();
        assert_eq!(r.unwrap_err(), Refused::BadCredentials);
        assert!(store.remove_user("ann").await.unwrap());
        let gone = sign_in(&store, "ann", "correct horse battery", last + LOCK_MS + 2)
            .await
            .unwrap();
        assert_eq!(gone.unwrap_err(), Refused::BadCredentials);
        crate::store::Store::close(&store).await;
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert!(check_password(&a).is_ok());
    }
}
