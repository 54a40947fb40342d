//! The page shell every page shares: document head, a skip link, the
//! navigation for a signed-in person and the main landmark.

use maud::{DOCTYPE, Markup, html};

/// Who is signed in, for the header and the sign-out form.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub role: &'a str,
    /// The CSRF token every form of the page carries.
    pub csrf: &'a str,
}

/// A whole page. `viewer` is `None` on the sign-in page.
pub fn page(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tandem" }
                link rel="stylesheet" href="/app/assets/app.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Tandem" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            a href="/app" { "Portfolio" }
                        }
                        span.who { (v.name) " (" (v.role) ")" }
                        form method="post" action="/app/sign-out" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page that only explains (errors, refusals).
pub fn message(title: &str, viewer: Option<&Viewer>, text: &str) -> Markup {
    page(title, viewer, html! { p.message role="alert" { (text) } })
}
