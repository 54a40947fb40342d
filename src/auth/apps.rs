//! SMART apps: clients that act for a signed-in person (standalone launch,
//! authorization code with PKCE). An app registers its exact redirect URIs
//! and the user-level scopes it may ask for; it holds no secret (a browser
//! app cannot keep one), so PKCE is what binds a code to the app that asked.
//!
//! Apps share the client registry's table and namespace with backend
//! clients (one `client_id` names one client at this authorization server);
//! a document is told apart by its shape. Tandem's own web app is built in:
//! it is not stored and its one redirect URI follows the configured base URL.

use serde::{Deserialize, Serialize};

use crate::caller::scopes::Scopes;
use crate::store::auth::AuthStore;

/// The client id of Tandem's own web app (`/app`).
pub const BUILT_IN: &str = "tandem-app";

/// Scopes that are not resource scopes but are understood here.
pub const LAUNCH_SCOPES: &[&str] = &["openid", "fhirUser", "offline_access", "online_access"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub client_id: String,
    pub name: String,
    /// Where codes may be sent, compared character for character.
    pub redirect_uris: Vec<String>,
    /// The scopes the app may be granted, space separated: `user/…` resource
    /// scopes and the launch scopes (`openid fhirUser offline_access`).
    pub scopes: String,
}

impl App {
    /// Tandem's web app at `base_url`.
    pub fn built_in(base_url: &str) -> App {
        App {
            client_id: BUILT_IN.into(),
            name: "Tandem".into(),
            redirect_uris: vec![format!("{base_url}/app/callback")],
            // Reading, and the practice's checklist answers
            // (QuestionnaireResponse) and their evidence (DocumentReference)
            // — what people do in the app.
            scopes: "openid fhirUser offline_access user/*.rs user/QuestionnaireResponse.c \
                     user/DocumentReference.c"
                .into(),
        }
    }

    /// Checks the registration; the message names what to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.client_id.is_empty() || self.client_id.len() > 200 {
            return Err("client_id must be 1-200 characters".into());
        }
        if self.client_id == BUILT_IN {
            return Err(format!("'{BUILT_IN}' is Tandem's own app"));
        }
        if self.redirect_uris.is_empty() {
            return Err("an app needs at least one --redirect-uri".into());
        }
        for u in &self.redirect_uris {
            redirect_uri_ok(u)?;
        }
        let mut resource = Vec::new();
        for s in self.scopes.split_whitespace() {
            if LAUNCH_SCOPES.contains(&s) {
                continue;
            }
            resource.push(s);
            if !s.starts_with("user/") {
                return Err(format!(
                    "'{s}': an app acts for a person, so its scopes are user/… (or {})",
                    LAUNCH_SCOPES.join(", ")
                ));
            }
        }
        let (ok, bad) = Scopes::parse_list(&resource.join(" "));
        if !bad.is_empty() {
            return Err(format!("invalid scopes: {}", bad.join(", ")));
        }
        if ok.is_empty() {
            return Err("at least one user/… scope must be allowed".into());
        }
        Ok(())
    }

    /// What the app gets of `requested` (space separated): the launch scopes
    /// it registered and its resource scopes narrowed to the registered ones.
    pub fn grant(&self, requested: &str) -> String {
        let allowed: Vec<&str> = self.scopes.split_whitespace().collect();
        let launch = requested
            .split_whitespace()
            .filter(|s| LAUNCH_SCOPES.contains(s) && allowed.contains(s));
        let resources = Scopes::parse_list(&allowed.join(" "))
            .0
            .grant(&Scopes::parse_list(requested).0)
            .to_string();
        launch
            .map(str::to_string)
            .chain(resources.split_whitespace().map(str::to_string))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A redirect URI must be absolute, https (http only on loopback), and
/// carry no fragment (RFC 6749 §3.1.2).
fn redirect_uri_ok(u: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(u).map_err(|_| format!("'{u}' is not an absolute URI"))?;
    if parsed.fragment().is_some() {
        return Err(format!("'{u}': a redirect URI has no #fragment"));
    }
    if !super::jwks::url_allowed(u) {
        return Err(format!(
            "'{u}': a redirect URI is https (http only on loopback)"
        ));
    }
    Ok(())
}

/// Whether a stored registry document is an app's.
pub fn is_app(doc: &str) -> bool {
    serde_json::from_str::<App>(doc).is_ok()
}

pub async fn save(store: &dyn AuthStore, app: &App) -> anyhow::Result<bool> {
    app.check().map_err(anyhow::Error::msg)?;
    if let Some(doc) = store.get_client(&app.client_id).await?
        && !is_app(&doc)
    {
        anyhow::bail!(
            "'{}' is a backend client; choose another client id",
            app.client_id
        );
    }
    Ok(store
        .put_client(&app.client_id, &serde_json::to_string(app)?)
        .await?)
}

/// The app registered as `client_id` (Tandem's own at `base_url` included).
pub async fn get(
    store: &dyn AuthStore,
    base_url: &str,
    client_id: &str,
) -> anyhow::Result<Option<App>> {
    if client_id == BUILT_IN {
        return Ok(Some(App::built_in(base_url)));
    }
    Ok(store
        .get_client(client_id)
        .await?
        .and_then(|doc| serde_json::from_str(&doc).ok()))
}

pub async fn list(store: &dyn AuthStore) -> anyhow::Result<Vec<App>> {
    Ok(store
        .list_clients()
        .await?
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(uris: &[&str], scopes: &str) -> App {
        App {
            client_id: "qi-board".into(),
            name: "QI board".into(),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            scopes: scopes.into(),
        }
    }

    #[test]
    fn registrations_are_checked() {
        assert!(
            app(&["https://qi.example/cb"], "openid user/*.rs")
                .check()
                .is_ok()
        );
        assert!(app(&["http://127.0.0.1:9/cb"], "user/*.rs").check().is_ok());
        let err = |a: App| a.check().unwrap_err();
        assert!(err(app(&[], "user/*.rs")).contains("--redirect-uri"));
        assert!(err(app(&["http://qi.example/cb"], "user/*.rs")).contains("https"));
        assert!(err(app(&["https://qi.example/cb#x"], "user/*.rs")).contains("fragment"));
        assert!(err(app(&["/cb"], "user/*.rs")).contains("absolute"));
        assert!(err(app(&["https://qi.example/cb"], "system/*.rs")).contains("user/"));
        assert!(err(app(&["https://qi.example/cb"], "openid")).contains("at least one"));
        let mut built_in = app(&["https://qi.example/cb"], "user/*.rs");
        built_in.client_id = BUILT_IN.into();
        assert!(err(built_in).contains("own app"));
    }

    #[test]
    fn grants_narrow_to_the_registration() {
        let a = app(
            &["https://qi.example/cb"],
            "openid fhirUser user/Measure.rs",
        );
        assert_eq!(
            a.grant("openid fhirUser offline_access user/*.rs user/Measure.r"),
            "openid fhirUser user/Measure.r"
        );
        assert_eq!(a.grant("user/Patient.rs"), "");
    }

    #[test]
    fn backend_clients_are_not_apps() {
        let backend = r#"{"client_id":"ehr","name":"ehr","role":"ehr","organization":"p",
            "jwks_url":"https://x/jwks","scopes":"system/*.rs"}"#;
        assert!(!is_app(backend));
        let doc = serde_json::to_string(&app(&["https://qi.example/cb"], "user/*.rs")).unwrap();
        assert!(is_app(&doc));
    }
}
