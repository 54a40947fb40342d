//! Each patient's stratum kept as a FHIR RiskAssessment (`risk-{hash}` per
//! patient): the tier as `prediction.qualitativeRisk`, the points, the
//! drivers as the rationale, the resources that scored as `basis`. A pass
//! re-stratifies a practice and writes a new version only for patients
//! whose stratum changed, so the RiskAssessment's history is the patient's
//! risk history. The pass runs periodically (every `[risk]
//! restratify_secs`, so an ADT admission shows within that delay) and on
//! demand (`POST Organization/{id}/$stratify`).

use std::collections::{HashMap, VecDeque};

use tokio::task::JoinHandle;

use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::datetime::format_instant_ms;
use crate::fhir::id::derived;
use crate::measure::record::Record;
use crate::rules::risk::{Method, Stratum};
use crate::service::managed::put;
use crate::service::population::Pages;
use crate::service::risk::careplan;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};

use crate::rules::risk::TIER_CS;
use crate::rules::risk::overrides::{DERIVED_CODE, DERIVED_TAG};
const POINTS_EXT: &str = "http://tandem.health/fhir/StructureDefinition/risk-points";
/// Why the patient is on the high-risk BH registry, one per reason.
pub const BH_EXT: &str = "http://tandem.health/fhir/StructureDefinition/bh-high-risk";
/// Per practice: the point in the store's write order its last periodic
/// pass read from (everything committed before it began), and its day.
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

/// One page of a pass: the assessments that changed, the patients whose
/// care the pass keeps (high tier or on the BH registry), and how many
/// assessments stand as kept.
struct Page {
    changed: Vec<(String, Value)>,
    cared: Vec<(String, Stratum)>,
    unchanged: usize,
}

impl Page {
    /// Stratifies a page, comparing each stratum with the assessment the
    /// patient's record holds (read with it, so no second query).
    fn of(records: Vec<Record>, on: chrono::NaiveDate, method: &Method) -> Page {
        let mut page = Page {
            changed: Vec::new(),
            cared: Vec::new(),
            unchanged: 0,
        };
        for record in records {
            let patient = format!("Patient/{}", record.id());
            let s = super::stratum(&record, on, method);
            let a = assessment(&patient, &s, method);
            let id = a["id"].as_str().unwrap_or_default().to_string();
            let kept = record.get("RiskAssessment", &id).cloned().map(content);
            if kept == Some(content(a.clone())) {
                page.unchanged += 1;
            } else {
                page.changed.push((id, a));
            }
            if method.is_high(&s.tier) || !s.bh.is_empty() {
                page.cared.push((patient, s));
            }
        }
        page
    }
}

/// A queued write's outcome.
async fn joined(w: JoinHandle<Result<(), ServiceError>>) -> Result<(), ServiceError> {
    w.await
        .map_err(|e| ServiceError::Internal(format!("risk write failed: {e}")))?
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
    /// (written, unchanged). Each page's writes go to the writer while the
    /// next pages are read and stratified (at most two pages' writes
    /// queued), so reading, scoring and writing overlap.
    pub(crate) async fn restratify(
        &self,
        ctx: &AccessContext,
        only: Option<Vec<String>>,
    ) -> Result<(usize, usize), ServiceError> {
        let now = self.clock.now_ms();
        let on = crate::fhir::datetime::utc_date(now);
        let at = format_instant_ms(now);
        let today = on.to_string();
        let method = self.settings.risk.clone();
        let mut pages = Pages::start(self.store.clone(), ctx, super::reading(only));
        let mut writes: VecDeque<JoinHandle<Result<(), ServiceError>>> = VecDeque::new();
        let (mut written, mut unchanged) = (0, 0);
        while let Some(rows) = pages.next().await {
            let rows = rows?;
            let m = method.clone();
            let page = tokio::task::spawn_blocking(move || Page::of(rows, on, &m))
                .await
                .map_err(|e| ServiceError::Internal(format!("risk pass failed: {e}")))?;
            written += page.changed.len();
            unchanged += page.unchanged;
            if page.changed.is_empty() && page.cared.is_empty() {
                continue;
            }
            if writes.len() >= 2
                && let Some(w) = writes.pop_front()
            {
                joined(w).await?;
            }
            let (store, ctx, st) = (self.store.clone(), ctx.clone(), self.stamper());
            let (at, today, method) = (at.clone(), today.clone(), method.clone());
            writes.push_back(tokio::spawn(async move {
                transact(store.as_ref(), &ctx, move |tx| {
                    for (id, mut a) in page.changed {
                        a["occurrenceDateTime"] = json!(at);
                        put(tx, &st, "RiskAssessment", &id, a)?;
                    }
                    let mut keep = careplan::Keep {
                        tx,
                        st: &st,
                        method: &method,
                        today: &today,
                        now: &at,
                    };
                    for (patient, s) in &page.cared {
                        keep.patient(patient, s)?;
                    }
                    Ok::<_, ServiceError>(())
                })
                .await
            }));
        }
        for w in writes {
            joined(w).await?;
        }
        Ok((written, unchanged))
    }

    /// The patients (`Patient/…`) with a RiskAssessment kept by the pass
    /// (BB6.Y2.1's numerator, among the empaneled).
    pub(crate) async fn risk_assessed(
        &self,
        ctx: &AccessContext,
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        let tag = [("_tag", format!("{DERIVED_TAG}|{DERIVED_CODE}"))];
        let found = self
            .find_map(ctx, "RiskAssessment", &tag, |v| {
                v["subject"]["reference"].as_str().map(str::to_string)
            })
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The periodic pass over every practice in the store. The first pass
    /// of a day (by UTC) is whole — strata move with the days (the
    /// look-back slides, patients age) — and syncs the care gaps; the
    /// others re-stratify only the patients whose records were written
    /// after the practice's last pass began reading (an index-only query),
    /// so their cost follows the writes, not the practice.
    pub async fn restratify_all(&self, passes: &mut Passes) -> Result<usize, ServiceError> {
        let mut total = 0;
        for tenant in self.store.tenants().await? {
            let ctx = AccessContext::internal(&tenant, "restratify");
            let now = self.clock.now_ms();
            let today = crate::fhir::datetime::utc_date(now);
            // Read where the write order stands before the pass reads, so
            // what commits during the pass is the next pass's.
            let (only, upto) = match passes.0.get(&tenant) {
                Some((after, day)) if *day == today => {
                    let w = self.touched_patients(&ctx, Some(*after)).await?;
                    (Some(w.patients), w.upto)
                }
                _ => (None, self.touched_patients(&ctx, None).await?.upto),
            };
            let whole = only.is_none();
            if only.as_ref().is_none_or(|o| !o.is_empty()) {
                total += self.restratify(&ctx, only).await?.0;
            }
            if whole {
                self.sync_care_gaps(&ctx).await?;
            }
            passes.0.insert(tenant, (upto, today));
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
