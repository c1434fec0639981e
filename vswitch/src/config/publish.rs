//! Published ports of a network (`publish`), as `docker run -p`:
//!
//! ```toml
//! [[network]]
//! # ...
//! uplink = "up0"
//! publish = [
//!   { proto = "tcp", host_port = 8080, container = "10.1.0.2", container_port = 80 },
//!   { proto = "udp", host_port = "8000-8010", container = "10.1.0.3", container_port = "9000-9010" },
//!   { proto = "tcp", host_ip = "192.0.2.1", host_port = 2222, container = "10.1.0.4", container_port = 22 },
//! ]
//! ```
//!
//! New connections from outside to `host_ip` (default: the uplink's
//! IPv4 address) at a published port go to the container at the port as
//! far into its range, the client's address kept; a container of the
//! network reaching it there does too (hairpin).

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::l3::Publish;
use vswitch_pipeline::wire::ip_proto;

use super::network::NetworkConfig;
use super::{ConfigError, Validator};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    proto: Spanned<String>,
    host_ip: Option<Spanned<String>>,
    host_port: Spanned<toml::Value>,
    container: Spanned<String>,
    container_port: Spanned<toml::Value>,
}

/// A port (8080) or a range ("8000-8010") of ports 1 to 65535.
fn port_range(value: &toml::Value) -> Option<(u16, u16)> {
    let (first, last) = match value {
        toml::Value::Integer(p) => (*p, *p),
        toml::Value::String(text) => {
            let (a, b) = text.split_once('-').unwrap_or((text, text));
            (a.trim().parse().ok()?, b.trim().parse().ok()?)
        }
        _ => return None,
    };
    let valid = |p: i64| (1..=65535).contains(&p);
    (valid(first) && valid(last) && first <= last).then_some((first as u16, last as u16))
}

impl Validator<'_> {
    /// The published ranges of network `field` (subnet `subnet`, leaving
    /// by uplink `uplink`), checked against each other and the ranges of
    /// the networks `before` it.
    pub(super) fn publish(
        &self,
        raw: &[RawPublish],
        field: &str,
        subnet: (Ipv4Addr, u8),
        uplink: Option<&str>,
        before: &[NetworkConfig],
    ) -> Result<Vec<Publish>, ConfigError> {
        let mut rules: Vec<Publish> = Vec::new();
        if let Some(extra) = raw.get(vswitch_pipeline::l3::MAX_PUBLISHED) {
            return self.err(
                extra.proto.span(),
                &format!("{field}.publish"),
                format!(
                    "a network publishes at most {} ranges: merge ports into ranges",
                    vswitch_pipeline::l3::MAX_PUBLISHED
                ),
            );
        }
        for (r, raw) in raw.iter().enumerate() {
            let field = format!("{field}.publish[{r}]");
            let Some(uplink) =
                uplink.and_then(|u| self.uplinks.iter().find(|up| up.port.name == u))
            else {
                return self.err(
                    raw.proto.span(),
                    &field,
                    "ports are published on the uplink's address: give the network an uplink",
                );
            };
            let proto = match raw.proto.get_ref().as_str() {
                "tcp" => ip_proto::TCP,
                "udp" => ip_proto::UDP,
                other => {
                    return self.err(
                        raw.proto.span(),
                        &format!("{field}.proto"),
                        format!("{other:?} cannot be published: use \"tcp\" or \"udp\""),
                    )
                }
            };
            let owned: Vec<Ipv4Addr> = uplink
                .addresses
                .iter()
                .filter_map(|(a, _)| match a {
                    IpAddr::V4(a) => Some(*a),
                    IpAddr::V6(_) => None,
                })
                .collect();
            let host_ip = match &raw.host_ip {
                None => owned.first().copied(),
                Some(text) => match text.get_ref().parse::<Ipv4Addr>() {
                    Ok(a) if owned.contains(&a) => Some(a),
                    _ => {
                        return self.err(
                            text.span(),
                            &format!("{field}.host_ip"),
                            format!(
                                "{:?} is not an IPv4 address of uplink {:?}: use one of {owned:?}, or leave it out",
                                text.get_ref(),
                                uplink.port.name
                            ),
                        )
                    }
                },
            };
            let Some(host_ip) = host_ip else {
                return self.err(
                    raw.proto.span(),
                    &field,
                    format!(
                        "uplink {:?} has no IPv4 address to publish on",
                        uplink.port.name
                    ),
                );
            };
            let range_hint = "write a port (8080) or a range (\"8000-8010\") of ports 1 to 65535";
            let Some(host_ports) = port_range(raw.host_port.get_ref()) else {
                return self.err(
                    raw.host_port.span(),
                    &format!("{field}.host_port"),
                    format!("not a port or range: {range_hint}"),
                );
            };
            let size = host_ports.1 - host_ports.0;
            // One port maps the host range onto as many from it; a range
            // must be as long as the host range.
            let one = matches!(raw.container_port.get_ref(), toml::Value::Integer(_));
            let container_port = match port_range(raw.container_port.get_ref()) {
                Some((first, _)) if one && u32::from(first) + u32::from(size) <= 65535 => first,
                Some((first, last)) if !one && last - first == size => first,
                Some(_) => {
                    return self.err(
                        raw.container_port.span(),
                        &format!("{field}.container_port"),
                        format!(
                            "the container's ports must be as many as host_port's ({}), within 1 to 65535",
                            u32::from(size) + 1
                        ),
                    )
                }
                None => {
                    return self.err(
                        raw.container_port.span(),
                        &format!("{field}.container_port"),
                        format!("not a port or range: {range_hint}"),
                    )
                }
            };
            let container = match raw.container.get_ref().parse::<Ipv4Addr>() {
                Ok(a) if inside(subnet, a) => a,
                _ => {
                    return self.err(
                        raw.container.span(),
                        &format!("{field}.container"),
                        format!(
                            "{:?} is not a host address of the network's subnet {}/{}",
                            raw.container.get_ref(),
                            subnet.0,
                            subnet.1
                        ),
                    )
                }
            };
            let rule = Publish {
                proto,
                host_ip,
                host_ports,
                container,
                container_port,
            };
            let taken = before
                .iter()
                .flat_map(|n| n.publish.iter().map(move |p| (n.name.as_str(), p)))
                .chain(rules.iter().map(|p| ("this network", p)))
                .find(|(_, p)| overlap(p, &rule));
            if let Some((network, _)) = taken {
                return self.err(
                    raw.host_port.span(),
                    &format!("{field}.host_port"),
                    format!(
                        "{}:{}-{} is already published by {network}: choose other ports",
                        host_ip, host_ports.0, host_ports.1
                    ),
                );
            }
            rules.push(rule);
        }
        Ok(rules)
    }
}

/// A host address of `subnet`: not its network or broadcast address.
fn inside(subnet: (Ipv4Addr, u8), a: Ipv4Addr) -> bool {
    let mask = vswitch_pipeline::l3::prefix_mask(subnet.1);
    let host = u32::from(a) & !mask;
    u32::from(a) & mask == u32::from(subnet.0) & mask
        && (subnet.1 >= 31 || (host != 0 && host != !mask))
}

fn overlap(a: &Publish, b: &Publish) -> bool {
    a.proto == b.proto
        && a.host_ip == b.host_ip
        && a.host_ports.0 <= b.host_ports.1
        && b.host_ports.0 <= a.host_ports.1
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
