//! A port's `security` table: the container addresses it is bound to.
//!
//! ```toml
//! [[bridge.port]]
//! name = "c1"
//! type = "tap"
//! security = { mac = "02:00:00:00:01:02", ips = ["10.1.0.2", "fd00:1::2"] }
//! ```
//!
//! `dhcp_server = true` and `router_advertisements = true` let the port
//! send those server messages. Ports without `security` are not checked.

use super::*;
use vswitch_pipeline::stage::port_security::PortSecurity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecurity {
    mac: Spanned<String>,
    ips: Spanned<Vec<Spanned<String>>>,
    dhcp_server: Option<bool>,
    router_advertisements: Option<bool>,
}

impl Validator<'_> {
    pub(super) fn port_security(
        &self,
        raw: &Spanned<RawSecurity>,
        kind: &PortKind,
        field: &str,
    ) -> Result<PortSecurity, ConfigError> {
        if let PortKind::Tunnel(_) = kind {
            return self.err(
                raw.span(),
                field,
                "security binds a container's port to its addresses; a tunnel port carries many hosts' frames: remove security from it",
            );
        }
        let raw = raw.get_ref();
        let mac = match parse_mac(raw.mac.get_ref()) {
            Some(mac) if !vswitch_pipeline::flow::is_multicast(&mac) && mac != [0; 6] => mac,
            Some(_) => {
                return self.err(
                    raw.mac.span(),
                    &format!("{field}.mac"),
                    "a port's MAC must be unicast and not all zeros",
                )
            }
            None => {
                return self.err(
                    raw.mac.span(),
                    &format!("{field}.mac"),
                    format!(
                        "{:?} is not a MAC address (write it as 02:00:00:00:00:01)",
                        raw.mac.get_ref()
                    ),
                )
            }
        };
        let mut ips: Vec<std::net::IpAddr> = Vec::new();
        for (i, text) in raw.ips.get_ref().iter().enumerate() {
            let at = format!("{field}.ips[{i}]");
            let ip = match text.get_ref().parse::<std::net::IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                    return self.err(
                        text.span(),
                        &at,
                        format!("{ip} cannot be a host's source address: list the container's own addresses"),
                    )
                }
                Ok(ip) => ip,
                Err(_) => {
                    return self.err(
                        text.span(),
                        &at,
                        format!(
                            "{:?} is not an IP address (write 10.1.0.2 or fd00:1::2, without a prefix length)",
                            text.get_ref()
                        ),
                    )
                }
            };
            if ips.contains(&ip) {
                return self.err(text.span(), &at, format!("{ip} is listed twice"));
            }
            ips.push(ip);
        }
        Ok(PortSecurity {
            mac,
            ips,
            dhcp_server: raw.dhcp_server.unwrap_or(false),
            router_advertisements: raw.router_advertisements.unwrap_or(false),
        })
    }
}

#[cfg(test)]
#[path = "port_security_tests.rs"]
mod tests;
