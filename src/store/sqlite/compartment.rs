//! Patient compartments for whole-population evaluation (measures): a page
//! of patients, ordered by id, each with every live resource whose
//! `patient` search parameter points at it. Two indexed queries per type and
//! page, so memory is bounded by the page, never the population.

use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use std::collections::HashMap;

use super::rows::{COLUMNS, row_to_resource};
use crate::store::{PatientPage, PatientRecord, StoreError};

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
        let sql = format!(
            "SELECT {COLUMNS}, x.target_id FROM idx_ref x JOIN resources r ON r.rid = x.rid \
             JOIN history h ON h.seq = r.hseq \
             WHERE x.tenant = ? AND x.rtype = ? AND x.param = 'patient' AND x.target_type = 'Patient' \
             AND x.target_id IN ({marks}) AND r.deleted = 0"
        );
        let mut args: Vec<SqlValue> = vec![tenant.to_string().into(), rt.clone().into()];
        args.extend(ids.iter().cloned().map(SqlValue::from));
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
