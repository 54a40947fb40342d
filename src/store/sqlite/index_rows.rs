//! The search index rows of a resource's current version.
//!
//! A new resource gets all its rows inserted. An update replaces the rows by
//! difference: rows whose value is unchanged stay, only the others are deleted
//! or inserted. Rows with the same value sit next to each other in an index
//! B-tree, so an unchanged row of an old resource lives on some leaf page deep
//! inside the index; deleting and re-inserting it dirtied that page, and every
//! dirty page is a 4 KiB frame in the write-ahead log and a page copied by the
//! next checkpoint. An ADT discharge that only changes an Encounter's status
//! and period end used to rewrite all eleven of its rows.

use std::collections::HashMap;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, params_from_iter};

use crate::fhir::index::{IndexEntry, IndexValue};
use crate::store::{NewVersion, StoreError};

/// An index table: its name, value columns (after `tenant, rtype, param`)
/// and the statement inserting one row.
struct Table {
    name: &'static str,
    columns: &'static str,
    insert: &'static str,
}

const TABLES: [Table; 5] = [
    Table {
        name: "idx_token",
        columns: "system, code, text",
        insert: "INSERT INTO idx_token (tenant, rtype, param, system, code, text, rid) VALUES (?, ?, ?, ?, ?, ?, ?)",
    },
    Table {
        name: "idx_string",
        columns: "norm, exact",
        insert: "INSERT INTO idx_string (tenant, rtype, param, norm, exact, rid) VALUES (?, ?, ?, ?, ?, ?)",
    },
    Table {
        name: "idx_date",
        columns: "start, \"end\"",
        insert: "INSERT INTO idx_date (tenant, rtype, param, start, \"end\", rid) VALUES (?, ?, ?, ?, ?, ?)",
    },
    Table {
        name: "idx_ref",
        columns: "target_type, target_id, url",
        insert: "INSERT INTO idx_ref (tenant, rtype, param, target_type, target_id, url, rid) VALUES (?, ?, ?, ?, ?, ?, ?)",
    },
    Table {
        name: "idx_quantity",
        columns: "value, system, code",
        insert: "INSERT INTO idx_quantity (tenant, rtype, param, value, system, code, rid) VALUES (?, ?, ?, ?, ?, ?, ?)",
    },
];

/// Inserts every index row of `v` for resource row `rid`.
pub fn insert_all(
    conn: &Connection,
    tenant: &str,
    v: &NewVersion,
    rid: i64,
) -> Result<(), StoreError> {
    for e in &v.index {
        insert(conn, tenant, &v.resource_type, e, rid)?;
    }
    Ok(())
}

/// Makes `rid`'s index rows those of `v` (none for a deletion), touching only
/// the rows that differ.
pub fn replace(
    conn: &Connection,
    tenant: &str,
    v: &NewVersion,
    rid: i64,
) -> Result<(), StoreError> {
    let mut wanted: HashMap<(usize, String), Vec<&IndexEntry>> = HashMap::new();
    if !v.deleted {
        for e in &v.index {
            let (table, values) = columns(&e.value);
            wanted
                .entry((table, key(&e.param, &values)))
                .or_default()
                .push(e);
        }
    }
    for (t, table) in TABLES.iter().enumerate() {
        let width = table.columns.split(',').count();
        let mut stale = Vec::new();
        let mut select = conn.prepare_cached(&format!(
            "SELECT rowid, param, {} FROM {} WHERE rid = ?",
            table.columns, table.name
        ))?;
        let mut rows = select.query([rid])?;
        while let Some(row) = rows.next()? {
            let param: String = row.get(1)?;
            let values = (0..width)
                .map(|i| row.get_ref(i + 2))
                .collect::<Result<Vec<_>, _>>()?;
            let kept = wanted
                .get_mut(&(t, key(&param, &values)))
                .and_then(Vec::pop)
                .is_some();
            if !kept {
                stale.push(row.get::<_, i64>(0)?);
            }
        }
        let mut delete =
            conn.prepare_cached(&format!("DELETE FROM {} WHERE rowid = ?", table.name))?;
        for rowid in stale {
            delete.execute([rowid])?;
        }
    }
    for e in wanted.into_values().flatten() {
        insert(conn, tenant, &v.resource_type, e, rid)?;
    }
    Ok(())
}

/// The table (index into [`TABLES`]) and value columns of one index value,
/// in the form SQLite returns them, borrowed.
fn columns(v: &IndexValue) -> (usize, Vec<ValueRef<'_>>) {
    match v {
        IndexValue::Token {
            system,
            code,
            text: t,
        } => (0, vec![text(system), text(code), text(t)]),
        IndexValue::String { norm, exact } => (
            1,
            vec![
                ValueRef::from(norm.as_str()),
                ValueRef::from(exact.as_str()),
            ],
        ),
        IndexValue::Date(r) => (
            2,
            vec![ValueRef::Integer(r.start), ValueRef::Integer(r.end)],
        ),
        IndexValue::Reference {
            target_type,
            target_id,
            url,
        } => (3, vec![text(target_type), text(target_id), text(url)]),
        IndexValue::Quantity {
            value,
            system,
            code,
        } => (4, vec![ValueRef::Real(*value), text(system), text(code)]),
    }
}

/// An optional text column.
fn text(s: &Option<String>) -> ValueRef<'_> {
    s.as_deref().map_or(ValueRef::Null, ValueRef::from)
}

/// A row's identity within its table and resource: parameter and values.
fn key(param: &str, values: &[ValueRef<'_>]) -> String {
    format!("{param}\u{1f}{values:?}")
}

fn insert(
    conn: &Connection,
    tenant: &str,
    rt: &str,
    e: &IndexEntry,
    rid: i64,
) -> Result<(), StoreError> {
    let (t, values) = columns(&e.value);
    let args = [tenant, rt, e.param.as_str()]
        .map(ValueRef::from)
        .into_iter()
        .chain(values)
        .chain([ValueRef::Integer(rid)])
        .map(ToSqlOutput::Borrowed);
    conn.prepare_cached(TABLES[t].insert)?
        .execute(params_from_iter(args))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(param: &str, code: &str) -> IndexEntry {
        IndexEntry {
            param: param.into(),
            value: IndexValue::Token {
                system: Some("s".into()),
                code: Some(code.into()),
                text: None,
            },
        }
    }

    fn version(index: Vec<IndexEntry>, deleted: bool) -> NewVersion {
        NewVersion {
            resource_type: "Encounter".into(),
            id: "e".into(),
            version: 1,
            last_updated_ms: 0,
            deleted,
            method: "PUT",
            body: String::new(),
            encoded: None,
            index,
        }
    }

    /// (table, rowid, param, code-or-value) of every index row of rid 7.
    fn rows(conn: &Connection) -> Vec<(String, i64, String, String)> {
        let sql = "SELECT 'token', rowid, param, code FROM idx_token WHERE rid = 7 UNION ALL \
                   SELECT 'quantity', rowid, param, CAST(value AS TEXT) FROM idx_quantity WHERE rid = 7 \
                   ORDER BY 1, 3, 4, 2";
        let mut s = conn.prepare(sql).unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn quantity(value: f64) -> IndexEntry {
        IndexEntry {
            param: "length".into(),
            value: IndexValue::Quantity {
                value,
                system: None,
                code: None,
            },
        }
    }

    #[test]
    fn an_update_keeps_unchanged_rows_and_replaces_only_the_rest() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let first = vec![
            token("class", "IMP"),
            token("status", "in-progress"),
            token("type", "x"),
            token("type", "x"),
            quantity(2.5),
        ];
        insert_all(&conn, "t", &version(first, false), 7).unwrap();
        let before = rows(&conn);
        let id_of = |rows: &[(String, i64, String, String)], param: &str, code: &str| {
            rows.iter()
                .filter(|r| r.2 == param && r.3 == code)
                .map(|r| r.1)
                .collect::<Vec<_>>()
        };

        // status changes, one of the two equal "type" rows goes, a code is added.
        let second = vec![
            token("class", "IMP"),
            token("status", "finished"),
            token("type", "x"),
            quantity(2.5),
            token("reason-code", "r"),
        ];
        replace(&conn, "t", &version(second, false), 7).unwrap();
        let after = rows(&conn);
        let found: Vec<(&str, &str)> = after.iter().map(|r| (r.2.as_str(), r.3.as_str())).collect();
        assert_eq!(
            found,
            [
                ("length", "2.5"),
                ("class", "IMP"),
                ("reason-code", "r"),
                ("status", "finished"),
                ("type", "x"),
            ]
        );
        // The unchanged rows are the very same rows, not re-inserted copies.
        assert_eq!(
            id_of(&after, "class", "IMP"),
            id_of(&before, "class", "IMP")
        );
        assert_eq!(
            id_of(&after, "length", "2.5"),
            id_of(&before, "length", "2.5")
        );
        assert!(id_of(&before, "type", "x").contains(&id_of(&after, "type", "x")[0]));

        // A deletion leaves no rows; the other resource's rows are untouched.
        insert_all(&conn, "t", &version(vec![token("class", "IMP")], false), 8).unwrap();
        replace(&conn, "t", &version(vec![token("class", "AMB")], true), 7).unwrap();
        assert!(rows(&conn).is_empty());
        let other: i64 = conn
            .query_row("SELECT count(*) FROM idx_token WHERE rid = 8", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(other, 1);
    }
}
