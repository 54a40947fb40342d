//! The web app in a real browser (headless Chromium): a facilitator signs
//! in with the keyboard alone, the portfolio lists exactly their practices,
//! Tab reaches every link and button of the page in order, and a practice
//! user opens the grid and a drill-down, and is refused another practice
//! (the 403 page, audited). Screenshots of the main pages go
//! to `target/screenshots/`.

use std::collections::BTreeSet;

use fantoccini::Locator;
use fantoccini::key::Key;
use tandem::auth::users::UserRole;

use crate::common::audit::{audit_until, requested_by};
use crate::common::browser::Browser;
use crate::common::people::{PASSWORD, add_user, enrolled_app};
use crate::common::population::load_own_patients;

#[tokio::test]
async fn a_facilitator_and_a_practice_user_in_chromium() {
    let (app, root) = enrolled_app(80, 3, 11).await;
    let path = root.path().join("pop");
    load_own_patients(&app, &path).await;
    add_user(
        &app,
        "fran",
        UserRole::Facilitator,
        &["practice-0", "practice-2"],
    )
    .await;
    add_user(&app, "pat", UserRole::Practice, &["practice-0"]).await;

    let b = Browser::start().await;
    let c = &b.client;
    c.goto(&app.url("app")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/auth/authorize");
    b.screenshot("sign-in").await;
    // The keyboard alone: the name field has focus, Tab to the password,
    // Enter submits.
    let focused = c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("username")
    );
    focused.send_keys("fran").await.unwrap();
    focused.send_keys(&Key::Tab.to_string()).await.unwrap();
    let password = c.active_element().await.unwrap();
    assert_eq!(
        password.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    password
        .send_keys(&format!("{PASSWORD}{}", Key::Enter))
        .await
        .unwrap();
    b.wait_for("table#portfolio").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/app");
    b.screenshot("portfolio").await;

    let links = c
        .find_all(Locator::Css("table#portfolio tbody th a"))
        .await
        .unwrap();
    let mut listed = BTreeSet::new();
    for l in &links {
        listed.insert(l.text().await.unwrap());
    }
    assert_eq!(
        listed,
        BTreeSet::from(["practice-0".to_string(), "practice-2".to_string()])
    );

    // Tab from the top of the page reaches every link and button.
    let controls = c
        .find_all(Locator::Css("a[href], button, input:not([type=hidden])"))
        .await
        .unwrap();
    let mut wanted = BTreeSet::new();
    for e in &controls {
        wanted.insert(e.html(false).await.unwrap());
    }
    let mut reached = BTreeSet::new();
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.click().await.unwrap();
    for _ in 0..(wanted.len() + 3) {
        c.active_element()
            .await
            .unwrap()
            .send_keys(&Key::Tab.to_string())
            .await
            .unwrap();
        reached.insert(c.active_element().await.unwrap().html(false).await.unwrap());
    }
    let missed: Vec<&String> = wanted.difference(&reached).collect();
    assert!(missed.is_empty(), "not reached by Tab: {missed:?}");

    // A practice user: the grid, then a drill-down by keyboard-followable links.
    b.click("header form button").await;
    c.wait()
        .at_most(crate::common::browser::WAIT)
        .for_element(Locator::LinkText("Sign in again"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.fill("#username", "pat").await;
    b.fill("#password", &format!("{PASSWORD}{}", Key::Enter))
        .await;
    b.wait_for("table#portfolio").await;
    c.find(Locator::LinkText("practice-0"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("table#milestones").await;
    b.screenshot("practice").await;
    let drill = c
        .find(Locator::Css("table#milestones a[href*='BB7.Y1.2']"))
        .await
        .unwrap();
    drill.click().await.unwrap();
    b.wait_for("table#patients").await;
    let rows = c
        .find_all(Locator::Css("table#patients tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    b.screenshot("drill-down").await;

    // Another practice's page: the 403 page, and on that practice's trail.
    c.goto(&app.url("app/practice/practice-1")).await.unwrap();
    let main = c.find(Locator::Css("main")).await.unwrap();
    let text = main.text().await.unwrap();
    assert!(
        text.contains("Not allowed") && text.contains("does not cover practice"),
        "{text}"
    );
    b.screenshot("refused").await;
    let admin = crate::common::audit::auditor(&app, "practice-1").await;
    let refused = audit_until(&admin, &app, "outcome=4", |e| requested_by(e, "pat")).await;
    assert!(refused.iter().any(|e| requested_by(e, "pat")));

    b.stop().await;
    app.stop().await;
}

/// A submission held by the data-quality gate is signed off by the
/// practice's QI lead in the browser and then sent; a facilitator sees the
/// ledger but no sign-off.
#[tokio::test]
async fn a_held_submission_is_signed_off_in_the_browser() {
    use tandem::measure::milestone::program::OnFailedChecks;

    let crate::feed::FedPractice {
        app,
        admin: _,
        hook,
        _dir,
        _database,
    } = crate::feed::fed_practice(30, 12, OnFailedChecks::Hold).await;
    add_user(&app, "lead", UserRole::Practice, &["practice-0"]).await;
    add_user(&app, "fran", UserRole::Facilitator, &["practice-0"]).await;

    let b = Browser::start().await;
    let c = &b.client;
    let ledger = app.url("app/practice/practice-0/submissions");
    b.sign_in(&ledger, "fran", "table#submissions").await;
    // The portfolio names the quarter owed and its state.
    c.goto(&app.url("app")).await.unwrap();
    let row = c
        .find(Locator::Css("tr[data-practice=practice-0]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("2026Q3, due") && row.contains("held"), "{row}");
    c.goto(&ledger).await.unwrap();
    let held = c.find(Locator::Css("tr[data-state=held]")).await.unwrap();
    assert!(
        held.text()
            .await
            .unwrap()
            .contains("no HIE notification received")
    );
    assert!(
        c.find(Locator::Css("tr[data-state=held] button"))
            .await
            .is_err(),
        "no sign-off for a facilitator"
    );
    b.sign_out().await;

    b.sign_in(&ledger, "lead", "table#submissions").await;
    b.screenshot("submissions").await;
    b.submit("tr[data-state=held] button", "table#submissions")
        .await;
    assert!(c.find(Locator::Css("tr[data-state=held]")).await.is_err());
    assert!(c.source().await.unwrap().contains("released by lead"));
    // Released, it goes out to the program once.
    let sent = hook.wait_accepted(1).await;
    assert_eq!(sent.len(), 1);
    b.stop().await;
    app.stop().await;
}

/// The attestation checklist: a practice member attests an item, the
/// facilitator returns another with a comment and accepts this one, and the
/// milestone is then met in `$milestones` — with the person on the
/// answer's Provenance.
#[tokio::test]
async fn an_attestation_is_answered_and_accepted_in_the_browser() {
    let (app, root) = enrolled_app(20, 1, 3).await;
    add_user(&app, "lead", UserRole::Practice, &["practice-0"]).await;
    add_user(&app, "fran", UserRole::Facilitator, &["practice-0"]).await;
    let checklist = app.url("app/practice/practice-0/attestation");
    let b = Browser::start().await;
    let c = &b.client;

    b.sign_in(&checklist, "lead", "table#checklist").await;
    for (item, score) in [("BB1.Y1.2", "4"), ("BB1.Y1.3", "3")] {
        b.click(&format!(
            "#score-{} option[value='{score}']",
            item.replace('.', "\\.")
        ))
        .await;
        b.submit(
            &format!("tr[data-item='{item}'] form[action$='attest'] button"),
            "table#checklist",
        )
        .await;
    }
    // Evidence through the page's file input.
    let minutes = root.path().join("QI-minutes.pdf");
    std::fs::write(&minutes, b"%PDF-1.4\n%%EOF\n").unwrap();
    b.fill("#file-BB1\\.Y1\\.2", minutes.to_str().unwrap())
        .await;
    b.submit(
        "tr[data-item='BB1.Y1.2'] form.upload button",
        "table#checklist",
    )
    .await;
    let row = c
        .find(Locator::Css("tr[data-item='BB1.Y1.2']"))
        .await
        .unwrap();
    let text = row.text().await.unwrap();
    assert!(text.contains("4 Completed"), "{text}");
    assert!(text.contains("QI-minutes.pdf"), "{text}");
    b.sign_out().await;

    b.sign_in(&checklist, "fran", "table#checklist").await;
    // Return one with a comment, accept the other.
    b.fill("#comment-BB1\\.Y1\\.3", "Send the QI team's minutes.")
        .await;
    b.submit(
        "tr[data-item='BB1.Y1.3'] button[value=return]",
        "table#checklist",
    )
    .await;
    // The facilitator sees the evidence before accepting.
    let evidence = c
        .find(Locator::Css("tr[data-item='BB1.Y1.2'] td.evidence a"))
        .await
        .unwrap();
    assert_eq!(evidence.text().await.unwrap(), "QI-minutes.pdf");
    b.submit(
        "tr[data-item='BB1.Y1.2'] button[value=accept]",
        "table#checklist",
    )
    .await;
    b.screenshot("attestation").await;
    let returned = c
        .find(Locator::Css("tr[data-item='BB1.Y1.3']"))
        .await
        .unwrap();
    assert!(
        returned
            .text()
            .await
            .unwrap()
            .contains("Returned: Send the QI team's minutes.")
    );
    let accepted = c
        .find(Locator::Css("tr[data-item='BB1.Y1.2']"))
        .await
        .unwrap();
    assert!(accepted.text().await.unwrap().contains("Accepted"));
    // The item's history: the answer, the evidence and the acceptance.
    b.click("tr[data-item='BB1.Y1.2'] details.history summary")
        .await;
    let history = c
        .find(Locator::Css("tr[data-item='BB1.Y1.2'] details.history ol"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].starts_with("Accepted — fran"), "{history}");
    assert!(
        lines[1].starts_with("Evidence attached: QI-minutes.pdf — lead"),
        "{history}"
    );
    assert!(lines[2].starts_with("Answered 4 Completed"), "{history}");
    b.stop().await;

    let (_, report) = app
        .get_json("Organization/practice-0/$milestones?projectYear=1")
        .await;
    let status = |id: &str| {
        crate::common::part(crate::milestones::milestone(&report, id), "status")["valueCode"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("BB1.Y1.2"), "met");
    assert_ne!(status("BB1.Y1.3"), "met");
    let provenance = app.search_resources("Provenance?_count=10").await;
    assert!(
        provenance
            .iter()
            .any(|p| p["agent"][0]["who"]["display"] == "lead"),
        "{provenance:?}"
    );
    app.stop().await;
}
