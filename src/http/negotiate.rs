//! Content negotiation, `_pretty`, `Prefer`, and the JSON body extractor.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::fhir::bundle::parse_etag;
use crate::fhir::outcome::Issue;
use crate::fhir::validate::parse_json;
use crate::service::{Prefer, WriteRequest};

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// How the response should be written: JSON always; pretty or compact.
#[derive(Debug, Clone, Copy, Default)]
pub struct Format {
    pub pretty: bool,
}

fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn is_xml(mime: &str) -> bool {
    let m = mime.trim().to_ascii_lowercase();
    m == "xml" || m.contains("xml")
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = query_pairs(parts);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let not_acceptable = || {
            ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                Issue::error(
                    "not-supported",
                    "Tandem speaks FHIR JSON only; ask for application/fhir+json (or _format=json).",
                ),
            )
        };
        if let Some(f) = get("_format") {
            // A literal `+` in a query string decodes to a space: `application/fhir+json`
            // arrives as `application/fhir json`.
            let f = f.replace(' ', "+");
            if !matches!(
                f.as_str(),
                "json" | "application/json" | "application/fhir+json"
            ) {
                return Err(not_acceptable());
            }
        } else if let Some(accept) = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
        {
            let types: Vec<&str> = accept
                .split(',')
                .map(|t| t.split(';').next().unwrap_or("").trim())
                .collect();
            let json_ok = types.iter().any(|t| {
                t.contains("json") || *t == "*/*" || *t == "application/*" || t.is_empty()
            });
            if !json_ok && types.iter().any(|t| is_xml(t)) {
                return Err(not_acceptable());
            }
        }
        Ok(Format {
            pretty: get("_pretty") == Some("true"),
        })
    }
}

/// `Prefer: return=...` and `handling=...`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Preferences {
    /// `None` when the client expressed no preference.
    pub ret: Option<Prefer>,
    pub strict: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Preferences {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(preferences(&parts.headers))
    }
}

pub fn preferences(headers: &HeaderMap) -> Preferences {
    let mut p = Preferences::default();
    for v in headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for token in v.split([',', ';']).map(str::trim) {
            match token {
                "return=minimal" => p.ret = Some(Prefer::Minimal),
                "return=representation" => p.ret = Some(Prefer::Representation),
                "return=OperationOutcome" => p.ret = Some(Prefer::OperationOutcome),
                "handling=strict" => p.strict = true,
                "handling=lenient" => p.strict = false,
                _ => {}
            }
        }
    }
    p
}

/// The headers that shape a write: `Prefer`, `If-Match`, `If-None-Exist`.
pub struct WriteHeaders {
    pub prefer: Preferences,
    pub request: WriteRequest,
}

impl<S: Send + Sync> FromRequestParts<S> for WriteHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let text = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let if_match = match text("if-match") {
            Some(v) => Some(parse_etag(&v).ok_or_else(|| {
                ApiError::bad(Issue::error(
                    "invalid",
                    format!("If-Match '{v}' is not a version ETag like W/\"3\"."),
                ))
            })?),
            None => None,
        };
        let if_none_exist = text("if-none-exist").map(|q| q.trim_start_matches('?').to_string());
        Ok(WriteHeaders {
            prefer: preferences(&parts.headers),
            request: WriteRequest {
                if_match,
                if_none_exist,
            },
        })
    }
}

/// A request body that is a JSON object, read within the size limit.
pub struct FhirJson(pub Value);

impl FromRequest<AppState> for FhirJson {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let (parts, body) = req.into_parts();
        let bytes = super::body::read_limited(
            &parts.headers,
            body,
            state.max_body_bytes,
            state.body_read_timeout,
        )
        .await?;
        let value = parse_json(&bytes).map_err(ApiError::bad)?;
        Ok(FhirJson(value))
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if matches!(
        mime.as_str(),
        "application/fhir+json" | "application/json" | "application/json+fhir"
    ) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Issue::error(
            "not-supported",
            format!("Content-Type '{mime}' is not supported; send application/fhir+json."),
        ),
    ))
}

/// A FHIR JSON response, pretty-printed on request.
pub fn json_response(status: StatusCode, body: String, format: Format) -> Response {
    let body = if format.pretty {
        serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(body)
    } else {
        body
    };
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp
}
