//! Persistence of the security state: registered clients, people's
//! accounts and failed sign-ins, Tandem's signing keys, used assertion ids
//! (replay protection) and guest authorship.
//!
//! Kept apart from the resource store because none of it is FHIR data: clients
//! are opaque JSON documents owned by `auth`, keys are PKCS#8 blobs.

use async_trait::async_trait;

use super::StoreError;

/// One of Tandem's token-signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    /// PKCS#8 DER of the private key.
    pub pkcs8: Vec<u8>,
    pub created_ms: i64,
    /// Once set, the key no longer signs; it still verifies until tokens it
    /// signed have expired (the rotation overlap).
    pub retired_ms: Option<i64>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unknown, expired or revoked.
    Unknown,
    /// Valid and now used: its family and session document.
    Fresh { family: String, doc: String },
    /// Used before: a replay.
    Reused { family: String },
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Inserts or replaces a client document; true when it was new.
    async fn put_client(&self, client_id: &str, doc: &str) -> Result<bool, StoreError>;
    async fn get_client(&self, client_id: &str) -> Result<Option<String>, StoreError>;
    async fn list_clients(&self) -> Result<Vec<String>, StoreError>;
    /// True when a client was removed.
    async fn remove_client(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError>;
    /// Adds `key` and retires every other active key at `key.created_ms`, in
    /// one transaction.
    async fn rotate_signing_key(&self, key: KeyRow) -> Result<(), StoreError>;
    /// Deletes keys retired before `before_ms`.
    async fn prune_signing_keys(&self, before_ms: i64) -> Result<(), StoreError>;

    /// Records an assertion id; false when `(issuer, jti)` was already used and
    /// has not expired (a replay). Expired ids are forgotten.
    async fn use_jti(
        &self,
        issuer: &str,
        jti: &str,
        exp_s: i64,
        now_s: i64,
    ) -> Result<bool, StoreError>;

    /// Inserts or replaces a user document (`auth::users`); true when new.
    async fn put_user(&self, name: &str, doc: &str) -> Result<bool, StoreError>;
    async fn get_user(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn list_users(&self) -> Result<Vec<String>, StoreError>;
    /// True when a user was removed (with their failed sign-ins).
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Counts a failed sign-in for `name` (known or not) at `now_ms`, in
    /// one statement so racing attempts all count; returns the failures in
    /// a row and when the last was.
    async fn sign_in_failed(&self, name: &str, now_ms: i64) -> Result<(u32, i64), StoreError>;
    /// The failures in a row and the last one's time, if any.
    async fn sign_in_failures(&self, name: &str) -> Result<Option<(u32, i64)>, StoreError>;
    /// Clears the failures after a successful sign-in.
    async fn sign_in_succeeded(&self, name: &str) -> Result<(), StoreError>;

    /// Keeps an authorization code (by its digest) until `expires_ms`.
    async fn put_code(&self, digest: &str, doc: &str, expires_ms: i64) -> Result<(), StoreError>;
    /// Removes a code and returns its document if it had not expired: a
    /// code is redeemed once, even by racing requests.
    async fn take_code(&self, digest: &str, now_ms: i64) -> Result<Option<String>, StoreError>;
    /// Keeps a refresh token (by its digest) of `family` until `expires_ms`.
    async fn put_refresh(
        &self,
        digest: &str,
        family: &str,
        doc: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// Marks a refresh token used, atomically (of two racing uses, one is
    /// `Fresh` and the other `Reused`).
    async fn use_refresh(&self, digest: &str, now_ms: i64) -> Result<RefreshUse, StoreError>;
    /// Forgets every refresh token of a family.
    async fn revoke_family(&self, family: &str) -> Result<(), StoreError>;
    /// Forgets the family of this refresh token (sign-out).
    async fn revoke_refresh(&self, digest: &str) -> Result<(), StoreError>;

    /// `Type/id` of the resources `author` (a guest client) created in `tenant`.
    async fn authored(&self, tenant: &str, author: &str) -> Result<Vec<String>, StoreError>;
}
