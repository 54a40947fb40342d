//! Rendering resources and write results with FHIR's headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::negotiate::{Format, json_response};
use crate::fhir::bundle::etag;
use crate::fhir::outcome::{Issue, operation_outcome};
use crate::service::StoredResource;
use crate::service::{Prefer, WriteResult};

fn http_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn set(resp: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn version_headers(resp: &mut Response, r: &StoredResource) {
    set(resp, header::ETAG, &etag(r.version));
    set(resp, header::LAST_MODIFIED, &http_date(r.last_updated_ms));
}

/// A read or vread.
pub fn read_response(r: &StoredResource, fmt: Format) -> Response {
    let mut resp = json_response(StatusCode::OK, r.body.clone(), fmt);
    version_headers(&mut resp, r);
    resp
}

/// 304 for a conditional read whose version the client already has.
pub fn not_modified_response(r: &StoredResource) -> Response {
    let mut resp = Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    version_headers(&mut resp, r);
    resp
}

/// A create, update or delete, shaped by `Prefer: return=`. With no preference,
/// warnings (profile issues in warn mode) come back as an OperationOutcome,
/// otherwise the stored resource does.
pub fn write_response(r: WriteResult, prefer: Option<Prefer>, fmt: Format, base: &str) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let live = r.resource.as_ref().filter(|s| !s.deleted);
    let prefer = prefer.unwrap_or(if r.issues.is_empty() {
        Prefer::Representation
    } else {
        Prefer::OperationOutcome
    });
    let mut resp = match (prefer, live) {
        (Prefer::Minimal, _) | (Prefer::Representation, None) => {
            let mut resp = Response::new(axum::body::Body::empty());
            *resp.status_mut() = status;
            resp
        }
        (Prefer::Representation, Some(s)) => json_response(status, s.body.clone(), fmt),
        (Prefer::OperationOutcome, _) => {
            let issues = if r.issues.is_empty() {
                vec![Issue::info("All OK")]
            } else {
                r.issues.clone()
            };
            let status = if status == StatusCode::NO_CONTENT {
                StatusCode::OK
            } else {
                status
            };
            json_response(status, operation_outcome(&issues).to_string(), fmt)
        }
    };
    if let Some(s) = live {
        version_headers(&mut resp, s);
        set(
            &mut resp,
            header::LOCATION,
            &format!("{base}/{}/{}/_history/{}", s.resource_type, s.id, s.version),
        );
    }
    resp
}
