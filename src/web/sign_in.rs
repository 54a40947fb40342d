//! The sign-in form of Tandem's authorization endpoint: a person's name and
//! password, the authorization request carried along in hidden fields, and
//! the form's CSRF token.

use maud::{Markup, html};

use super::layout::page;

/// The sign-in page for `app_name`; `error` after a refused attempt.
pub fn form(
    app_name: &str,
    request: &[(String, String)],
    csrf: &str,
    error: Option<&str>,
) -> Markup {
    page(
        "Sign in",
        None,
        html! {
            p { "Sign in to continue to " strong { (app_name) } "." }
            @if let Some(e) = error {
                p.error role="alert" id="sign-in-error" { (e) }
            }
            form.sign-in method="post" action="/auth/authorize" {
                @for (k, v) in request {
                    input type="hidden" name=(k) value=(v);
                }
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "User name" }
                input id="username" name="username" type="text" autocomplete="username"
                    required autofocus[error.is_none()] aria-describedby=[error.map(|_| "sign-in-error")];
                label for="password" { "Password" }
                input id="password" name="password" type="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}
