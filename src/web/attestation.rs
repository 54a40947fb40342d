//! The attestation checklist page: each item's statement (the anchor of a
//! 4), the latest answer on the program's 0-4 scale in the current period,
//! and the facilitator's review; a practice member answers items, a
//! facilitator or program staff member accepts or returns them with a
//! comment. Earlier answers and reviews stay in the record (the API's
//! history); the page shows the current state.

use maud::{Markup, html};

use crate::measure::milestone::attestation::SCALE;
use crate::service::milestones::Checklist;

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
                th scope="col" { "Action" }
            } }
            tbody {
                @for item in &c.items {
                    tr data-item=(item.id) {
                        th scope="row" { (item.id) br; span.muted { (item.title) } }
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
