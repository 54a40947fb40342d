//! Reading request bodies within a limit, enforced while reading: a declared
//! `Content-Length` above the limit is refused before a byte is read, and a
//! chunked body is cut off as soon as it passes the limit. No body is ever
//! read whole into memory before its size is known.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::ApiError;
use crate::fhir::outcome::Issue;

/// Largest `POST [type]/_search` form (the query in the body).
pub const SEARCH_FORM_LIMIT: usize = 64 * 1024;
/// Largest token request (a form with one client assertion).
pub const TOKEN_FORM_LIMIT: usize = 64 * 1024;

/// The body was larger than `limit` bytes.
#[derive(Debug)]
pub struct TooLarge {
    pub limit: usize,
}

impl TooLarge {
    pub fn message(&self) -> String {
        format!(
            "The body is larger than the {}-byte limit; split it.",
            self.limit
        )
    }
}

impl From<TooLarge> for ApiError {
    fn from(e: TooLarge) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Issue::error("too-costly", e.message()),
        )
    }
}

/// Reads at most `limit` bytes of `body`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, TooLarge> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(TooLarge { limit });
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| TooLarge { limit })
}

/// A `POST [type]/_search` form body, at most [`SEARCH_FORM_LIMIT`] bytes.
pub struct SearchForm(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for SearchForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, SEARCH_FORM_LIMIT).await?;
        Ok(SearchForm(
            form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }
}
