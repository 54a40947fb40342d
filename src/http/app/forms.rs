//! The app's forms that change something: a PDSA note on a chart,
//! recomputing a practice's charts, signing off a held submission,
//! answering and reviewing checklist items, attaching evidence to one. Each checks the CSRF token,
//! acts through the service with the person's grant (so the API's rules
//! decide), and returns to its page.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::session::signed_in;
use super::{cookies, fail, read_form, read_upload};
use crate::http::AppState;
use crate::http::access::{Asked, context_for};
use crate::http::error::ApiError;
use crate::service::milestones::Upload;

fn refused(e: ApiError) -> Response {
    let text = e
        .issues
        .first()
        .map_or("The request failed.".into(), |i| i.diagnostics.clone());
    fail(e.status, &text)
}

/// What a form does.
#[derive(Clone, Copy)]
enum Act {
    /// `notes`: series, month, text.
    Note,
    /// `refresh-charts`.
    Refresh,
    /// `sign-off`: submission (the ledger entry).
    SignOff,
    /// `attest`: item, score.
    Attest,
    /// `review`: item, decision, comment.
    Review,
    /// `evidence` (multipart): item, file.
    Evidence,
}

impl Act {
    fn of(action: &str) -> Option<Act> {
        Some(match action {
            "notes" => Act::Note,
            "refresh-charts" => Act::Refresh,
            "sign-off" => Act::SignOff,
            "attest" => Act::Attest,
            "review" => Act::Review,
            "evidence" => Act::Evidence,
            _ => return None,
        })
    }
}

/// `POST /app/practice/{org}/{action}`: one of the forms above.
pub async fn post(
    State(s): State<AppState>,
    jar: CookieJar,
    uri: Uri,
    headers: HeaderMap,
    Path((org, action)): Path<(String, String)>,
    body: Body,
) -> Response {
    match Act::of(&action) {
        Some(what) => act(&s, jar, &uri, &headers, &org, body, what).await,
        None => fail(StatusCode::NOT_FOUND, "There is no such form."),
    }
}

async fn act(
    s: &AppState,
    jar: CookieJar,
    uri: &Uri,
    headers: &HeaderMap,
    org: &str,
    body: Body,
    what: Act,
) -> Response {
    let back = match what {
        Act::SignOff => format!("/app/practice/{org}/submissions"),
        Act::Attest | Act::Review | Act::Evidence => format!("/app/practice/{org}/attestation"),
        _ => format!("/app/practice/{org}"),
    };
    let session = match signed_in(s, jar, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let read = match what {
        Act::Evidence => read_upload(s, headers, body).await,
        _ => read_form(s, headers, body).await.map(|f| (f, None)),
    };
    let (form, file) = match read {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !cookies::csrf_ok(&session.jar, form.get("csrf").map(String::as_str)) {
        return fail(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this site; reload the page.",
        );
    }
    let asked = Asked {
        tenant: Some(org.to_string()),
        request_id: uuid::Uuid::new_v4().to_string(),
        address: None,
    };
    let ctx = match context_for(s, session.grant.clone(), asked, &Method::POST, uri.path()) {
        Ok(c) => c,
        Err(e) => return (session.jar, refused(e)).into_response(),
    };
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let done = match what {
        Act::Note => s
            .svc
            .add_pdsa_note(&ctx, org, field("series"), field("month"), field("text"))
            .await
            .map(|_| ()),
        // At practice scale a refresh takes minutes, longer than a request
        // may: it runs in the background and the page shows when it was done.
        Act::Refresh => s.svc.may_refresh_charts(&ctx, org).map(|()| {
            let (svc, org) = (s.svc.clone(), org.to_string());
            tokio::spawn(async move {
                if let Err(e) = svc.refresh_charts(&org).await {
                    tracing::error!(error = %e, "chart refresh failed for a practice");
                }
            });
        }),
        Act::SignOff => {
            let pairs = vec![("submission".to_string(), field("submission").to_string())];
            s.svc.sign_off(&ctx, org, &pairs).await.map(|_| ())
        }
        Act::Attest => {
            s.svc
                .attest_item(&ctx, org, field("item"), field("score"))
                .await
        }
        Act::Review => {
            let pairs: Vec<(String, String)> = ["item", "decision", "comment"]
                .iter()
                .map(|k| (k.to_string(), field(k).to_string()))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            s.svc
                .review_attestation(&ctx, org, &pairs)
                .await
                .map(|_| ())
        }
        Act::Evidence => match file {
            Some((file_name, bytes)) => {
                let upload = Upload {
                    item: field("item").to_string(),
                    file_name,
                    bytes,
                };
                s.svc.attach_evidence(&ctx, org, upload).await.map(|_| ())
            }
            None => return fail(StatusCode::BAD_REQUEST, "Choose a file to upload."),
        },
    };
    match done {
        Ok(()) => (session.jar, Redirect::to(&back)).into_response(),
        Err(e) => (session.jar, refused(ApiError::from(e))).into_response(),
    }
}
