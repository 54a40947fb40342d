//! Program milestones for a practice: `Organization/{id}/$milestones`
//! (every milestone of its program with status, value against threshold and
//! where its evidence is), `Organization/{id}/$good-standing`, and the
//! milestone Measures' own `$evaluate-measure` (`evaluate`). The catalog
//! Measures are published into each enrolled practice's store at start-up,
//! so `Measure?identifier=BB7.Y1.2` and `Measure?url=…` are ordinary searches.

mod attest;
mod attributed;
pub mod checklist;
mod decision_aids;
mod evaluate;
pub(crate) mod evidence;
mod patients;
mod programs;
mod submitted;
mod uploads;

pub use attest::MilestonesHook;
pub use checklist::Checklist;
pub use evaluate::STATUS_EXT;
pub(crate) use evaluate::subject_list;
pub use programs::{Enrolled, Programs};
pub use uploads::{EvidenceFile, MAX_BYTES as MAX_EVIDENCE_BYTES, Upload};

use chrono::Duration;
use serde_json::{Value, json};

use crate::auth::Role;
use crate::auth::policy::Interaction;
use crate::caller::grant::UserRole;
use crate::fhir::datetime::{day_start_ms as ms, utc_date as day};
use crate::fhir::outcome::Issue;
use crate::measure::milestone::catalog::Milestone;
use crate::measure::milestone::population::Window;
use crate::measure::milestone::standing::{Assessment, Finding, good_standing, share};
use crate::service::managed::put;
use crate::service::{FhirService, ServiceError};
use crate::store::{AccessContext, transact};
use evidence::Scope;

/// Program staff or a facilitator working in a practice they oversee
/// (a `reporting` client of another organization, or such a person): they
/// read and review, but do not record the practice's own decisions.
pub(crate) fn overseer(ctx: &AccessContext) -> bool {
    match &ctx.grant.person {
        Some(p) => matches!(p.role, UserRole::Facilitator | UserRole::Program),
        None => ctx.grant.role == Role::Reporting && ctx.grant.org != ctx.tenant,
    }
}

/// An overseer who sees numbers only, never patient lists (every
/// overseeing client; a person unless `auth.patient_lists` names the role).
pub(crate) fn numbers_only(ctx: &AccessContext) -> bool {
    overseer(ctx) && !ctx.grant.person.as_ref().is_some_and(|p| p.lists)
}

use crate::service::report::param as get;

impl FhirService {
    /// Only the practice's own users (not guests, not its overseers) record
    /// the practice's decisions and run its passes, each needing `access`
    /// (`done`: what they do, for the refusal).
    pub(crate) fn practice_user(
        &self,
        ctx: &AccessContext,
        org: &str,
        access: (&str, crate::auth::policy::Interaction),
        done: &str,
    ) -> Result<(), ServiceError> {
        self.allow(ctx, access.0, access.1)?;
        if ctx.guest || overseer(ctx) || org != ctx.tenant {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                format!("{done} by the practice's own users."),
            )));
        }
        Ok(())
    }

    /// Who may see a practice's milestones: its own EHR, reporting and admin
    /// clients, the operator, and program staff or facilitators overseeing
    /// it (a `reporting` client of the program or facilitator organization,
    /// working in the practice's tenant). Partners and HIEs may not.
    pub(crate) fn milestone_access<'a>(
        &'a self,
        ctx: &AccessContext,
        org: &str,
    ) -> Result<Enrolled<'a>, ServiceError> {
        self.allow(ctx, "MeasureReport", Interaction::Read)?;
        let role_ok = matches!(
            ctx.grant.role,
            Role::Ehr | Role::Reporting | Role::Admin | Role::Operator
        );
        if ctx.guest || !role_ok {
            return Err(ServiceError::Forbidden(Issue::error(
                "forbidden",
                "Milestones are read by the practice's own clients, its program and its facilitator.",
            )));
        }
        let unknown = || {
            ServiceError::NotFound(Issue::error(
                "not-found",
                format!(
                    "Organization/{org} is not a practice enrolled in a program this client reports on."
                ),
            ))
        };
        if org != ctx.tenant {
            return Err(unknown());
        }
        self.settings.programs.enrolled(org).ok_or_else(unknown)
    }

    /// The period asked for: `projectYear=N`, `period=2026Q3` or
    /// `periodStart`/`periodEnd`; and the milestones judged over it (those
    /// of its project year and the program goals).
    fn milestone_scope<'a>(
        &self,
        e: &Enrolled<'a>,
        pairs: &[(String, String)],
    ) -> Result<(Scope, Vec<&'a Milestone>, Option<u8>), ServiceError> {
        let bad = |m: String| ServiceError::bad(Issue::error("invalid", m));
        let (start, end, year) = match get(pairs, "projectYear") {
            Some(y) => {
                let n: u8 = y
                    .parse()
                    .map_err(|_| bad(format!("projectYear '{y}' must be 1, 2, …")))?;
                let (s, e2) = e.program.year_bounds(n).ok_or_else(|| {
                    bad(format!(
                        "program '{}' has {} project year(s); projectYear={n} is none of them.",
                        e.program.id,
                        e.program.years.len()
                    ))
                })?;
                (ms(s), ms(e2), Some(n))
            }
            None => {
                let (s, e2) = crate::service::report::period(pairs)?;
                (s, e2, e.program.year_of(day(s)))
            }
        };
        let last = day(end) - Duration::days(1);
        let scope = Scope {
            start_ms: start,
            end_ms: end,
            window: Window::new(day(start), last, e.program.reporting.active_lookback_months),
            open: self.clock.now_ms() < end,
        };
        let milestones = e
            .catalog
            .milestones
            .iter()
            .filter(|m| year.is_none_or(|y| m.year == y || m.year == 0))
            .collect();
        Ok((scope, milestones, year))
    }

    /// `GET Organization/{id}/$milestones`.
    pub async fn milestones_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        Ok(self.milestones_then(ctx, org, pairs, |_, _| ()).await?.0)
    }

    /// `$milestones`, and the subjects behind each proportion for the web
    /// app's drill-down ([`kept_lists`]), from one assessment.
    pub(crate) async fn milestones_with_lists(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<(Value, Value), ServiceError> {
        self.milestones_then(ctx, org, pairs, kept_lists).await
    }

    /// `$milestones`, and what `also` makes of the assessments.
    async fn milestones_then<T>(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
        also: impl FnOnce(&[Assessment], &Scope) -> T,
    ) -> Result<(Value, T), ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        let (scope, milestones, year) = self.milestone_scope(&e, pairs)?;
        let assessed = self.assess_milestones(ctx, &milestones, &scope).await?;
        let mut params = header(&e, &scope, year);
        params.extend(assessed.iter().map(|a| describe(a, &scope)));
        let more = also(&assessed, &scope);
        Ok((
            json!({ "resourceType": "Parameters", "parameter": params }),
            more,
        ))
    }

    /// `GET Organization/{id}/$good-standing?projectYear=N`.
    pub async fn good_standing_report(
        &self,
        ctx: &AccessContext,
        org: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, ServiceError> {
        let e = self.milestone_access(ctx, org)?;
        if get(pairs, "projectYear").is_none() {
            return Err(ServiceError::bad(Issue::error(
                "required",
                "Give projectYear=N: good standing is judged per project year.",
            )));
        }
        let (scope, milestones, year) = self.milestone_scope(&e, pairs)?;
        let year = year.unwrap_or_default();
        let rule = e
            .track
            .standing
            .iter()
            .find(|r| r.year == year)
            .ok_or_else(|| {
                ServiceError::bad(Issue::error(
                    "not-supported",
                    format!(
                        "Track '{}' of program '{}' sets no good-standing rule for project year {year}.",
                        e.track.id, e.program.id
                    ),
                ))
            })?;
        let assessed = self.assess_milestones(ctx, &milestones, &scope).await?;
        let s = good_standing(rule, &assessed);
        let mut params = header(&e, &scope, Some(year));
        params.push(json!({ "name": "inStanding", "valueBoolean": s.in_standing }));
        params.extend(
            s.reasons
                .iter()
                .map(|r| json!({ "name": "reason", "valueString": r })),
        );
        for b in &s.blocks {
            let mut part = vec![
                json!({ "name": "buildingBlock", "valueInteger": b.block }),
                json!({ "name": "required", "valueBoolean": b.required }),
                json!({ "name": "inStanding", "valueBoolean": b.in_standing }),
            ];
            part.extend(
                b.reasons
                    .iter()
                    .map(|r| json!({ "name": "reason", "valueString": r })),
            );
            params.push(json!({ "name": "block", "part": part }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": params }))
    }

    /// Writes the milestone Measures of every enrolled practice's program
    /// into its tenant (unchanged ones are left alone), so they are read and
    /// searched like any Measure.
    pub async fn publish_milestones(&self) -> Result<usize, ServiceError> {
        let mut written = 0;
        let practices = self.settings.programs.practices();
        for practice in practices {
            let Some(e) = self.settings.programs.enrolled(&practice) else {
                continue;
            };
            let measures: Vec<(String, Value)> = e
                .catalog
                .milestones
                .iter()
                .map(|m| (m.measure_id.clone(), m.measure.clone()))
                .collect();
            let checklist = crate::measure::milestone::attestation::questionnaire(
                &e.program.id,
                &e.program.name,
                e.catalog,
            );
            let ctx = AccessContext::internal(&practice, "publish-milestones");
            let st = self.stamper();
            // BB6.Y1.1's evidence: the risk method in force, documented.
            let method = self.settings.risk.plan_definition();
            written += transact(self.store.as_ref(), &ctx, move |tx| {
                let mut n = 0;
                for (id, m) in measures {
                    n += usize::from(put(tx, &st, "Measure", &id, m)?);
                }
                let id = checklist["id"].as_str().unwrap_or_default().to_string();
                n += usize::from(put(tx, &st, "Questionnaire", &id, checklist)?);
                let plan = crate::rules::risk::plan::PLAN_ID;
                n += usize::from(put(tx, &st, "PlanDefinition", plan, method)?);
                Ok::<_, ServiceError>(n)
            })
            .await?;
        }
        Ok(written)
    }
}

fn header(e: &Enrolled, scope: &Scope, year: Option<u8>) -> Vec<Value> {
    let mut v = vec![
        json!({ "name": "practice", "valueReference": { "reference": format!("Organization/{}", e.enrolment.practice) } }),
        json!({ "name": "program", "valueString": e.program.id }),
        json!({ "name": "track", "valueString": e.track.id }),
        json!({ "name": "cohort", "valueString": e.enrolment.cohort }),
        json!({ "name": "period", "valuePeriod": { "start": scope.window.first.to_string(), "end": scope.window.last.to_string() } }),
    ];
    if let Some(y) = year {
        v.push(json!({ "name": "projectYear", "valueInteger": y }));
    }
    v
}

/// One milestone as a `milestone` part.
fn describe(a: &Assessment, scope: &Scope) -> Value {
    let m = a.milestone;
    let mut part = vec![
        json!({ "name": "id", "valueString": m.id }),
        json!({ "name": "measure", "valueCanonical": m.measure["url"] }),
        json!({ "name": "title", "valueString": m.title }),
        json!({ "name": "buildingBlock", "valueInteger": m.block }),
        json!({ "name": "projectYear", "valueInteger": m.year }),
        json!({ "name": "evidence", "valueCode": m.evidence.code() }),
        json!({ "name": "status", "valueCode": a.status.code() }),
    ];
    if let Some(r) = &a.reason {
        part.push(json!({ "name": "reason", "valueString": r }));
    }
    if let Some(t) = m.threshold {
        part.push(json!({ "name": "threshold", "valueDecimal": t }));
    }
    match &a.finding {
        Finding::Ratio {
            numerator,
            denominator,
            ..
        } => {
            part.push(json!({ "name": "numerator", "valueInteger": numerator.len() }));
            part.push(json!({ "name": "denominator", "valueInteger": denominator.len() }));
            if let Some(s) = share(numerator.len(), denominator.len()) {
                part.push(
                    json!({ "name": "score", "valueDecimal": (s * 10000.0).round() / 10000.0 }),
                );
            }
        }
        Finding::Count { count, what } => {
            part.push(json!({ "name": "count", "valueInteger": count }));
            part.push(json!({ "name": "counted", "valueString": what }));
        }
        _ => {}
    }
    if matches!(a.finding, Finding::Ratio { .. } | Finding::Count { .. }) {
        // The drill-down: the same numbers with the patients behind them.
        part.push(json!({ "name": "evidence-report", "valueString": format!(
            "Measure/{}/$evaluate-measure?periodStart={}&periodEnd={}&reportType=subject-list",
            m.measure_id, scope.window.first, scope.window.last
        ) }));
    }
    json!({ "name": "milestone", "part": part })
}

/// The subjects behind each proportion, as the chart refresh keeps them for
/// the drill-down: `{periodStart, periodEnd, lists: {measure id:
/// {numerator, denominator}}}`.
fn kept_lists(assessed: &[Assessment], scope: &Scope) -> Value {
    let mut lists = serde_json::Map::new();
    for a in assessed {
        if let Finding::Ratio {
            numerator,
            denominator,
            ..
        } = &a.finding
        {
            lists.insert(
                a.milestone.measure_id.clone(),
                json!({ "numerator": numerator, "denominator": denominator }),
            );
        }
    }
    json!({
        "periodStart": scope.window.first.to_string(),
        "periodEnd": scope.window.last.to_string(),
        "lists": lists,
    })
}
