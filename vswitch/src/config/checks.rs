//! Checks that run before validation proper: the file's size, the shape of
//! its tables (`[[bridge]]`, not `[bridge]`), and interface names as the
//! kernel reads them.

use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest configuration file read: far above any real one (the
/// 1,000-flow benchmark configuration is 4 KiB), low enough that
/// `--config /dev/zero` fails at once instead of filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads at most [`MAX_CONFIG_BYTES`] of `path`, or says why not.
pub(super) fn read_capped(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "the file is larger than {} MiB: is it the configuration? (the limit guards against reading a device or a wrong file)",
            MAX_CONFIG_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 text (byte {}): TOML is UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The address of the Prometheus endpoint: an IP and port on loopback,
/// because the figures (ports, addresses of traffic) are for the host's
/// operators, and the endpoint has no authentication.
pub(super) fn metrics_address(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        format!("{text:?} is not an address and port: write it like \"127.0.0.1:9477\" or \"[::1]:9477\"")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{text:?} is not a loopback address: the metrics endpoint has no authentication, so it listens on 127.0.0.0/8 or ::1 only (scrape it through a local agent or proxy)"
        ));
    }
    Ok(addr)
}

/// Longest interface name Linux takes: IFNAMSIZ (16) less the NUL.
pub const MAX_INTERFACE_NAME: usize = 15;

/// Why Linux would not take `name` as an interface name as written, or
/// would read it as another interface: `None` when it is fine. As the
/// kernel's `dev_valid_name`, and ':' too, because `eth0:1` is an address
/// label that tools resolve to `eth0`.
pub(super) fn interface_name_problem(name: &str) -> Option<String> {
    let problem = if name.is_empty() {
        "is empty".to_string()
    } else if name.len() > MAX_INTERFACE_NAME {
        format!(
            "is {} bytes, more than Linux's {MAX_INTERFACE_NAME}",
            name.len()
        )
    } else if name == "." || name == ".." {
        "is a directory name, which Linux refuses for an interface".to_string()
    } else if let Some(c) = name.chars().find(|&c| c == ':') {
        let base = name.split(':').next().unwrap_or("");
        format!("contains {c:?}: Linux reads it as an address label of {base:?}, and the port would attach to {base:?}")
    } else if let Some(c) = name
        .chars()
        .find(|&c| c == '/' || c.is_whitespace() || c.is_control())
    {
        format!("contains {c:?}, which Linux refuses in an interface name")
    } else {
        return None;
    };
    Some(format!(
        "interface name {name:?} {problem}: use 1 to {MAX_INTERFACE_NAME} bytes without ':', '/' or whitespace, and not \".\" or \"..\""
    ))
}

/// Deserializes an array of tables (`[[bridge]]`), refusing one table
/// (`[bridge]`) with the form to write instead of serde's "invalid type:
/// map, expected a sequence".
pub(super) fn table_array<'de, D, T>(d: D, name: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Tables<T> {
        name: &'static str,
        item: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Tables<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of tables, written [[{}]]", self.name)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<T>, A::Error> {
            Err(de::Error::custom(format!(
                "{0}: [{0}] is a single table, but there may be several: write [[{0}]] (double brackets) for each",
                self.name
            )))
        }
    }
    d.deserialize_seq(Tables {
        name,
        item: PhantomData,
    })
}

/// Deserializes one table (`[switch]`), refusing an array of them
/// (`[[switch]]`) with the form to write.
pub(super) fn one_table<'de, D, T>(d: D, name: &'static str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Table<T> {
        name: &'static str,
        item: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Table<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one table, written [{}]", self.name)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<T>, A::Error> {
            Err(de::Error::custom(format!(
                "{0}: [[{0}]] makes an array of tables, but there is one {0} section: write [{0}] (single brackets)",
                self.name
            )))
        }
    }
    d.deserialize_map(Table {
        name,
        item: PhantomData,
    })
}

// serde's `deserialize_with` takes a function of the deserializer alone:
// one per table, naming it.

pub(super) fn switch_table<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<super::RawSwitch>, D::Error> {
    one_table(d, "switch")
}

pub(super) fn bridge_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::RawBridge>, D::Error> {
    table_array(d, "bridge")
}

pub(super) fn uplink_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::overlay::RawUplink>, D::Error> {
    table_array(d, "uplink")
}

pub(super) fn network_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::network::RawNetwork>, D::Error> {
    table_array(d, "network")
}

pub(super) fn acl_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::acl::RawAcl>, D::Error> {
    table_array(d, "acl")
}

pub(super) fn namespace_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::policy::RawNamespace>, D::Error> {
    table_array(d, "namespace")
}

pub(super) fn policy_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::policy::RawPolicy>, D::Error> {
    table_array(d, "policy")
}

pub(super) fn container_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::RawContainer>, D::Error> {
    table_array(d, "container")
}

pub(super) fn port_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::RawPort>, D::Error> {
    table_array(d, "bridge.port")
}

pub(super) fn static_mac_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::RawStaticMac>, D::Error> {
    table_array(d, "bridge.static_mac")
}
