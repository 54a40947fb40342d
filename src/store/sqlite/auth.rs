//! [`AuthStore`] on SQLite: a small dedicated connection, used off the async
//! runtime. Traffic is low (token requests, CLI), so one connection suffices;
//! SQLite's busy timeout serialises its writes with the resource writer.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::auth::{AuthStore, KeyRow, RefreshUse};

pub type AuxConn = Arc<Mutex<Connection>>;

impl SqliteStore {
    pub(super) async fn aux<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.aux.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock()))
            .await
            .map_err(|e| StoreError::Backend(format!("auth store task failed: {e}")))?
    }
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn put_client(&self, client_id: &str, doc: &str) -> Result<bool, StoreError> {
        let (id, doc) = (client_id.to_string(), doc.to_string());
        self.aux(move |c| {
            let existed: bool = c
                .query_row("SELECT 1 FROM clients WHERE client_id = ?", [&id], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            c.execute(
                "INSERT INTO clients (client_id, doc) VALUES (?, ?)
                 ON CONFLICT (client_id) DO UPDATE SET doc = excluded.doc",
                params![id, doc],
            )?;
            Ok(!existed)
        })
        .await
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        let id = client_id.to_string();
        self.aux(move |c| {
            Ok(
                c.query_row("SELECT doc FROM clients WHERE client_id = ?", [&id], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn list_clients(&self) -> Result<Vec<String>, StoreError> {
        self.aux(|c| {
            let mut st = c.prepare("SELECT doc FROM clients ORDER BY client_id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn remove_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let id = client_id.to_string();
        self.aux(move |c| Ok(c.execute("DELETE FROM clients WHERE client_id = ?", [&id])? > 0))
            .await
    }

    async fn put_user(&self, name: &str, doc: &str) -> Result<bool, StoreError> {
        let (name, doc) = (name.to_string(), doc.to_string());
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let existed: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?)",
                [&name],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO users (name, doc) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
                params![name, doc],
            )?;
            tx.commit()?;
            Ok(!existed)
        })
        .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_string();
        self.aux(move |c| {
            Ok(
                c.query_row("SELECT doc FROM users WHERE name = ?", [&name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<String>, StoreError> {
        self.aux(|c| {
            let mut st = c.prepare("SELECT doc FROM users ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let removed = tx.execute("DELETE FROM users WHERE name = ?", [&name])? > 0;
            tx.execute("DELETE FROM sign_in_failures WHERE name = ?", [&name])?;
            tx.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn sign_in_failed(&self, name: &str, now_ms: i64) -> Result<(u32, i64), StoreError> {
        let name = name.to_string();
        self.aux(move |c| {
            Ok(c.query_row(
                "INSERT INTO sign_in_failures (name, count, last) VALUES (?1, 1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET count = count + 1, last = excluded.last \
                 RETURNING count, last",
                params![name, now_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
    }

    async fn sign_in_failures(&self, name: &str) -> Result<Option<(u32, i64)>, StoreError> {
        let name = name.to_string();
        self.aux(move |c| {
            Ok(c.query_row(
                "SELECT count, last FROM sign_in_failures WHERE name = ?",
                [&name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }

    async fn sign_in_succeeded(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.aux(move |c| {
            c.execute("DELETE FROM sign_in_failures WHERE name = ?", [&name])?;
            Ok(())
        })
        .await
    }

    async fn put_code(&self, digest: &str, doc: &str, expires_ms: i64) -> Result<(), StoreError> {
        let (digest, doc) = (digest.to_string(), doc.to_string());
        self.aux(move |c| {
            c.execute(
                "INSERT INTO auth_codes (digest, doc, expires) VALUES (?1, ?2, ?3)",
                params![digest, doc, expires_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn take_code(&self, digest: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        let digest = digest.to_string();
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<(String, i64)> = tx
                .query_row(
                    "DELETE FROM auth_codes WHERE digest = ? RETURNING doc, expires",
                    [&digest],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            tx.execute("DELETE FROM auth_codes WHERE expires <= ?", [now_ms])?;
            tx.commit()?;
            Ok(found.filter(|(_, exp)| *exp > now_ms).map(|(doc, _)| doc))
        })
        .await
    }

    async fn put_refresh(
        &self,
        digest: &str,
        family: &str,
        doc: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let (digest, family, doc) = (digest.to_string(), family.to_string(), doc.to_string());
        self.aux(move |c| {
            c.execute(
                "INSERT INTO refresh_tokens (digest, family, doc, expires, used) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
                params![digest, family, doc, expires_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn use_refresh(&self, digest: &str, now_ms: i64) -> Result<RefreshUse, StoreError> {
        let digest = digest.to_string();
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let fresh: Option<(String, String)> = tx
                .query_row(
                    "UPDATE refresh_tokens SET used = ?2 \
                     WHERE digest = ?1 AND used IS NULL AND expires > ?2 RETURNING family, doc",
                    params![digest, now_ms],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let found = match fresh {
                Some((family, doc)) => RefreshUse::Fresh { family, doc },
                None => tx
                    .query_row(
                        "SELECT family FROM refresh_tokens WHERE digest = ? AND used IS NOT NULL",
                        [&digest],
                        |r| r.get(0),
                    )
                    .optional()?
                    .map_or(RefreshUse::Unknown, |family| RefreshUse::Reused { family }),
            };
            tx.execute(
                "DELETE FROM refresh_tokens WHERE family IN \
                 (SELECT family FROM refresh_tokens GROUP BY family HAVING MAX(expires) <= ?)",
                [now_ms],
            )?;
            tx.commit()?;
            Ok(found)
        })
        .await
    }

    async fn revoke_family(&self, family: &str) -> Result<(), StoreError> {
        let family = family.to_string();
        self.aux(move |c| {
            c.execute("DELETE FROM refresh_tokens WHERE family = ?", [&family])?;
            Ok(())
        })
        .await
    }

    async fn revoke_refresh(&self, digest: &str) -> Result<(), StoreError> {
        let digest = digest.to_string();
        self.aux(move |c| {
            c.execute(
                "DELETE FROM refresh_tokens WHERE family = \
                 (SELECT family FROM refresh_tokens WHERE digest = ?)",
                [&digest],
            )?;
            Ok(())
        })
        .await
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        self.aux(|c| {
            let mut st = c.prepare(
                "SELECT kid, pkcs8, created, retired FROM signing_keys ORDER BY created DESC, kid",
            )?;
            let rows = st.query_map([], |r| {
                Ok(KeyRow {
                    kid: r.get(0)?,
                    pkcs8: r.get(1)?,
                    created_ms: r.get(2)?,
                    retired_ms: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn rotate_signing_key(&self, key: KeyRow) -> Result<(), StoreError> {
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE signing_keys SET retired = ? WHERE retired IS NULL",
                [key.created_ms],
            )?;
            tx.execute(
                "INSERT INTO signing_keys (kid, pkcs8, created, retired) VALUES (?, ?, ?, NULL)",
                params![key.kid, key.pkcs8, key.created_ms],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn prune_signing_keys(&self, before_ms: i64) -> Result<(), StoreError> {
        self.aux(move |c| {
            c.execute(
                "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < ?",
                [before_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn use_jti(
        &self,
        issuer: &str,
        jti: &str,
        exp_s: i64,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let (iss, jti) = (issuer.to_string(), jti.to_string());
        self.aux(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM used_jti WHERE exp < ?", [now_s])?;
            let fresh = tx.execute(
                "INSERT INTO used_jti (iss, jti, exp) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                params![iss, jti, exp_s],
            )? == 1;
            tx.commit()?;
            Ok(fresh)
        })
        .await
    }

    async fn authored(&self, tenant: &str, author: &str) -> Result<Vec<String>, StoreError> {
        let (tenant, author) = (tenant.to_string(), author.to_string());
        self.aux(move |c| {
            let mut st = c.prepare_cached(
                "SELECT type || '/' || id FROM authors WHERE tenant = ? AND author = ?",
            )?;
            let rows = st.query_map([&tenant, &author], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }
}

/// Opens the auxiliary connection.
pub fn open_aux(path: &std::path::Path) -> Result<AuxConn, StoreError> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "busy_timeout", 5000)?;
    Ok(Arc::new(Mutex::new(c)))
}
