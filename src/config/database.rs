//! Where Tandem keeps its data: a SQLite file (the embedded default) or a
//! PostgreSQL database named by URL.
//!
//! Written as one string in every layer (`database = "./tandem.db"`,
//! `database = "postgres://…"`, `TANDEM_DATABASE`, `--database`) or as a
//! table (`[database] url = "…"`), so an existing configuration keeps
//! working and the choice of engine is made in one place. A URL's password
//! never reaches a log line or an error message: [`Database::redacted`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Database {
    /// The SQLite file, when the data lives in one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }

    /// The full string, a URL's password included: for handing to a child
    /// process or a driver, never for a log line.
    pub fn locator(&self) -> String {
        match self {
            Database::Sqlite(p) => p.to_string_lossy().into_owned(),
            Database::Postgres(u) => u.clone(),
        }
    }

    /// For logs and messages: a URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// `scheme://user:secret@host/db?password=secret` with both secrets hidden.
fn redact(url: &str) -> String {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let head = match (head.find("://"), head.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let auth = &head[s + 3..at];
            match auth.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &head[..s + 3], &head[at..]),
                None => head.to_string(),
            }
        }
        _ => head.to_string(),
    };
    if query.is_empty() {
        return head;
    }
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

impl FromStr for Database {
    type Err = String;

    fn from_str(s: &str) -> Result<Database, String> {
        if s.is_empty() {
            return Err("the database is empty: give a SQLite file or a postgres:// URL".into());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_string()));
        }
        // `sqlite:PATH` (or `sqlite://PATH`) names a file explicitly.
        if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("sqlite: names no file".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "the database URL scheme '{scheme}' is not supported: use a SQLite file path or postgres://"
            ));
        }
        Ok(Database::Sqlite(PathBuf::from(s)))
    }
}

impl From<PathBuf> for Database {
    fn from(p: PathBuf) -> Database {
        Database::Sqlite(p)
    }
}

impl From<&Path> for Database {
    fn from(p: &Path) -> Database {
        Database::Sqlite(p.to_path_buf())
    }
}

impl fmt::Display for Database {
    /// The redacted form: safe to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for Database {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Database::Sqlite(p) => s.serialize_str(&p.to_string_lossy()),
            Database::Postgres(u) => s.serialize_str(u),
        }
    }
}

impl<'de> Deserialize<'de> for Database {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Database, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Table(Table),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            url: String,
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Table(t) => t.url,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_names_a_file_or_a_postgres_url() {
        assert_eq!(
            "./t.db".parse::<Database>().unwrap(),
            Database::Sqlite("./t.db".into())
        );
        assert!(matches!(
            "postgresql://h/db".parse::<Database>().unwrap(),
            Database::Postgres(_)
        ));
        assert_eq!(
            "sqlite:/var/t.db".parse::<Database>().unwrap(),
            Database::Sqlite("/var/t.db".into())
        );
        assert_eq!(
            "sqlite://t.db".parse::<Database>().unwrap(),
            Database::Sqlite("t.db".into())
        );
        assert!("sqlite:".parse::<Database>().is_err());
        let e = "mysql://h/db".parse::<Database>().unwrap_err();
        assert!(e.contains("'mysql'"), "{e}");
        assert!("".parse::<Database>().is_err());
    }

    #[test]
    fn passwords_are_never_shown() {
        let d: Database = "postgres://tandem:s3cret@db:5432/t?password=other&sslmode=require"
            .parse()
            .unwrap();
        let shown = d.to_string();
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(
            shown,
            "postgres://tandem:***@db:5432/t?password=***&sslmode=require"
        );
        let plain: Database = "postgres://tandem@db/t".parse().unwrap();
        assert_eq!(plain.redacted(), "postgres://tandem@db/t");
    }
}
