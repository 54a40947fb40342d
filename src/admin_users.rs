//! `tandem user add|list|remove`: people's accounts for the web app (see
//! `auth::users`). A password is read from standard input or generated and
//! printed once; it is never an argument (arguments show in `ps` and shell
//! history). And `tandem app add|list|remove`: the SMART apps people sign
//! in to (`auth::apps`).

use std::io::Read;

use crate::auth::users::{self, User, UserRole};
use crate::config::Config;

/// `tandem user add`.
pub async fn user_add(
    cfg: &Config,
    name: &str,
    role: UserRole,
    practices: Vec<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (users::generate_password(), true)
    };
    let now = chrono::Utc::now().timestamp_millis();
    let user = User::new(name, role, practices, &password, now).map_err(anyhow::Error::msg)?;
    let store = crate::admin::open_store(cfg).await?;
    let new = store.put_user(name, &serde_json::to_string(&user)?).await?;
    store.close().await;
    println!(
        "{} user '{name}' ({role:?})",
        if new { "added" } else { "updated" }
    );
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

/// `tandem user list`: names, roles and practices, never the hashes.
pub async fn user_list(cfg: &Config) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg).await?;
    let docs = store.list_users().await?;
    store.close().await;
    for doc in docs {
        let u: User = serde_json::from_str(&doc)?;
        println!("{}\t{:?}\t{}", u.name, u.role, u.practices.join(","));
    }
    Ok(())
}

/// `tandem user remove`.
pub async fn user_remove(cfg: &Config, name: &str) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg).await?;
    let removed = store.remove_user(name).await?;
    store.close().await;
    if !removed {
        anyhow::bail!("no user '{name}'");
    }
    println!("removed user '{name}'");
    Ok(())
}

/// `tandem app add`.
pub async fn app_add(
    cfg: &Config,
    client_id: String,
    redirect_uris: Vec<String>,
    name: Option<String>,
    scopes: String,
) -> anyhow::Result<()> {
    let app = crate::auth::apps::App {
        name: name.unwrap_or_else(|| client_id.clone()),
        client_id,
        redirect_uris,
        scopes,
    };
    let store = crate::admin::open_store(cfg).await?;
    let created = crate::auth::apps::save(store.as_ref(), &app).await;
    store.close().await;
    println!(
        "{} app '{}' (redirect URIs: {}; scopes: {})",
        if created? { "registered" } else { "updated" },
        app.client_id,
        app.redirect_uris.join(" "),
        app.scopes
    );
    println!(
        "authorization endpoint: {}/auth/authorize (PKCE S256 required; public client, no secret)",
        cfg.base_url()
    );
    Ok(())
}

/// `tandem app list`.
pub async fn app_list(cfg: &Config) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg).await?;
    let apps = crate::auth::apps::list(store.as_ref()).await;
    store.close().await;
    for a in apps? {
        println!(
            "{}\t{}\t{}\t{}",
            a.client_id,
            a.name,
            a.redirect_uris.join(" "),
            a.scopes
        );
    }
    Ok(())
}

/// `tandem app remove`.
pub async fn app_remove(cfg: &Config, client_id: &str) -> anyhow::Result<()> {
    let store = crate::admin::open_store(cfg).await?;
    let is_app = match store.get_client(client_id).await {
        Ok(Some(doc)) => crate::auth::apps::is_app(&doc),
        Ok(None) => false,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let removed = is_app && store.remove_client(client_id).await?;
    store.close().await;
    if !removed {
        anyhow::bail!(
            "no app '{client_id}' (backend clients are removed with tandem client remove)"
        );
    }
    println!("removed app '{client_id}'; its sessions end when their access tokens expire");
    Ok(())
}
