//! Patient compartments for whole-population evaluation (measures, risk):
//! a page of patients, ordered by id, each with every live resource whose
//! `patient` search parameter points at it. Two indexed queries per type and
//! page, so memory is bounded by the page, never the population. And, from
//! the indexes alone, the patient ids in order (to split a population into
//! pages) and the patients written since a point in the write order.

use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use std::collections::HashMap;

use super::rows::{COLUMNS, row_to_resource};
use crate::store::{PatientPage, PatientRecord, StoreError, Written};

pub fn page(
    conn: &Connection,
    tenant: &str,
    req: &PatientPage,
) -> Result<Vec<PatientRecord>, StoreError> {
    let patients = patients(conn, tenant, req)?;
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = patients.iter().map(|p| p.id.clone()).collect();
    let mut by_patient: HashMap<String, Vec<crate::store::StoredResource>> = HashMap::new();
    for rt in &req.types {
        let marks = vec!["?"; ids.len()].join(",");
        let mut args: Vec<SqlValue> = vec![tenant.to_string().into(), rt.clone().into()];
        args.extend(ids.iter().cloned().map(SqlValue::from));
        let sql = format!(
            "SELECT {COLUMNS}, x.target_id FROM idx_ref x JOIN resources r ON r.rid = x.rid \
             JOIN history h ON h.seq = r.hseq \
             WHERE x.tenant = ? AND x.rtype = ? AND x.param = 'patient' AND x.target_type = 'Patient' \
             AND x.target_id IN ({marks}) AND r.deleted = 0"
        );
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(args), |row| {
            Ok((row.get::<_, String>(7)?, row_to_resource(row)?))
        })?;
        for row in rows {
            let (owner, resource) = row?;
            by_patient.entry(owner).or_default().push(resource);
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

fn patients(
    conn: &Connection,
    tenant: &str,
    req: &PatientPage,
) -> Result<Vec<crate::store::StoredResource>, StoreError> {
    let mut args: Vec<SqlValue> = vec![
        tenant.to_string().into(),
        req.after.clone().unwrap_or_default().into(),
    ];
    let only = match &req.only {
        Some(ids) => {
            args.extend(ids.iter().cloned().map(SqlValue::from));
            format!(" AND r.id IN ({})", vec!["?"; ids.len()].join(","))
        }
        None => String::new(),
    };
    args.push((req.limit as i64).into());
    let sql = format!(
        "SELECT {COLUMNS} FROM resources r JOIN history h ON h.seq = r.hseq \
         WHERE r.tenant = ? AND r.type = 'Patient' AND r.deleted = 0 AND r.id > ?{only} ORDER BY r.id LIMIT ?"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(args), row_to_resource)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Up to `limit` live patient ids after `after`, in order.
pub fn ids(
    conn: &Connection,
    tenant: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM resources WHERE tenant = ? AND type = 'Patient' AND id > ? \
         AND deleted = 0 ORDER BY id LIMIT ?",
    )?;
    let rows = st.query_map(rusqlite::params![tenant, after, limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// The patients written after `after` (see `Store::patients_written`):
/// per type, the history rows after it (by the `(tenant, type, seq)`
/// index) joined to their `patient` reference rows.
pub fn written(
    conn: &Connection,
    tenant: &str,
    types: &[String],
    after: Option<i64>,
) -> Result<Written, StoreError> {
    // Everything committed is at or below this; a later commit is above it.
    let upto: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM history WHERE tenant = ?")?
        .query_row([tenant], |r| r.get(0))?;
    let Some(after) = after else {
        return Ok(Written {
            patients: Vec::new(),
            upto,
        });
    };
    let mut patients = std::collections::BTreeSet::new();
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT id FROM history WHERE tenant = ?1 AND type = 'Patient' \
         AND seq > ?2 AND seq <= ?3",
    )?;
    for id in st.query_map(rusqlite::params![tenant, after, upto], |r| r.get(0))? {
        patients.insert(id?);
    }
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT x.target_id FROM history h JOIN idx_ref x ON x.rid = h.rid \
         WHERE h.tenant = ?1 AND h.type = ?2 AND h.seq > ?3 AND h.seq <= ?4 \
         AND x.param = 'patient' AND x.target_type = 'Patient'",
    )?;
    for rt in types.iter().filter(|t| *t != "Patient") {
        let rows = st.query_map(rusqlite::params![tenant, rt, after, upto], |r| r.get(0))?;
        for id in rows {
            patients.insert(id?);
        }
    }
    Ok(Written {
        patients: patients.into_iter().collect(),
        upto,
    })
}
