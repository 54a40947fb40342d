//! Each milestone's evidence, by the computation its Measure names: patient
//! facts (active, empaneled, screened), the referral and transitions numbers
//! `$referrals` and `$transitions` report, and Tandem's own configuration
//! and activity. A computation whose inputs arrive with later work answers
//! `Finding::Missing` with the reason — never met, never zero.

use std::collections::HashMap;

use crate::measure::milestone::attestation::{self, ItemState, REVIEW_CS};
use crate::measure::milestone::catalog::{Evidence, Milestone};
use crate::measure::milestone::population::{Tally, Window};
use crate::measure::milestone::standing::{Assessment, Finding, assess};
use crate::rules::referral::numbers::{Numbers as ReferralNumbers, Referral};
use crate::rules::toc_numbers::{Numbers as TocNumbers, Ratio};
use crate::service::referrals::REFERRAL_TOPIC;
use crate::service::{FhirService, ServiceError};
use crate::store::AccessContext;

/// The period milestones are judged over.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// `[start, end)` in ms.
    pub start_ms: i64,
    pub end_ms: i64,
    pub window: Window,
    /// The period has not ended: a shortfall is "in progress".
    pub open: bool,
}

const CLAIMS: &str =
    "needs claims (ExplanationOfBenefit) for the practice's patients; none are received";

/// What the computations read, gathered once per request and only when a
/// milestone asks for it.
#[derive(Default)]
pub(crate) struct Inputs {
    /// The checklist items' latest answers and reviews.
    pub attested: HashMap<String, ItemState>,
    /// The practice's clinicians (who can be a PCP).
    pub staff: crate::measure::milestone::continuity::Staff,
    pub patients: Option<Tally>,
    pub referrals: Option<(ReferralNumbers, Vec<Referral>)>,
    pub transitions: Option<TocNumbers>,
    /// The payer lists in effect at the scope's end, read once for BB1 and BB3.
    pub lists: Vec<crate::service::attribution::ListInEffect>,
    /// BB5.Y2.1–Y2.3's one reading.
    pub decision_aids: Option<Finding>,
    /// The kept risk strata, read once for BB6.Y2.2 and BB10.Y2.2.
    pub strata: Option<HashMap<String, crate::service::risk::Kept>>,
}

fn ratio(r: &Ratio) -> Finding {
    Finding::Ratio {
        numerator: r.numerator.clone(),
        denominator: r.denominator.clone(),
        also: None,
    }
}

fn count(n: usize, what: &str) -> Finding {
    Finding::Count {
        count: n as u64,
        what: what.to_string(),
    }
}

impl FhirService {
    /// Gathers the inputs `milestones` need.
    pub(crate) async fn milestone_inputs(
        &self,
        ctx: &AccessContext,
        milestones: &[&Milestone],
        scope: &Scope,
    ) -> Result<Inputs, ServiceError> {
        let needs = |names: &[&str]| {
            milestones
                .iter()
                .any(|m| m.computation.as_deref().is_some_and(|c| names.contains(&c)))
        };
        // The inputs are read side by side: each is mostly waiting on its
        // own reader connection or the blocking pool, and the patient pass
        // (the longest) no longer has the others queued behind it.
        let attested = async {
            let Some(e) = self
                .settings
                .programs
                .enrolled(&ctx.tenant)
                .filter(|_| milestones.iter().any(|m| m.on_checklist()))
            else {
                return Ok::<_, ServiceError>(HashMap::new());
            };
            let url = attestation::questionnaire_url(&e.program.id);
            let responses = self
                .find_values(ctx, "QuestionnaireResponse", &[("questionnaire", url)])
                .await?;
            let reviews = self
                .find_values(ctx, "Task", &[("code", format!("{REVIEW_CS}|review"))])
                .await?;
            // Answers of the checklist period the scope ends in, or of the
            // one before when the scope started earlier.
            let months = e.program.reporting.attestation_months;
            let from = scope.window.first - chrono::Months::new(months);
            Ok(attestation::items(
                &responses,
                &reviews,
                from,
                scope.window.last,
            ))
        };
        let tally = needs(&[
            "empanelment",
            "bh-screening",
            "bh-care-plan-actions",
            "bh-outcomes",
            "continuity",
            "risk-stratified",
            "high-risk-care-plans",
            "bh-high-risk-registry",
            "decision-aids",
        ]);
        let staff = if tally || needs(&["provider-cqm-reports"]) {
            self.staff(ctx).await?
        } else {
            Default::default()
        };
        let patients = async {
            if !tally {
                return Ok(None);
            }
            let t = self.patient_tally(ctx, scope.window, staff.clone()).await?;
            let aids = if needs(&["decision-aids"]) {
                Some(self.decision_aids(ctx, &t.active).await?)
            } else {
                None
            };
            Ok::<_, ServiceError>(Some((t, aids)))
        };
        let referrals = async {
            if !needs(&["bh-connected", "two-way-exchange", "referrals-made"]) {
                return Ok(None);
            }
            let n = self
                .referral_numbers(ctx, scope.start_ms, scope.end_ms)
                .await?;
            Ok::<_, ServiceError>(Some(n))
        };
        let lists = async {
            if !needs(&["attributed-lives", "attribution-reconciled"]) {
                return Ok(Vec::new());
            }
            self.attribution_lists(ctx, scope.end_ms).await
        };
        let strata = async {
            if !needs(&["high-risk-care-plans", "bh-high-risk-registry"]) {
                return Ok(None);
            }
            Ok::<_, ServiceError>(Some(self.kept_strata(ctx).await?))
        };
        let transitions = async {
            if !needs(&["discharge-contact", "transition-measures"]) {
                return Ok(None);
            }
            let n = self
                .transition_numbers(ctx, scope.start_ms, scope.end_ms)
                .await?;
            Ok::<_, ServiceError>(Some(n))
        };
        let (attested, patients, referrals, lists, strata, transitions) =
            tokio::try_join!(attested, patients, referrals, lists, strata, transitions)?;
        let (patients, decision_aids) = match patients {
            Some((t, aids)) => (Some(t), aids),
            None => (None, None),
        };
        let inputs = Inputs {
            attested,
            staff,
            patients,
            referrals,
            transitions,
            lists,
            decision_aids,
            strata,
        };
        Ok(inputs)
    }

    /// Every milestone assessed from the inputs.
    pub(crate) async fn assess_milestones<'a>(
        &self,
        ctx: &AccessContext,
        milestones: &[&'a Milestone],
        scope: &Scope,
    ) -> Result<Vec<Assessment<'a>>, ServiceError> {
        let inputs = self.milestone_inputs(ctx, milestones, scope).await?;
        let mut out = Vec::with_capacity(milestones.len());
        for m in milestones {
            let attested = || attestation::finding(inputs.attested.get(&m.id));
            let finding = match m.evidence {
                Evidence::Attested => attested(),
                _ => {
                    let f = self.finding(ctx, m, &inputs, scope).await?;
                    match (m.evidence, f) {
                        // Both parts: the configuration, then the attestation.
                        (Evidence::SystemAttested, f)
                            if assess(m, f.clone(), false).status
                                == crate::measure::milestone::standing::Status::Met =>
                        {
                            attested()
                        }
                        (_, f) => f,
                    }
                }
            };
            out.push(assess(m, finding, scope.open));
        }
        Ok(out)
    }

    /// The evidence of one computed or system milestone.
    async fn finding(
        &self,
        ctx: &AccessContext,
        m: &Milestone,
        inputs: &Inputs,
        scope: &Scope,
    ) -> Result<Finding, ServiceError> {
        let partners: Vec<_> = self
            .settings
            .referrals
            .partners
            .iter()
            .filter(|p| p.tenants.contains(&ctx.tenant))
            .collect();
        let computation = m.computation.as_deref().unwrap_or_default();
        Ok(match computation {
            "empanelment" => {
                let t = inputs.patients.as_ref().expect("gathered");
                Finding::Ratio {
                    numerator: t.empaneled.clone(),
                    denominator: t.active.clone(),
                    also: None,
                }
            }
            "bh-screening" => {
                let t = inputs.patients.as_ref().expect("gathered");
                let (denominator, numerator) = t.screening();
                let also = m.min_instruments.map(|n| {
                    let used = t.instruments.len();
                    (
                        format!("{used} BH instrument(s) in use; {n} needed"),
                        used >= usize::from(n),
                    )
                });
                Finding::Ratio {
                    numerator,
                    denominator,
                    also,
                }
            }
            "bh-care-plan-actions" => {
                let t = inputs.patients.as_ref().expect("gathered");
                Finding::Ratio {
                    numerator: t.planned.clone(),
                    denominator: t.positive.clone(),
                    also: None,
                }
            }
            "bh-outcomes" => {
                let t = inputs.patients.as_ref().expect("gathered");
                Finding::Ratio {
                    numerator: t.followed.clone(),
                    denominator: t.elevated.clone(),
                    also: None,
                }
            }
            "bh-connected" => ratio(&inputs.referrals.as_ref().expect("gathered").0.connected),
            "two-way-exchange" => ratio(&inputs.referrals.as_ref().expect("gathered").0.two_way_7d),
            "referrals-made" => {
                let (_, referrals) = inputs.referrals.as_ref().expect("gathered");
                let made = referrals
                    .iter()
                    .filter(|r| {
                        r.t.made_ms
                            .is_some_and(|t| t >= scope.start_ms && t < scope.end_ms)
                    })
                    .count();
                count(made, "referrals made through the pathway")
            }
            "discharge-contact" => {
                ratio(&inputs.transitions.as_ref().expect("gathered").contact_7d)
            }
            "transition-measures" => {
                let n = inputs.transitions.as_ref().expect("gathered");
                let reported = [
                    !n.contact_7d.denominator.is_empty(),
                    !n.med_rec_72h.denominator.is_empty(),
                    n.notification_hours.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                count(reported, "transition measures with data")
            }
            "bh-resources" => count(partners.len(), "behavioral-health partners configured"),
            "screen-to-referral" => {
                let rules: usize = partners.iter().map(|p| p.accepts.len()).sum();
                let on = self.settings.derivations.is_some() && self.settings.referrals_enabled;
                count(
                    if on { rules } else { 0 },
                    "screen-to-referral rules in force",
                )
            }
            "referral-pathways" | "care-compact" => {
                count(partners.len(), "care compacts configured")
            }
            "partner-exchange" => count(
                partners
                    .iter()
                    .filter(|p| p.endpoint.is_some() || p.remote_tenant.is_some())
                    .count(),
                "partners with an exchange configured",
            ),
            "exchange-in-use" => {
                let delivered = self
                    .store
                    .outbox_delivered_count(
                        &ctx.tenant,
                        REFERRAL_TOPIC,
                        scope.start_ms,
                        scope.end_ms,
                    )
                    .await?;
                count(
                    delivered as usize,
                    "referral packages delivered to partners",
                )
            }
            "transitions-policy" => count(
                usize::from(self.settings.transitions_enabled),
                "transitions-of-care follow-up rules in force",
            ),
            "outcome-measures" => count(
                crate::measure::catalog::Catalog::get()
                    .measure_names()
                    .iter()
                    .filter(|n| n.starts_with("CMS159"))
                    .count(),
                "behavioral-health outcome measures configured (CMS159)",
            ),
            "provider-cqm-reports" => count(
                inputs.staff.len(),
                "clinicians with per-provider CQM reports (practitioner=)",
            ),
            "care-gap-strategy" => count(
                crate::measure::catalog::Catalog::get()
                    .measure_names()
                    .len(),
                "measures with care-gap reports ($care-gaps)",
            ),
            "attributed-lives" => self.attributed_lives(ctx, &inputs.lists).await?,
            "attribution-reconciled" => self.attribution_months(ctx, scope, &inputs.lists).await?,
            "continuity" => {
                let t = inputs.patients.as_ref().expect("gathered");
                let (numerator, denominator) = t.continuity.patient_months();
                Finding::Ratio {
                    numerator,
                    denominator,
                    also: None,
                }
            }
            "pcp-assignment-validation" => {
                self.pcp_validation(ctx, (scope.start_ms, scope.end_ms))
                    .await?
            }
            // The method is configuration, checked at start-up, and published
            // as PlanDefinition/risk-method with the catalog.
            "risk-method" => count(
                1,
                "risk-stratification method documented (PlanDefinition/risk-method)",
            ),
            "risk-stratified" => {
                let t = inputs.patients.as_ref().expect("gathered");
                let assessed = self.risk_assessed(ctx).await?;
                Finding::Ratio {
                    numerator: t
                        .empaneled
                        .iter()
                        .filter(|p| assessed.contains(p.as_str()))
                        .cloned()
                        .collect(),
                    denominator: t.empaneled.clone(),
                    also: None,
                }
            }
            "high-risk-care-plans" => {
                let t = inputs.patients.as_ref().expect("gathered");
                let kept = inputs.strata.as_ref().expect("gathered");
                self.high_risk_planned(ctx, &t.empaneled, kept).await?
            }
            "bh-high-risk-registry" => {
                let t = inputs.patients.as_ref().expect("gathered");
                let kept = inputs.strata.as_ref().expect("gathered");
                self.bh_outreach_done(ctx, &t.empaneled, kept).await?
            }
            "care-gaps-managed" => {
                self.care_gaps_managed(ctx, (scope.start_ms, scope.end_ms))
                    .await?
            }
            "readmissions-30d" => {
                self.readmission_finding(ctx, (scope.start_ms, scope.end_ms), false)
                    .await?
            }
            "readmissions-30d-mental-health" => {
                self.readmission_finding(ctx, (scope.start_ms, scope.end_ms), true)
                    .await?
            }
            "decision-aids" => inputs.decision_aids.clone().expect("gathered"),
            "total-cost" => Finding::Missing(CLAIMS.into()),
            "cqm-submissions" => self.cqm_submissions(ctx, scope).await?,
            other => Finding::Missing(format!(
                "Tandem has no computation '{other}' yet (milestone {})",
                m.id
            )),
        })
    }
}
