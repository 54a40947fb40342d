//! The care-gap registry (BB6.Y1.2, BB6.Y2.3): a pass over a practice finds
//! today's gaps — each measure's (this calendar year, as `$care-gaps`
//! reads them) and each screening due by today (as `$screening-status`
//! computes them) — and keeps each gap episode as a DetectedIssue
//! (`rules::caregaps`): DEQM's CAREGAP code and gap-status modifier, the gap
//! key as its identifier, `identifiedPeriod` from the day a pass opened it
//! to the day a pass closed it. The care team records outreach as a
//! Communication `about` the DetectedIssue or a Task whose `focus` it is.
//! The pass runs with the risk pass (periodic and `$stratify`);
//! `registry` reads the episodes back.

mod registry;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use crate::fhir::id::derived;
use crate::measure::catalog::Catalog;
use crate::measure::record::as_list;
use crate::measure::run::{MeasureTally, Period};
use crate::rules::caregaps::{Episode, Finding, Found, changes};
use crate::service::managed::{live, put};
use crate::service::measures::care_gaps::{caregap_code, gap_status, measure_gaps};
use crate::service::measures::evaluate::{Selection, run};
use crate::service::screening::status::dues;
use crate::service::screening::{DERIVED_TAG, INSTRUMENT_TAG};
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

pub const GAP_TAG: &str = "care-gap";
/// The identifier system of a gap's key.
pub const GAP_KEY: &str = "http://tandem.health/fhir/care-gap";
const BATCH: usize = 500;

/// A recorded episode from its DetectedIssue.
fn episode(v: &Value) -> Option<Episode> {
    let day = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .and_then(crate::fhir::datetime::date_written)
    };
    Some(Episode {
        id: v["id"].as_str()?.to_string(),
        patient: v["patient"]["reference"].as_str()?.to_string(),
        key: v["identifier"][0]["value"].as_str()?.to_string(),
        opened: day("/identifiedPeriod/start")?,
        closed: day("/identifiedPeriod/end"),
        outreach: None,
    })
}

fn opened(patient: &str, key: &str, f: &Finding, today: NaiveDate) -> (String, Value) {
    let id = derived("gap", &format!("{patient}|{key}|{today}"));
    let v = json!({
        "resourceType": "DetectedIssue", "id": id,
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": GAP_TAG }] },
        "modifierExtension": gap_status(false),
        "identifier": [{ "system": GAP_KEY, "value": key }],
        "status": "final",
        "code": caregap_code(),
        "patient": { "reference": patient },
        "identifiedPeriod": { "start": today.to_string() },
        "detail": f.detail,
        "evidence": [{ "detail": f.evidence.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>() }],
    });
    (id, v)
}

impl FhirService {
    /// Today's gaps in the practice.
    async fn gaps_found(
        &self,
        ctx: &AccessContext,
        today: NaiveDate,
    ) -> Result<Found, ServiceError> {
        let year = Period {
            first: NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("a date"),
            last: NaiveDate::from_ymd_opt(today.year(), 12, 31).expect("a date"),
        };
        let defs = Catalog::get().all_for_period(year.first);
        let tallies = defs.iter().map(|d| MeasureTally::new(d, false)).collect();
        let mut found = Found::new();
        run(
            &self.store,
            ctx,
            year,
            &Selection::default(),
            tallies,
            |record, results| {
                let patient = format!("Patient/{}", record.id());
                for (def, _) in measure_gaps(&defs, results, false) {
                    let f = Finding {
                        detail: format!(
                            "{}: in the denominator, numerator not met ({} to {})",
                            def.cms, year.first, year.last
                        ),
                        evidence: vec![format!("Measure/{}", def.id)],
                    };
                    found.insert((patient.clone(), format!("measure:{}", def.cms)), f);
                }
                let screens: Vec<Value> = record
                    .all("Observation")
                    .iter()
                    .filter(|o| {
                        let tag = |sys: &str, code: Option<&str>| {
                            as_list(&o["meta"]["tag"])
                                .any(|t| t["system"] == sys && code.is_none_or(|c| t["code"] == c))
                        };
                        tag(DERIVED_TAG, Some("screening-result")) && tag(INSTRUMENT_TAG, None)
                    })
                    .cloned()
                    .collect();
                for due in dues(&screens, record.birth_date(), today) {
                    if due.due > today {
                        continue;
                    }
                    let f = Finding {
                        detail: format!(
                            "{} screening due {}: {}",
                            due.domain.code(),
                            due.due,
                            due.reason
                        ),
                        evidence: Vec::new(),
                    };
                    found.insert(
                        (patient.clone(), format!("screening:{}", due.domain.code())),
                        f,
                    );
                }
            },
            |_| {},
        )
        .await?;
        Ok(found)
    }

    /// Every recorded episode (outreach not read).
    pub(crate) async fn gap_episodes(
        &self,
        ctx: &AccessContext,
    ) -> Result<Vec<Episode>, ServiceError> {
        self.find_map(
            ctx,
            "DetectedIssue",
            &[("_tag", format!("{DERIVED_TAG}|{GAP_TAG}"))],
            |v| episode(&v),
        )
        .await
    }

    /// The registry pass over one practice: opens the gaps found today that
    /// have no open episode, closes the open episodes no longer found.
    /// Returns (opened, closed).
    pub(crate) async fn sync_care_gaps(
        &self,
        ctx: &AccessContext,
    ) -> Result<(usize, usize), ServiceError> {
        let today = self.today();
        let found = self.gaps_found(ctx, today).await?;
        let recorded = self.gap_episodes(ctx).await?;
        let (to_open, to_close) = changes(&found, &recorded);
        let mut writes: Vec<Write> = to_open
            .iter()
            .map(|((p, k), f)| Write::Open(opened(p, k, f, today)))
            .collect();
        let counts = (writes.len(), to_close.len());
        writes.extend(to_close.into_iter().map(Write::Close));
        for batch in writes.chunks(BATCH) {
            let st = self.stamper();
            let batch = batch.to_vec();
            transact(self.store.as_ref(), ctx, move |tx| {
                for w in batch {
                    match w {
                        Write::Open((id, v)) => {
                            put(tx, &st, "DetectedIssue", &id, v)?;
                        }
                        Write::Close(id) => {
                            let Some(mut v) = live(tx, "DetectedIssue", &id)? else {
                                continue;
                            };
                            v["modifierExtension"] = gap_status(true);
                            v["identifiedPeriod"]["end"] = json!(today.to_string());
                            put(tx, &st, "DetectedIssue", &id, v)?;
                        }
                    }
                }
                Ok::<_, ServiceError>(())
            })
            .await?;
        }
        Ok(counts)
    }
}

#[derive(Clone)]
enum Write {
    Open((String, Value)),
    Close(String),
}

/// Episodes by id, for the registry's readers.
pub(crate) fn by_id(episodes: Vec<Episode>) -> BTreeMap<String, Episode> {
    episodes.into_iter().map(|e| (e.id.clone(), e)).collect()
}
