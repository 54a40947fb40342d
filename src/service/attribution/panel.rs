//! PCP assignment changes (BB3.Y1.3): recorded by the attribution hook in
//! the write that makes them, listed by `GET Organization/{id}/$panel-changes`
//! and confirmed by a practice user with `POST …/$panel-confirm`. The rule
//! of what a change is lives in `rules::attribution::panel`.

use chrono::{Days, NaiveDate};
use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::datetime::{day_start_ms, format_instant_ms};
use crate::fhir::outcome::Issue;
use crate::measure::milestone::standing::Finding;
use crate::rules::attribution::panel::{
    PANEL_TAG, PCP_CHANGE, Recorded, change, confirm, provenance, read,
};
use crate::service::hooks::HookCx;
use crate::service::report::param;
use crate::service::screening::Written;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// Records, inside the write, each change of PCP assignment it makes.
pub(super) fn record_changes(cx: &mut HookCx<'_>, written: &[Written]) -> Result<(), ServiceError> {
    for w in written
        .iter()
        .filter(|w| matches!(w.resource_type.as_str(), "Patient" | "CareTeam"))
    {
        let parse = |b: &str| serde_json::from_str::<Value>(b).ok();
        let previous = w.previous.as_deref().and_then(parse);
        let current = if w.deleted { None } else { parse(&w.body) };
        let Some(c) = change(
            &w.resource_type,
            &w.id,
            w.version,
            previous.as_ref(),
            current.as_ref(),
        ) else {
            continue;
        };
        let id = format!("pcp-{}", uuid::Uuid::new_v4().simple());
        let recorded = format_instant_ms(cx.st.now_ms);
        let p = provenance(&c, &id, &recorded, cx.tenant, &cx.writer.client);
        cx.tx
            .write(cx.st.version("Provenance", &id, 1, p, "POST"))?;
    }
    Ok(())
}

impl FhirService {
    /// The changes recorded from `from_ms` to before `to_ms` (all when
    /// None; optionally one patient's), oldest first.
    async fn pcp_changes(
        &self,
        ctx: &AccessContext,
        range: Option<(i64, i64)>,
        patient: Option<&str>,
    ) -> Result<Vec<(Value, Recorded)>, ServiceError> {
        let mut pairs = vec![("_tag", format!("{PANEL_TAG}|{PCP_CHANGE}"))];
        if let Some((from_ms, to_ms)) = range {
            pairs.push(("recorded", format!("ge{}", format_instant_ms(from_ms))));
            pairs.push(("recorded", format!("lt{}", format_instant_ms(to_ms))));
        }
        if let Some(p) = patient {
            pairs.push(("patient", p.to_string()));
        }
        let mut found: Vec<(Value, Recorded)> = self
            .find_map(ctx, "Provenance", &pairs, |v| read(&v).map(|r| (v, r)))
            .await?;
        found.sort_by(|a, b| (&a.1.at, &a.1.provenance).cmp(&(&b.1.at, &b.1.provenance)));
        Ok(found)
    }

    /// `GET Organization/{id}/$panel-changes?start=&end=` (dates; default
    /// the last 90 days): each change with who made it, from and to, and
    /// its confirmation; counts only for the practice's overseers.
    pub async fn panel_changes(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "panel history")?;
        let end = day(param(pairs, "end"), "end")?.unwrap_or_else(|| self.today());
        let start = day(param(pairs, "start"), "start")?.unwrap_or(end - Days::new(89));
        let after = end.succ_opt().unwrap_or(end);
        let changes = self
            .pcp_changes(ctx, Some((day_start_ms(start), day_start_ms(after))), None)
            .await?;
        let confirmed = changes
            .iter()
            .filter(|(_, r)| r.confirmed.is_some())
            .count();
        let mut parameter = vec![
            json!({ "name": "start", "valueDate": start.to_string() }),
            json!({ "name": "end", "valueDate": end.to_string() }),
            json!({ "name": "changes", "valueInteger": changes.len() }),
            json!({ "name": "confirmed", "valueInteger": confirmed }),
        ];
        if !numbers_only {
            parameter.extend(changes.iter().map(|(_, r)| change_part(r)));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }

    /// `POST Organization/{id}/$panel-confirm?patient=Patient/{id}`: a
    /// practice user confirms the patient's recorded, unconfirmed changes
    /// (the assignment as it now stands was checked).
    pub async fn confirm_panel(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("Provenance", Interaction::Update),
            "PCP assignments are confirmed",
        )?;
        let patient = param(pairs, "patient")
            .map(|p| format!("Patient/{}", p.trim_start_matches("Patient/")))
            .ok_or_else(|| {
                ServiceError::bad(Issue::error("required", "Give patient=Patient/<id>."))
            })?;
        let changes = self.pcp_changes(ctx, None, Some(&patient)).await?;
        if changes.is_empty() {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("No PCP assignment change is recorded for {patient}."),
            )));
        }
        let at = format_instant_ms(self.clock.now_ms());
        let mut done = Vec::new();
        let st = self.stamper();
        let (org, client) = (org.to_string(), ctx.client_id.clone());
        let confirmed = crate::store::transact(self.store.as_ref(), ctx, move |tx| {
            for (mut p, r) in changes {
                if confirm(&mut p, &org, &client, &at) {
                    let id = r.provenance.trim_start_matches("Provenance/").to_string();
                    crate::service::managed::put(tx, &st, "Provenance", &id, p)?;
                    done.push(r.provenance);
                }
            }
            Ok::<_, ServiceError>(done)
        })
        .await?;
        let mut parameter = vec![json!({ "name": "confirmed", "valueInteger": confirmed.len() })];
        parameter.extend(
            confirmed
                .iter()
                .map(|p| json!({ "name": "change", "valueReference": { "reference": p } })),
        );
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }

    /// BB3.Y1.3: the changes recorded in the period (denominator) and of
    /// them those confirmed (numerator).
    pub(crate) async fn pcp_validation(
        &self,
        ctx: &AccessContext,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<Finding, ServiceError> {
        let changes = self.pcp_changes(ctx, Some((from_ms, to_ms)), None).await?;
        let numerator = changes
            .iter()
            .filter(|(_, r)| r.confirmed.is_some())
            .map(|(_, r)| r.provenance.clone())
            .collect();
        Ok(Finding::Ratio {
            numerator,
            denominator: changes.into_iter().map(|(_, r)| r.provenance).collect(),
            also: None,
        })
    }
}

fn day(given: Option<&str>, name: &str) -> Result<Option<NaiveDate>, ServiceError> {
    given
        .map(|d| {
            d.parse::<NaiveDate>().map_err(|_| {
                ServiceError::bad(Issue::error(
                    "invalid",
                    format!("{name} '{d}' is not a date: write YYYY-MM-DD."),
                ))
            })
        })
        .transpose()
}

fn change_part(r: &Recorded) -> Value {
    let reference =
        |name: &str, r: &str| json!({ "name": name, "valueReference": { "reference": r } });
    let mut part = vec![
        reference("provenance", &r.provenance),
        reference("patient", &r.patient),
        reference("version", &r.target),
        json!({ "name": "recorded", "valueDateTime": r.at }),
        json!({ "name": "by", "valueString": r.by }),
    ];
    part.extend(r.from.iter().map(|f| reference("from", f)));
    part.extend(r.to.iter().map(|t| reference("to", t)));
    if let Some((by, at)) = &r.confirmed {
        part.push(json!({ "name": "confirmedBy", "valueString": by }));
        part.push(json!({ "name": "confirmedAt", "valueDateTime": at }));
    }
    json!({ "name": "change", "part": part })
}
