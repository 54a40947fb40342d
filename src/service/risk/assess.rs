//! Each patient's stratum kept as a FHIR RiskAssessment (`risk-{hash}` per
//! patient): the tier as `prediction.qualitativeRisk`, the points, the
//! drivers as the rationale, the resources that scored as `basis`. A pass
//! re-stratifies a practice and writes a new version only for patients
//! whose stratum changed, so the RiskAssessment's history is the patient's
//! risk history. The pass runs periodically (every `[risk]
//! restratify_secs`, so an ADT admission shows within that delay) and on
//! demand (`POST Organization/{id}/$stratify`).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::datetime::format_instant_ms;
use crate::fhir::id::derived;
use crate::rules::risk::{Method, Stratum};
use crate::service::managed::put;
use crate::service::risk::careplan;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

use crate::rules::risk::TIER_CS;
use crate::rules::risk::overrides::{DERIVED_CODE, DERIVED_TAG};
const POINTS_EXT: &str = "http://tandem.health/fhir/StructureDefinition/risk-points";
/// Why the patient is on the high-risk BH registry, one per reason.
pub const BH_EXT: &str = "http://tandem.health/fhir/StructureDefinition/bh-high-risk";
/// Patients written per transaction.
const BATCH: usize = 500;
/// How far before a practice's last pass an incremental pass looks for
/// changed records: a write stamped before the pass began may commit after
/// the pass read (the whole pass each day catches anything later still).
pub const OVERLAP_MS: i64 = 60_000;

/// Per practice: when its last periodic pass began, and on which day.
#[derive(Debug, Default)]
pub struct Passes(HashMap<String, (i64, chrono::NaiveDate)>);

/// The RiskAssessment of `patient`'s stratum, without its time.
fn assessment(patient: &str, s: &Stratum, method: &Method) -> Value {
    let tier = s.computed(method);
    let mut basis: Vec<&String> = s.drivers.iter().flat_map(|d| &d.basis).collect();
    basis.sort();
    basis.dedup();
    let rationale = s
        .drivers
        .iter()
        .map(|d| format!("{} {}", d.code, d.points))
        .collect::<Vec<_>>()
        .join(", ");
    let mut a = json!({
        "resourceType": "RiskAssessment",
        "id": derived("risk", patient),
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": DERIVED_CODE }] },
        "extension": std::iter::once(json!({ "url": POINTS_EXT, "valueInteger": s.points }))
            .chain(s.bh.iter().map(|r| json!({ "url": BH_EXT, "valueCode": r })))
            .collect::<Vec<_>>(),
        "status": "final",
        "method": { "text": format!("Tandem risk stratification ({})", crate::rules::risk::plan::PLAN_URL) },
        "subject": { "reference": patient },
        "basis": basis.iter().map(|b| json!({ "reference": b })).collect::<Vec<_>>(),
        "prediction": [{
            "qualitativeRisk": { "coding": [{ "system": TIER_CS, "code": tier.code, "display": tier.display }] },
            "rationale": if rationale.is_empty() { "no driver scored".to_string() } else { rationale },
        }],
    });
    if !s.security.is_empty() {
        a["meta"]["security"] = json!(s.security);
    }
    a
}

/// A stored assessment without its time and version, to compare.
fn content(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("occurrenceDateTime");
    }
    if let Some(m) = v["meta"].as_object_mut() {
        m.remove("versionId");
        m.remove("lastUpdated");
    }
    v
}

impl FhirService {
    /// Re-stratifies one practice now — every patient, or `only` these
    /// (ids) — keeping changed strata, plans and outreach; returns
    /// (written, unchanged).
    pub(crate) async fn restratify(
        &self,
        ctx: &AccessContext,
        only: Option<Vec<String>>,
    ) -> Result<(usize, usize), ServiceError> {
        let now = self.clock.now_ms();
        let ids = only.as_ref().map(|o| {
            o.iter()
                .map(|p| derived("risk", &format!("Patient/{p}")))
                .collect::<Vec<_>>()
                .join(",")
        });
        let strata = self
            .stratify(ctx, crate::fhir::datetime::utc_date(now), only)
            .await?;
        let stored: HashMap<String, Value> = self
            .kept(ctx, ids, |v| {
                Some((v["id"].as_str()?.to_string(), content(v)))
            })
            .await?;
        let method = self.settings.risk.clone();
        let mut changed = Vec::new();
        let mut unchanged = 0;
        for (patient, s) in &strata {
            let a = assessment(patient, s, &method);
            let id = a["id"].as_str().unwrap_or_default().to_string();
            if stored.get(&id) == Some(&content(a.clone())) {
                unchanged += 1;
            } else {
                changed.push((id, a));
            }
        }
        let written = changed.len();
        let at = format_instant_ms(now);
        let today = crate::fhir::datetime::utc_date(now).to_string();
        let cared: Vec<(String, Stratum)> = strata
            .into_iter()
            .filter(|(_, s)| method.is_high(&s.tier) || !s.bh.is_empty())
            .collect();
        for batch in changed.chunks(BATCH) {
            let st = self.stamper();
            let batch: Vec<(String, Value)> = batch.to_vec();
            let at = at.clone();
            transact(self.store.as_ref(), ctx, move |tx| {
                for (id, mut a) in batch {
                    a["occurrenceDateTime"] = json!(at);
                    put(tx, &st, "RiskAssessment", &id, a)?;
                }
                Ok::<_, ServiceError>(())
            })
            .await?;
        }
        for batch in cared.chunks(BATCH) {
            let st = self.stamper();
            let batch: Vec<(String, Stratum)> = batch.to_vec();
            let (at, today, method) = (at.clone(), today.clone(), method.clone());
            transact(self.store.as_ref(), ctx, move |tx| {
                let mut keep = careplan::Keep {
                    tx,
                    st: &st,
                    method: &method,
                    today: &today,
                    now: &at,
                };
                for (patient, s) in &batch {
                    keep.patient(patient, s)?;
                }
                Ok::<_, ServiceError>(())
            })
            .await?;
        }
        Ok((written, unchanged))
    }

    /// What `keep` takes from each RiskAssessment the pass keeps (those
    /// with `ids`, comma-separated, when given).
    async fn kept<T, C: FromIterator<T>>(
        &self,
        ctx: &AccessContext,
        ids: Option<String>,
        keep: impl FnMut(Value) -> Option<T>,
    ) -> Result<C, ServiceError> {
        let mut pairs = vec![("_tag", format!("{DERIVED_TAG}|{DERIVED_CODE}"))];
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(std::iter::empty().collect());
            }
            pairs.insert(0, ("_id", ids));
        }
        let found = self.find_map(ctx, "RiskAssessment", &pairs, keep).await?;
        Ok(found.into_iter().collect())
    }

    /// The patients (`Patient/…`) with a RiskAssessment kept by the pass
    /// (BB6.Y2.1's numerator, among the empaneled).
    pub(crate) async fn risk_assessed(
        &self,
        ctx: &AccessContext,
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        self.kept(ctx, None, |v| {
            v["subject"]["reference"].as_str().map(str::to_string)
        })
        .await
    }

    /// The periodic pass over every practice in the store. The first pass
    /// of a day (by UTC) is whole — strata move with the days (the
    /// look-back slides, patients age) — and syncs the care gaps; the
    /// others re-stratify only the patients whose records changed since the
    /// practice's last pass began (less [`OVERLAP_MS`], for writes that
    /// committed late), so their cost follows the writes, not the practice.
    pub async fn restratify_all(&self, passes: &mut Passes) -> Result<usize, ServiceError> {
        let mut total = 0;
        for tenant in self.store.tenants().await? {
            let ctx = AccessContext::internal(&tenant, "restratify");
            let now = self.clock.now_ms();
            let today = crate::fhir::datetime::utc_date(now);
            let only = match passes.0.get(&tenant) {
                Some((since, day)) if *day == today => {
                    Some(self.touched_patients(&ctx, since - OVERLAP_MS).await?)
                }
                _ => None,
            };
            let whole = only.is_none();
            if only.as_ref().is_none_or(|o| !o.is_empty()) {
                total += self.restratify(&ctx, only).await?.0;
            }
            if whole {
                self.sync_care_gaps(&ctx).await?;
            }
            passes.0.insert(tenant, (now, today));
        }
        Ok(total)
    }

    /// `POST Organization/{id}/$stratify[?careGaps=false]`: the practice's
    /// own users run a whole pass now (the care-gap sync too, unless asked
    /// not to).
    pub async fn stratify_now(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("RiskAssessment", Interaction::Update),
            "A practice's patients are stratified",
        )?;
        let gaps = match crate::service::report::param(pairs, "careGaps") {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ServiceError::bad(crate::fhir::outcome::Issue::error(
                    "invalid",
                    format!("careGaps '{other}' must be true or false."),
                )));
            }
        };
        let internal = AccessContext::internal(&ctx.tenant, &ctx.client_id);
        let (written, unchanged) = self.restratify(&internal, None).await?;
        let mut parameter = vec![
            json!({ "name": "written", "valueInteger": written }),
            json!({ "name": "unchanged", "valueInteger": unchanged }),
        ];
        if gaps {
            let (opened, closed) = self.sync_care_gaps(&internal).await?;
            parameter.push(json!({ "name": "gapsOpened", "valueInteger": opened }));
            parameter.push(json!({ "name": "gapsClosed", "valueInteger": closed }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }
}
