//! The configuration database that vswitchd owns: the declarative TOML
//! document itself ([`crate::config`]), stored in canonical form (as
//! `toml` writes it: keys sorted, comments dropped). One validator,
//! [`Config::parse`], checks the file at start, every transaction and
//! every restore, and exporting is printing the document.
//!
//! A transaction ([`transact`]) applies its [`Op`]s to a copy of the
//! document and validates the copy; the daemon then applies it live and
//! only then stores it ([`Database::commit`]), written atomically
//! ([`write_atomically`]): a crash at any moment leaves the old document
//! or the new one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};

pub mod cli;
mod ops;
pub use ops::{Op, TableName};

#[cfg(test)]
mod port_security_tests;
#[cfg(test)]
mod tests;

/// Where `vswitchd` keeps its database unless `--db` names another file.
pub const DEFAULT_DB: &str = "/var/lib/vswitch/conf.toml";

/// The stored document and where it lives.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    document: toml::Table,
}

/// The document as the daemon writes it.
pub fn canonical(document: &toml::Table) -> String {
    // A table of TOML values always serializes; the fallback is unreachable.
    toml::to_string(document).unwrap_or_default()
}

/// Validates `document`; `name` names it in errors.
pub fn validate(document: &toml::Table, name: &str) -> Result<Config, ConfigError> {
    Config::parse(&canonical(document), name)
}

/// Reads and validates a TOML file: its configuration and its document.
fn read_document(path: &Path) -> Result<(toml::Table, Config), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
    let document = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((document, config))
}

impl Database {
    /// The database at `path` as stored, or an empty one (no bridges,
    /// `[switch]` defaults) when no file is there yet.
    pub fn open(path: &Path) -> Result<(Database, Config), String> {
        let (document, config) = match path.try_exists() {
            Ok(true) => read_document(path).map_err(|e| {
                format!("the configuration database is invalid: {e} (fix it, or replace it with `vswitchd --config FILE`)")
            })?,
            Ok(false) => (toml::Table::new(), Config::default()),
            Err(e) => return Err(format!("cannot look at {}: {e}", path.display())),
        };
        let database = Database {
            path: path.to_path_buf(),
            document,
        };
        Ok((database, config))
    }

    /// A database at `path` holding the configuration file `file`
    /// (validated); nothing is written until [`Database::store`].
    pub fn from_file(path: &Path, file: &Path) -> Result<(Database, Config), String> {
        let (document, config) = read_document(file)?;
        let database = Database {
            path: path.to_path_buf(),
            document,
        };
        Ok((database, config))
    }

    /// Where it is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The document.
    pub fn document(&self) -> &toml::Table {
        &self.document
    }

    /// Writes the document to its file, atomically.
    pub fn store(&self) -> std::io::Result<()> {
        write_atomically(&self.path, canonical(&self.document).as_bytes())
    }

    /// Stores `document` and makes it the database's; on failure the
    /// database (memory and file) keeps the old one.
    pub fn commit(&mut self, document: toml::Table) -> std::io::Result<()> {
        write_atomically(&self.path, canonical(&document).as_bytes())?;
        self.document = document;
        Ok(())
    }
}

/// What a transaction produced: the new document, its configuration,
/// and one result per op (`null` for a change, the values read by `get`
/// and `list`).
#[derive(Debug)]
pub struct Outcome {
    /// The document after every op.
    pub document: toml::Table,
    /// Its validated configuration.
    pub config: Config,
    /// One per op.
    pub results: Vec<serde_json::Value>,
}

/// Applies `ops` to a copy of `document` and validates the result; the
/// error names the op (its position and what it is) and the field.
pub fn transact(document: &toml::Table, ops: &[Op]) -> Result<Outcome, String> {
    let mut copy = document.clone();
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let result = op
            .apply(&mut copy)
            .map_err(|e| format!("op {} ({op}): {e}", i + 1))?;
        results.push(result);
    }
    match validate(&copy, "transaction") {
        Ok(config) => Ok(Outcome {
            document: copy,
            config,
            results,
        }),
        Err(final_error) => Err(first_invalid(document, ops).unwrap_or_else(|| {
            format!(
                "the transaction leaves an invalid configuration: {}",
                field_message(&final_error)
            )
        })),
    }
}

/// The first op after which the document no longer validates, with why.
fn first_invalid(document: &toml::Table, ops: &[Op]) -> Option<String> {
    let mut copy = document.clone();
    for (i, op) in ops.iter().enumerate() {
        op.apply(&mut copy).ok()?;
        if let Err(e) = validate(&copy, "transaction") {
            return Some(format!("op {} ({op}): {}", i + 1, field_message(&e)));
        }
    }
    None
}

/// A validation error without the line and column (of the canonical
/// text, which a client never sees).
fn field_message(e: &ConfigError) -> String {
    if e.field.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.field, e.message)
    }
}

/// Replaces `path` by `bytes` so that a crash at any moment leaves the
/// old file or the new one: the bytes go to a temporary file in the same
/// directory, which is flushed to disk, renamed over `path`, and the
/// directory flushed so the rename itself is durable.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Only root may write the configuration, whatever the umask: a
    // directory others could write to would let them swap the document.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    File::open(&dir)?.sync_all()
}
