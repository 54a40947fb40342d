//! The practice's record pages besides milestones: the submission ledger
//! (with sign-off), the attestation checklist and the registries. Same
//! pattern as `pages`: session, the person's context for the practice,
//! the service call, the markup.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use super::pages::{in_practice, render, service_error};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::service::ServiceError;

/// `GET /app/practice/{org}/submissions`: the ledger; a practice member
/// signs off held entries.
pub async fn submissions(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path(org): Path<String>,
) -> Response {
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let report = match s.svc.submissions_report(&ctx, &org, &[]).await {
        Ok(r) => r,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    let member = session
        .grant
        .person
        .as_ref()
        .is_some_and(|p| p.role == crate::caller::grant::UserRole::Practice);
    let body = crate::web::submissions::ledger(&report, &org, &session.csrf, member);
    let title = format!("{org}: submissions");
    render(&session, &title, body)
}

/// `GET /app/practice/{org}/attestation`: the checklist.
pub async fn attestation(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path(org): Path<String>,
) -> Response {
    use crate::caller::grant::UserRole;
    use crate::web::attestation::Part;
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let checklist = match s.svc.checklist(&ctx, &org).await {
        Ok(c) => c,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    let part = match session.grant.person.as_ref().map(|p| p.role) {
        Some(UserRole::Practice) => Part::Member,
        Some(UserRole::Facilitator | UserRole::Program) => Part::Reviewer,
        _ => Part::Reader,
    };
    let body = crate::web::attestation::page(&checklist, &org, &session.csrf, part);
    let title = format!("{org}: attestation checklist");
    render(&session, &title, body)
}

/// `GET /app/practice/{org}/registries`: risk tiers, care gaps and
/// attribution, through their operations (numbers only for overseers).
pub async fn registries(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path(org): Path<String>,
) -> Response {
    use crate::web::registries::section;
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let words = |e: ServiceError| {
        ApiError::from(e)
            .issues
            .first()
            .map_or("Not available.".into(), |i| i.diagnostics.clone())
    };
    let risk = s.svc.risk_registry(&ctx, &org, &[]).await.map_err(words);
    let gaps = s
        .svc
        .care_gap_registry(&ctx, &org, &[])
        .await
        .map_err(words);
    let attribution = s
        .svc
        .attribution_report(&ctx, &org, &[])
        .await
        .map_err(words);
    // Views of patient data (members' lists): audited as the operations.
    for (op, result) in [
        ("$risk-registry", &risk),
        ("$care-gap-registry", &gaps),
        ("$attribution", &attribution),
    ] {
        let refused = result.as_ref().err().map(|_| "403");
        s.svc
            .audit_operation(&ctx, ("Organization", Some(&org)), op, &[], refused);
    }
    let body = maud::html! {
        (section("Risk tiers", "$risk-registry", &risk))
        (section("Care gaps", "$care-gap-registry", &gaps))
        (section("Payer attribution", "$attribution", &attribution))
    };
    let title = format!("{org}: registries");
    render(&session, &title, body)
}

/// `GET /app/practice/{org}/providers`: the per-provider CQM view, as the
/// last chart refresh kept it (numbers only).
pub async fn providers(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path(org): Path<String>,
) -> Response {
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let view = match s.svc.providers(&ctx, &org).await {
        Ok(v) => v,
        Err(e) => return (session.jar, service_error(e)).into_response(),
    };
    let body = crate::web::providers::page(view.as_ref().map(|(v, _)| v));
    let title = format!("{org}: CQMs by provider");
    render(&session, &title, body)
}

/// `GET /app/practice/{org}/evidence/{id}`: an evidence file, as a download
/// (never rendered in the app's origin), its read audited.
pub async fn evidence(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    use axum::http::header;
    let (session, ctx) = match in_practice(&s, jar, &uri, &org).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match s.svc.evidence_file(&ctx, &org, &id).await {
        Ok((file, bytes)) => {
            let name: String = file
                .title
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let headers = [
                (header::CONTENT_TYPE, file.content_type),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ];
            (session.jar, headers, bytes).into_response()
        }
        Err(e) => (session.jar, service_error(e)).into_response(),
    }
}
