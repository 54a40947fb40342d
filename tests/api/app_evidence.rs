//! Evidence on the attestation checklist over HTTP: a practice member
//! attaches a PDF to an item; the checklist lists it for the member and for
//! the facilitator, who downloads the very bytes (as an attachment, never
//! rendered) with the read audited in their name. Refused, changing
//! nothing: a facilitator's upload, a file that is not what it says, an
//! item not on the checklist, a file over the limit, a missing CSRF token,
//! and another practice's member reading it.

use reqwest::{Client, StatusCode};
use tandem::auth::users::UserRole;

use crate::common::TestApp;
use crate::common::audit::{audit_until, requested_by};
use crate::common::people::{add_user, enrolled_app, hidden, page, signed_in};

const PAGE: &str = "app/practice/practice-0/attestation";

/// A multipart body written by hand (not by the server's parser's crate).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----tandem-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    b: &Client,
    app: &TestApp,
    org: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> StatusCode {
    let (ct, body) = multipart(fields, file);
    b.post(app.url(&format!("app/practice/{org}/evidence")))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// The evidence links on the checklist page: (document id, file name).
fn links(html: &str) -> Vec<(String, String)> {
    html.split("/evidence/")
        .skip(1)
        .map(|s| {
            let id = s[..s.find('"').unwrap()].to_string();
            let name = &s[s.find('>').unwrap() + 1..];
            (id, name[..name.find('<').unwrap()].to_string())
        })
        .collect()
}

async fn documents(app: &TestApp) -> usize {
    app.search_resources("DocumentReference?_count=100")
        .await
        .len()
}

#[tokio::test]
async fn evidence_is_attached_listed_downloaded_and_refused_both_ways() {
    let (app, _root) = enrolled_app(20, 2, 5).await;
    add_user(&app, "lead", UserRole::Practice, &["practice-0"]).await;
    add_user(&app, "other", UserRole::Practice, &["practice-1"]).await;
    add_user(&app, "fran", UserRole::Facilitator, &["practice-0"]).await;
    let lead = signed_in(&app, "lead").await;
    let (s, html) = page(&lead, &app, PAGE).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Evidence file for BB1.Y1.2"),
        "a labelled file input"
    );
    let csrf = hidden(&html, "csrf").unwrap();
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let form = [("csrf", csrf.as_str()), ("item", "BB1.Y1.2")];

    // Refused first, each changing nothing.
    let before = documents(&app).await;
    let html_as_pdf: &[u8] = b"<html><script>alert(1)</script></html>";
    let big = vec![b'a'; tandem::service::MAX_EVIDENCE_BYTES + 1];
    for (what, fields, file, status) in [
        (
            "not a PDF",
            &form[..],
            Some(("minutes.pdf", html_as_pdf)),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not an item",
            &[("csrf", csrf.as_str()), ("item", "BB7.Y1.2")][..],
            Some(("minutes.pdf", &pdf[..])),
            StatusCode::BAD_REQUEST,
        ),
        ("no file", &form[..], None, StatusCode::BAD_REQUEST),
        (
            "too large",
            &form[..],
            Some(("big.txt", &big[..])),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "no CSRF token",
            &[("item", "BB1.Y1.2")][..],
            Some(("minutes.pdf", &pdf[..])),
            StatusCode::FORBIDDEN,
        ),
    ] {
        assert_eq!(
            upload(&lead, &app, "practice-0", fields, file).await,
            status,
            "{what}"
        );
    }
    let fran = signed_in(&app, "fran").await;
    let (_, fran_page) = page(&fran, &app, PAGE).await;
    assert!(
        !fran_page.contains("Evidence file for"),
        "no upload form for a facilitator"
    );
    let fran_csrf = hidden(&fran_page, "csrf").unwrap();
    let fran_form = [("csrf", fran_csrf.as_str()), ("item", "BB1.Y1.2")];
    assert_eq!(
        upload(
            &fran,
            &app,
            "practice-0",
            &fran_form,
            Some(("minutes.pdf", &pdf))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(documents(&app).await, before);

    // Attached: back on the checklist, listed under its item.
    assert_eq!(
        upload(
            &lead,
            &app,
            "practice-0",
            &form,
            Some(("QI minutes.pdf", &pdf))
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(documents(&app).await, before + 1);
    let (_, html) = page(&lead, &app, PAGE).await;
    let row = &html[html.find("data-item=\"BB1.Y1.2\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let listed = links(row);
    assert_eq!(listed.len(), 1, "{row}");
    assert_eq!(listed[0].1, "QI minutes.pdf");
    assert!(row.contains("lead"), "who attached it");

    // The facilitator reviews it: the same bytes, as a download, audited.
    let (_, fran_page) = page(&fran, &app, PAGE).await;
    assert_eq!(links(&fran_page), listed);
    let path = format!("app/practice/practice-0/evidence/{}", listed[0].0);
    let r = fran.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);
    let admin = crate::common::audit::auditor(&app, "practice-0").await;
    let doc = format!("DocumentReference/{}", listed[0].0);
    let read_by_fran =
        |e: &serde_json::Value| requested_by(e, "fran") && e["entity"].to_string().contains(&doc);
    let trail = audit_until(&admin, &app, "subtype=read&_count=100", read_by_fran).await;
    assert!(trail.iter().any(read_by_fran), "{trail:?}");

    // Another practice's member reads nothing of it.
    let other = signed_in(&app, "other").await;
    let r = other.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}
