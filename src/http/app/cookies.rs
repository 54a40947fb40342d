//! The web app's cookies: the signed-in session (access and refresh
//! tokens), the PKCE state of a sign-in under way, and the CSRF token forms
//! carry. Every cookie is HttpOnly and SameSite=Strict, and Secure unless
//! Tandem runs on a loopback address (a browser drops Secure cookies over
//! plain http, and localhost is the one place plain http is acceptable).

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::auth::grants;

pub const ACCESS: &str = "tandem_at";
pub const REFRESH: &str = "tandem_rt";
pub const PKCE: &str = "tandem_pkce";
pub const CSRF: &str = "tandem_csrf";

/// Whether cookies must be Secure for a server at `base_url`.
pub fn secure(base_url: &str) -> bool {
    let host = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
}

/// A cookie with Tandem's attributes, for `path`, kept `max_age_s` seconds.
pub fn make(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_s: i64,
    secure: bool,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age_s))
        .build()
}

/// Removes a cookie set by [`make`] (same name and path).
pub fn clear(jar: CookieJar, name: &'static str, path: &'static str) -> CookieJar {
    jar.remove(Cookie::build(name).path(path).build())
}

/// The CSRF token of this browser, set now if it has none. Forms carry it
/// in a hidden field; a POST is accepted only when field and cookie agree
/// (double submit: another site can make the browser send the cookie, but
/// cannot read it to put it in the form; SameSite=Strict stops the cookie
/// leaving on cross-site requests in the first place).
pub fn csrf(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF)
        && c.value().len() == 43
    {
        let v = c.value().to_string();
        return (jar, v);
    }
    let token = grants::secret();
    let jar = jar.add(make(CSRF, token.clone(), "/", 8 * 3600, secure));
    (jar, token)
}

/// Whether a submitted form's CSRF field matches the browser's cookie
/// (compared in constant time).
pub fn csrf_ok(jar: &CookieJar, submitted: Option<&str>) -> bool {
    match (jar.get(CSRF), submitted) {
        (Some(c), Some(s)) if c.value().len() == 43 => same(c.value(), s),
        _ => false,
    }
}

/// Compares two secrets in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
