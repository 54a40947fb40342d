//! The attestation checklist page: each item's statement (the anchor of a
//! 4), the latest answer on the program's 0-4 scale in the current period,
//! and the facilitator's review; a practice member answers items, a
//! facilitator or program staff member accepts or returns them with a
//! comment, after reading the evidence members attach to each item; each
//! item's history in the period (answers, reviews, evidence) is one click
//! away.

use maud::{Markup, html};

use crate::measure::milestone::attestation::SCALE;
use crate::service::milestones::Checklist;
use crate::service::milestones::checklist::Item;

/// Who is looking: a member answers, a reviewer reviews.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    Member,
    Reviewer,
    Reader,
}

pub fn page(c: &Checklist, org: &str, csrf: &str, part: Part) -> Markup {
    html! {
        p { "Checklist period " (c.period.0) " to " (c.period.1.pred_opt().unwrap_or(c.period.1))
            ". Scale: " @for (i, (code, label)) in SCALE.iter().enumerate() {
                @if i > 0 { ", " } (code) " " (label)
            } "." }
        table #checklist {
            caption { "Milestone attestation checklist" }
            thead { tr {
                th scope="col" { "Item" } th scope="col" { "Answer" } th scope="col" { "Review" }
                th scope="col" { "Evidence" } th scope="col" { "Action" }
            } }
            tbody {
                @for item in &c.items {
                    tr data-item=(item.id) {
                        th scope="row" { (item.id) br; span.muted { (item.title) }
                            @if !item.history.is_empty() {
                                details.history {
                                    summary { "History (" (item.history.len()) ")" }
                                    ol {
                                        @for e in &item.history {
                                            li { (e.what) " " span.muted { "— " @if !e.who.is_empty() { (e.who) ", " } (e.at) } }
                                        }
                                    }
                                }
                            }
                        }
                        td {
                            @match &item.state {
                                Some(s) => { (s.score) " " (SCALE[usize::from(s.score)].1) br;
                                    span.muted { (s.authored) } },
                                None => span.unknown { "Not answered" },
                            }
                        }
                        td {
                            @match item.state.as_ref().and_then(|s| s.review.as_ref()) {
                                Some((true, _)) => span.met { "Accepted" },
                                Some((false, why)) => { span.not-met { "Returned" } ": " (why) },
                                None => span.muted { "Not reviewed" },
                            }
                        }
                        td.evidence {
                            (evidence(item, org))
                            @if part == Part::Member {
                                form.upload method="post" enctype="multipart/form-data"
                                    action={ "/app/practice/" (org) "/evidence" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="item" value=(item.id);
                                    label for={ "file-" (item.id) } { "Evidence file for " (item.id) }
                                    input id={ "file-" (item.id) } type="file" name="file" required
                                        accept=".pdf,.png,.jpg,.jpeg,.docx,.xlsx,.txt,.csv";
                                    button type="submit" { "Upload" }
                                }
                            }
                        }
                        td {
                            @match part {
                                Part::Member => form method="post" action={ "/app/practice/" (org) "/attest" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="item" value=(item.id);
                                    label for={ "score-" (item.id) } { "Answer for " (item.id) }
                                    select id={ "score-" (item.id) } name="score" {
                                        @for (code, label) in SCALE.iter() {
                                            option value=(code) selected[item.state.as_ref().is_some_and(|s| s.score.to_string() == *code)] {
                                                (code) " " (label)
                                            }
                                        }
                                    }
                                    button type="submit" { "Attest" }
                                },
                                Part::Reviewer if item.state.is_some() => form method="post" action={ "/app/practice/" (org) "/review" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="item" value=(item.id);
                                    label for={ "comment-" (item.id) } { "Comment on " (item.id) }
                                    input id={ "comment-" (item.id) } name="comment" type="text" maxlength="2000";
                                    button type="submit" name="decision" value="accept" { "Accept" }
                                    " "
                                    button type="submit" name="decision" value="return" { "Return" }
                                },
                                _ => {},
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The evidence attached to an item: each file a download link with who
/// attached it and when.
fn evidence(item: &Item, org: &str) -> Markup {
    html! {
        @if item.evidence.is_empty() {
            span.muted { "None attached" }
        } @else {
            ul.files {
                @for f in &item.evidence {
                    li {
                        a href={ "/app/practice/" (org) "/evidence/" (f.id) } download { (f.title) }
                        " " span.muted { "(" (f.size.div_ceil(1024)) " KiB, " (f.author) ", " (f.date) ")" }
                    }
                }
            }
        }
    }
}
