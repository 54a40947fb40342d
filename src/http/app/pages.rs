//! The app's pages: the portfolio and a practice's milestones and charts
//! (the drill-down to patients is `drill`). Each handler verifies the session, builds the
//! person's context for the practice through the same tenancy rules as the
//! API (a refusal is audited there), calls the service and renders.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use super::session::{Session, signed_in};
use super::{Page, fail};
use crate::caller::AccessContext;
use crate::http::AppState;
use crate::http::access::{Asked, context_for};
use crate::http::error::ApiError;
use crate::service::ServiceError;
use crate::web::layout::{Viewer, page};
use crate::web::milestones;

pub(super) fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or("/app".into(), |p| p.to_string())
}

/// A service or access error as a page (its status and the API's words).
pub(super) fn refusal(e: ApiError) -> Response {
    let text = e
        .issues
        .first()
        .map_or("The request failed.".into(), |i| i.diagnostics.clone());
    fail(e.status, &text)
}

pub(super) fn service_error(e: ServiceError) -> Response {
    refusal(ApiError::from(e))
}

/// The person's context in `practice`, or the refusal (audited).
pub(super) fn context(
    s: &AppState,
    session: &Session,
    practice: &str,
    uri: &Uri,
) -> Result<AccessContext, ApiError> {
    let asked = Asked {
        tenant: Some(practice.to_string()),
        request_id: uuid::Uuid::new_v4().to_string(),
        address: None,
    };
    context_for(s, session.grant.clone(), asked, &Method::GET, uri.path())
}

/// The session and the person's context in `org` for a practice page, or
/// the response to send instead (to sign in, or the audited refusal).
pub(super) async fn in_practice(
    s: &AppState,
    jar: CookieJar,
    uri: &Uri,
    org: &str,
) -> Result<(Session, AccessContext), Box<Response>> {
    let session = signed_in(s, jar, &here(uri)).await.map_err(Box::new)?;
    match context(s, &session, org, uri) {
        Ok(ctx) => Ok((session, ctx)),
        Err(e) => Err(Box::new((session.jar, refusal(e)).into_response())),
    }
}

/// A page of the app in `session`, with its cookies.
pub(super) fn render(session: &Session, title: &str, body: maud::Markup) -> Response {
    (
        session.jar.clone(),
        Page(StatusCode::OK, page(title, Some(&viewer(session)), body)),
    )
        .into_response()
}

pub(super) fn viewer(session: &Session) -> Viewer<'_> {
    let p = session
        .grant
        .person
        .as_ref()
        .expect("app sessions carry a person");
    Viewer {
        name: &p.name,
        role: match p.role {
            crate::caller::grant::UserRole::Facilitator => "facilitator",
            crate::caller::grant::UserRole::Practice => "practice",
            crate::caller::grant::UserRole::Program => "program",
            crate::caller::grant::UserRole::Operator => "operator",
        },
        csrf: &session.csrf,
    }
}

/// The project year a page shows: `?year=N`, else the one running today.
fn year_for(s: &AppState, practice: &str, asked: Option<&String>) -> (Option<u8>, bool) {
    match asked.and_then(|y| y.parse().ok()) {
        Some(y) => (Some(y), true),
        None => (s.svc.current_year(practice), false),
    }
}

/// A practice's milestones: the summary the scheduler keeps for the year
/// running (a page never recomputes it), or computed now for another year
/// or before the first refresh.
async fn milestones_of(
    s: &AppState,
    ctx: &AccessContext,
    (year, asked): (Option<u8>, bool),
) -> Result<milestones::Practice, ServiceError> {
    let org = ctx.tenant.clone();
    if !asked && let Some((report, _)) = s.svc.page_summary(ctx, &org, "milestones").await? {
        return Ok(milestones::Practice::from_parameters(&org, &report));
    }
    let pairs: Vec<(String, String)> = year
        .map(|y| ("projectYear".to_string(), y.to_string()))
        .into_iter()
        .collect();
    let report = s.svc.milestones_report(ctx, &org, &pairs).await?;
    Ok(milestones::Practice::from_parameters(&org, &report))
}

async fn standing_of(
    s: &AppState,
    ctx: &AccessContext,
    (year, asked): (Option<u8>, bool),
) -> milestones::Standing {
    let org = ctx.tenant.clone();
    let kept = match asked {
        false => s
            .svc
            .page_summary(ctx, &org, "standing")
            .await
            .ok()
            .flatten(),
        true => None,
    };
    let v = match kept {
        Some((v, _)) => v,
        None => {
            let pairs = vec![("projectYear".to_string(), year?.to_string())];
            s.svc.good_standing_report(ctx, &org, &pairs).await.ok()?
        }
    };
    let params = v["parameter"].as_array()?;
    let yes = params.iter().find(|p| p["name"] == "inStanding")?["valueBoolean"].as_bool()?;
    let reasons = params
        .iter()
        .filter(|p| p["name"] == "reason")
        .filter_map(|p| p["valueString"].as_str().map(str::to_string))
        .collect();
    Some((yes, reasons))
}

/// `GET /app`: the practices the person covers, with their milestones.
pub async fn portfolio(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let session = match signed_in(&s, jar, &here(&uri)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let person = session
        .grant
        .person
        .clone()
        .expect("app sessions carry a person");
    let programs = &s.svc.settings().programs;
    let practices: Vec<String> = programs
        .practices()
        .into_iter()
        .filter(|p| person.covers(p, |t| programs.enrolled(t).is_some()))
        .collect();
    let mut rows = Vec::new();
    let mut unavailable = Vec::new();
    for practice in practices {
        let ctx = match context(&s, &session, &practice, &uri) {
            Ok(c) => c,
            Err(_) => continue,
        };
        let year = year_for(&s, &practice, q.get("year"));
        match milestones_of(&s, &ctx, year).await {
            Ok(p) => rows.push(milestones::Row {
                practice: p,
                standing: standing_of(&s, &ctx, year).await,
                next: s.svc.next_submission(&ctx, &practice).await.ok().flatten(),
            }),
            Err(e) => unavailable.push((
                practice,
                ApiError::from(e)
                    .issues
                    .first()
                    .map(|i| i.diagnostics.clone())
                    .unwrap_or_default(),
            )),
        }
    }
    let body = milestones::portfolio(&mut rows, &unavailable);
    render(&session, "Portfolio", body)
}

/// `GET /app/practice/{org}`: the practice's milestone grid.
pub async fn practice(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let year = year_for(&s, &org, q.get("year"));
    let p = match milestones_of(&s, &ctx, year).await {
        Ok(p) => p,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    let charts = match s.svc.charts(&ctx, &org).await {
        Ok(c) => c,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    let title = format!("Practice {org}");
    let body = maud::html! {
        nav aria-label="Practice" {
            a href={ "/app/practice/" (org) "/attestation" } { "Attestation checklist" }
            " · " a href={ "/app/practice/" (org) "/submissions" } { "Submissions" }
            " · " a href={ "/app/practice/" (org) "/registries" } { "Registries" }
            " · " a href={ "/app/practice/" (org) "/providers" } { "CQMs by provider" }
            " · " a href="#charts" { "Run charts" }
            " · " a href="#cqm-charts" { "CQM run charts" }
        }
        (milestones::practice(&p))
        h2 id="charts" { "Run charts" }
        (crate::web::charts::refresh_form(&org, &session.csrf, charts.computed_ms))
        @for series in charts.series.iter().filter(|s| !s.is_cqm()) {
            (crate::web::charts::chart(series, &org, &session.csrf))
        }
        h2 id="cqm-charts" { "CQM run charts" }
        p.muted { "Each month's point is the rate over the trailing reporting months ending with it — "
            "the figure a quarterly submission reports for the quarter ending that month." }
        @for series in charts.series.iter().filter(|s| s.is_cqm()) {
            (crate::web::charts::chart(series, &org, &session.csrf))
        }
    };
    render(&session, &title, body)
}
