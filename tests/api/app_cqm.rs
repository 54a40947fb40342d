//! CQM run charts and the per-provider CQM view on a generated practice,
//! after the quarterly feed has submitted 2026Q3: each chart point is the
//! CQM over the trailing twelve months ending with its month and equals
//! `$evaluate-measure` over that period; the figure shown as submitted is
//! the submission's own report and equals the chart's point for the
//! quarter's last month (two code paths: the feed's and the chart pass);
//! each provider's figures equal `$evaluate-measure?practitioner=`.

use reqwest::StatusCode;
use serde_json::Value;
use tandem::auth::users::UserRole;
use tandem::measure::catalog::Catalog;
use tandem::measure::milestone::program::OnFailedChecks;

use crate::common::TestApp;
use crate::common::people::{add_user, page, signed_in};
use crate::feed::{FedPractice, fed_practice};

/// `data-{name}="…"` of the element starting at `html`.
fn attr(html: &str, name: &str) -> Option<String> {
    let tag = &html[..html.find('>')?];
    let from = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[from..from + tag[from..].find('"')?].to_string())
}

/// The HTML of the element whose `id` is `id`, up to `end`.
fn section<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap()]
}

/// (numerator, denominator) of a count pair written as `data-n`/`data-d`.
fn nd(tag: &str) -> (i64, i64) {
    (
        attr(tag, "data-n").unwrap().parse().unwrap(),
        attr(tag, "data-d").unwrap().parse().unwrap(),
    )
}

/// The proportion of group `g` of a MeasureReport, as the DEQM defines it.
fn reported(report: &Value, g: usize) -> (i64, i64) {
    let count = |code: &str| {
        report["group"][g]["population"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"]["coding"][0]["code"] == code)
            .map_or(0, |p| p["count"].as_i64().unwrap())
    };
    (
        count("numerator") - count("numerator-exclusion"),
        count("denominator") - count("denominator-exclusion") - count("denominator-exception"),
    )
}

async fn evaluate(app: &TestApp, name: &str, (start, end): (&str, &str), who: &str) -> Value {
    let def = Catalog::get()
        .for_period(name, start.parse().unwrap())
        .unwrap();
    let mut path = format!(
        "Measure/{}/$evaluate-measure?periodStart={start}&periodEnd={end}",
        def.id
    );
    if !who.is_empty() {
        path.push_str(&format!("&practitioner={who}"));
    }
    let (s, report) = app.get_json(&path).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    report
}

/// `cqm-CMS2-1` → (`CMS2`, group 0).
fn measure_of(key: &str) -> (String, usize) {
    let (name, group) = key.trim_start_matches("cqm-").rsplit_once('-').unwrap();
    (name.to_string(), group.parse::<usize>().unwrap() - 1)
}

#[tokio::test]
async fn cqm_charts_and_providers_agree_with_evaluate_measure_and_the_submission() {
    // The scheduler submitted 2026Q3 at start, before the data was
    // loaded; the practice amends it with the data now in.
    let FedPractice {
        app,
        admin,
        hook: _hook,
        _dir,
        _database,
    } = fed_practice(60, 21, OnFailedChecks::Send).await;
    let r = admin
        .post(
            app.url("Organization/practice-0/$amend-submission?period=2026Q3&reason=data%20loaded"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = app
        .client
        .post(app.url("Organization/practice-0/$refresh-charts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    add_user(&app, "lead", UserRole::Practice, &["practice-0"]).await;
    let lead = signed_in(&app, "lead").await;
    let (s, html) = page(&lead, &app, "app/practice/practice-0").await;
    assert_eq!(s, StatusCode::OK);

    // Every required CQM has a chart, each checked against the API for a
    // month in the past, the quarter's last month, and the open month.
    let keys: Vec<String> = html
        .split("id=\"chart-cqm-")
        .skip(1)
        .map(|s| format!("cqm-{}", &s[..s.find('"').unwrap()]))
        .filter(|k| !k.ends_with("-title") && !k.ends_with("-month") && !k.ends_with("-text"))
        .collect();
    for name in [
        "CMS2", "CMS122", "CMS165", "CMS159", "CMS138", "CMS137", "CMS139",
    ] {
        assert!(
            keys.contains(&format!("cqm-{name}-1")),
            "{name} charted: {keys:?}"
        );
    }
    let mut compared = 0;
    for key in &keys {
        let (name, g) = measure_of(key);
        let chart = section(&html, &format!("chart-{key}"), "</figure>");
        for (month, period) in [
            ("2026-03", ("2025-04-01", "2026-03-31")),
            ("2026-09", ("2025-10-01", "2026-09-30")),
            ("2026-10", ("2025-11-01", "2026-10-31")),
        ] {
            let row = &chart[chart
                .find(&format!("tr data-month=\"{month}\""))
                .unwrap_or_else(|| panic!("{key} has {month}"))..];
            let expected = reported(&evaluate(&app, &name, period, "").await, g);
            assert_eq!(nd(row), expected, "{key} {month}");
            compared += 1;
        }
        // The submitted figure: the quarter's report in the ledger, equal
        // to the chart's point for September.
        let shown = &chart[chart
            .find("p class=\"submitted\"")
            .unwrap_or_else(|| panic!("{key}: no submitted figure in {chart}"))..];
        assert_eq!(attr(shown, "data-quarter").as_deref(), Some("2026Q3"));
        let september = &chart[chart.find("tr data-month=\"2026-09\"").unwrap()..];
        assert_eq!(nd(shown), nd(september), "{key}: submitted vs chart");
        // September's numerator links to its patients: as many counted.
        let row = &september[..september.find("</tr>").unwrap()];
        let link = &row[row.find("href=\"").unwrap() + 6..];
        let link = link[..link.find('"').unwrap()].replace("&amp;", "&");
        let (s, drill) = page(&lead, &app, link.trim_start_matches('/')).await;
        assert_eq!(s, StatusCode::OK, "{link}");
        let counted = drill.matches("Numerator: counted").count() as i64;
        assert_eq!(counted, nd(september).0, "{key}: {link}");
        let listed = drill
            .split("<tbody>")
            .nth(1)
            .map_or(0, |b| b.matches("<tr").count()) as i64;
        assert_eq!(listed, nd(september).1.min(100), "{key}: {link}");
    }
    assert!(compared >= 21);
    let (_, ledger) = app.get_json("Organization/practice-0/$submissions").await;
    assert!(ledger.to_string().contains("2026Q3"), "{ledger}");

    // The per-provider view equals $evaluate-measure per practitioner.
    let (s, html) = page(&lead, &app, "app/practice/practice-0/providers").await;
    assert_eq!(s, StatusCode::OK);
    let table = section(&html, "providers", "</table>");
    let columns: Vec<String> = table
        .split("data-series=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert!(columns.len() >= 7, "{columns:?}");
    let rows: Vec<&str> = table.split("<tr data-provider=").skip(1).collect();
    assert!(!rows.is_empty(), "some patients are attributed: {table}");
    let period = ("2025-10-01", "2026-09-30");
    for row in &rows {
        let who = &row[1..row[1..].find('"').unwrap() + 1];
        let cells: Vec<&str> = row.split("<td class=\"num\" ").skip(1).collect();
        assert_eq!(cells.len(), columns.len());
        for (key, cell) in columns.iter().zip(cells) {
            let (name, g) = measure_of(key);
            let expected = reported(&evaluate(&app, &name, period, who).await, g);
            assert_eq!(nd(cell), expected, "{who} {key}");
        }
    }
    // The whole practice's row is the submitted period's figure.
    let whole = &table[table.find("tr class=\"practice\"").unwrap()..];
    let first: Vec<&str> = whole.split("<td class=\"num\" ").skip(1).collect();
    let (name, g) = measure_of(&columns[0]);
    assert_eq!(
        nd(first[0]),
        reported(&evaluate(&app, &name, period, "").await, g)
    );
    app.stop().await;
}
