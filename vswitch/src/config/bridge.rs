//! Bridges and their ports: the `[[bridge]]` and `[[bridge.port]]`
//! sections, checked and turned into [`BridgeConfig`] and [`PortConfig`].

use super::*;

impl Validator<'_> {
    pub(super) fn bridge(
        &mut self,
        raw: RawBridge,
        field: &str,
    ) -> Result<BridgeConfig, ConfigError> {
        let mac_aging_secs = self.ranged_or(
            &raw.mac_aging_secs,
            &format!("{field}.mac_aging_secs"),
            1..MAX_MAC_AGING_SECS as i64 + 1,
            "aging time",
            DEFAULT_MAC_AGING_SECS,
        )?;
        let mac_limit = self.ranged_or(
            &raw.mac_limit,
            &format!("{field}.mac_limit"),
            1..MAX_MAC_LIMIT as i64 + 1,
            "MAC limit",
            DEFAULT_MAC_LIMIT,
        )?;
        let mut ports = Vec::new();
        for (p, raw_port) in raw.ports.into_iter().enumerate() {
            ports.push(self.port(raw_port, &format!("{field}.port[{p}]"), mac_limit)?);
        }
        let mut static_macs = Vec::new();
        for (s, raw_static) in raw.static_macs.into_iter().enumerate() {
            let f = format!("{field}.static_mac[{s}]");
            let Some(mac) = parse_mac(raw_static.mac.get_ref()) else {
                return self.err(
                    raw_static.mac.span(),
                    &format!("{f}.mac"),
                    format!(
                        "{:?} is not a MAC address (write it as 02:00:00:00:00:01)",
                        raw_static.mac.get_ref()
                    ),
                );
            };
            if vswitch_pipeline::flow::is_multicast(&mac) {
                return self.err(
                    raw_static.mac.span(),
                    &format!("{f}.mac"),
                    "a static MAC must be unicast",
                );
            }
            let port_name = raw_static.port.get_ref();
            let Some(port) = ports.iter().find(|p| &p.name == port_name) else {
                return self.err(
                    raw_static.port.span(),
                    &format!("{f}.port"),
                    format!("no port {port_name:?} in this bridge"),
                );
            };
            let vlan = match (&raw_static.vlan, &port.vlan_mode) {
                (Some(v), _) => self.vlan(v, &format!("{f}.vlan"))?,
                (None, VlanMode::Access { vlan }) => *vlan,
                (None, VlanMode::Trunk { native, .. }) => native.unwrap_or(0),
            };
            let vlan_span = raw_static
                .vlan
                .as_ref()
                .map_or(raw_static.port.span(), |v| v.span());
            if !port.vlan_mode.carries(vlan) {
                let what = if vlan == 0 {
                    "untagged frames".to_string()
                } else {
                    format!("VLAN {vlan}")
                };
                return self.err(
                    vlan_span,
                    &format!("{f}.vlan"),
                    format!("port {port_name:?} does not carry {what}, so the MAC could never be reached there: set vlan to one the port carries, or add it to the port's trunks"),
                );
            }
            if let Some((s0, first)) = static_macs
                .iter()
                .enumerate()
                .find(|(_, m): &(usize, &StaticMacConfig)| m.mac == mac && m.vlan == vlan)
            {
                let place = if vlan == 0 {
                    "untagged".to_string()
                } else {
                    format!("on VLAN {vlan}")
                };
                return self.err(
                    raw_static.mac.span(),
                    &format!("{f}.mac"),
                    format!(
                        "static MAC {} {place} is already bound to port {:?} by {field}.static_mac[{s0}]: a MAC is behind one port of a VLAN; remove one of the two",
                        vswitch_pipeline::trace::mac_text(&mac),
                        first.port
                    ),
                );
            }
            let vtep = match (&raw_static.vtep, &port.kind) {
                (None, _) => None,
                (Some(v), PortKind::Tunnel(t)) => match v.get_ref().parse::<std::net::IpAddr>() {
                    Ok(ip) if ip.is_ipv4() == t.local.is_ipv4() && ip != t.local => Some(ip),
                    _ => {
                        return self.err(
                            v.span(),
                            &format!("{f}.vtep"),
                            format!(
                                "{:?} is not a remote VTEP address of the tunnel's family",
                                v.get_ref()
                            ),
                        )
                    }
                },
                (Some(v), _) => {
                    return self.err(
                        v.span(),
                        &format!("{f}.vtep"),
                        format!("vtep is for MACs behind a tunnel port; {port_name:?} is not one"),
                    )
                }
            };
            static_macs.push(StaticMacConfig {
                mac,
                vlan,
                port: port_name.clone(),
                vtep,
            });
        }
        Ok(BridgeConfig {
            name: raw.name.into_inner(),
            mac_aging_secs,
            mac_limit,
            ports,
            static_macs,
        })
    }

    pub(super) fn port(
        &mut self,
        raw: RawPort,
        field: &str,
        bridge_mac_limit: u32,
    ) -> Result<PortConfig, ConfigError> {
        let name = raw.name.get_ref().clone();
        self.name(&raw.name, &format!("{field}.name"), "port")?;
        if let Some(first) = self.ports_seen.insert(name.clone(), field.to_string()) {
            return self.err(raw.name.span(), &format!("{field}.name"), format!("duplicate port {name:?}: {first} already has this name (port names are unique over all bridges)"));
        }
        let vlan_mode = match (&raw.vlan, &raw.trunks, &raw.native_vlan) {
            (Some(v), None, None) => VlanMode::Access {
                vlan: self.vlan(v, &format!("{field}.vlan"))?,
            },
            (Some(v), _, _) => {
                return self.err(v.span(), &format!("{field}.vlan"), "a port is either an access port (vlan) or a trunk (trunks, native_vlan), not both");
            }
            (None, trunks, native) => {
                let native = match native {
                    Some(n) => Some(self.vlan(n, &format!("{field}.native_vlan"))?),
                    None if trunks.is_none() => Some(0),
                    None => None,
                };
                let allowed = match trunks {
                    None => VlanSet::all(),
                    Some(list) => {
                        if list.get_ref().is_empty() {
                            return self.err(list.span(), &format!("{field}.trunks"), "trunks is empty: list the VLANs to carry, or leave it out to carry all");
                        }
                        let mut set = VlanSet::empty();
                        for (i, v) in list.get_ref().iter().enumerate() {
                            let vid = self.vlan(v, &format!("{field}.trunks[{i}]"))?;
                            if set.contains(vid) {
                                return self.err(
                                    v.span(),
                                    &format!("{field}.trunks[{i}]"),
                                    format!("VLAN {vid} is listed twice"),
                                );
                            }
                            set.insert(vid);
                        }
                        set
                    }
                };
                VlanMode::Trunk { allowed, native }
            }
        };
        let mac_limit = self.ranged_or(
            &raw.mac_limit,
            &format!("{field}.mac_limit"),
            1..MAX_MAC_LIMIT as i64 + 1,
            "MAC limit",
            bridge_mac_limit,
        )?;
        let kind = self.kind(&raw, field)?;
        let security = match &raw.security {
            Some(security) => {
                Some(self.port_security(security, &kind, &format!("{field}.security"))?)
            }
            None => None,
        };
        if let Some(interface) = kind.interface() {
            // Where the name comes from: the option, or the port's name.
            let (span, at) = match raw.options.get("interface") {
                Some(v) => (v.span(), format!("{field}.options.interface")),
                None => (raw.name.span(), format!("{field}.name")),
            };
            if let Some(problem) = checks::interface_name_problem(interface) {
                let fix = if raw.options.contains_key("interface") {
                    String::new()
                } else {
                    " (the interface defaults to the port's name: set options.interface)".into()
                };
                return self.err(span, &at, format!("{problem}{fix}"));
            }
            if let Some(other) = self
                .interfaces_seen
                .insert(interface.to_string(), name.clone())
            {
                return self.err(
                    span,
                    &at,
                    format!("interface {interface:?} is already used by port {other:?}"),
                );
            }
        }
        let labels = match &raw.labels {
            Some(labels) => {
                self.labels(labels.get_ref(), labels.span(), &format!("{field}.labels"))?;
                labels.get_ref().clone()
            }
            None => Default::default(),
        };
        Ok(PortConfig {
            name,
            kind,
            vlan_mode,
            mac_limit,
            security,
            labels,
            namespace: raw
                .namespace
                .as_ref()
                .map_or(super::policy::DEFAULT_NAMESPACE, |n| n.get_ref())
                .to_string(),
        })
    }

    pub(super) fn kind(&self, raw: &RawPort, field: &str) -> Result<PortKind, ConfigError> {
        let kind = raw.kind.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "afxdp" => &["interface", "queues", "mode", "zero_copy", "ring_size"],
            "afpacket" => &["interface"],
            "tap" => &["interface", "netns"],
            "pcap" => &["input", "loop", "output"],
            "null" => &[],
            "vxlan" | "geneve" => &[
                "uplink",
                "vni",
                "remote",
                "dst_port",
                "local_ip",
                "ttl",
                "tos",
                "df",
                "udp_checksum",
                "geneve_options",
            ],
            other => {
                return self.err(
                    raw.kind.span(),
                    &format!("{field}.type"),
                    format!(
                        "unknown port type {other:?}: use afxdp, afpacket, tap, pcap, null, vxlan or geneve"
                    ),
                );
            }
        };
        let opts = Options {
            v: self,
            raw: &raw.options,
            field: format!("{field}.options"),
            kind,
        };
        for (key, value) in &raw.options {
            if !allowed.contains(&key.as_str()) {
                return self.err(
                    value.span(),
                    &format!("{}.{key}", opts.field),
                    format!(
                        "unknown option {key:?} for a {kind} port; allowed: {}",
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                );
            }
        }
        let default_interface = raw.name.get_ref().clone();
        Ok(match kind {
            "afxdp" => PortKind::AfXdp {
                interface: opts.string("interface")?.unwrap_or(default_interface),
                queues: opts.int("queues", 1..257)?.unwrap_or(1),
                mode: match opts.string("mode")?.as_deref() {
                    None | Some("auto") => XdpAttachMode::Auto,
                    Some("native") => XdpAttachMode::Native,
                    Some("generic") => XdpAttachMode::Generic,
                    Some(other) => {
                        return opts.bad(
                            "mode",
                            format!("{other:?} is not an XDP mode: use auto, native or generic"),
                        )
                    }
                },
                zero_copy: match opts.string("zero_copy")?.as_deref() {
                    None | Some("auto") => ZeroCopyMode::Auto,
                    Some("on") => ZeroCopyMode::On,
                    Some("off") => ZeroCopyMode::Off,
                    Some(other) => {
                        return opts.bad(
                            "zero_copy",
                            format!("{other:?} is not a zero-copy choice: use auto, on or off"),
                        )
                    }
                },
                ring_size: match opts.int("ring_size", 64..32769)? {
                    Some(n) if !n.is_power_of_two() => {
                        return opts
                            .bad("ring_size", format!("ring size {n} must be a power of two"))
                    }
                    Some(n) => n,
                    None => 2048,
                },
            },
            "afpacket" => PortKind::AfPacket {
                interface: opts.string("interface")?.unwrap_or(default_interface),
            },
            "tap" => PortKind::Tap {
                interface: opts.string("interface")?.unwrap_or(default_interface),
                netns: opts.string("netns")?,
            },
            "pcap" => {
                let input = opts.string("input")?.map(PathBuf::from);
                let looping = opts.bool("loop")?.unwrap_or(false);
                if looping && input.is_none() {
                    return opts.bad("loop", "loop needs an input capture".to_string());
                }
                if looping && raw.options.contains_key("output") {
                    return opts.bad("output", "a looping port replays from memory and writes no output: leave out output, or loop".to_string());
                }
                PortKind::Pcap {
                    input,
                    looping,
                    output: opts.string("output")?.map(PathBuf::from),
                }
            }
            "vxlan" => PortKind::Tunnel(self.tunnel(&opts, TunnelKind::Vxlan, &self.uplinks)?),
            "geneve" => PortKind::Tunnel(self.tunnel(&opts, TunnelKind::Geneve, &self.uplinks)?),
            _ => PortKind::Null,
        })
    }
}
