//! `GET Organization/{id}/$attribution?month=YYYY-MM`: each payer list in
//! effect at the end of the month (the latest version of each ATR Group
//! received by then) reconciled with the practice's panel as it is now,
//! with the patients (or members) behind every number, and the months in
//! which each list was received.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use crate::auth::policy::Interaction;
use crate::fhir::datetime::{day_start_ms, format_instant_ms};
use crate::fhir::outcome::Issue;
use crate::measure::milestone::population::empaneled;
use crate::rules::attribution::ATR_PROFILE;
use crate::rules::attribution::reconcile::{
    PanelEntry, Reconciliation, identifier_keys, reconcile,
};
use crate::service::milestones::numbers_only;
use crate::service::population::{Reading, fold_records};
use crate::service::report::param;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, HistoryQuery, HistoryScope};

impl FhirService {
    pub async fn attribution_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let numbers_only = self.reconciliation_access(ctx, org, "reconciliation")?;
        if !numbers_only {
            self.allow(ctx, "Group", Interaction::Search)?;
        }
        let (month, end_ms) = month_of(param(pairs, "month"), self.today())?;
        let lists = self.attribution_lists(ctx, end_ms).await?;
        let panel = self.panel(ctx).await?;
        let mut parameter = vec![json!({ "name": "month", "valueString": month })];
        for l in lists {
            let r = reconcile(&l.list, &panel, self.demographic_match());
            let mut part = list_part(&l.reference, &l.list, &l.received, &r, numbers_only);
            let group = l.reference.split('/').nth(1).unwrap_or_default();
            if let Some((by, at)) = self.attribution_review(ctx, group, &month).await? {
                part["part"].as_array_mut().expect("parts").push(json!({
                    "name": "reviewed",
                    "part": [{ "name": "by", "valueString": by }, { "name": "at", "valueDateTime": at }]
                }));
            }
            parameter.push(part);
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }

    /// Who reads the panel's reports (`what`): the practice's own clients
    /// that may search its patients, with the patients behind the numbers
    /// (true: numbers only), or its program staff and facilitator
    /// (overseers), numbers only, as with milestones; payers and partners
    /// not at all.
    pub(crate) fn reconciliation_access(
        &self,
        ctx: &AccessContext,
        org: &str,
        what: &str,
    ) -> Result<bool, ServiceError> {
        if numbers_only(ctx) {
            self.milestone_access(ctx, org)?;
            return Ok(true);
        }
        self.allow(ctx, "Patient", Interaction::Search)?;
        if ctx.guest {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!("The {what} is the practice's: payers and partners do not read it."),
            )));
        }
        if org != ctx.tenant {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("Organization/{org} is not a practice this client works for."),
            )));
        }
        Ok(false)
    }

    /// Each payer list (ATR Group) in effect at `end_ms`: its latest version
    /// received before then, with the months any version was received.
    pub(crate) async fn attribution_lists(
        &self,
        ctx: &AccessContext,
        end_ms: i64,
    ) -> Result<Vec<ListInEffect>, ServiceError> {
        let mut lists = Vec::new();
        for group in self
            .find_values(ctx, "Group", &[("_profile", ATR_PROFILE.to_string())])
            .await?
        {
            let Some(id) = group["id"].as_str() else {
                continue;
            };
            let versions = self
                .store
                .history(
                    ctx,
                    HistoryQuery {
                        scope: HistoryScope::Instance("Group".into(), id.into()),
                        since_ms: None,
                        count: 1000,
                        before_seq: None,
                    },
                )
                .await?
                .entries;
            let received: Vec<String> = versions
                .iter()
                .filter(|v| !v.deleted && v.last_updated_ms < end_ms)
                .map(|v| format_instant_ms(v.last_updated_ms)[..7].to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            // Newest first: the one in effect at the end.
            if let Some(v) = versions
                .iter()
                .find(|v| v.last_updated_ms < end_ms)
                .filter(|v| !v.deleted)
            {
                let list: Value = serde_json::from_str(&v.body)
                    .map_err(|e| ServiceError::Internal(format!("stored Group: {e}")))?;
                lists.push(ListInEffect {
                    reference: format!("Group/{id}/_history/{}", v.version),
                    list,
                    received,
                });
            }
        }
        Ok(lists)
    }

    /// The practice's panel now: each patient's identifiers, whether a PCP
    /// or care team here holds them, whether a PCP elsewhere does.
    pub(crate) async fn panel(&self, ctx: &AccessContext) -> Result<Vec<PanelEntry>, ServiceError> {
        let staff = self.staff(ctx).await?;
        let panel = fold_records(
            &self.store,
            ctx,
            Reading::of(&["CareTeam"]),
            Vec::new(),
            move |panel: &mut Vec<PanelEntry>, record| {
                let p = &record.patient;
                let identifiers = identifier_keys(&p["identifier"]);
                let other_pcp = p["generalPractitioner"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g["reference"].as_str())
                    .any(|g| !staff.contains(g));
                panel.push(PanelEntry {
                    patient: format!("Patient/{}", p["id"].as_str().unwrap_or_default()),
                    identifiers,
                    demographics: crate::rules::identity::demographics(p),
                    empaneled: empaneled(&record, &staff),
                    other_pcp,
                });
            },
            |_, _| {},
        )
        .await?;
        Ok(panel)
    }
}

/// A payer list as it stood at some moment.
pub(crate) struct ListInEffect {
    /// `Group/{id}/_history/{version}`.
    pub reference: String,
    pub list: Value,
    /// `YYYY-MM` of each month a version was received (up to that moment).
    pub received: Vec<String>,
}

impl FhirService {
    /// Whether members no id matches may match by demographics: the same
    /// switch as `$process-message` (`[transitions] demographic_match`).
    pub(crate) fn demographic_match(&self) -> bool {
        self.settings.transitions.demographic_match
    }
}

/// The first day of month `given` (`YYYY-MM`; default: this month).
pub(super) fn first_of(given: Option<&str>, today: NaiveDate) -> Result<NaiveDate, ServiceError> {
    match given {
        None => Ok(today.with_day(1).expect("day 1 exists")),
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| {
            ServiceError::bad(Issue::error(
                "invalid",
                format!("month '{m}' is not a month: write YYYY-MM, e.g. 2026-09."),
            ))
        }),
    }
}

/// `YYYY-MM` (default: this month) and the first instant after it.
pub(super) fn month_of(
    given: Option<&str>,
    today: NaiveDate,
) -> Result<(String, i64), ServiceError> {
    let first = first_of(given, today)?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .expect("a month after a valid one");
    Ok((first.format("%Y-%m").to_string(), day_start_ms(next)))
}

fn list_part(
    reference: &str,
    list: &Value,
    received: &[String],
    r: &Reconciliation,
    numbers_only: bool,
) -> Value {
    let mut part = vec![
        json!({ "name": "group", "valueReference": { "reference": reference } }),
        json!({ "name": "name", "valueString": list["name"].as_str().unwrap_or("") }),
    ];
    part.extend(
        received
            .iter()
            .map(|m| json!({ "name": "received", "valueString": m })),
    );
    let figures: [(&str, &Vec<String>); 7] = [
        ("attributed", &r.attributed),
        ("matched", &r.matched),
        ("concordant", &r.concordant),
        ("attributedNotEmpaneled", &r.attributed_not_empaneled),
        ("empaneledNotAttributed", &r.empaneled_not_attributed),
        ("otherPractice", &r.other_practice),
        ("unmatched", &r.unmatched),
    ];
    for (name, who) in figures {
        part.push(json!({ "name": name, "valueInteger": who.len() }));
        if !numbers_only {
            part.push(json!({ "name": format!("{name}List"), "resource": people(name, who) }));
        }
    }
    json!({ "name": "list", "part": part })
}

/// The patients (`Patient/…`) or payer member ids behind a figure.
pub(super) fn people(name: &str, who: &[String]) -> Value {
    let entry: Vec<Value> = who
        .iter()
        .map(|w| {
            if w.starts_with("Patient/") {
                json!({ "item": { "reference": w } })
            } else {
                let (system, value) = w.split_once('|').unwrap_or(("", w));
                let mut id = json!({ "value": value });
                if !system.is_empty() {
                    id["system"] = json!(system);
                }
                json!({ "item": { "identifier": id } })
            }
        })
        .collect();
    json!({ "resourceType": "List", "status": "current", "mode": "snapshot", "title": name, "entry": entry })
}

/// The Provenance of a month's reviewed reconciliation of one list.
fn review_id(group: &str, month: &str) -> String {
    format!("attribution-review-{group}-{month}")
}

impl FhirService {
    /// `POST Organization/{id}/$attribution-review?group=ID&month=YYYY-MM`:
    /// a practice user marks a month's reconciliation of one list reviewed.
    /// Recorded as a Provenance of the list version reconciled (who, when);
    /// a later review of the same month is a new version of it.
    pub async fn review_attribution(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        self.practice_user(
            ctx,
            org,
            ("Provenance", Interaction::Create),
            "A reconciliation is marked reviewed",
        )?;
        let group = param(pairs, "group")
            .map(|g| g.trim_start_matches("Group/").to_string())
            .ok_or_else(|| ServiceError::bad(Issue::error("required", "Give group=<Group id>.")))?;
        let (month, end_ms) = month_of(param(pairs, "month"), self.today())?;
        let lists = self.attribution_lists(ctx, end_ms).await?;
        let Some(l) = lists
            .iter()
            .find(|l| l.reference.starts_with(&format!("Group/{group}/_history/")))
        else {
            return Err(ServiceError::NotFound(Issue::error(
                "not-found",
                format!("No attribution list Group/{group} was in effect in {month}."),
            )));
        };
        let id = review_id(&group, &month);
        let provenance = json!({
            "resourceType": "Provenance", "id": id,
            "target": [{ "reference": l.reference }],
            "recorded": format_instant_ms(self.clock.now_ms()),
            "activity": { "text": format!("attribution reconciliation for {month} reviewed") },
            "agent": [{ "who": { "reference": format!("Organization/{org}"), "display": ctx.client_id } }],
        });
        let st = self.stamper();
        let written = provenance.clone();
        crate::store::transact(self.store.as_ref(), ctx, move |tx| {
            crate::service::managed::put(tx, &st, "Provenance", &id, written)?;
            Ok::<_, ServiceError>(())
        })
        .await?;
        Ok(provenance)
    }

    /// Who marked `month`'s reconciliation of `group` reviewed, and when.
    pub(crate) async fn attribution_review(
        &self,
        ctx: &AccessContext,
        group: &str,
        month: &str,
    ) -> Result<Option<(String, String)>, ServiceError> {
        let found = self
            .store
            .read(ctx, "Provenance", &review_id(group, month))
            .await?
            .filter(|r| !r.deleted);
        Ok(found.and_then(|r| {
            let v: Value = serde_json::from_str(&r.body).ok()?;
            Some((
                v["agent"][0]["who"]["display"].as_str()?.to_string(),
                v["recorded"].as_str()?.to_string(),
            ))
        }))
    }
}
