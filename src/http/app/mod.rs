//! Tandem's web app under `/app`: routes, the session (`session`) and
//! cookies (`cookies`); the pages' markup is `crate::web`'s. Handlers read
//! through the same service calls as the FHIR API, with the signed-in
//! person's grant, so every rule (tenancy, numbers-only overseers, consent)
//! and every audit record is the API's own.

pub mod cookies;
mod drill;
mod forms;
mod pages;
mod records;
mod session;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::body::read_limited;

/// Largest form the app accepts (a PDSA note, an attestation comment).
const FORM_LIMIT: usize = 64 * 1024;
/// Largest upload: an evidence file and the form around it.
const UPLOAD_LIMIT: usize = crate::service::milestones::MAX_EVIDENCE_BYTES + FORM_LIMIT;

/// A posted file: its name as sent and its bytes.
pub type File = (String, Vec<u8>);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app", get(pages::portfolio))
        .route("/app/sign-in", get(session::start))
        .route("/app/callback", get(session::callback))
        .route("/app/sign-out", post(session::sign_out))
        .route("/app/assets/app.css", get(css))
        .route("/app/practice/{org}", get(pages::practice))
        .route("/app/practice/{org}/milestone/{measure}", get(drill::drill))
        .route("/app/practice/{org}/{action}", post(forms::post))
        .route("/app/practice/{org}/submissions", get(records::submissions))
        .route("/app/practice/{org}/attestation", get(records::attestation))
        .route("/app/practice/{org}/registries", get(records::registries))
        .route("/app/practice/{org}/providers", get(records::providers))
        .route("/app/practice/{org}/evidence/{id}", get(records::evidence))
}

/// An HTML page with its status; never cached, never framed.
pub struct Page(pub StatusCode, pub maud::Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.0,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; frame-ancestors 'none'",
                ),
            ],
            Html(self.1.into_string()),
        )
            .into_response()
    }
}

/// A page that says what went wrong.
pub fn fail(status: StatusCode, text: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ => "Something went wrong",
    };
    Page(status, crate::web::layout::message(title, None, text)).into_response()
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        crate::web::CSS,
    )
        .into_response()
}

/// Reads a posted form within [`FORM_LIMIT`].
pub async fn read_form(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<HashMap<String, String>, Response> {
    match read_limited(headers, body, FORM_LIMIT, s.body_read_timeout).await {
        Ok(b) => Ok(form_urlencoded::parse(&b).into_owned().collect()),
        Err(e) => Err(fail(e.status(), &e.message())),
    }
}

/// Reads a posted `multipart/form-data` form within [`UPLOAD_LIMIT`]: its
/// text fields and its one file.
pub async fn read_upload(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(HashMap<String, String>, Option<File>), Response> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the file as multipart/form-data.",
            )
        })?;
    let bytes = read_limited(headers, body, UPLOAD_LIMIT, s.body_read_timeout)
        .await
        .map_err(|e| fail(e.status(), &e.message()))?;
    let unreadable = |e: multer::Error| {
        fail(
            StatusCode::BAD_REQUEST,
            &format!("The form could not be read: {e}"),
        )
    };
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let (mut fields, mut file) = (HashMap::new(), None);
    while let Some(field) = parts.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(_) if file.is_some() => {
                return Err(fail(StatusCode::BAD_REQUEST, "Send one file at a time."));
            }
            Some(file_name) => {
                file = Some((file_name, field.bytes().await.map_err(unreadable)?.to_vec()));
            }
            None => {
                fields.insert(name, field.text().await.map_err(unreadable)?);
            }
        }
    }
    Ok((fields, file))
}
