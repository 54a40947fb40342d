//! Patient compartments for whole-population evaluation, patient ids in
//! order, and the patients written since a point in the write order (see
//! the SQLite twin, `store/sqlite/compartment.rs`, for what each is for).

use std::collections::HashMap;

use deadpool_postgres::Object;

use super::conn::{self, Conn};
use super::rows::{COLUMNS, resource};
use super::tx::TENANT_WRITE_LOCK;
use crate::store::{PatientPage, PatientRecord, StoreError, StoredResource, Written};

pub async fn page(
    c: &Conn<'_>,
    tenant: &str,
    req: &PatientPage,
) -> Result<Vec<PatientRecord>, StoreError> {
    let patients = patients(c, tenant, req).await?;
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = patients.iter().map(|p| p.id.clone()).collect();
    let mut by_patient: HashMap<String, Vec<StoredResource>> = HashMap::new();
    let sql = format!(
        "SELECT {COLUMNS}, x.target_id FROM idx_ref x JOIN resources r ON r.rid = x.rid \
         JOIN history h ON h.seq = r.hseq \
         WHERE x.tenant = $1 AND x.rtype = $2 AND x.param = 'patient' AND x.target_type = 'Patient' \
         AND x.target_id = ANY($3) AND NOT r.deleted"
    );
    for rt in &req.types {
        for row in c.query(&sql, &[&tenant, rt, &ids]).await? {
            by_patient
                .entry(row.get(7))
                .or_default()
                .push(resource(&row));
        }
    }
    Ok(patients
        .into_iter()
        .map(|p| {
            let resources = by_patient.remove(&p.id).unwrap_or_default();
            PatientRecord {
                patient: p,
                resources,
            }
        })
        .collect())
}

async fn patients(
    c: &Conn<'_>,
    tenant: &str,
    req: &PatientPage,
) -> Result<Vec<StoredResource>, StoreError> {
    let after = req.after.clone().unwrap_or_default();
    let limit = req.limit as i64;
    let base = format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h ON h.seq = r.hseq \
         WHERE r.tenant = $1 AND r.type = 'Patient' AND NOT r.deleted AND r.id > $2"
    );
    let rows = match &req.only {
        Some(only) => {
            c.query(
                &format!("{base} AND r.id = ANY($4) ORDER BY r.id LIMIT $3"),
                &[&tenant, &after, &limit, only],
            )
            .await?
        }
        None => {
            c.query(
                &format!("{base} ORDER BY r.id LIMIT $3"),
                &[&tenant, &after, &limit],
            )
            .await?
        }
    };
    Ok(rows.iter().map(resource).collect())
}

/// Up to `limit` live patient ids after `after`, in order.
pub async fn ids(
    c: &Conn<'_>,
    tenant: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let rows = c
        .query(
            "SELECT id FROM resources WHERE tenant = $1 AND type = 'Patient' AND id > $2 \
             AND NOT deleted ORDER BY id LIMIT $3",
            &[&tenant, &after, &(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The patients written after `after`.
///
/// The contract is "everything committed up to `upto`": PostgreSQL hands
/// out sequence numbers when rows are inserted, not when they commit, so a
/// slow transaction could commit seq 100 after seq 101 is visible. Every
/// write transaction holds its tenant's write lock (`tx.rs`), and this
/// takes it for the moment it reads the highest seq: no write of the tenant
/// is then in flight, so every seq up to it is settled, and later writes
/// draw higher ones.
pub async fn written(
    c: &mut Object,
    tenant: &str,
    types: &[String],
    after: Option<i64>,
) -> Result<Written, StoreError> {
    let upto: i64 = {
        let tx = c.transaction().await.map_err(conn::error)?;
        let t = Conn::Tx(&tx);
        t.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&TENANT_WRITE_LOCK, &tenant],
        )
        .await?;
        let upto = t
            .query_opt(
                "SELECT COALESCE(MAX(seq), 0) FROM history WHERE tenant = $1",
                &[&tenant],
            )
            .await?
            .map_or(0, |r| r.get(0));
        tx.commit().await.map_err(conn::error)?;
        upto
    };
    let Some(after) = after else {
        return Ok(Written {
            patients: Vec::new(),
            upto,
        });
    };
    let c = Conn::Client(c);
    let mut patients = std::collections::BTreeSet::new();
    for r in c
        .query(
            "SELECT DISTINCT id FROM history WHERE tenant = $1 AND type = 'Patient' \
             AND seq > $2 AND seq <= $3",
            &[&tenant, &after, &upto],
        )
        .await?
    {
        patients.insert(r.get::<_, String>(0));
    }
    for rt in types.iter().filter(|t| *t != "Patient") {
        for r in c
            .query(
                "SELECT DISTINCT x.target_id FROM history h JOIN idx_ref x \
                 ON x.tenant = h.tenant AND x.rid = h.rid \
                 WHERE h.tenant = $1 AND h.type = $2 AND h.seq > $3 AND h.seq <= $4 \
                 AND x.param = 'patient' AND x.target_type = 'Patient'",
                &[&tenant, rt, &after, &upto],
            )
            .await?
        {
            if let Some(id) = r.get::<_, Option<String>>(0) {
                patients.insert(id);
            }
        }
    }
    Ok(Written {
        patients: patients.into_iter().collect(),
        upto,
    })
}
