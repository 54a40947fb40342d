//! The one place errors become HTTP responses: an OperationOutcome with the
//! right status. 5xx bodies carry the request's correlation id and no internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::fhir::outcome::{Issue, operation_outcome};
use crate::service::ServiceError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub issues: Vec<Issue>,
    /// Logged, never sent.
    pub internal: Option<String>,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, issue: Issue) -> ApiError {
        ApiError {
            status,
            issues: vec![issue],
            internal: None,
            headers: Vec::new(),
        }
    }

    pub fn bad(issue: Issue) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, issue)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let internal = match &e {
            ServiceError::Internal(m) => Some(m.clone()),
            _ => None,
        };
        let (code, issues) = e.status_and_issues();
        ApiError {
            status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            issues,
            internal,
            headers: Vec::new(),
        }
    }
}

tokio::task_local! {
    /// The correlation id of the request being handled (set by middleware).
    pub static REQUEST_ID: String;
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        if self.status.is_server_error() {
            let id = REQUEST_ID
                .try_with(Clone::clone)
                .unwrap_or_else(|_| "-".into());
            tracing::error!(correlation_id = %id, status = self.status.as_u16(), detail = self.internal.as_deref().unwrap_or(""), "request failed");
            self.issues = vec![Issue::error(
                "exception",
                format!("Internal error. Quote correlation id {id} when reporting it."),
            )];
        }
        let body = operation_outcome(&self.issues).to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::negotiate::FHIR_JSON),
        );
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn server_errors_carry_a_correlation_id_and_no_internals() {
        let err = ApiError::from(ServiceError::Internal(
            "disk I/O error at /var/secret/path".into(),
        ));
        let resp = REQUEST_ID
            .scope("req-123".into(), async move { err.into_response() })
            .await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("req-123"), "{text}");
        assert!(text.contains("OperationOutcome"));
        assert!(!text.contains("secret"), "{text}");
    }

    #[tokio::test]
    async fn client_errors_keep_their_issues() {
        let err = ApiError::from(ServiceError::PreconditionFailed(Issue::error(
            "conflict",
            "stale version",
        )));
        let resp = err.into_response();
        assert_eq!(resp.status(), StatusCode::PRECONDITION_FAILED);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("stale version"));
    }
}
