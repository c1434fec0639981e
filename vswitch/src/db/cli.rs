//! What `vsctl` writes and reads: `key=value` settings and values on its
//! command line, and the results of `get` and `list` printed back.

use serde_json::Value as Json;
use toml::{Table, Value};

use super::Op;

/// A value as typed: TOML (`10`, `true`, `[10, 20]`,
/// `{mac = "02:00:00:00:00:01", port = "c1"}`, `"quoted"`), or else the
/// text itself as a string (`veth1`, `10.0.0.2`, `02:00:00:00:00:01`).
pub fn parse_value(text: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// `key=value` arguments as settings (`options:interface=veth1`).
pub fn parse_settings(args: &[String]) -> Result<Table, String> {
    let mut settings = Table::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "{arg:?} is not a setting: write column=value, like vlan=10 or options:interface=veth1"
            ));
        };
        if key.is_empty() {
            return Err(format!("{arg:?} names no column before '='"));
        }
        settings.insert(key.to_string(), parse_value(value));
    }
    Ok(settings)
}

/// A value for people: a string as itself, anything else as TOML.
pub fn value_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => serde_json::from_value::<Value>(other.clone())
            .map(|t| t.to_string())
            .unwrap_or_else(|_| other.to_string()),
    }
}

/// What a transaction read, one line per `get` value and a block of
/// `column : value` lines per listed record; changes print nothing.
pub fn render_results(ops: &[Op], results: &[Json]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (op, result) in ops.iter().zip(results) {
        let items = result.as_array().map_or(&[][..], Vec::as_slice);
        match op {
            Op::Get { .. } => {
                for v in items {
                    let _ = writeln!(out, "{}", value_text(v));
                }
            }
            Op::List { .. } => {
                for (i, record) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    let columns = record.as_object().into_iter().flatten();
                    let width = columns.clone().map(|(k, _)| k.len()).max().unwrap_or(0);
                    for (key, v) in columns {
                        let _ = writeln!(out, "{key:<width$} : {}", value_text(v));
                    }
                }
            }
            _ => {}
        }
    }
    out
}
