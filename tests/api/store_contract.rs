//! Contract tests for the `Store` trait, written against `dyn Store` and run
//! on both stores in every run: SQLite, and PostgreSQL (the server
//! `TEST_PG_URL` names, by default the local one).

use std::sync::Arc;

use tandem::fhir::index::{IndexEntry, IndexValue};
use tandem::fhir::params::Registry;
use tandem::fhir::query::parse;
use tandem::store::jobs::JobTick;
use tandem::store::sqlite::SqliteStore;
use tandem::store::{
    AccessContext, HistoryQuery, HistoryScope, NewVersion, Store, StoreError, transact,
};

fn ctx(tenant: &str) -> AccessContext {
    AccessContext::internal(tenant, "r")
}

fn version(id: &str, v: i64, family: &str) -> NewVersion {
    NewVersion {
        resource_type: "Patient".into(),
        id: id.into(),
        version: v,
        last_updated_ms: 1_700_000_000_000 + v,
        deleted: false,
        method: "PUT",
        body: format!(
            r#"{{"resourceType":"Patient","id":"{id}","meta":{{"versionId":"{v}"}},"name":[{{"family":"{family}"}}]}}"#
        ),
        encoded: None,
        index: vec![IndexEntry {
            param: "family".into(),
            value: IndexValue::String {
                norm: family.to_lowercase(),
                exact: family.into(),
            },
        }],
    }
}

/// A `rtype` resource whose `patient` parameter points at `Patient/patient`.
fn pointing(rtype: &str, id: &str, patient: &str) -> NewVersion {
    NewVersion {
        resource_type: rtype.into(),
        id: id.into(),
        version: 1,
        last_updated_ms: 1_700_000_000_000,
        deleted: false,
        method: "PUT",
        body: format!(
            r#"{{"resourceType":"{rtype}","id":"{id}","subject":{{"reference":"Patient/{patient}"}}}}"#
        ),
        encoded: None,
        index: vec![IndexEntry {
            param: "patient".into(),
            value: IndexValue::Reference {
                target_type: Some("Patient".into()),
                target_id: Some(patient.into()),
                url: None,
            },
        }],
    }
}

async fn put(store: &dyn Store, c: &AccessContext, v: NewVersion) -> Result<(), StoreError> {
    transact(store, c, move |tx| tx.write(v)).await
}

/// The first page (up to 10 entries) of `scope`'s history.
fn first_page(scope: HistoryScope) -> HistoryQuery {
    HistoryQuery {
        scope,
        since_ms: None,
        count: 10,
        before_seq: None,
    }
}

/// `store` must be empty.
async fn contract(store: Arc<dyn Store>) {
    let registry = Arc::new(Registry::builtin());
    let family = move |f: &str| {
        parse(
            &registry,
            "",
            "Patient",
            &[("family".to_string(), f.to_string())],
        )
        .unwrap()
    };

    // Tenant isolation: nothing written in A is visible from B by any read path.
    let (a, b) = (ctx("tenant-a"), ctx("tenant-b"));
    put(store.as_ref(), &a, version("p1", 1, "Alpha"))
        .await
        .unwrap();
    assert!(store.read(&a, "Patient", "p1").await.unwrap().is_some());
    assert!(store.read(&b, "Patient", "p1").await.unwrap().is_none());
    assert!(store.vread(&b, "Patient", "p1", 1).await.unwrap().is_none());
    assert_eq!(
        store.search(&a, family("alp")).await.unwrap().matches.len(),
        1
    );
    assert_eq!(
        store.search(&b, family("alp")).await.unwrap().matches.len(),
        0
    );
    assert_eq!(store.find(&a, family("alp"), 5).await.unwrap().len(), 1);
    assert_eq!(store.find(&b, family("alp"), 5).await.unwrap().len(), 0);
    for scope in [
        HistoryScope::System,
        HistoryScope::Type("Patient".into()),
        HistoryScope::Instance("Patient".into(), "p1".into()),
    ] {
        let q = first_page(scope);
        assert_eq!(store.history(&b, q.clone()).await.unwrap().total, 0);
        assert_eq!(store.history(&a, q).await.unwrap().total, 1);
    }
    // The same id in another tenant is a different resource.
    put(store.as_ref(), &b, version("p1", 1, "Beta"))
        .await
        .unwrap();
    assert!(
        store
            .read(&a, "Patient", "p1")
            .await
            .unwrap()
            .unwrap()
            .body
            .contains("Alpha")
    );

    // Versions must follow on: a stale version is a conflict and changes nothing.
    let err = put(store.as_ref(), &a, version("p1", 1, "Again"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    put(store.as_ref(), &a, version("p1", 2, "Gamma"))
        .await
        .unwrap();
    let cur = store.read(&a, "Patient", "p1").await.unwrap().unwrap();
    assert_eq!(cur.version, 2);
    assert_eq!(
        store.search(&a, family("alp")).await.unwrap().matches.len(),
        0,
        "old index rows replaced"
    );
    assert_eq!(
        store.search(&a, family("gam")).await.unwrap().matches.len(),
        1
    );

    // A failing unit of work rolls back everything it wrote.
    let r: Result<(), StoreError> = transact(store.as_ref(), &a, |tx| {
        tx.write(version("p2", 1, "Delta"))?;
        Err(StoreError::Conflict("stop".into()))
    })
    .await;
    assert!(r.is_err());
    assert!(store.read(&a, "Patient", "p2").await.unwrap().is_none());

    // Nested units roll back alone.
    transact(store.as_ref(), &a, |tx| {
        tx.write(version("p3", 1, "Eps"))?;
        let _ = tx.nested(&mut |tx| {
            tx.write(version("p4", 1, "Zeta"))?;
            Err(StoreError::Conflict("inner".into()))
        });
        Ok::<_, StoreError>(())
    })
    .await
    .unwrap();
    assert!(store.read(&a, "Patient", "p3").await.unwrap().is_some());
    assert!(store.read(&a, "Patient", "p4").await.unwrap().is_none());

    // Reads inside a unit of work see its own writes; find() sees live rows only.
    let eta = family("eta");
    let seen = transact(store.as_ref(), &a, move |tx| {
        tx.write(version("p5", 1, "Eta"))?;
        let found = tx.find(&eta, 10)?;
        Ok::<_, StoreError>((tx.current("Patient", "p5")?.is_some(), found.len()))
    })
    .await
    .unwrap();
    assert_eq!(seen, (true, 1));

    // History is newest first and keeps every version.
    let h = store
        .history(
            &a,
            first_page(HistoryScope::Instance("Patient".into(), "p1".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        h.entries.iter().map(|e| e.version).collect::<Vec<_>>(),
        [2, 1]
    );

    // Patient ids in order, a block at a time; and the patients written
    // after a point in the write order, by the Patient or by a resource of
    // the asked types pointing at it, from another tenant never.
    let c = ctx("contract-pw");
    for id in ["w1", "w2", "w3"] {
        put(store.as_ref(), &c, version(id, 1, "W")).await.unwrap();
    }
    assert_eq!(store.patient_ids(&c, None, 2).await.unwrap(), ["w1", "w2"]);
    assert_eq!(
        store.patient_ids(&c, Some("w2".into()), 2).await.unwrap(),
        ["w3"]
    );
    let types = || vec!["Observation".to_string()];
    let start = store.patients_written(&c, types(), None).await.unwrap();
    assert!(
        start.patients.is_empty(),
        "no point given: only where to start"
    );
    let nothing = store
        .patients_written(&c, types(), Some(start.upto))
        .await
        .unwrap();
    assert!(nothing.patients.is_empty());
    assert_eq!(nothing.upto, start.upto);
    put(store.as_ref(), &c, pointing("Observation", "o1", "w2"))
        .await
        .unwrap();
    put(store.as_ref(), &c, pointing("Condition", "c1", "w3"))
        .await
        .unwrap();
    put(store.as_ref(), &c, version("w1", 2, "W"))
        .await
        .unwrap();
    put(
        store.as_ref(),
        &ctx("contract-other"),
        pointing("Observation", "o9", "w3"),
    )
    .await
    .unwrap();
    let w = store
        .patients_written(&c, types(), Some(start.upto))
        .await
        .unwrap();
    assert_eq!(
        w.patients,
        ["w1", "w2"],
        "Condition is not asked; the other tenant's write is not here"
    );
    assert!(w.upto > start.upto);
    let later = store
        .patients_written(&c, types(), Some(w.upto))
        .await
        .unwrap();
    assert!(later.patients.is_empty());
    store.close().await;
    assert!(matches!(
        put(store.as_ref(), &a, version("p9", 1, "x")).await,
        Err(StoreError::Closed)
    ));
}

/// Scheduled jobs: one run per slot, none beside a live lease, a catch-up
/// run whatever slot ran, a lease taken over only once it expired, and a
/// late holder unable to release its successor's lease.
async fn jobs_contract(store: &dyn Store) {
    let tick = |slot: i64, now_ms: i64, catch_up: bool| JobTick {
        job: "sweep",
        slot,
        now_ms,
        lease_ms: 1_000,
        catch_up,
    };
    let first = store.job_claim(tick(5, 100, false)).await.unwrap();
    let first = first.expect("a job's first slot is free");
    assert_eq!(
        store.job_claim(tick(6, 200, false)).await.unwrap(),
        None,
        "run under way"
    );
    store.job_release("sweep", first).await.unwrap();
    assert_eq!(
        store.job_claim(tick(5, 300, false)).await.unwrap(),
        None,
        "slot 5 ran"
    );
    let again = store.job_claim(tick(5, 300, true)).await.unwrap();
    let again = again.expect("a start-up run catches up whatever slot ran");
    assert_ne!(again.token, first.token);
    // Its holder dies: the lease (until 1,300) keeps the job until it expires.
    assert_eq!(store.job_claim(tick(6, 1_299, false)).await.unwrap(), None);
    let next = store.job_claim(tick(6, 1_300, false)).await.unwrap();
    let next = next.expect("an expired lease is taken over");
    // The dead holder's late release does not free its successor's run.
    store.job_release("sweep", again).await.unwrap();
    assert_eq!(store.job_claim(tick(7, 1_400, false)).await.unwrap(), None);
    store.job_release("sweep", next).await.unwrap();
    assert!(
        store
            .job_claim(tick(7, 1_400, false))
            .await
            .unwrap()
            .is_some()
    );
    let other = JobTick {
        job: "feed",
        ..tick(7, 1_400, false)
    };
    assert!(
        store.job_claim(other).await.unwrap().is_some(),
        "jobs are leased apart"
    );
}

#[tokio::test]
async fn sqlite_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("c.db")).unwrap());
    jobs_contract(store.as_ref()).await;
    contract(store).await;
}

#[tokio::test]
async fn postgres_store_meets_the_contract() {
    let db = crate::common::database::fresh_postgres().await;
    let store = crate::common::open_store(&db.db).await;
    jobs_contract(store.as_ref()).await;
    contract(store).await;
}

/// Large bodies are kept zstd-compressed in SQLite (see `store/sqlite/body.rs`)
/// and every read path returns them byte for byte; small ones stay text.
#[tokio::test]
async fn sqlite_compresses_large_bodies_and_returns_them_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    let store = SqliteStore::open(&path).unwrap();
    let c = ctx("t");
    let mut big = version("big", 1, "Bigname");
    let names: Vec<String> = (0..80)
        .map(|i| format!(r#"{{"family":"Name{i}","_family":{{"extension":[{{"url":"http://example.org/x","valueString":"é{i}"}}]}}}}"#))
        .collect();
    big.body = format!(
        r#"{{"resourceType":"Patient","id":"big","meta":{{"versionId":"1"}},"name":[{}]}}"#,
        names.join(",")
    );
    assert!(big.body.len() > 4096, "spans pages when uncompressed");
    let small = version("small", 1, "S");
    let (big_body, small_body) = (big.body.clone(), small.body.clone());
    put(&store, &c, big).await.unwrap();
    put(&store, &c, small).await.unwrap();

    assert_eq!(
        store
            .read(&c, "Patient", "big")
            .await
            .unwrap()
            .unwrap()
            .body,
        big_body
    );
    assert_eq!(
        store
            .vread(&c, "Patient", "big", 1)
            .await
            .unwrap()
            .unwrap()
            .body,
        big_body
    );
    let q = parse(
        &Registry::builtin(),
        "",
        "Patient",
        &[("family".into(), "bign".into())],
    )
    .unwrap();
    let found = store.search(&c, q).await.unwrap();
    assert_eq!(found.matches.len(), 1);
    assert_eq!(found.matches[0].body, big_body);
    let h = store
        .history(&c, first_page(HistoryScope::System))
        .await
        .unwrap();
    let bodies: Vec<&str> = h.entries.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, [small_body.as_str(), big_body.as_str()]);
    store.close().await;

    let db = rusqlite::Connection::open(&path).unwrap();
    let stored: Vec<(String, String, i64)> = db
        .prepare("SELECT id, typeof(body), length(body) FROM history ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored[0].0, "big");
    assert_eq!(stored[0].1, "blob");
    assert!((stored[0].2 as usize) < big_body.len() / 3, "{stored:?}");
    assert_eq!(
        stored[1],
        ("small".into(), "text".into(), small_body.len() as i64)
    );
}
