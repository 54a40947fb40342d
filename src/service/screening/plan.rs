//! Keeping each patient's behavioral-health CarePlan and Goals current: after
//! a unit changed a patient's behavioral-health results, the plan is
//! recomputed from all of them (`rules::careplan`) and rewritten when it says
//! something new. R4 `CarePlan.addresses` takes only Conditions, so the plan
//! cites the screening results in `supportingInfo` and each Goal `addresses`
//! the result that opened it.

use serde_json::{Value, json};

use super::apply::Pass;
use super::build::{DERIVED_TAG, INSTRUMENT_TAG, RESULT_CS, derived_id};
use crate::fhir::datetime::parse_range;
use crate::fhir::query::parse as parse_query;
use crate::rules::careplan::{GoalKind, GoalState, PlanState, Point, plan};
use crate::rules::screening::{Domain, rules};
use crate::service::ServiceError;

const DAY_MS: i64 = 86_400_000;

/// Recomputes the plan of `patient` (`Patient/id`).
pub fn refresh(pass: &mut Pass, patient: &str) -> Result<(), ServiceError> {
    let points = results(pass, patient)?;
    let plan_id = derived_id("bhcp", patient);
    let old = pass.live("CarePlan", &plan_id)?;
    let Some(state) = plan(&points) else {
        if let Some(mut old) = old {
            old["status"] = json!("revoked");
            pass.put("CarePlan", &plan_id, old)?;
            cancel_goals(pass, &[], patient)?;
        }
        return Ok(());
    };
    let sensitive = state
        .goals
        .iter()
        .any(|g| matches!(g.domain, Domain::Alcohol | Domain::Drug));
    let mut goal_refs = Vec::new();
    for g in &state.goals {
        let id = goal_id(g.kind, patient);
        pass.put(
            "Goal",
            &id,
            goal(&id, g, patient, sensitive, pass.d.config.epds_cutoff),
        )?;
        goal_refs.push(id);
    }
    cancel_goals(pass, &goal_refs, patient)?;
    pass.put(
        "CarePlan",
        &plan_id,
        care_plan(&plan_id, &state, &goal_refs, patient, &points, sensitive),
    )?;
    Ok(())
}

fn goal_id(kind: GoalKind, patient: &str) -> String {
    derived_id(&format!("goal-{}", kind.code()), patient)
}

/// Goals of earlier plans that no longer apply are cancelled.
fn cancel_goals(pass: &mut Pass, keep: &[String], patient: &str) -> Result<(), ServiceError> {
    for kind in [
        GoalKind::DepressionResponse,
        GoalKind::DepressionRemission,
        GoalKind::AnxietyRemission,
        GoalKind::MaternalDepressionNegative,
        GoalKind::AlcoholNegative,
        GoalKind::DrugNegative,
    ] {
        let id = goal_id(kind, patient);
        if keep.contains(&id) {
            continue;
        }
        if let Some(mut g) = pass.live("Goal", &id)?
            && g["lifecycleStatus"] != "cancelled"
        {
            g["lifecycleStatus"] = json!("cancelled");
            pass.put("Goal", &id, g)?;
        }
    }
    Ok(())
}

/// The patient's screening results as plan points.
fn results(pass: &mut Pass, patient: &str) -> Result<Vec<Point>, ServiceError> {
    // The selective clause first: it drives the query (see store::sql::filter).
    let pairs = vec![
        ("subject".to_string(), patient.to_string()),
        (
            "_tag".to_string(),
            format!("{DERIVED_TAG}|screening-result"),
        ),
    ];
    let q = parse_query(&pass.st.registry, &pass.st.base, "Observation", &pairs)
        .map_err(|e| ServiceError::Internal(e.0))?;
    let found = pass.tx.find(&q, 2000)?;
    Ok(found
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_str(&r.body).ok()?;
            let key = v["meta"]["tag"]
                .as_array()?
                .iter()
                .find(|t| t["system"] == INSTRUMENT_TAG)?["code"]
                .as_str()?
                .to_string();
            let domain = rules::rule(&key, &pass.d.config)
                .map(|r| r.domain)
                .or_else(|| {
                    pass.d
                        .values
                        .iter()
                        .find(|s| s.key == key)
                        .map(|s| s.domain)
                })?;
            let positive = match v
                .pointer("/interpretation/0/coding/0/code")
                .and_then(Value::as_str)
            {
                Some("POS") => Some(true),
                Some("NEG") => Some(false),
                _ => None,
            };
            let when = v["effectiveDateTime"]
                .as_str()
                .or_else(|| v.pointer("/effectivePeriod/start").and_then(Value::as_str))?;
            Some(Point {
                id: r.id.clone(),
                key,
                domain,
                total: v.pointer("/valueQuantity/value").and_then(Value::as_f64),
                positive,
                effective_ms: parse_range(when)?.start,
            })
        })
        .collect())
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
        .to_string()
}

fn goal(id: &str, g: &GoalState, patient: &str, sensitive: bool, epds_cutoff: f64) -> Value {
    let (measure, detail) = match g.kind {
        GoalKind::DepressionResponse => (
            "44261-6",
            json!({ "detailQuantity": { "value": super::build::num((g.baseline.unwrap_or(0.0) * 0.5).floor()), "comparator": "<=", "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" } }),
        ),
        GoalKind::DepressionRemission => (
            "44261-6",
            json!({ "detailQuantity": { "value": 5, "comparator": "<", "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" } }),
        ),
        GoalKind::AnxietyRemission => (
            "70274-6",
            json!({ "detailQuantity": { "value": 5, "comparator": "<", "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" } }),
        ),
        GoalKind::MaternalDepressionNegative => (
            "99046-5",
            json!({ "detailQuantity": { "value": super::build::num(epds_cutoff), "comparator": "<", "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}" } }),
        ),
        GoalKind::AlcoholNegative => (
            "75626-2",
            json!({ "detailCodeableConcept": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "NEG" }], "text": "Negative repeat screen" } }),
        ),
        GoalKind::DrugNegative => (
            "82667-7",
            json!({ "detailCodeableConcept": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "NEG" }], "text": "Negative repeat screen" } }),
        ),
    };
    let mut target =
        json!({ "measure": { "coding": [{ "system": "http://loinc.org", "code": measure }] } });
    for (k, v) in detail.as_object().into_iter().flatten() {
        target[k.as_str()] = v.clone();
    }
    if let Some(due) = g.due_ms {
        target["dueDate"] = json!(date(due));
    }
    let mut r = json!({
        "resourceType": "Goal",
        "id": id,
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": "bh-goal" }] },
        "lifecycleStatus": if g.achievement == "achieved" { "completed" } else { "active" },
        "achievementStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/goal-achievement", "code": g.achievement }] },
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/goal-category", "code": "behavioral", "display": "Behavioral" }] }],
        "description": { "coding": [{ "system": RESULT_CS, "code": g.kind.code() }], "text": g.kind.description() },
        "subject": { "reference": patient },
        "startDate": date(g.index_ms),
        "target": [target],
        "addresses": [{ "reference": format!("Observation/{}", g.index_id) }],
    });
    if g.evidence.len() > 1 {
        r["outcomeReference"] = Value::Array(
            g.evidence[1..]
                .iter()
                .map(|e| json!({ "reference": format!("Observation/{e}") }))
                .collect(),
        );
    }
    if sensitive {
        r["meta"]["security"] = crate::auth::policy::part2_labels();
    }
    r
}

fn care_plan(
    id: &str,
    state: &PlanState,
    goals: &[String],
    patient: &str,
    points: &[Point],
    sensitive: bool,
) -> Value {
    let start = state
        .goals
        .iter()
        .map(|g| g.index_ms)
        .min()
        .unwrap_or_default();
    let mut index: Vec<&str> = state.goals.iter().map(|g| g.index_id.as_str()).collect();
    index.dedup();
    let mut domains: Vec<Domain> = state.goals.iter().map(|g| g.domain).collect();
    domains.dedup();
    let mut activity = Vec::new();
    for d in &domains {
        let g = state
            .goals
            .iter()
            .find(|g| g.domain == *d)
            .expect("a domain comes from a goal");
        let refs: Vec<Value> = state
            .goals
            .iter()
            .zip(goals)
            .filter(|(x, _)| x.domain == *d)
            .map(|(_, id)| json!({ "reference": format!("Goal/{id}") }))
            .collect();
        activity.extend(activities(*d, g, &refs, patient, points));
    }
    let mut r = json!({
        "resourceType": "CarePlan",
        "id": id,
        "meta": { "tag": [{ "system": DERIVED_TAG, "code": "bh-careplan" }] },
        "status": if state.active { "active" } else { "completed" },
        "intent": "plan",
        "category": [
            { "coding": [{ "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "code": "assess-plan", "display": "Assessment and Plan of Treatment" }] },
            { "coding": [{ "system": RESULT_CS, "code": "behavioral-health", "display": "Behavioral health" }], "text": "Behavioral health" },
        ],
        "title": "Behavioral health care plan",
        "subject": { "reference": patient },
        "period": { "start": date(start) },
        "goal": goals.iter().map(|g| json!({ "reference": format!("Goal/{g}") })).collect::<Vec<_>>(),
        "supportingInfo": index.iter().map(|i| json!({ "reference": format!("Observation/{i}") })).collect::<Vec<_>>(),
        "activity": activity,
    });
    if sensitive {
        r["meta"]["security"] = crate::auth::policy::part2_labels();
    }
    r
}

/// Repeat screen in 4–8 weeks, BH referral, self-management support, and the patient's own action.
fn activities(
    d: Domain,
    g: &GoalState,
    goals: &[Value],
    patient: &str,
    points: &[Point],
) -> Vec<Value> {
    let instrument = match d {
        Domain::Depression => "PHQ-9",
        Domain::Anxiety => "GAD-7",
        Domain::MaternalDepression => "EPDS",
        Domain::Alcohol => "AUDIT-C",
        _ => "DAST-10",
    };
    let (from, to) = (g.index_ms + 28 * DAY_MS, g.index_ms + 56 * DAY_MS);
    let repeated = points
        .iter()
        .any(|p| p.domain == d && p.effective_ms >= from);
    let item = |code: &str, text: String, status: &str, extra: Value| {
        let mut detail = json!({ "code": { "coding": [{ "system": RESULT_CS, "code": code }], "text": text }, "status": status, "goal": goals });
        for (k, v) in extra.as_object().into_iter().flatten() {
            detail[k.as_str()] = v.clone();
        }
        json!({ "detail": detail })
    };
    vec![
        item("repeat-screen", format!("Repeat the {instrument} in 4-8 weeks"), if repeated { "completed" } else { "scheduled" }, json!({ "kind": "ServiceRequest", "scheduledPeriod": { "start": date(from), "end": date(to) } })),
        item("bh-referral", format!("Refer to a behavioral-health partner ({})", d.code()), "not-started", json!({ "kind": "ServiceRequest" })),
        item("self-management-support", "Offer a self-management support tool".into(), "not-started", json!({ "kind": "CommunicationRequest" })),
        item("patient-action", "Patient action: practise the agreed self-management steps and complete the repeat screen".into(), "not-started", json!({ "performer": [{ "reference": patient }] })),
    ]
}
