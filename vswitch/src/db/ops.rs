//! The operations of a transaction, each a change to (or a read of) the
//! configuration document. Tables are the document's: `switch` (one
//! record, `.`), `bridge`, `port` (over all bridges), `uplink`, `network`
//! and `container`, records named by their `name`; a bridge's static MACs are
//! its `static_mac` list. A column is a key of the record, and `a:b`
//! names key `b` of the record's table `a` (`options:interface`).
//!
//! The ops only edit the document; what is valid is decided by
//! [`crate::config::Config::parse`] on the result.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use toml::{Table, Value};

/// A table of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableName {
    /// `[switch]`: the daemon's settings; its one record is `.`.
    Switch,
    /// `[[bridge]]`.
    Bridge,
    /// `[[bridge.port]]` of every bridge.
    Port,
    /// `[[uplink]]`.
    Uplink,
    /// `[[network]]`: a container network with its gateway.
    Network,
    /// `[[container]]` (the demo's; the daemon ignores them).
    Container,
}

impl TableName {
    fn name(self) -> &'static str {
        match self {
            TableName::Switch => "switch",
            TableName::Bridge => "bridge",
            TableName::Port => "port",
            TableName::Uplink => "uplink",
            TableName::Network => "network",
            TableName::Container => "container",
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TableName {
    type Err = String;

    fn from_str(s: &str) -> Result<TableName, String> {
        Ok(match s {
            "switch" => TableName::Switch,
            "bridge" => TableName::Bridge,
            "port" => TableName::Port,
            "uplink" => TableName::Uplink,
            "network" => TableName::Network,
            "container" => TableName::Container,
            other => {
                return Err(format!(
                    "no table {other:?}: use switch, bridge, port, uplink, network or container"
                ))
            }
        })
    }
}

/// One operation of a transaction. `settings` map columns to values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Op {
    /// Adds a bridge with no ports.
    AddBr {
        /// Its name.
        bridge: String,
        /// Its other columns (`mac_aging_secs`, `mac_limit`).
        #[serde(default)]
        settings: Table,
    },
    /// Removes a bridge, its ports and the containers plugged into them.
    DelBr {
        /// Its name.
        bridge: String,
    },
    /// Adds a port to a bridge; `settings` holds at least `type`.
    AddPort {
        /// The bridge.
        bridge: String,
        /// The port's name.
        port: String,
        /// `type`, `vlan`, `trunks`, `options:...` and so on.
        settings: Table,
    },
    /// Removes a port, its static MACs and the container plugged into it.
    DelPort {
        /// Its name.
        port: String,
    },
    /// Adds an uplink; `settings` holds at least `type` and `addresses`.
    AddUplink {
        /// Its name.
        uplink: String,
        /// Its other columns.
        settings: Table,
    },
    /// Removes an uplink.
    DelUplink {
        /// Its name.
        uplink: String,
    },
    /// Adds a network; `settings` holds at least `bridge`, `subnet` and
    /// `gateway`.
    AddNetwork {
        /// Its name.
        network: String,
        /// Its other columns.
        settings: Table,
    },
    /// Removes a network.
    DelNetwork {
        /// Its name.
        network: String,
    },
    /// Sets columns of a record.
    Set {
        /// The table.
        table: TableName,
        /// The record.
        record: String,
        /// Column → value.
        settings: Table,
    },
    /// Reads columns of a record: its result lists their values.
    Get {
        /// The table.
        table: TableName,
        /// The record.
        record: String,
        /// The columns.
        columns: Vec<String>,
    },
    /// Reads whole records: its result lists them.
    List {
        /// The table.
        table: TableName,
        /// One record, or all.
        #[serde(default)]
        record: Option<String>,
    },
    /// Appends values to a list column, skipping those already there.
    Add {
        /// The table.
        table: TableName,
        /// The record.
        record: String,
        /// The list column (`static_mac`, `trunks`, ...).
        column: String,
        /// What to append.
        values: Vec<Value>,
    },
    /// Removes values from a list column; a table value removes every
    /// entry that has all of its keys (`{mac = "02:..."}`).
    Remove {
        /// The table.
        table: TableName,
        /// The record.
        record: String,
        /// The list column.
        column: String,
        /// What to remove.
        values: Vec<Value>,
    },
    /// Removes columns of a record (their defaults then apply).
    Clear {
        /// The table.
        table: TableName,
        /// The record.
        record: String,
        /// The columns.
        columns: Vec<String>,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddBr { bridge, .. } => write!(f, "add-br {bridge}"),
            Op::DelBr { bridge } => write!(f, "del-br {bridge}"),
            Op::AddPort { bridge, port, .. } => write!(f, "add-port {bridge} {port}"),
            Op::DelPort { port } => write!(f, "del-port {port}"),
            Op::AddUplink { uplink, .. } => write!(f, "add-uplink {uplink}"),
            Op::DelUplink { uplink } => write!(f, "del-uplink {uplink}"),
            Op::AddNetwork { network, .. } => write!(f, "add-network {network}"),
            Op::DelNetwork { network } => write!(f, "del-network {network}"),
            Op::Set { table, record, .. } => write!(f, "set {table} {record}"),
            Op::Get { table, record, .. } => write!(f, "get {table} {record}"),
            Op::List { table, record } => {
                write!(f, "list {table}")?;
                record.iter().try_for_each(|r| write!(f, " {r}"))
            }
            Op::Add {
                table,
                record,
                column,
                ..
            } => write!(f, "add {table} {record} {column}"),
            Op::Remove {
                table,
                record,
                column,
                ..
            } => write!(f, "remove {table} {record} {column}"),
            Op::Clear { table, record, .. } => write!(f, "clear {table} {record}"),
        }
    }
}

/// Where a record is in the document.
#[derive(Debug, Clone, Copy)]
enum Location {
    Switch,
    /// `bridge[b]`.
    Bridge(usize),
    /// `bridge[b].port[p]`.
    Port(usize, usize),
    /// `uplink[u]`.
    Uplink(usize),
    /// `network[n]`.
    Network(usize),
    /// `container[c]`.
    Container(usize),
}

fn array<'d>(doc: &'d Table, key: &str) -> &'d [Value] {
    doc.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `doc[key]` as a list, made when absent.
fn array_mut<'d>(doc: &'d mut Table, key: &str) -> Result<&'d mut Vec<Value>, String> {
    doc.entry(key)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| format!("{key} in the document is not a list"))
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn position(list: &[Value], name: &str) -> Option<usize> {
    list.iter().position(|v| name_of(v) == Some(name))
}

/// The index of record `name` in list `key` (`bridge`, `uplink`).
fn index(doc: &Table, key: &str, name: &str) -> Result<usize, String> {
    position(array(doc, key), name).ok_or_else(|| format!("no {key} {name:?}"))
}

fn find_port(doc: &Table, port: &str) -> Option<Location> {
    array(doc, "bridge").iter().enumerate().find_map(|(b, br)| {
        let ports = br.get("port").and_then(Value::as_array)?;
        position(ports, port).map(|p| Location::Port(b, p))
    })
}

fn locate(doc: &Table, table: TableName, record: &str) -> Result<Location, String> {
    let found = match table {
        TableName::Switch if record == "." => Some(Location::Switch),
        TableName::Switch => {
            return Err(format!(
                "the switch table has one record, \".\", not {record:?}"
            ))
        }
        TableName::Bridge => position(array(doc, "bridge"), record).map(Location::Bridge),
        TableName::Port => find_port(doc, record),
        TableName::Uplink => position(array(doc, "uplink"), record).map(Location::Uplink),
        TableName::Network => position(array(doc, "network"), record).map(Location::Network),
        TableName::Container => position(array(doc, "container"), record).map(Location::Container),
    };
    found.ok_or_else(|| format!("no {table} {record:?}"))
}

fn record_at(doc: &Table, at: Location) -> Option<&Table> {
    let item = |key: &str, i: usize| array(doc, key).get(i).and_then(Value::as_table);
    match at {
        Location::Switch => doc.get("switch").and_then(Value::as_table),
        Location::Bridge(b) => item("bridge", b),
        Location::Port(b, p) => item("bridge", b)?
            .get("port")?
            .as_array()?
            .get(p)?
            .as_table(),
        Location::Uplink(u) => item("uplink", u),
        Location::Network(n) => item("network", n),
        Location::Container(c) => item("container", c),
    }
}

fn item<'d>(doc: &'d mut Table, key: &str, i: usize) -> Option<&'d mut Value> {
    doc.get_mut(key)?.as_array_mut()?.get_mut(i)
}

/// The record at `at`; the switch's is made when absent.
fn record_at_mut(doc: &mut Table, at: Location) -> Result<&mut Table, String> {
    let not_table = || "the record is not a table in the document".to_string();
    let value = match at {
        Location::Switch => doc
            .entry("switch")
            .or_insert_with(|| Value::Table(Table::new())),
        Location::Bridge(b) => item(doc, "bridge", b).ok_or_else(not_table)?,
        Location::Port(b, p) => item(doc, "bridge", b)
            .and_then(|br| br.get_mut("port")?.as_array_mut()?.get_mut(p))
            .ok_or_else(not_table)?,
        Location::Uplink(u) => item(doc, "uplink", u).ok_or_else(not_table)?,
        Location::Network(n) => item(doc, "network", n).ok_or_else(not_table)?,
        Location::Container(c) => item(doc, "container", c).ok_or_else(not_table)?,
    };
    value.as_table_mut().ok_or_else(not_table)
}

/// Columns an op may not write directly: a record's name is what ops
/// find it by (rename by removing and adding), and a bridge's ports are
/// records of the port table.
fn check_writable(table: TableName, column: &str) -> Result<(), String> {
    let top = column.split(':').next().unwrap_or(column);
    match (table, top) {
        (TableName::Switch, _) => Ok(()),
        (_, "name") => Err(format!(
            "the name of a {table} is its record name: delete it and add it under the new name"
        )),
        (TableName::Bridge, "port") => {
            Err("a bridge's ports are records of the port table: use add-port and del-port".into())
        }
        _ => Ok(()),
    }
}

/// The value at column path `column` (`options:interface`).
fn column<'r>(record: &'r Table, column: &str) -> Option<&'r Value> {
    let mut keys = column.split(':');
    let mut value = record.get(keys.next()?)?;
    for key in keys {
        value = value.get(key)?;
    }
    Some(value)
}

fn set_column(record: &mut Table, column: &str, value: Value) -> Result<(), String> {
    let mut keys: Vec<&str> = column.split(':').collect();
    let last = keys.pop().unwrap_or(column);
    if last.is_empty() || keys.iter().any(|k| k.is_empty()) {
        return Err(format!("{column:?} is not a column name"));
    }
    let mut table = record;
    for key in keys {
        table = table
            .entry(key)
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a table of keys, so {column} cannot be set"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

fn clear_column(record: &mut Table, column: &str) {
    let mut keys: Vec<&str> = column.split(':').collect();
    let Some(last) = keys.pop() else { return };
    let mut table = record;
    for key in keys {
        match table.get_mut(key).and_then(Value::as_table_mut) {
            Some(t) => table = t,
            None => return,
        }
    }
    table.remove(last);
}

fn apply_settings(table: TableName, record: &mut Table, settings: &Table) -> Result<(), String> {
    for (key, value) in settings {
        check_writable(table, key)?;
        set_column(record, key, value.clone())?;
    }
    Ok(())
}

/// A new record `{name = ...}` with `settings`.
fn new_record(table: TableName, name: &str, settings: &Table) -> Result<Value, String> {
    let mut record = Table::new();
    record.insert("name".into(), Value::String(name.to_string()));
    apply_settings(table, &mut record, settings)?;
    Ok(Value::Table(record))
}

/// True when `entry` is `pattern`, or (tables) has every key of it.
fn matches(entry: &Value, pattern: &Value) -> bool {
    match (entry, pattern) {
        (Value::Table(e), Value::Table(p)) => p.iter().all(|(k, v)| e.get(k) == Some(v)),
        _ => entry == pattern,
    }
}

fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// A record as `list` shows it: a bridge's ports by name, a port with
/// its bridge.
fn listed(doc: &Table, at: Location) -> Json {
    let mut record = record_at(doc, at).cloned().unwrap_or_default();
    match at {
        Location::Bridge(_) => {
            let names: Vec<Value> = record
                .get("port")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| name_of(p).map(|n| Value::String(n.into())))
                .collect();
            record.insert("port".into(), Value::Array(names));
        }
        Location::Port(b, _) => {
            if let Some(bridge) = array(doc, "bridge").get(b).and_then(name_of) {
                record.insert("bridge".into(), Value::String(bridge.into()));
            }
        }
        _ => {}
    }
    to_json(&Value::Table(record))
}

/// Removes the entries of list `table[key]` whose `field` is `name`.
fn remove_referring(table: &mut Table, key: &str, field: &str, name: &str) {
    if let Some(list) = table.get_mut(key).and_then(Value::as_array_mut) {
        list.retain(|v| v.get(field).and_then(Value::as_str) != Some(name));
    }
    drop_if_empty(table, key);
}

/// Leaves out a list of records that became empty, as a file would.
/// Appends a new record named `name` to the document's `key` array (a
/// top-level table: bridge, uplink, network), refused if one exists.
fn add_record(
    doc: &mut Table,
    table: TableName,
    key: &str,
    name: &str,
    settings: &Table,
) -> Result<(), String> {
    if position(array(doc, key), name).is_some() {
        return Err(format!("{key} {name:?} already exists"));
    }
    let record = new_record(table, name, settings)?;
    array_mut(doc, key)?.push(record);
    Ok(())
}

/// Removes the record named `name` from the document's `key` array and
/// returns it; the array goes when it is left empty.
fn remove_record(doc: &mut Table, key: &str, name: &str) -> Result<Value, String> {
    let i = index(doc, key, name)?;
    let removed = array_mut(doc, key)?.remove(i);
    drop_if_empty(doc, key);
    Ok(removed)
}

fn drop_if_empty(table: &mut Table, key: &str) {
    if table
        .get(key)
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        table.remove(key);
    }
}

impl Op {
    /// True for an op that changes the document.
    pub fn writes(&self) -> bool {
        !matches!(self, Op::Get { .. } | Op::List { .. })
    }

    /// Applies the op to `doc`: `null` for a change, what was read for
    /// `get` (the values, in column order) and `list` (the records).
    pub fn apply(&self, doc: &mut Table) -> Result<Json, String> {
        match self {
            Op::AddBr { bridge, settings } => {
                add_record(doc, TableName::Bridge, "bridge", bridge, settings)?;
            }
            Op::DelBr { bridge } => {
                let removed = remove_record(doc, "bridge", bridge)?;
                let ports = removed.get("port").and_then(Value::as_array);
                for port in ports.into_iter().flatten().filter_map(name_of) {
                    remove_referring(doc, "container", "port", port);
                }
            }
            Op::AddPort {
                bridge,
                port,
                settings,
            } => {
                if find_port(doc, port).is_some() {
                    return Err(format!("port {port:?} already exists"));
                }
                if !settings.contains_key("type") {
                    return Err(format!(
                        "port {port:?} needs a type: type=afxdp, tap, pcap, null, vxlan or geneve"
                    ));
                }
                let b = index(doc, "bridge", bridge)?;
                let record = new_record(TableName::Port, port, settings)?;
                let br = record_at_mut(doc, Location::Bridge(b))?;
                array_mut(br, "port")?.push(record);
            }
            Op::DelPort { port } => {
                let Some(Location::Port(b, p)) = find_port(doc, port) else {
                    return Err(format!("no port {port:?}"));
                };
                let br = record_at_mut(doc, Location::Bridge(b))?;
                array_mut(br, "port")?.remove(p);
                drop_if_empty(br, "port");
                remove_referring(br, "static_mac", "port", port);
                remove_referring(doc, "container", "port", port);
            }
            Op::AddUplink { uplink, settings } => {
                add_record(doc, TableName::Uplink, "uplink", uplink, settings)?;
            }
            Op::DelUplink { uplink } => {
                remove_record(doc, "uplink", uplink)?;
            }
            Op::AddNetwork { network, settings } => {
                add_record(doc, TableName::Network, "network", network, settings)?;
            }
            Op::DelNetwork { network } => {
                remove_record(doc, "network", network)?;
            }
            Op::Set {
                table,
                record,
                settings,
            } => {
                let at = locate(doc, *table, record)?;
                apply_settings(*table, record_at_mut(doc, at)?, settings)?;
            }
            Op::Get {
                table,
                record,
                columns,
            } => {
                let at = locate(doc, *table, record)?;
                let r = record_at(doc, at).cloned().unwrap_or_default();
                let values = columns
                    .iter()
                    .map(|c| {
                        column(&r, c).map(to_json).ok_or_else(|| {
                            format!("{table} {record:?} has no {c} set (its default applies)")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(Json::Array(values));
            }
            Op::List { table, record } => {
                let locations: Vec<Location> = match (record, table) {
                    (Some(r), _) => vec![locate(doc, *table, r)?],
                    (None, TableName::Switch) => vec![Location::Switch],
                    (None, TableName::Bridge) => (0..array(doc, "bridge").len())
                        .map(Location::Bridge)
                        .collect(),
                    (None, TableName::Port) => array(doc, "bridge")
                        .iter()
                        .enumerate()
                        .flat_map(|(b, br)| {
                            let n = br.get("port").and_then(Value::as_array).map_or(0, Vec::len);
                            (0..n).map(move |p| Location::Port(b, p))
                        })
                        .collect(),
                    (None, TableName::Uplink) => (0..array(doc, "uplink").len())
                        .map(Location::Uplink)
                        .collect(),
                    (None, TableName::Network) => (0..array(doc, "network").len())
                        .map(Location::Network)
                        .collect(),
                    (None, TableName::Container) => (0..array(doc, "container").len())
                        .map(Location::Container)
                        .collect(),
                };
                return Ok(Json::Array(
                    locations.into_iter().map(|at| listed(doc, at)).collect(),
                ));
            }
            Op::Add {
                table,
                record,
                column,
                values,
            } => {
                check_writable(*table, column)?;
                let at = locate(doc, *table, record)?;
                let r = record_at_mut(doc, at)?;
                if self::column(r, column).is_none() {
                    set_column(r, column, Value::Array(Vec::new()))?;
                }
                let list = list_column(r, column)?;
                for v in values {
                    if !list.contains(v) {
                        list.push(v.clone());
                    }
                }
            }
            Op::Remove {
                table,
                record,
                column,
                values,
            } => {
                check_writable(*table, column)?;
                let at = locate(doc, *table, record)?;
                let r = record_at_mut(doc, at)?;
                if self::column(r, column).is_some() {
                    list_column(r, column)?.retain(|e| !values.iter().any(|v| matches(e, v)));
                }
            }
            Op::Clear {
                table,
                record,
                columns,
            } => {
                let at = locate(doc, *table, record)?;
                let r = record_at_mut(doc, at)?;
                for c in columns {
                    check_writable(*table, c)?;
                    clear_column(r, c);
                }
            }
        }
        Ok(Json::Null)
    }
}

/// The list at column path `column` of `record`, which exists.
fn list_column<'r>(record: &'r mut Table, column: &str) -> Result<&'r mut Vec<Value>, String> {
    let mut keys = column.split(':');
    let first = keys.next().unwrap_or(column);
    let mut value = record
        .get_mut(first)
        .ok_or_else(|| format!("no column {column}"))?;
    for key in keys {
        value = value
            .get_mut(key)
            .ok_or_else(|| format!("no column {column}"))?;
    }
    value
        .as_array_mut()
        .ok_or_else(|| format!("{column} is not a list"))
}
