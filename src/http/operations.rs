//! FHIR operations: `$process-message` at the base, and operations on
//! instances (`/{type}/{id}/${name}`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use super::negotiate::{FhirJson, Format, json_response};
use crate::fhir::outcome::Issue;
use crate::http::access::Access;

type Result<T> = std::result::Result<T, ApiError>;

/// `POST /$process-message`: the body is the message Bundle itself.
pub async fn process_message(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    FhirJson(body): FhirJson,
) -> Result<Response> {
    let oo = s.svc.process_message(&ctx, body).await?;
    Ok(json_response(StatusCode::OK, oo.to_string(), fmt))
}

fn query_pairs(q: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `GET /$outbox`: the tenant's outbound messages by state (admins).
pub async fn outbox(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(q);
    let body = audited(
        &s,
        &ctx,
        ("Outbox", None),
        "$outbox",
        &pairs,
        s.svc.outbox_messages(&ctx, &pairs).await,
    )?;
    Ok(json_response(StatusCode::OK, body.to_string(), fmt))
}

/// `POST /$sweep-overdue`: the overdue sweep, now (admins).
pub async fn sweep_overdue(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
) -> Result<Response> {
    let body = audited(
        &s,
        &ctx,
        ("Task", None),
        "$sweep-overdue",
        &[],
        s.svc.sweep_overdue_now(&ctx).await,
    )?;
    Ok(json_response(StatusCode::OK, body.to_string(), fmt))
}

/// `POST /$outbox-retry?seq=N`: re-queue a dead-lettered message (admins).
pub async fn outbox_retry(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(q);
    let oo = audited(
        &s,
        &ctx,
        ("Outbox", None),
        "$outbox-retry",
        &pairs,
        s.svc.outbox_retry(&ctx, &pairs).await,
    )?;
    Ok(json_response(StatusCode::OK, oo.to_string(), fmt))
}

/// `GET /{type}/{id}/${operation}`.
pub async fn instance_operation(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path((rt, id, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(q);
    let Some(result) = dispatch(&s, &ctx, fmt, &rt, &id, &op, &pairs).await else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Issue::error(
                "not-supported",
                format!("{rt}/[id]/{op} is not an operation of this server; see /metadata."),
            ),
        ));
    };
    audited(&s, &ctx, (&rt, Some(&id)), &op, &pairs, result)
}

/// Passes an operation's result through after auditing it (see
/// `FhirService::audit_operation`).
fn audited<T, E: Into<ApiError>>(
    s: &AppState,
    ctx: &crate::caller::AccessContext,
    target: (&str, Option<&str>),
    op: &str,
    pairs: &[(String, String)],
    result: std::result::Result<T, E>,
) -> Result<T> {
    let result = result.map_err(Into::into);
    let refused = result
        .as_ref()
        .err()
        .map(|e: &ApiError| e.status.as_str().to_string());
    s.svc
        .audit_operation(ctx, target, op, pairs, refused.as_deref());
    result
}

/// Runs the instance operation `op` on `rt/id`; None when this server has no
/// such operation.
async fn dispatch(
    s: &AppState,
    ctx: &crate::caller::AccessContext,
    fmt: Format,
    rt: &str,
    id: &str,
    op: &str,
    pairs: &[(String, String)],
) -> Option<Result<Response>> {
    let body = match (rt, op) {
        ("Patient", "$screening-status") => s.svc.screening_status(ctx, id).await,
        ("Organization", "$referrals") => s.svc.referrals_report(ctx, id, pairs).await,
        ("Measure", "$evaluate-measure") => s.svc.evaluate_measure(ctx, id, pairs).await,
        ("Organization", "$transitions") => s.svc.transitions_report(ctx, id, pairs).await,
        ("Organization", "$milestones") => s.svc.milestones_report(ctx, id, pairs).await,
        ("Organization", "$good-standing") => s.svc.good_standing_report(ctx, id, pairs).await,
        ("Organization", "$submissions") => s.svc.submissions_report(ctx, id, pairs).await,
        ("Organization", "$attribution") => s.svc.attribution_report(ctx, id, pairs).await,
        ("Organization", "$continuity") => s.svc.continuity_report(ctx, id, pairs).await,
        ("Organization", "$panel-changes") => s.svc.panel_changes(ctx, id, pairs).await,
        ("Organization", "$risk-registry") => s.svc.risk_registry(ctx, id, pairs).await,
        ("Organization", "$bh-registry") => s.svc.bh_registry(ctx, id).await,
        ("Organization", "$care-gap-registry") => s.svc.care_gap_registry(ctx, id, pairs).await,
        _ => return None,
    };
    Some(
        body.map(|b| json_response(StatusCode::OK, b.to_string(), fmt))
            .map_err(ApiError::from),
    )
}

/// `POST /{type}/{id}/${operation}`: operations that change state, with
/// their parameters in the query string.
pub async fn instance_operation_post(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path((rt, id, op)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(q);
    let result = match (rt.as_str(), op.as_str()) {
        ("Organization", "$sign-off") => s.svc.sign_off(&ctx, &id, &pairs).await,
        ("Organization", "$amend-submission") => s.svc.amend_submission(&ctx, &id, &pairs).await,
        ("Organization", "$attribution-review") => {
            s.svc.review_attribution(&ctx, &id, &pairs).await
        }
        ("Organization", "$panel-confirm") => s.svc.confirm_panel(&ctx, &id, &pairs).await,
        ("Organization", "$stratify") => s.svc.stratify_now(&ctx, &id, &pairs).await,
        ("Organization", "$refresh-charts") => s.svc.refresh_charts_op(&ctx, &id).await,
        ("Organization", "$review-attestation") => {
            s.svc.review_attestation(&ctx, &id, &pairs).await
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                Issue::error(
                    "not-supported",
                    format!(
                        "POST {rt}/[id]/{op} is not an operation of this server; see /metadata."
                    ),
                ),
            ));
        }
    };
    let body = audited(&s, &ctx, (&rt, Some(&id)), &op, &pairs, result)?;
    Ok(json_response(StatusCode::OK, body.to_string(), fmt))
}

/// `POST /$run-feed`: the program feed's pass, now (admins).
pub async fn run_feed(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
) -> Result<Response> {
    let body = audited(
        &s,
        &ctx,
        ("Organization", None),
        "$run-feed",
        &[],
        s.svc.run_feed_now(&ctx).await,
    )?;
    Ok(json_response(StatusCode::OK, body.to_string(), fmt))
}

/// `GET /Measure/$care-gaps`: open (or closed) care gaps per patient.
pub async fn care_gaps(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(q);
    let body = audited(
        &s,
        &ctx,
        ("Measure", None),
        "$care-gaps",
        &pairs,
        s.svc.care_gaps(&ctx, &pairs).await,
    )?;
    Ok(json_response(StatusCode::OK, body.to_string(), fmt))
}
