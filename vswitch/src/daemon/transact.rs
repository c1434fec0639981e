//! Transactions against the running daemon: the ops are applied to a copy
//! of the database's document and validated ([`db::transact`]), the
//! result is applied live ([`reconfigure::apply`]), and only then stored.
//! Any failure leaves the running configuration and the stored document
//! as they were.

use serde_json::{json, Value};

use super::{reconfigure, Shared};
use crate::db::{self, Database, Op};

fn no_database() -> String {
    "this vswitchd has no configuration database (it was started in-process with Daemon::start; run the vswitchd binary, which keeps one in --db)".into()
}

fn locked(shared: &Shared) -> Result<std::sync::MutexGuard<'_, Option<Database>>, String> {
    shared
        .database
        .lock()
        .map_err(|_| "the configuration database's lock is poisoned".to_string())
}

/// The `export` method: the stored document and where it is.
pub(crate) fn export(shared: &Shared) -> Result<Value, String> {
    let guard = locked(shared)?;
    let database = guard.as_ref().ok_or_else(no_database)?;
    Ok(json!({
        "path": database.path().display().to_string(),
        "document": db::canonical(database.document()),
    }))
}

/// The `transact` method: `{"results": [...]}`, one per op.
pub(crate) fn run(shared: &Shared, ops: &[Op]) -> Result<Value, String> {
    let mut guard = locked(shared)?;
    let database = guard.as_mut().ok_or_else(no_database)?;
    let outcome = db::transact(database.document(), ops)
        .map_err(|e| format!("transaction refused, nothing changed: {e}"))?;
    if outcome.document != *database.document() {
        let previous = shared
            .config
            .lock()
            .map_err(|_| "the daemon's configuration lock is poisoned".to_string())?
            .clone();
        reconfigure::apply(shared, &outcome.config)
            .map_err(|e| format!("transaction refused, nothing changed: {e}"))?;
        if let Err(e) = database.commit(outcome.document) {
            let undone = match reconfigure::apply(shared, &previous) {
                Ok(()) => "the change was undone".to_string(),
                Err(undo) => format!("undoing the change failed too: {undo}"),
            };
            return Err(format!(
                "cannot store the configuration in {}: {e}; {undone}",
                database.path().display()
            ));
        }
    }
    Ok(json!({ "results": outcome.results }))
}
