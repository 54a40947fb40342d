//! Operator commands: the client registry (`tandem client`), the scripting
//! token exchange (`tandem token`), key rotation (`tandem keys rotate`) and the
//! secure quick start (`tandem demo`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::Role;
use crate::auth::clients::{self, Client};
use crate::auth::keys;
use crate::config::Config;
use crate::store::Store;

/// The scopes a new client gets when none are given.
pub fn default_scopes(role: Role) -> &'static str {
    match role {
        Role::Ehr | Role::Admin | Role::Operator => "system/*.cruds",
        Role::Hie | Role::BhPartner => "system/*.crus",
        Role::Reporting => "system/Measure.rs system/MeasureReport.rs system/Library.rs",
        Role::Payer => "system/Group.crus",
    }
}

pub(crate) async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    crate::store::open(&cfg.database, &cfg.store_options())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", cfg.database))
}

/// Where the client's public keys come from.
pub enum KeySource {
    Inline(PathBuf),
    Url(String),
    /// Generate a key pair; write the private key to this file.
    Generate(PathBuf),
}

/// Writes a private key readable by its owner only; never overwrites.
fn write_private_key(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {} ({e}); it must not exist yet",
            path.display()
        )
    })?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

pub struct NewClient {
    pub client_id: String,
    pub name: Option<String>,
    pub role: Role,
    pub organization: String,
    pub scopes: Option<String>,
    pub keys: KeySource,
}

pub async fn client_add(cfg: &Config, c: NewClient) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let (jwks, jwks_url, key_file) = match c.keys {
        KeySource::Inline(f) => {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f)?)
                .map_err(|e| anyhow::anyhow!("{} is not a JWK Set: {e}", f.display()))?;
            (Some(v), None, None)
        }
        KeySource::Url(u) => (None, Some(u), None),
        KeySource::Generate(f) => {
            let pkcs8 = keys::generate_pkcs8()?;
            let (_, jwk) = keys::public_jwk(&pkcs8)?;
            write_private_key(&f, &keys::to_pem(&pkcs8))?;
            (Some(json!({ "keys": [jwk] })), None, Some(f))
        }
    };
    let client = Client {
        name: c.name.unwrap_or_else(|| c.client_id.clone()),
        client_id: c.client_id,
        role: c.role,
        organization: c.organization,
        jwks,
        jwks_url,
        scopes: c
            .scopes
            .unwrap_or_else(|| default_scopes(c.role).to_string()),
    };
    let created = clients::save(store.as_ref(), &client).await?;
    store.close().await;
    println!(
        "{} client '{}' ({}, Organization/{}, scopes: {})",
        if created { "registered" } else { "updated" },
        client.client_id,
        client.role.as_str(),
        client.organization,
        client.scopes
    );
    if let Some(f) = key_file {
        println!("private key written to {} (keep it secret)", f.display());
        println!(
            "get a token: tandem token {} --key {} --server {}",
            client.client_id,
            f.display(),
            cfg.base_url()
        );
    }
    Ok(())
}

pub async fn client_list(cfg: &Config) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let all = clients::list(store.as_ref()).await?;
    store.close().await;
    for c in all {
        let keys = c.jwks_url.clone().unwrap_or_else(|| "inline JWKS".into());
        println!(
            "{}\t{}\tOrganization/{}\t{}\t{}",
            c.client_id,
            c.role.as_str(),
            c.organization,
            c.scopes,
            keys
        );
    }
    Ok(())
}

pub async fn client_remove(cfg: &Config, client_id: &str) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let removed = store.remove_client(client_id).await?;
    store.close().await;
    if !removed {
        anyhow::bail!("no client '{client_id}'");
    }
    println!("removed client '{client_id}'; its tokens stop working within 5 minutes");
    Ok(())
}

pub async fn keys_rotate(cfg: &Config) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let kid = keys::rotate(store.as_ref(), chrono::Utc::now().timestamp_millis()).await?;
    store.close().await;
    println!("new signing key {kid}; the previous key keeps verifying for 10 minutes");
    Ok(())
}

/// The Backend Services exchange against a running server; returns the token.
pub async fn fetch_token(
    server: &str,
    client_id: &str,
    key_file: &Path,
    scope: Option<&str>,
) -> anyhow::Result<String> {
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", key_file.display()))?;
    let pkcs8 = keys::from_pem(&pem)?;
    let token_url = format!("{}/auth/token", server.trim_end_matches('/'));
    let t = crate::auth::backend::request_token(
        &reqwest::Client::new(),
        &token_url,
        client_id,
        &pkcs8,
        scope,
    )
    .await?;
    Ok(t.access_token)
}

const DEMO_CLIENT: &str = "demo";
const DEMO_KEY: &str = "tandem-demo-key.pem";

/// `tandem demo`: a secure server with a ready-to-use local client.
pub async fn demo(mut cfg: Config) -> anyhow::Result<()> {
    let credentials = crate::demo::prepare(&mut cfg).await?;
    let key_file = PathBuf::from(DEMO_KEY);
    if !key_file.exists() {
        let c = NewClient {
            client_id: DEMO_CLIENT.into(),
            name: Some("Local demo EHR".into()),
            role: Role::Ehr,
            organization: cfg.default_tenant.clone(),
            scopes: None,
            keys: KeySource::Generate(key_file.clone()),
        };
        client_add(&cfg, c).await?;
    }
    let listener = crate::app::bind(cfg.listen).await?;
    crate::app::announce(&listener)?;
    let base = match &cfg.base_url {
        Some(_) => cfg.base_url(),
        None => format!("http://{}", listener.local_addr()?),
    };
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        match fetch_token(&base, DEMO_CLIENT, &key_file, None).await {
            Ok(t) => {
                println!("\nTandem is running at {base} (auth on).");
                println!("Web app: {base}/app — sign in as (name, password):\n{credentials}");
                println!("Access token for client '{DEMO_CLIENT}' (valid 5 minutes):\n{t}\n");
                println!("Try:  curl -H \"Authorization: Bearer {t}\" {base}/Patient");
                println!(
                    "New token: TOKEN=$(tandem token {DEMO_CLIENT} --key {DEMO_KEY} --server {base})"
                );
            }
            Err(e) => eprintln!("tandem demo: could not get a token: {e}"),
        }
    });
    crate::app::serve(cfg, listener, crate::app::shutdown_signal()).await
}
