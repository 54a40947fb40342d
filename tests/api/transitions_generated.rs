//! BB9.Y2.1 on a generated practice over HTTP: its charts loaded first,
//! then its HIE notifications (the EHR's follow-up visits are on file before
//! the discharges arrive), `$transitions` for each period counts the
//! discharges and the 7-day contacts the generator worked out from its own
//! model, patient for patient.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::attribution_generated::generated_population;
use crate::common::{param, part};
use crate::risk::with_notifications;

/// Patient → how many times a ratio part lists it.
fn listed(ratio: &Value, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for p in ratio["part"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == name)
    {
        *out.entry(
            p["valueReference"]["reference"]
                .as_str()
                .unwrap()
                .to_string(),
        )
        .or_default() += 1;
    }
    out
}

#[tokio::test]
async fn seven_day_contacts_equal_the_generators_answers() {
    // One practice of 500: some 40 discharges a year, most followed up.
    let clock = std::sync::Arc::new(tandem::service::SystemClock);
    let (app, _dir, root) = generated_population((500, 1, 31), clock, |_| {}).await;
    let answers = with_notifications(&app, &root).await;
    let mut seen = 0;
    for (name, start, end) in [
        ("2026Q1", "2026-01-01", "2026-03-31"),
        ("2026Q2", "2026-04-01", "2026-06-30"),
        ("2026Q3", "2026-07-01", "2026-09-30"),
        ("2026Q4", "2026-10-01", "2026-12-31"),
        ("2026", "2026-01-01", "2026-12-31"),
    ] {
        let (s, r) = app
            .get_json(&format!(
                "Organization/practice-0/$transitions?periodStart={start}&periodEnd={end}"
            ))
            .await;
        assert_eq!(s, 200, "{r}");
        let contact = param(&r, "contact-within-7-days");
        let want = |key: &str| -> BTreeMap<String, u64> {
            answers
                .iter()
                .filter_map(|a| {
                    let n = a["milestones"][name][key].as_u64().unwrap();
                    (n > 0).then(|| (format!("Patient/{}", a["patient"].as_str().unwrap()), n))
                })
                .collect()
        };
        assert_eq!(
            listed(&contact, "denominatorPatient"),
            want("discharges"),
            "{name}"
        );
        assert_eq!(
            listed(&contact, "numeratorPatient"),
            want("contacted"),
            "{name}"
        );
        assert_eq!(
            part(&contact, "denominator")["valueInteger"]
                .as_u64()
                .unwrap(),
            want("discharges").values().sum::<u64>()
        );
        seen += want("discharges").len();
    }
    assert!(seen > 20, "the population has discharges to count: {seen}");
    app.stop().await;
}
