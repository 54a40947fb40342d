//! The drill-down from a count to its patients: the subject lists the
//! refresh kept for the year running, or the evaluation of another period
//! (a milestone's month, a CQM's rolling year and group), as a page of 100
//! with names read through one audited search, or as CSV. The view is
//! audited as the `$evaluate-measure` it shows, with the person.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde_json::Value;

use super::fail;
use super::pages::{in_practice, render, service_error};
use crate::caller::AccessContext;
use crate::http::AppState;
use crate::service::ServiceError;
use crate::web::drill;

/// Names and birth dates of `refs` (`Patient/id`), read through one
/// audited search per hundred patients.
async fn patients(
    s: &AppState,
    ctx: &AccessContext,
    refs: &[String],
) -> Result<HashMap<String, (String, String)>, ServiceError> {
    let ids: Vec<&str> = refs
        .iter()
        .filter_map(|r| r.strip_prefix("Patient/"))
        .collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(100) {
        let pairs = vec![
            ("_id".to_string(), chunk.join(",")),
            ("_count".to_string(), "100".to_string()),
            ("_elements".to_string(), "name,birthDate".to_string()),
        ];
        let found = s.svc.search(ctx, "Patient", pairs, false).await?;
        let bundle: Value = serde_json::from_str(&found.bundle).unwrap_or_default();
        for e in bundle["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let id = r["id"].as_str().unwrap_or_default();
            let name = crate::fhir::name::display(r);
            let birth = r["birthDate"].as_str().unwrap_or_default().to_string();
            out.insert(format!("Patient/{id}"), (name, birth));
        }
    }
    Ok(out)
}

/// `GET /app/practice/{org}/milestone/{measure}?periodStart&periodEnd[&format=csv]`:
/// the patients behind a milestone's numbers.
pub async fn drill(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path((org, measure)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    // The lists the scheduler kept for the year running; another period
    // is evaluated now.
    let kept = match (q.get("periodStart"), q.get("periodEnd")) {
        (Some(a), Some(b)) => s.svc.kept_subjects(&ctx, &org, &measure, (a, b)).await,
        _ => Ok(None),
    };
    // A view of patient data: audited as the operation it shows, with the
    // person as the requestor (refused views too); evaluated as asked when
    // not kept.
    let asked: Vec<(String, String)> = ["periodStart", "periodEnd"]
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone())))
        .chain([("reportType".to_string(), "subject-list".to_string())])
        .collect();
    let refused = kept.as_ref().err().map(|e| match e {
        ServiceError::Forbidden(_) => "403",
        ServiceError::NotFound(_) => "404",
        _ => "refused",
    });
    s.svc.audit_operation(
        &ctx,
        ("Measure", Some(&measure)),
        "$evaluate-measure",
        &asked,
        refused,
    );
    let report = match kept {
        Ok(Some(r)) => r,
        Ok(None) => match s.svc.evaluate_measure(&ctx, &measure, &asked).await {
            Ok(r) => r,
            Err(e) => return (session.jar, service_error(e)).into_response(),
        },
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    // A CQM group (1-based in the address, as the charts name them).
    let group = q
        .get("group")
        .and_then(|g| g.parse::<usize>().ok())
        .map_or(0, |g| g.saturating_sub(1));
    let mut rows = drill::rows(&report, &HashMap::new(), group);
    let csv = q.get("format").is_some_and(|f| f == "csv");
    // A page shows one slice (and reads only its patients' names); the CSV all.
    let number: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let shown = if csv {
        0..rows.len()
    } else {
        let from = (number * drill::PAGE).min(rows.len());
        from..(from + drill::PAGE).min(rows.len())
    };
    let subjects: Vec<String> = rows[shown.clone()]
        .iter()
        .map(|r| r.subject.clone())
        .collect();
    let names = match patients(&s, &ctx, &subjects).await {
        Ok(n) => n,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    for r in &mut rows[shown.clone()] {
        if let Some((name, birth)) = names.get(&r.subject) {
            r.name = name.clone();
            r.birth_date = birth.clone();
        }
    }
    if csv {
        let Ok(body) = drill::csv(&rows) else {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The CSV could not be written.",
            );
        };
        let name = format!("attachment; filename=\"{org}-{measure}.csv\"");
        return (
            session.jar,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            body,
        )
            .into_response();
    }
    let title = report["measure"].as_str().unwrap_or(&measure).to_string();
    let period = format!(
        "/app/practice/{org}/milestone/{measure}?periodStart={}&periodEnd={}&group={}",
        q.get("periodStart").map_or("", String::as_str),
        q.get("periodEnd").map_or("", String::as_str),
        group + 1
    );
    let links = drill::Links {
        csv: format!("{period}&format=csv"),
        back: format!("/app/practice/{org}"),
        page: format!("{period}&page="),
    };
    let body = drill::page(&title, &rows, shown, &links);
    let heading = format!("{org}: patients behind {measure}");
    render(&session, &heading, body)
}
