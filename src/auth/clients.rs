//! The client registry: who may ask for tokens, in which role, for which
//! Organization, with which keys and scopes. Stored as JSON documents through
//! [`AuthStore`]; managed with `tandem client add|list|remove`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::caller::grant::Role;
use crate::caller::scopes::Scopes;
use crate::fhir::id::is_valid_id;
use crate::store::auth::AuthStore;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub role: Role,
    /// The Organization id the client acts for (its practice for `ehr`).
    pub organization: String,
    /// The public JWK Set registered inline (discouraged by SMART, supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Where the client publishes its JWK Set (preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Pre-authorised scopes, space separated.
    pub scopes: String,
}

impl Client {
    /// Checks the registration; the message names what to fix.
    pub fn check(&self) -> Result<(), String> {
        if self.client_id.is_empty() || self.client_id.len() > 200 {
            return Err("client_id must be 1-200 characters".into());
        }
        if !is_valid_id(&self.organization) {
            return Err("organization must be a FHIR id (A-Z a-z 0-9 - ., up to 64)".into());
        }
        match (&self.jwks, &self.jwks_url) {
            (Some(_), Some(_)) | (None, None) => {
                return Err("register exactly one of a JWKS (inline) or a JWKS URL".into());
            }
            (Some(j), None) if !j["keys"].is_array() => {
                return Err("the JWKS must be an object with a \"keys\" array".into());
            }
            (None, Some(u)) if !super::jwks::url_allowed(u) => {
                return Err("the JWKS URL must be https (http only on loopback)".into());
            }
            _ => {}
        }
        let (scopes, bad) = Scopes::parse_list(&self.scopes);
        if !bad.is_empty() {
            return Err(format!("invalid scopes: {}", bad.join(", ")));
        }
        if scopes.is_empty() {
            return Err("at least one scope must be allowed".into());
        }
        Ok(())
    }

    pub fn allowed_scopes(&self) -> Scopes {
        Scopes::parse_list(&self.scopes).0
    }
}

pub async fn save(store: &dyn AuthStore, client: &Client) -> anyhow::Result<bool> {
    client.check().map_err(anyhow::Error::msg)?;
    if let Some(doc) = store.get_client(&client.client_id).await?
        && super::apps::is_app(&doc)
    {
        anyhow::bail!("'{}' is an app; choose another client id", client.client_id);
    }
    Ok(store
        .put_client(&client.client_id, &serde_json::to_string(client)?)
        .await?)
}

/// The backend client registered as `client_id` (an app of that id is not one).
pub async fn get(store: &dyn AuthStore, client_id: &str) -> anyhow::Result<Option<Client>> {
    match store.get_client(client_id).await? {
        Some(doc) if super::apps::is_app(&doc) => Ok(None),
        Some(doc) => Ok(Some(serde_json::from_str(&doc)?)),
        None => Ok(None),
    }
}

/// Every backend client (apps are listed by `apps::list`).
pub async fn list(store: &dyn AuthStore) -> anyhow::Result<Vec<Client>> {
    store
        .list_clients()
        .await?
        .iter()
        .filter(|d| !super::apps::is_app(d))
        .map(|d| Ok(serde_json::from_str(d)?))
        .collect()
}
