use super::*;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// RFC 7636 Appendix B's example.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn session() -> Session {
    Session {
        user: "fay".into(),
        client_id: "app".into(),
        scope: "openid fhirUser user/*.rs".into(),
        redirect_uri: Some("https://app.example/cb".into()),
        challenge: Some(CHALLENGE.into()),
    }
}

fn open() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("g.db")).unwrap();
    (store, dir)
}

#[test]
fn pkce_is_s256_as_rfc_7636_computes_it() {
    assert!(pkce_verifies(CHALLENGE, VERIFIER));
    assert!(!pkce_verifies(CHALLENGE, &VERIFIER.replace('d', "e")));
    // `plain` (the verifier as its own challenge) is not accepted.
    assert!(!pkce_verifies(VERIFIER, VERIFIER));
    assert!(
        !pkce_verifies(&digest("short"), "short"),
        "43 characters at least"
    );
    assert!(challenge_ok(CHALLENGE, Some("S256")));
    assert!(!challenge_ok(CHALLENGE, Some("plain")));
    assert!(!challenge_ok(CHALLENGE, None));
    assert!(!challenge_ok("too-short", Some("S256")));
}

#[test]
fn redirect_uris_match_exactly() {
    let registered = vec!["https://app.example/cb".to_string()];
    assert!(redirect_allowed(&registered, "https://app.example/cb"));
    for other in [
        "https://app.example/cb/",
        "https://app.example/cb?next=https://evil.example",
        "https://app.example/CB",
        "http://app.example/cb",
        "https://app.example/cb.evil.example",
    ] {
        assert!(!redirect_allowed(&registered, other), "{other}");
    }
}

#[test]
fn secrets_are_random_and_only_their_digest_is_kept() {
    let (a, b) = (secret(), secret());
    assert_eq!(a.len(), 43);
    assert_ne!(a, b);
    assert_ne!(digest(&a), a);
}

#[tokio::test]
async fn a_code_is_redeemed_once_by_its_app_redirect_and_verifier() {
    let (store, _dir) = open();
    let t = 1_000_000;
    let redeem = |code: String,
                  client: &'static str,
                  redirect: &'static str,
                  verifier: &'static str,
                  at: i64| {
        let store = &store;
        async move {
            redeem_code(store, &code, client, redirect, verifier, at)
                .await
                .unwrap()
        }
    };
    let cb = "https://app.example/cb";
    let c = issue_code(&store, &session(), t).await.unwrap();
    assert_eq!(
        redeem(c.clone(), "app", cb, "x".repeat(43).leak(), t).await,
        Err(Refusal::Pkce)
    );
    // A failed exchange spends the code too.
    assert_eq!(
        redeem(c, "app", cb, VERIFIER, t).await,
        Err(Refusal::Invalid)
    );
    let c = issue_code(&store, &session(), t).await.unwrap();
    assert_eq!(
        redeem(c, "app", "https://app.example/other", VERIFIER, t).await,
        Err(Refusal::Redirect)
    );
    let c = issue_code(&store, &session(), t).await.unwrap();
    assert_eq!(
        redeem(c, "other-app", cb, VERIFIER, t).await,
        Err(Refusal::Client)
    );
    let c = issue_code(&store, &session(), t).await.unwrap();
    assert_eq!(
        redeem(c.clone(), "app", cb, VERIFIER, t + 1).await,
        Ok(session())
    );
    assert_eq!(
        redeem(c, "app", cb, VERIFIER, t + 2).await,
        Err(Refusal::Invalid),
        "once"
    );
    let c = issue_code(&store, &session(), t).await.unwrap();
    assert_eq!(
        redeem(c, "app", cb, VERIFIER, t + CODE_MS).await,
        Err(Refusal::Invalid),
        "expired"
    );
    assert_eq!(
        redeem("made-up".into(), "app", cb, VERIFIER, t).await,
        Err(Refusal::Invalid)
    );
    store.close().await;
}

/// What presenting `token` as `client` at `at` is refused for.
async fn refused(store: &SqliteStore, token: &str, client: &str, at: i64) -> Refusal {
    rotate(store, token, client, at).await.unwrap().unwrap_err()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let (store, _dir) = open();
    let t = 1_000_000;
    let first = start_refresh(&store, &session(), t).await.unwrap();
    let (second, s) = rotate(&store, &first, "app", t + 1).await.unwrap().unwrap();
    assert_eq!((s.user.as_str(), s.redirect_uri), ("fay", None));
    let (third, _) = rotate(&store, &second, "app", t + 2)
        .await
        .unwrap()
        .unwrap();
    // The first token again: stolen. Refused, and the family with it.
    assert_eq!(refused(&store, &first, "app", t + 3).await, Refusal::Reused);
    assert_eq!(
        refused(&store, &third, "app", t + 4).await,
        Refusal::Invalid
    );

    // Another app presenting the token: refused and revoked (gone, as if
    // never issued).
    let other = start_refresh(&store, &session(), t).await.unwrap();
    assert_eq!(
        refused(&store, &other, "evil", t + 1).await,
        Refusal::Client
    );
    assert_eq!(
        refused(&store, &other, "app", t + 2).await,
        Refusal::Invalid
    );

    // Sign-out revokes; an unused token expires.
    let signed_in = start_refresh(&store, &session(), t).await.unwrap();
    revoke(&store, &signed_in).await.unwrap();
    assert_eq!(
        refused(&store, &signed_in, "app", t + 1).await,
        Refusal::Invalid
    );
    let idle = start_refresh(&store, &session(), t).await.unwrap();
    assert_eq!(
        refused(&store, &idle, "app", t + REFRESH_MS).await,
        Refusal::Invalid
    );
    let fresh = start_refresh(&store, &session(), t).await.unwrap();
    let rotated = rotate(&store, &fresh, "app", t + REFRESH_MS - 1)
        .await
        .unwrap();
    assert!(rotated.is_ok());
    store.close().await;
}
