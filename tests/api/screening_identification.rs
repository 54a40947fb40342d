//! Which instrument a QuestionnaireResponse is, by every path a sender uses:
//! Tandem's own canonical, the LOINC form canonicals (`http://loinc.org/q/…`,
//! `http://loinc.org/…|version`), a Questionnaire the practice stored (its own
//! linkIds and answer codes, weights from `itemWeight`), no canonical at all
//! (linkIds are the item codes), nested groups and shuffled items, answers as
//! codes, integers and decimals. Each administration must give the instrument's
//! result with the total, band and interpretation of the published tables
//! written out below (independent of `profiles/questionnaires/` and
//! `rules::screening`), and a self-harm answer must raise its alert on every
//! path, including those where nothing can be scored.

use crate::common;

use common::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

const LOINC: &str = "http://loinc.org";
const TANDEM_Q: &str = "http://tandem.health/fhir/Questionnaire/";

/// One instrument as published: item keys as senders name them (LOINC item
/// codes where LOINC has them), each item's answer codes with their published
/// weights, the bands (lower bound, code) and the positive cut-off.
struct Published {
    key: &'static str,
    panel: Option<&'static str>,
    total: &'static str,
    items: Vec<(String, Vec<(String, f64)>)>,
    bands: &'static [(f64, &'static str)],
    /// Positive from this total (AUDIT-C: the women's cut-off; the patients here are female).
    cutoff: f64,
    /// Index of the self-harm item.
    safety: Option<usize>,
}

fn ll358(codes: &[&str]) -> Vec<(String, Vec<(String, f64)>)> {
    // LOINC answer list LL358-3: Not at all 0, Several days 1, More than half the days 2, Nearly every day 3.
    let answers = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];
    codes
        .iter()
        .map(|c| {
            let opts = answers
                .iter()
                .enumerate()
                .map(|(w, a)| (a.to_string(), w as f64))
                .collect();
            (c.to_string(), opts)
        })
        .collect()
}

fn options(codes: &[&str], weights: &[f64]) -> Vec<(String, f64)> {
    codes
        .iter()
        .zip(weights)
        .map(|(c, w)| (c.to_string(), *w))
        .collect()
}

fn catalog() -> Vec<Published> {
    let audit_freq = [
        "LA6270-8",
        "LA18926-8",
        "LA18927-6",
        "LA18928-4",
        "LA18929-2",
    ];
    let audit_drinks = [
        "LA15694-5",
        "LA15695-2",
        "LA18930-0",
        "LA18931-8",
        "LA18932-6",
    ];
    let audit_often = [
        "LA6270-8",
        "LA18933-4",
        "LA18876-5",
        "LA18891-4",
        "LA18934-2",
    ];
    let audit_injury = ["LA32-8", "LA18935-9", "LA18936-7"];
    let zero_to_four = [0.0, 1.0, 2.0, 3.0, 4.0];
    let audit_c_items = vec![
        ("68518-0".to_string(), options(&audit_freq, &zero_to_four)),
        ("68519-8".to_string(), options(&audit_drinks, &zero_to_four)),
        ("68520-6".to_string(), options(&audit_often, &zero_to_four)),
    ];
    let mut audit_items = audit_c_items.clone();
    for c in ["68521-4", "68522-2", "68523-0", "68524-8", "68525-5"] {
        audit_items.push((c.to_string(), options(&audit_often, &zero_to_four)));
    }
    // AUDIT items 9 and 10: No 0, yes but not in the last year 2, yes during the last year 4 (WHO 2001).
    for c in ["68526-3", "68527-1"] {
        audit_items.push((c.to_string(), options(&audit_injury, &[0.0, 2.0, 4.0])));
    }
    // DAST-10: yes 1, no 0, except item 3 (yes 0, no 1).
    let dast = (1..=10)
        .map(|n| {
            let w = if n == 3 { [0.0, 1.0] } else { [1.0, 0.0] };
            (format!("dast-{n}"), options(&["LA33-6", "LA32-8"], &w))
        })
        .collect();
    // EPDS: each item 0-3; items 3 and 5-10 reverse-scored (options listed top to bottom).
    let epds = (1..=10)
        .map(|n| {
            let reverse = n == 3 || n >= 5;
            let opts = (0..4)
                .map(|k| {
                    let w = if reverse { 3 - k } else { k };
                    (format!("epds-{n}-{k}"), w as f64)
                })
                .collect();
            (format!("epds-{n}"), opts)
        })
        .collect();
    // Morse Fall Scale points (Morse 1989).
    let morse_points: [&[f64]; 6] = [
        &[0.0, 25.0],
        &[0.0, 15.0],
        &[0.0, 15.0, 30.0],
        &[0.0, 20.0],
        &[0.0, 10.0, 20.0],
        &[0.0, 15.0],
    ];
    let morse = morse_points
        .iter()
        .enumerate()
        .map(|(i, pts)| {
            let n = i + 1;
            let opts = pts
                .iter()
                .enumerate()
                .map(|(k, w)| (format!("morse-{n}-{k}"), *w))
                .collect();
            (format!("morse-{n}"), opts)
        })
        .collect();
    let steadi = (1..=3)
        .map(|n| {
            (
                format!("steadi-{n}"),
                options(&["LA33-6", "LA32-8"], &[1.0, 0.0]),
            )
        })
        .collect();
    vec![
        Published {
            key: "phq-9",
            panel: Some("44249-1"),
            total: "44261-6",
            items: ll358(&[
                "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
                "44253-3", "44260-8",
            ]),
            // LOINC LL382-3.
            bands: &[
                (0.0, "LA6708-7"),
                (5.0, "LA6709-5"),
                (10.0, "LA6710-3"),
                (15.0, "LA6711-1"),
                (20.0, "LA6712-9"),
            ],
            cutoff: 10.0,
            safety: Some(8),
        },
        Published {
            key: "phq-2",
            panel: Some("55757-9"),
            total: "55758-7",
            items: ll358(&["44250-9", "44255-8"]),
            bands: &[(0.0, "negative"), (3.0, "positive")],
            cutoff: 3.0,
            safety: None,
        },
        Published {
            key: "gad-7",
            panel: Some("69737-5"),
            total: "70274-6",
            items: ll358(&[
                "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
            ]),
            bands: &[
                (0.0, "minimal"),
                (5.0, "mild"),
                (10.0, "moderate"),
                (15.0, "severe"),
            ],
            cutoff: 10.0,
            safety: None,
        },
        Published {
            key: "epds",
            panel: Some("71354-5"),
            total: "99046-5",
            items: epds,
            bands: &[
                (0.0, "depression-unlikely"),
                (10.0, "possible-depression"),
                (13.0, "probable-depression"),
            ],
            cutoff: 10.0,
            safety: Some(9),
        },
        Published {
            key: "audit-c",
            panel: Some("72109-2"),
            total: "75626-2",
            items: audit_c_items,
            bands: &[
                (0.0, "lower-risk"),
                (3.0, "possible-hazardous"),
                (4.0, "hazardous"),
            ],
            cutoff: 3.0,
            safety: None,
        },
        Published {
            key: "audit",
            panel: Some("72110-0"),
            total: "75624-7",
            items: audit_items,
            bands: &[
                (0.0, "zone-1"),
                (8.0, "zone-2"),
                (16.0, "zone-3"),
                (20.0, "zone-4"),
            ],
            cutoff: 8.0,
            safety: None,
        },
        Published {
            key: "dast-10",
            panel: Some("82666-9"),
            total: "82667-7",
            items: dast,
            bands: &[
                (0.0, "none"),
                (1.0, "low"),
                (3.0, "moderate"),
                (6.0, "substantial"),
                (9.0, "severe"),
            ],
            cutoff: 3.0,
            safety: None,
        },
        Published {
            key: "morse-fall-scale",
            panel: Some("59453-1"),
            total: "59460-6",
            items: morse,
            // LOINC LL905-1; "high" from 46, Tandem's default closing the 46-49 gap.
            bands: &[(0.0, "LA13038-7"), (25.0, "LA13039-5"), (46.0, "LA13040-3")],
            cutoff: 25.0,
            safety: None,
        },
        Published {
            key: "steadi-key-questions",
            panel: None,
            total: "steadi-key-questions",
            items: steadi,
            bands: &[(0.0, "not-at-risk"), (1.0, "at-risk")],
            cutoff: 1.0,
            safety: None,
        },
    ]
}

/// How the response names its items and Questionnaire.
#[derive(Clone, Copy, Debug)]
enum Path {
    Own,
    LoincQ,
    LoincVersioned,
    Stored,
    NoCanonical,
    NestedShuffled,
    Integers,
    Decimals,
}

const PATHS: [Path; 8] = [
    Path::Own,
    Path::LoincQ,
    Path::LoincVersioned,
    Path::Stored,
    Path::NoCanonical,
    Path::NestedShuffled,
    Path::Integers,
    Path::Decimals,
];

/// Answers chosen per case: option index per item, varied by `seed`.
fn choose(p: &Published, seed: usize) -> Vec<usize> {
    p.items
        .iter()
        .enumerate()
        .map(|(i, (_, opts))| (i * 7 + seed * 3 + i * seed) % opts.len())
        .collect()
}

fn stored_questionnaire(p: &Published) -> Value {
    // The practice's own form: its own linkIds and answer codes, item codes
    // naming the instrument's items, weights in itemWeight.
    let items: Vec<Value> = p
        .items
        .iter()
        .enumerate()
        .map(|(i, (code, opts))| {
            let system = if code.contains('-') && code.chars().next().unwrap().is_ascii_digit() {
                LOINC.to_string()
            } else {
                "http://tandem.health/fhir/CodeSystem/item".to_string()
            };
            json!({
                "linkId": format!("q{i}"),
                "type": "choice",
                "code": [{"system": system, "code": code}],
                "answerOption": opts.iter().enumerate().map(|(k, (_, w))| json!({
                    "valueCoding": {"system": "http://example.org/answers", "code": format!("a{k}")},
                    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/itemWeight", "valueDecimal": w}],
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "resourceType": "Questionnaire",
        "url": format!("http://example.org/Questionnaire/{}", p.key),
        "status": "active",
        "code": p.panel.map(|c| vec![json!({"system": LOINC, "code": c})]),
        "item": items,
    })
}

fn response(p: &Published, path: Path, picks: &[usize], pid: &str) -> Value {
    let mut items: Vec<Value> = p
        .items
        .iter()
        .zip(picks)
        .enumerate()
        .map(|(i, ((code, opts), &k))| {
            let (answer_code, w) = &opts[k];
            let answer = match path {
                Path::Integers => json!({"valueInteger": *w as i64}),
                Path::Decimals => json!({"valueDecimal": w}),
                Path::Stored => json!({"valueCoding": {"system": "http://example.org/answers", "code": format!("a{k}")}}),
                _ => json!({"valueCoding": {"system": answer_system(answer_code), "code": answer_code}}),
            };
            let link = match path {
                Path::Stored => format!("q{i}"),
                _ => code.clone(),
            };
            json!({"linkId": link, "answer": [answer]})
        })
        .collect();
    if let Path::NestedShuffled = path {
        items.reverse();
        let half = items.len() / 2;
        let rest = items.split_off(half);
        items = vec![
            json!({"linkId": "g1", "item": rest}),
            json!({"linkId": "g2", "item": [{"linkId": "g2.1", "item": items}]}),
        ];
    }
    let mut qr = json!({
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "subject": {"reference": format!("Patient/{pid}")},
        "authored": "2026-03-02T10:00:00Z",
        "item": items,
    });
    let canonical = match (path, p.panel) {
        (Path::LoincQ, Some(panel)) => Some(format!("http://loinc.org/q/{panel}")),
        (Path::LoincVersioned, Some(panel)) => Some(format!("http://loinc.org/{panel}|2.78")),
        (Path::Stored, _) => Some(format!("http://example.org/Questionnaire/{}|1.0", p.key)),
        (Path::NoCanonical | Path::NestedShuffled, _) => None,
        _ => Some(format!("{TANDEM_Q}{}", p.key)),
    };
    if let Some(c) = canonical {
        qr["questionnaire"] = json!(c);
    }
    qr
}

/// LOINC answer codes (LA…) are LOINC's; the rest are Tandem's answer codes.
fn answer_system(code: &str) -> &'static str {
    if code.starts_with("LA") {
        LOINC
    } else {
        "http://tandem.health/fhir/CodeSystem/instrument-answers"
    }
}

async fn patient(app: &TestApp) -> String {
    let p = app
        .create(&json!({"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"}))
        .await;
    p["id"].as_str().unwrap().to_string()
}

fn band_of(p: &Published, total: f64) -> &'static str {
    p.bands
        .iter()
        .rev()
        .find(|(from, _)| total >= *from)
        .unwrap()
        .1
}

fn component<'a>(r: &'a Value, code: &str) -> Option<&'a Value> {
    r["component"]
        .as_array()?
        .iter()
        .find(|c| c["code"]["coding"][0]["code"] == code)
}

async fn flags(app: &TestApp, pid: &str) -> Vec<Value> {
    app.search_resources(&format!("Flag?subject=Patient/{pid}&status=active"))
        .await
}

#[tokio::test]
async fn every_instrument_by_every_path_scores_by_the_published_tables() {
    let app = spawn_app().await;
    let catalog = catalog();
    for p in &catalog {
        if p.panel.is_some() {
            let r = app.post("Questionnaire", &stored_questionnaire(p)).await;
            assert_eq!(r.status(), StatusCode::CREATED, "{}", p.key);
        }
    }
    let mut cases = 0;
    for p in &catalog {
        // With a self-harm item, every path runs twice: answered above zero, and "never".
        let variants: &[bool] = if p.safety.is_some() {
            &[true, false]
        } else {
            &[false]
        };
        for (seed, path) in PATHS.iter().enumerate() {
            let loinc_only = matches!(path, Path::LoincQ | Path::LoincVersioned | Path::Stored);
            if loinc_only && p.panel.is_none() {
                continue; // STEADI has no LOINC panel and no item codes to store a form by
            }
            for &self_harm in variants {
                let mut picks = choose(p, seed);
                if let Some(s) = p.safety {
                    // EPDS item 10 is reverse-scored: option 3 is "Never", 1 "Sometimes" (2).
                    picks[s] = match (p.key, self_harm) {
                        ("epds", true) => 1,
                        ("epds", false) => 3,
                        (_, true) => 2,
                        (_, false) => 0,
                    };
                }
                let pid = patient(&app).await;
                let qr = response(p, *path, &picks, &pid);
                let r = app.post("QuestionnaireResponse", &qr).await;
                assert_eq!(r.status(), StatusCode::CREATED, "{} {path:?}", p.key);
                let total: f64 = p.items.iter().zip(&picks).map(|((_, o), &k)| o[k].1).sum();
                let results = app.screening_results(&pid).await;
                assert_eq!(results.len(), 1, "{} {path:?}: one result", p.key);
                let res = &results[0];
                let what = format!("{} {path:?} total {total}", p.key);
                assert_eq!(res["code"]["coding"][0]["code"], p.total, "{what}");
                assert_eq!(
                    res["valueQuantity"]["value"].as_f64(),
                    Some(total),
                    "{what}"
                );
                let band = component(res, "severity-band").expect("a band");
                assert_eq!(
                    band["valueCodeableConcept"]["coding"][0]["code"],
                    band_of(p, total),
                    "{what}"
                );
                let interp = if total >= p.cutoff { "POS" } else { "NEG" };
                assert_eq!(
                    res["interpretation"][0]["coding"][0]["code"], interp,
                    "{what}"
                );
                let safety_expected = p.safety.is_some_and(|s| p.items[s].1[picks[s]].1 > 0.0);
                let f = flags(&app, &pid).await;
                assert_eq!(f.len(), usize::from(safety_expected), "{what}: safety Flag");
                if safety_expected {
                    let tasks = app
                        .search_resources(&format!("Task?subject=Patient/{pid}&status=requested"))
                        .await;
                    assert_eq!(tasks.len(), 1, "{what}: same-day Task");
                    assert_eq!(tasks[0]["priority"], "urgent");
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 9 * 8 - 3 + 2 * 8, "every instrument and path ran");
    app.stop().await;
}

/// The reported defect: nine PHQ-9 items by LOINC linkId, no canonical, was
/// scored as a PHQ-2 and its item-9 answer raised nothing.
#[tokio::test]
async fn phq9_items_without_canonical_are_a_phq9_with_its_alert() {
    let app = spawn_app().await;
    let pid = patient(&app).await;
    let p = &catalog()[0];
    // 1+1+1+1+1+1+1+2+3 = 12, item 9 "nearly every day".
    let picks = [1, 1, 1, 1, 1, 1, 1, 2, 3];
    let r = app
        .post(
            "QuestionnaireResponse",
            &response(p, Path::NoCanonical, &picks, &pid),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let results = app.screening_results(&pid).await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["code"]["coding"][0]["code"], "44261-6");
    assert_eq!(results[0]["valueQuantity"]["value"], 12);
    assert_eq!(flags(&app, &pid).await.len(), 1);
    app.stop().await;
}

fn phq_item(code: &str, answer: &str) -> Value {
    json!({"linkId": code, "answer": [{"valueCoding": {"system": LOINC, "code": answer}}]})
}

/// A self-harm answer raises its alert where nothing else can be derived.
#[tokio::test]
async fn a_self_harm_answer_is_never_lost_to_identification_or_parsing() {
    let app = spawn_app().await;
    let qr = |pid: &str, canonical: Option<&str>, items: Vec<Value>| {
        let mut v = json!({
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "subject": {"reference": format!("Patient/{pid}")},
            "authored": "2026-03-02T10:00:00Z", "item": items,
        });
        if let Some(c) = canonical {
            v["questionnaire"] = json!(c);
        }
        v
    };
    let item9 = phq_item("44260-8", "LA6569-3");

    // 1. A PHQ-2 canonical whose response also carries item 9.
    let pid = patient(&app).await;
    let body = qr(
        &pid,
        Some("http://tandem.health/fhir/Questionnaire/phq-2"),
        vec![
            phq_item("44250-9", "LA6568-5"),
            phq_item("44255-8", "LA6568-5"),
            item9.clone(),
        ],
    );
    assert_eq!(
        app.post("QuestionnaireResponse", &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.screening_results(&pid).await.len(),
        1,
        "the PHQ-2 result"
    );
    assert_eq!(
        flags(&app, &pid).await.len(),
        1,
        "PHQ-2 canonical with item 9"
    );

    // 2. A Questionnaire nobody stored: not scored (the warning says so), but alerted.
    let pid = patient(&app).await;
    let body = qr(
        &pid,
        Some("http://example.org/unknown-form"),
        vec![item9.clone()],
    );
    let r = app.post("QuestionnaireResponse", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id = location
        .split("QuestionnaireResponse/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let qr_ref = format!("QuestionnaireResponse/{id}");
    assert!(app.screening_results(&pid).await.is_empty());
    let f = flags(&app, &pid).await;
    assert_eq!(f.len(), 1, "unknown Questionnaire with item 9");
    assert_eq!(
        f[0]["extension"][0]["valueReference"]["reference"],
        qr_ref.as_str()
    );
    let tasks = app
        .search_resources(&format!("Task?subject=Patient/{pid}&status=requested"))
        .await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["focus"]["reference"], qr_ref.as_str());

    // 3. An invalid answer elsewhere makes the PHQ-9 unscorable; item 9 still alerts.
    let pid = patient(&app).await;
    let body = qr(
        &pid,
        Some("http://tandem.health/fhir/Questionnaire/phq-9"),
        vec![phq_item("44250-9", "LA-NOT-A-CODE"), item9.clone()],
    );
    assert_eq!(
        app.post("QuestionnaireResponse", &body).await.status(),
        StatusCode::CREATED
    );
    assert!(app.screening_results(&pid).await.is_empty());
    assert_eq!(
        flags(&app, &pid).await.len(),
        1,
        "unscorable PHQ-9 with item 9"
    );

    // 4. Item 9 alone, answered with a code outside the list: a clinician reads it.
    let pid = patient(&app).await;
    let body = qr(&pid, None, vec![phq_item("44260-8", "LA-UNKNOWN")]);
    assert_eq!(
        app.post("QuestionnaireResponse", &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(flags(&app, &pid).await.len(), 1, "unreadable item-9 answer");

    // 5. Item 9 "not at all" alone raises nothing.
    let pid = patient(&app).await;
    let body = qr(&pid, None, vec![phq_item("44260-8", "LA6568-5")]);
    assert_eq!(
        app.post("QuestionnaireResponse", &body).await.status(),
        StatusCode::CREATED
    );
    assert!(flags(&app, &pid).await.is_empty(), "item 9 = 0");

    // 6. An item Observation on its own, and a PHQ-2 panel with item 9 as a component.
    let pid = patient(&app).await;
    let obs = json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "44260-8"}]},
        "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": "2026-03-02T10:00:00Z",
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA6571-9"}]},
    });
    assert_eq!(
        app.post("Observation", &obs).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(flags(&app, &pid).await.len(), 1, "lone item-9 Observation");
    let pid = patient(&app).await;
    let comp = |code: &str, ans: &str| json!({"code": {"coding": [{"system": LOINC, "code": code}]}, "valueCodeableConcept": {"coding": [{"system": LOINC, "code": ans}]}});
    let panel = json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "55757-9"}]},
        "subject": {"reference": format!("Patient/{pid}")},
        "effectiveDateTime": "2026-03-02T10:00:00Z",
        "component": [comp("44250-9", "LA6568-5"), comp("44255-8", "LA6569-3"), comp("44260-8", "LA6570-1")],
    });
    assert_eq!(
        app.post("Observation", &panel).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.screening_results(&pid).await.len(),
        1,
        "the PHQ-2 panel result"
    );
    assert_eq!(flags(&app, &pid).await.len(), 1, "PHQ-2 panel with item 9");

    // 6b. The same panel with item 9's value unreadable: a clinician reads it.
    let pid = patient(&app).await;
    let mut unreadable = panel.clone();
    unreadable["subject"]["reference"] = json!(format!("Patient/{pid}"));
    unreadable["component"][2] =
        json!({"code": {"coding": [{"system": LOINC, "code": "44260-8"}]}, "valueString": "often"});
    assert_eq!(
        app.post("Observation", &unreadable).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        flags(&app, &pid).await.len(),
        1,
        "PHQ-2 panel with an unreadable item 9"
    );

    // 7. EPDS item 10 in a response to a Questionnaire nobody stored.
    let pid = patient(&app).await;
    let body = qr(
        &pid,
        Some("http://example.org/another-unknown-form"),
        vec![json!({"linkId": "epds-10", "answer": [{"valueInteger": 2}]})],
    );
    assert_eq!(
        app.post("QuestionnaireResponse", &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(flags(&app, &pid).await.len(), 1, "EPDS item 10");
    app.stop().await;
}
