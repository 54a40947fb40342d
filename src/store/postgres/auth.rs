//! [`AuthStore`] on PostgreSQL: clients, people, signing keys, used
//! assertion ids, one-time codes and refresh tokens — shared by every node,
//! so a replayed assertion or a reused refresh token is caught whichever
//! node sees it, and a key rotated on one node signs and verifies on all.
//! Each check-and-set is one statement or one transaction, atomic under
//! concurrency.

use async_trait::async_trait;

use super::PgStore;
use super::conn::{self, Conn};
use crate::store::StoreError;
use crate::store::auth::{AuthStore, KeyRow, RefreshUse};

impl PgStore {
    /// One statement on a pooled connection; returns rows affected.
    async fn exec(&self, sql: &str, params: &conn::Params<'_>) -> Result<u64, StoreError> {
        let c = self.client().await?;
        Conn::Client(&c).execute(sql, params).await
    }

    /// The first column of each row, as text.
    async fn texts(&self, sql: &str, params: &conn::Params<'_>) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c).query(sql, params).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Inserts or replaces a (key, doc) row with `sql`, which returns
    /// `xmax = 0`: true only on a freshly inserted row (new, not replaced).
    async fn upsert(&self, sql: &str, key: &str, doc: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        Ok(Conn::Client(&c)
            .query_opt(sql, &[&key, &doc])
            .await?
            .is_some_and(|r| r.get::<_, bool>(0)))
    }
}

#[async_trait]
impl AuthStore for PgStore {
    async fn put_client(&self, client_id: &str, doc: &str) -> Result<bool, StoreError> {
        self.upsert(
            "INSERT INTO clients (client_id, doc) VALUES ($1, $2)
             ON CONFLICT (client_id) DO UPDATE SET doc = excluded.doc RETURNING (xmax = 0)",
            client_id,
            doc,
        )
        .await
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .texts(
                "SELECT doc FROM clients WHERE client_id = $1",
                &[&client_id],
            )
            .await?
            .pop())
    }

    async fn list_clients(&self) -> Result<Vec<String>, StoreError> {
        self.texts("SELECT doc FROM clients ORDER BY client_id", &[])
            .await
    }

    async fn remove_client(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .exec("DELETE FROM clients WHERE client_id = $1", &[&client_id])
            .await?
            > 0)
    }

    async fn put_user(&self, name: &str, doc: &str) -> Result<bool, StoreError> {
        self.upsert(
            "INSERT INTO users (name, doc) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET doc = excluded.doc RETURNING (xmax = 0)",
            name,
            doc,
        )
        .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .texts("SELECT doc FROM users WHERE name = $1", &[&name])
            .await?
            .pop())
    }

    async fn list_users(&self) -> Result<Vec<String>, StoreError> {
        self.texts("SELECT doc FROM users ORDER BY name", &[]).await
    }

    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        // The account and its failed sign-ins go in one statement.
        let removed = Conn::Client(&c)
            .query_opt(
                "WITH f AS (DELETE FROM sign_in_failures WHERE name = $1),
                      d AS (DELETE FROM users WHERE name = $1 RETURNING 1)
                 SELECT count(*) FROM d",
                &[&name],
            )
            .await?
            .is_some_and(|r| r.get::<_, i64>(0) > 0);
        Ok(removed)
    }

    async fn sign_in_failed(&self, name: &str, now_ms: i64) -> Result<(u32, i64), StoreError> {
        let c = self.client().await?;
        let r = Conn::Client(&c)
            .query_opt(
                "INSERT INTO sign_in_failures (name, count, last) VALUES ($1, 1, $2)
                 ON CONFLICT (name) DO UPDATE SET count = sign_in_failures.count + 1, last = excluded.last
                 RETURNING count, last",
                &[&name, &now_ms],
            )
            .await?
            .ok_or_else(|| StoreError::Backend("the failure count returned no row".into()))?;
        Ok((r.get::<_, i64>(0) as u32, r.get(1)))
    }

    async fn sign_in_failures(&self, name: &str) -> Result<Option<(u32, i64)>, StoreError> {
        let c = self.client().await?;
        Ok(Conn::Client(&c)
            .query_opt(
                "SELECT count, last FROM sign_in_failures WHERE name = $1",
                &[&name],
            )
            .await?
            .map(|r| (r.get::<_, i64>(0) as u32, r.get(1))))
    }

    async fn sign_in_succeeded(&self, name: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM sign_in_failures WHERE name = $1", &[&name])
            .await?;
        Ok(())
    }

    async fn put_code(&self, digest: &str, doc: &str, expires_ms: i64) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO auth_codes (digest, doc, expires) VALUES ($1, $2, $3)",
            &[&digest, &doc, &expires_ms],
        )
        .await?;
        Ok(())
    }

    async fn take_code(&self, digest: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let c = Conn::Client(&c);
        // One statement: of two racing redemptions, one deletes the row.
        let found = c
            .query_opt(
                "DELETE FROM auth_codes WHERE digest = $1 RETURNING doc, expires",
                &[&digest],
            )
            .await?
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)));
        c.execute("DELETE FROM auth_codes WHERE expires <= $1", &[&now_ms])
            .await?;
        Ok(found.filter(|(_, exp)| *exp > now_ms).map(|(doc, _)| doc))
    }

    async fn put_refresh(
        &self,
        digest: &str,
        family: &str,
        doc: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO refresh_tokens (digest, family, doc, expires, used) VALUES ($1, $2, $3, $4, NULL)",
            &[&digest, &family, &doc, &expires_ms],
        )
        .await?;
        Ok(())
    }

    async fn use_refresh(&self, digest: &str, now_ms: i64) -> Result<RefreshUse, StoreError> {
        let c = self.client().await?;
        let c = Conn::Client(&c);
        // The update is the decision: of two racing uses, one finds `used` unset.
        let fresh = c
            .query_opt(
                "UPDATE refresh_tokens SET used = $2
                 WHERE digest = $1 AND used IS NULL AND expires > $2 RETURNING family, doc",
                &[&digest, &now_ms],
            )
            .await?;
        let found = match fresh {
            Some(r) => RefreshUse::Fresh {
                family: r.get(0),
                doc: r.get(1),
            },
            None => c
                .query_opt(
                    "SELECT family FROM refresh_tokens WHERE digest = $1 AND used IS NOT NULL",
                    &[&digest],
                )
                .await?
                .map_or(RefreshUse::Unknown, |r| RefreshUse::Reused {
                    family: r.get(0),
                }),
        };
        c.execute(
            "DELETE FROM refresh_tokens WHERE family IN
             (SELECT family FROM refresh_tokens GROUP BY family HAVING MAX(expires) <= $1)",
            &[&now_ms],
        )
        .await?;
        Ok(found)
    }

    async fn revoke_family(&self, family: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM refresh_tokens WHERE family = $1", &[&family])
            .await?;
        Ok(())
    }

    async fn revoke_refresh(&self, digest: &str) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM refresh_tokens WHERE family = \
             (SELECT family FROM refresh_tokens WHERE digest = $1)",
            &[&digest],
        )
        .await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let c = self.client().await?;
        let rows = Conn::Client(&c)
            .query(
                "SELECT kid, pkcs8, created, retired FROM signing_keys ORDER BY created DESC, kid",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| KeyRow {
                kid: r.get(0),
                pkcs8: r.get(1),
                created_ms: r.get(2),
                retired_ms: r.get(3),
            })
            .collect())
    }

    async fn rotate_signing_key(&self, key: KeyRow) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(conn::error)?;
        let t = Conn::Tx(&tx);
        t.execute(
            "UPDATE signing_keys SET retired = $1 WHERE retired IS NULL",
            &[&key.created_ms],
        )
        .await?;
        t.execute(
            "INSERT INTO signing_keys (kid, pkcs8, created, retired) VALUES ($1, $2, $3, NULL)",
            &[&key.kid, &key.pkcs8, &key.created_ms],
        )
        .await?;
        tx.commit().await.map_err(conn::error)
    }

    async fn prune_signing_keys(&self, before_ms: i64) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM signing_keys WHERE retired IS NOT NULL AND retired < $1",
            &[&before_ms],
        )
        .await?;
        Ok(())
    }

    async fn use_jti(
        &self,
        issuer: &str,
        jti: &str,
        exp_s: i64,
        now_s: i64,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let c = Conn::Client(&c);
        c.execute("DELETE FROM used_jti WHERE exp < $1", &[&now_s])
            .await?;
        // The insert is the decision: of two racing uses, one inserts.
        let fresh = c
            .execute(
                "INSERT INTO used_jti (iss, jti, exp) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&issuer, &jti, &exp_s],
            )
            .await?
            == 1;
        Ok(fresh)
    }

    async fn authored(&self, tenant: &str, author: &str) -> Result<Vec<String>, StoreError> {
        self.texts(
            "SELECT type || '/' || id FROM authors WHERE tenant = $1 AND author = $2",
            &[&tenant, &author],
        )
        .await
    }
}
