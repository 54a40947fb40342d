//! SQL text shared by the stores: one search plan (filters, sort keys,
//! keyset cursors) written once and rendered per dialect.
//!
//! Why: a second, hand-written PostgreSQL search would drift from SQLite's
//! in the details clients see (prefix ranges, `:missing`, chains, paging
//! order). The builders here emit both dialects from the same
//! SearchParameter-driven plan; the stores only bind and execute.

pub mod filter;
pub mod page;

/// Which SQL the builders write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value, neutral between the drivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
    /// SQLite's "after every text" sort sentinel (a one-byte BLOB).
    Max,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Real(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

/// Accumulates SQL text and its positional arguments.
pub struct Builder {
    pub dialect: Dialect,
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Builder {
    pub fn new(dialect: Dialect) -> Builder {
        Builder {
            dialect,
            sql: String::new(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    /// Appends a placeholder for `v` (`?` or `$n`).
    pub fn arg(&mut self, v: impl Into<Arg>) {
        self.args.push(v.into());
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => self.sql.push_str(&format!("${}", self.args.len())),
        }
    }

    /// `alias.deleted` is false.
    pub fn live(&mut self, alias: &str) {
        match self.dialect {
            Dialect::Sqlite => self.push(&format!("{alias}.deleted = 0")),
            Dialect::Postgres => self.push(&format!("NOT {alias}.deleted")),
        }
    }
}
