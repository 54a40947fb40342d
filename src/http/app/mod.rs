//! Tandem's web app under `/app`: routes, the session (`session`) and
//! cookies (`cookies`); the pages' markup is `crate::web`'s. Handlers read
//! through the same service calls as the FHIR API, with the signed-in
//! person's grant, so every rule (tenancy, numbers-only overseers, consent)
//! and every audit record is the API's own.

pub mod cookies;
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

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app", get(pages::portfolio))
        .route("/app/sign-in", get(session::start))
        .route("/app/callback", get(session::callback))
        .route("/app/sign-out", post(session::sign_out))
        .route("/app/assets/app.css", get(css))
        .route("/app/practice/{org}", get(pages::practice))
        .route("/app/practice/{org}/milestone/{measure}", get(pages::drill))
        .route("/app/practice/{org}/{action}", post(forms::post))
        .route("/app/practice/{org}/submissions", get(records::submissions))
        .route("/app/practice/{org}/attestation", get(records::attestation))
        .route("/app/practice/{org}/registries", get(records::registries))
        .route("/app/practice/{org}/providers", get(records::providers))
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
