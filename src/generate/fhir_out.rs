//! Renders a chart as the FHIR R4 resources an EHR would send: one
//! transaction Bundle of PUTs per patient (so reloading is idempotent), and
//! the practice's Organization, Practitioners and Da Vinci ATR attribution
//! Group. Times are UTC; a visit runs 09:00–09:30 and what happens at it is
//! timed inside it.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::instruments::def;
use super::model::*;
use super::people::age_on;

pub const CPT: &str = "http://www.ama-assn.org/go/cpt";
pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const UCUM: &str = "http://unitsofmeasure.org";

fn cc(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn category(system: &str, code: &str) -> Value {
    json!([cc(system, code)])
}

fn obs_category(code: &str) -> Value {
    category(
        "http://terminology.hl7.org/CodeSystem/observation-category",
        code,
    )
}

pub fn at(day: NaiveDate, hh_mm: &str) -> String {
    format!("{day}T{hh_mm}:00Z")
}

fn patient_ref(c: &Chart) -> Value {
    json!({"reference": format!("Patient/{}", c.person.id)})
}

fn patient(c: &Chart, practice: &Practice) -> Value {
    let p = &c.person;
    let mut r = json!({
        "resourceType": "Patient", "id": p.id,
        "identifier": [
            {"type": cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"), "system": practice.mrn_system(), "value": p.mrn},
            {"system": MEDICAID_SYSTEM, "value": p.medicaid}],
        "name": [{"family": p.family, "given": [p.given]}],
        "gender": if p.sex == Sex::Female { "female" } else { "male" },
        "birthDate": p.birth.to_string(),
        "managingOrganization": {"reference": format!("Organization/{}", practice.id)},
    });
    if let Some(j) = p.pcp {
        r["generalPractitioner"] =
            json!([{"reference": format!("Practitioner/{}", practice.providers[j])}]);
    }
    r
}

/// The CPT code of a visit for a patient of `age`.
pub fn visit_code(kind: VisitKind, age: i32) -> &'static str {
    match kind {
        VisitKind::Office => "99213",
        VisitKind::Preventive if age >= 18 => "99396",
        VisitKind::Preventive if age >= 12 => "99394",
        VisitKind::Preventive => "99392",
        VisitKind::Telephone => "99442",
        VisitKind::Virtual => "98970",
    }
}

fn encounter(c: &Chart, v: &Visit, practice: &Practice) -> Value {
    let remote = matches!(v.kind, VisitKind::Telephone | VisitKind::Virtual);
    json!({
        "resourceType": "Encounter", "id": v.id, "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": if remote { "VR" } else { "AMB" }},
        "type": [cc(CPT, visit_code(v.kind, age_on(c.person.birth, v.day)))],
        "subject": patient_ref(c),
        "participant": [{"individual": {"reference": format!("Practitioner/{}", practice.providers[v.provider])}}],
        "period": {"start": at(v.day, "09:00"), "end": at(v.day, "09:30")},
        "serviceProvider": {"reference": format!("Organization/{}", practice.id)},
    })
}

/// ICD-10-CM and SNOMED CT codes of a diagnosis.
pub fn dx_codes(dx: Dx) -> [(&'static str, &'static str); 2] {
    match dx {
        Dx::Diabetes => [(ICD10, "E11.9"), (SNOMED, "44054006")],
        Dx::Hypertension => [(ICD10, "I10"), (SNOMED, "59621000")],
        Dx::Depression => [(ICD10, "F32.9"), (SNOMED, "370143000")],
        Dx::Bipolar => [(ICD10, "F31.9"), (SNOMED, "13746004")],
        Dx::Anxiety => [(ICD10, "F41.1"), (SNOMED, "21897009")],
        Dx::AlcoholUse => [(ICD10, "F10.20"), (SNOMED, "7200002")],
        Dx::Asthma => [(ICD10, "J45.909"), (SNOMED, "195967001")],
    }
}

fn condition(c: &Chart, d: &Diagnosis) -> Value {
    let coding: Vec<Value> = dx_codes(d.dx)
        .iter()
        .map(|(s, k)| json!({"system": s, "code": k}))
        .collect();
    let cat = "http://terminology.hl7.org/CodeSystem/condition-category";
    json!({
        "resourceType": "Condition", "id": d.id,
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
        "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        "category": [cc(cat, "problem-list-item"), cc(cat, "encounter-diagnosis")],
        "code": {"coding": coding}, "subject": patient_ref(c), "onsetDateTime": at(d.onset, "08:00"),
    })
}

fn observation(c: &Chart, id: &str, cat: &str, code: &str, day: NaiveDate) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "category": obs_category(cat),
           "code": cc(LOINC, code), "subject": patient_ref(c), "effectiveDateTime": at(day, "09:05")})
}

fn quantity(value: f64, code: &str) -> Value {
    json!({"value": value, "unit": code, "system": UCUM, "code": code})
}

fn bp(c: &Chart, b: &Bp) -> Value {
    let mut o = observation(c, &b.id, "vital-signs", "85354-9", b.day);
    o["component"] = json!([
        {"code": cc(LOINC, "8480-6"), "valueQuantity": quantity(b.systolic as f64, "mm[Hg]")},
        {"code": cc(LOINC, "8462-4"), "valueQuantity": quantity(b.diastolic as f64, "mm[Hg]")}]);
    o
}

fn lab(c: &Chart, l: &Lab) -> Value {
    let mut o = observation(c, &l.id, "laboratory", "4548-4", l.day);
    o["valueQuantity"] = quantity(l.percent, "%");
    o
}

fn depression_screen(c: &Chart, s: &DepressionScreen) -> Value {
    let code = if s.adolescent { "73831-0" } else { "73832-8" };
    let mut o = observation(c, &s.id, "survey", code, s.day);
    o["valueCodeableConcept"] = cc(
        SNOMED,
        if s.positive {
            "428181000124104"
        } else {
            "428171000124102"
        },
    );
    o
}

fn follow_up(c: &Chart, f: &FollowUp) -> Value {
    json!({"resourceType": "Procedure", "id": f.id, "status": "completed", "code": cc(SNOMED, "108313002"),
           "subject": patient_ref(c), "performedDateTime": at(f.day, "09:20")})
}

/// An administration in its shape: one or more resources.
fn administration(c: &Chart, a: &Administration) -> Vec<Value> {
    let d = def(a.instrument);
    let answered = || {
        d.items
            .iter()
            .zip(&a.answers)
            .filter_map(|(item, ans)| ans.map(|k| (item, &item.options[k])))
    };
    match a.shape {
        Shape::Response => {
            let items: Vec<Value> = answered()
                .map(|(item, (coding, _))| json!({"linkId": item.link_id, "answer": [{"valueCoding": coding}]}))
                .collect();
            vec![
                json!({"resourceType": "QuestionnaireResponse", "id": a.id, "questionnaire": d.url,
                        "status": "completed", "subject": patient_ref(c), "authored": at(a.day, "09:05"), "item": items}),
            ]
        }
        Shape::Panel => {
            let mut out = vec![observation(
                c,
                &a.id,
                "survey",
                d.panel.expect("a LOINC panel"),
                a.day,
            )];
            let mut members = Vec::new();
            for (n, (item, (coding, _))) in answered().enumerate() {
                let id = format!("{}-i{n}", a.id);
                let mut o = observation(c, &id, "survey", &item.link_id, a.day);
                o["valueCodeableConcept"] = json!({"coding": [coding]});
                members.push(json!({"reference": format!("Observation/{id}")}));
                out.push(o);
            }
            out[0]["hasMember"] = json!(members);
            out
        }
        Shape::Total => {
            let total = super::instruments::answered_sum(a);
            let mut o = observation(c, &a.id, "survey", d.total, a.day);
            o["valueQuantity"] = json!({"value": total as i64, "system": UCUM, "code": "{score}", "unit": "{score}"});
            vec![o]
        }
    }
}

fn value_screen(c: &Chart, r: &ValueScreen) -> Value {
    match r.reading {
        Reading::Smoking(s) => {
            let mut o = observation(c, &r.id, "social-history", "72166-2", r.day);
            let code = match s {
                Smoking::Current => "449868002",
                Smoking::Former => "8517006",
                Smoking::Never => "266919005",
            };
            o["valueCodeableConcept"] = cc(SNOMED, code);
            o
        }
        Reading::Bmi(v) => {
            let mut o = observation(c, &r.id, "vital-signs", "39156-5", r.day);
            o["valueQuantity"] = quantity(v, "kg/m2");
            o
        }
        Reading::BmiPercentile(v) => {
            let mut o = observation(c, &r.id, "vital-signs", "59576-9", r.day);
            o["valueQuantity"] = quantity(v, "%");
            o
        }
        Reading::Development { concern } => {
            let mut o = observation(c, &r.id, "survey", "96110", r.day);
            o["code"] = cc(CPT, "96110");
            o["interpretation"] = json!([cc(
                "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                if concern { "A" } else { "N" }
            )]);
            o
        }
    }
}

fn prescription(c: &Chart, p: &Prescription) -> Value {
    json!({"resourceType": "MedicationRequest", "id": p.id, "status": "completed", "intent": "order",
           "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": p.rxnorm, "display": p.name}], "text": p.name},
           "subject": patient_ref(c), "authoredOn": at(p.day, "09:25"),
           "dispenseRequest": {"expectedSupplyDuration": {"value": p.days, "unit": "days", "system": UCUM, "code": "d"}}})
}

fn hospice(c: &Chart, id: &str, day: NaiveDate) -> Value {
    json!({"resourceType": "Encounter", "id": id, "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
           "type": [cc(SNOMED, "183919006")], "subject": patient_ref(c),
           "period": {"start": at(day, "10:00"), "end": at(day, "11:00")}})
}

/// Every resource of a chart (the Patient first).
pub fn resources(c: &Chart, practice: &Practice) -> Vec<Value> {
    let mut out = vec![patient(c, practice)];
    out.extend(c.visits.iter().map(|v| encounter(c, v, practice)));
    out.extend(c.diagnoses.iter().map(|d| condition(c, d)));
    out.extend(c.bps.iter().map(|b| bp(c, b)));
    out.extend(c.labs.iter().map(|l| lab(c, l)));
    out.extend(c.depression_screens.iter().map(|s| depression_screen(c, s)));
    out.extend(c.follow_ups.iter().map(|f| follow_up(c, f)));
    out.extend(c.administrations.iter().flat_map(|a| administration(c, a)));
    out.extend(c.value_screens.iter().map(|r| value_screen(c, r)));
    out.extend(c.prescriptions.iter().map(|p| prescription(c, p)));
    if let Some((id, day)) = &c.hospice {
        out.push(hospice(c, id, *day));
    }
    if let Some((id, day)) = &c.palliative {
        out.push(
            json!({"resourceType": "Procedure", "id": id, "status": "completed",
            "code": cc(SNOMED, "103735009"), "subject": patient_ref(c),
            "performedPeriod": {"start": at(*day, "10:00"), "end": at(*day, "11:00")}}),
        );
    }
    out
}

/// The practice: its Organization and Practitioners.
pub fn practice_resources(p: &Practice) -> Vec<Value> {
    let mut out =
        vec![json!({"resourceType": "Organization", "id": p.id, "active": true, "name": p.name})];
    out.extend(p.providers.iter().enumerate().map(|(j, id)| {
        json!({"resourceType": "Practitioner", "id": id, "active": true,
               "name": [{"family": format!("Provider{j}"), "given": ["Generated"]}]})
    }));
    out
}
