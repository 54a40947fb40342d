//! The database each test gets. By default a fresh SQLite file in the
//! test's temporary directory. With `TEST_STORE=postgres`, a fresh
//! PostgreSQL database cloned from a template migrated once per schema
//! (`CREATE DATABASE … TEMPLATE`, milliseconds instead of a migration per
//! test), on the server `TEST_PG_URL` names (default: the local
//! PostgreSQL with trust auth). Each test's database is dropped when its
//! guard goes, and databases left by test processes that died are dropped
//! when the next one starts.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem::config::Database;
use tokio::sync::OnceCell;

/// The server tests use when they ask for PostgreSQL.
pub fn pg_url() -> String {
    std::env::var("TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether this run's suite uses PostgreSQL.
pub fn postgres_selected() -> bool {
    match std::env::var("TEST_STORE").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("TEST_STORE={other}: use sqlite or postgres"),
    }
}

/// A test's database; a PostgreSQL one is dropped with its guard.
pub struct TestDatabase {
    pub db: Database,
    name: Option<String>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        // Its own thread and runtime: this may run inside a test's runtime,
        // which must not be blocked on a future.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = connect(&pg_url()).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh, migrated database for one test: SQLite in `dir` (named
/// `file`), or PostgreSQL when the run selects it.
pub async fn fresh(dir: &Path, file: &str) -> TestDatabase {
    if postgres_selected() {
        fresh_postgres().await
    } else {
        TestDatabase {
            db: Database::Sqlite(dir.join(file)),
            name: None,
        }
    }
}

/// [`fresh`] for a test without a runtime of its own.
pub fn fresh_blocking(dir: &Path, file: &str) -> TestDatabase {
    let dir = dir.to_path_buf();
    let file = file.to_string();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fresh(&dir, &file))
    })
    .join()
    .unwrap()
}

/// A fresh, migrated PostgreSQL database (whatever the run selects).
pub async fn fresh_postgres() -> TestDatabase {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let template = TEMPLATE.get_or_init(template).await;
    let name = format!(
        "tandem_t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = connect(&pg_url()).await.expect("connect to PostgreSQL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .expect("clone the template database");
    TestDatabase {
        db: Database::Postgres(with_database(&pg_url(), &name)),
        name: Some(name),
    }
}

/// `url` pointing at database `name`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let base = head.rsplit_once('/').map_or(head, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Creates the template for this schema once (across processes, under an
/// advisory lock); returns its name.
async fn template() -> String {
    let name = format!(
        "tandem_template_{}",
        tandem::store::postgres::schema_fingerprint()
    );
    let admin = connect(&pg_url()).await.expect("connect to PostgreSQL");
    admin
        .execute("SELECT pg_advisory_lock(7399, 0)", &[])
        .await
        .unwrap();
    drop_orphans(&admin).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            admin.batch_execute(&sql).await.unwrap();
        }
        let store = tandem::store::postgres::PgStore::connect(
            &with_database(&pg_url(), &building),
            &Default::default(),
        )
        .await
        .expect("migrate the template");
        tandem::store::Store::close(&store).await;
        drop(store);
        // FORCE ends any connection the pool has not closed yet; the rename
        // makes the finished template appear at once.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}'"
            ),
            format!("ALTER DATABASE {building} RENAME TO {name}"),
        ] {
            admin.batch_execute(&sql).await.unwrap();
        }
    }
    admin
        .execute("SELECT pg_advisory_unlock(7399, 0)", &[])
        .await
        .unwrap();
    name
}

/// Drops the databases of test processes that are gone.
async fn drop_orphans(admin: &tokio_postgres::Client) {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'tandem\\_t\\_%'",
            &[],
        )
        .await
        .unwrap();
    for r in rows {
        let name: String = r.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
