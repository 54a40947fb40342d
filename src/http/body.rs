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

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than `limit` bytes (413).
    TooLarge { limit: usize },
    /// Cut short or malformed on the wire (a broken chunked encoding, fewer
    /// bytes than `Content-Length`): 400, not "too large".
    Unreadable,
    /// Sent with a `Content-Encoding` Tandem does not decode (415).
    Encoded(String),
    /// Not received whole within the body-read timeout (408): a client
    /// trickling a body must not hold its request slot for ever.
    TimedOut(std::time::Duration),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Unreadable => StatusCode::BAD_REQUEST,
            BodyError::Encoded(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    pub fn message(&self) -> String {
        match self {
            BodyError::TooLarge { limit } => {
                format!("The body is larger than the {limit}-byte limit; split it.")
            }
            BodyError::Unreadable => {
                "The body ended before it was complete (broken chunked encoding or fewer bytes \
                 than Content-Length); send it again."
                    .into()
            }
            BodyError::Encoded(e) => {
                format!("Content-Encoding '{e}' is not supported; send the body uncompressed.")
            }
            BodyError::TimedOut(d) => format!(
                "The body was not received within {} s; send it again, faster or smaller.",
                d.as_secs()
            ),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        let code = match e {
            BodyError::TooLarge { .. } => "too-costly",
            BodyError::Unreadable => "structure",
            BodyError::Encoded(_) => "not-supported",
            BodyError::TimedOut(_) => "timeout",
        };
        ApiError::new(e.status(), Issue::error(code, e.message()))
    }
}

/// Reads at most `limit` bytes of `body`, within `timeout`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, BodyError> {
    if let Some(enc) = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v != "identity")
    {
        return Err(BodyError::Encoded(enc));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| BodyError::TimedOut(timeout))?;
    read.map_err(|e| {
        // The limit is one cause among others; look for it in the chain.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return BodyError::TooLarge { limit };
            }
            source = err.source();
        }
        BodyError::Unreadable
    })
}

/// A `POST [type]/_search` form body, at most [`SEARCH_FORM_LIMIT`] bytes.
pub struct SearchForm(pub Vec<(String, String)>);

impl FromRequest<super::AppState> for SearchForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &super::AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(
            &parts.headers,
            body,
            SEARCH_FORM_LIMIT,
            state.body_read_timeout,
        )
        .await?;
        Ok(SearchForm(
            form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }
}
