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
    /// Re-stratifies one practice now; returns (written, unchanged).
    pub(crate) async fn restratify(
        &self,
        ctx: &AccessContext,
    ) -> Result<(usize, usize), ServiceError> {
        let now = self.clock.now_ms();
        let strata = self
            .stratify(ctx, crate::fhir::datetime::utc_date(now))
            .await?;
        let stored: HashMap<String, Value> = self
            .kept(ctx, |v| Some((v["id"].as_str()?.to_string(), content(v))))
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

    /// What `keep` takes from each RiskAssessment the pass keeps.
    async fn kept<T, C: FromIterator<T>>(
        &self,
        ctx: &AccessContext,
        keep: impl FnMut(Value) -> Option<T>,
    ) -> Result<C, ServiceError> {
        let tag = format!("{DERIVED_TAG}|{DERIVED_CODE}");
        let found = self
            .find_map(ctx, "RiskAssessment", &[("_tag", tag)], keep)
            .await?;
        Ok(found.into_iter().collect())
    }

    /// The patients (`Patient/…`) with a RiskAssessment kept by the pass
    /// (BB6.Y2.1's numerator, among the empaneled).
    pub(crate) async fn risk_assessed(
        &self,
        ctx: &AccessContext,
    ) -> Result<std::collections::HashSet<String>, ServiceError> {
        self.kept(ctx, |v| {
            v["subject"]["reference"].as_str().map(str::to_string)
        })
        .await
    }

    /// The periodic pass: every practice in the store, its strata, plans
    /// and care gaps.
    pub async fn restratify_all(&self) -> Result<usize, ServiceError> {
        let mut total = 0;
        for tenant in self.store.tenants().await? {
            let ctx = AccessContext::internal(&tenant, "restratify");
            total += self.restratify(&ctx).await?.0;
            self.sync_care_gaps(&ctx).await?;
        }
        Ok(total)
    }

    /// `POST Organization/{id}/$stratify`: the practice's own users run the
    /// pass now.
    pub async fn stratify_now(
        &self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Value, ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("RiskAssessment", Interaction::Update),
            "A practice's patients are stratified",
        )?;
        let internal = AccessContext::internal(&ctx.tenant, &ctx.client_id);
        let (written, unchanged) = self.restratify(&internal).await?;
        let (opened, closed) = self.sync_care_gaps(&internal).await?;
        Ok(json!({ "resourceType": "Parameters", "parameter": [
            { "name": "written", "valueInteger": written },
            { "name": "unchanged", "valueInteger": unchanged },
            { "name": "gapsOpened", "valueInteger": opened },
            { "name": "gapsClosed", "valueInteger": closed },
        ] }))
    }
}
