//! Handlers of the FHIR REST API. Each extracts, calls the service, renders.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::SearchForm;
use super::error::ApiError;
use super::negotiate::{FhirJson, Format, Preferences, WriteHeaders, json_response};
use super::respond::{read_response, write_response};
use crate::fhir::outcome::Issue;
use crate::fhir::resource_types::is_known;
use crate::http::access::Access;
use crate::service::HistoryScope;
use crate::service::Prefer;

type Result<T> = std::result::Result<T, ApiError>;

fn known(rt: &str) -> Result<()> {
    if is_known(rt) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Issue::error(
                "not-supported",
                format!("'{rt}' is not an R4 resource type."),
            ),
        ))
    }
}

fn pairs(q: Option<String>) -> Vec<(String, String)> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub async fn metadata(State(s): State<AppState>, fmt: Format) -> Response {
    json_response(StatusCode::OK, s.capability.to_string(), fmt)
}

pub async fn health() -> Response {
    (StatusCode::OK, "ok").into_response()
}

pub async fn bundle(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    prefs: Preferences,
    FhirJson(body): FhirJson,
) -> Result<Response> {
    if body.get("resourceType").and_then(|v| v.as_str()) != Some("Bundle") {
        return Err(ApiError::bad(
            Issue::error(
                "invalid",
                "POST to the base URL takes a transaction or batch Bundle.",
            )
            .at("resourceType"),
        ));
    }
    let out = s
        .svc
        .process_bundle(&ctx, body, prefs.ret.unwrap_or_default())
        .await?;
    Ok(json_response(StatusCode::OK, out, fmt))
}

pub async fn search(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    prefs: Preferences,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    run_search(&s, &ctx, &rt, pairs(q), prefs, fmt).await
}

pub async fn search_post(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    prefs: Preferences,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
    SearchForm(form): SearchForm,
) -> Result<Response> {
    let mut all = pairs(q);
    all.extend(form);
    run_search(&s, &ctx, &rt, all, prefs, fmt).await
}

/// `GET [type]?…` and `POST [type]/_search` run the same search.
async fn run_search(
    s: &AppState,
    ctx: &crate::caller::AccessContext,
    rt: &str,
    pairs: Vec<(String, String)>,
    prefs: Preferences,
    fmt: Format,
) -> Result<Response> {
    known(rt)?;
    let out = s.svc.search(ctx, rt, pairs, prefs.strict).await?;
    Ok(json_response(StatusCode::OK, out.bundle, fmt))
}

pub async fn create(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    w: WriteHeaders,
    Path(rt): Path<String>,
    FhirJson(body): FhirJson,
) -> Result<Response> {
    known(&rt)?;
    let r = s.svc.create(&ctx, &rt, body, w.request).await?;
    Ok(write_response(r, w.prefer.ret, fmt, &s.base_url))
}

pub async fn conditional_update(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    w: WriteHeaders,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
    FhirJson(body): FhirJson,
) -> Result<Response> {
    known(&rt)?;
    let query = q.as_deref().unwrap_or_default();
    let r = s
        .svc
        .conditional_update(&ctx, &rt, query, body, w.request)
        .await?;
    Ok(write_response(r, w.prefer.ret, fmt, &s.base_url))
}

pub async fn conditional_delete(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    prefs: Preferences,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    known(&rt)?;
    let r = s
        .svc
        .conditional_delete(&ctx, &rt, q.as_deref().unwrap_or_default())
        .await?;
    Ok(write_response(r, prefs.ret, fmt, &s.base_url))
}

pub async fn read(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path((rt, id)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Result<Response> {
    known(&rt)?;
    let r = s.svc.read(&ctx, &rt, &id).await?;
    if not_modified(&headers, &r) {
        return Ok(super::respond::not_modified_response(&r));
    }
    Ok(read_response(&r, fmt))
}

/// Conditional read: `If-None-Match: W/"n"` naming the current version, or
/// `If-Modified-Since` at or after its last update (HTTP dates have seconds).
fn not_modified(headers: &axum::http::HeaderMap, r: &crate::service::StoredResource) -> bool {
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(tags) = text("if-none-match") {
        return tags
            .split(',')
            .filter_map(crate::fhir::bundle::parse_etag)
            .any(|v| v == r.version);
    }
    text("if-modified-since")
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        .is_some_and(|since| r.last_updated_ms / 1000 <= since.timestamp())
}

pub async fn vread(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path((rt, id, vid)): Path<(String, String, String)>,
) -> Result<Response> {
    known(&rt)?;
    let r = s.svc.vread(&ctx, &rt, &id, &vid).await?;
    Ok(read_response(&r, fmt))
}

pub async fn update(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    w: WriteHeaders,
    Path((rt, id)): Path<(String, String)>,
    FhirJson(body): FhirJson,
) -> Result<Response> {
    known(&rt)?;
    let r = s.svc.update(&ctx, &rt, &id, body, w.request).await?;
    Ok(write_response(r, w.prefer.ret, fmt, &s.base_url))
}

pub async fn delete(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    prefs: Preferences,
    Path((rt, id)): Path<(String, String)>,
) -> Result<Response> {
    known(&rt)?;
    let r = s.svc.delete(&ctx, &rt, &id).await?;
    Ok(write_response(
        r,
        prefs.ret.or(Some(Prefer::Minimal)),
        fmt,
        &s.base_url,
    ))
}

pub async fn system_history(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let out = s.svc.history(&ctx, HistoryScope::System, pairs(q)).await?;
    Ok(json_response(StatusCode::OK, out, fmt))
}

pub async fn type_history(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path(rt): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    known(&rt)?;
    let out = s
        .svc
        .history(&ctx, HistoryScope::Type(rt), pairs(q))
        .await?;
    Ok(json_response(StatusCode::OK, out, fmt))
}

pub async fn instance_history(
    State(s): State<AppState>,
    Access(ctx): Access,
    fmt: Format,
    Path((rt, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    known(&rt)?;
    let out = s
        .svc
        .history(&ctx, HistoryScope::Instance(rt, id), pairs(q))
        .await?;
    Ok(json_response(StatusCode::OK, out, fmt))
}

/// Any other path: 404 as an OperationOutcome.
pub async fn fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Issue::error("not-found", "No FHIR endpoint at this path."),
    )
}

/// A known path with a method it does not take: 405 as an OperationOutcome.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    let hint = if method == axum::http::Method::PATCH {
        " PATCH is not supported yet; send the whole resource with PUT."
    } else {
        ""
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Issue::error(
            "not-supported",
            format!("{method} is not supported on this path.{hint}"),
        ),
    )
}
