//! Kubernetes NetworkPolicy semantics (`[[policy]]`, with `[[namespace]]`
//! labels and each port's `namespace`), compiled into the ports' ACLs.
//!
//! ```toml
//! [[namespace]]
//! name = "prod"                   # ports name it with namespace = "prod"
//! labels = { env = "prod" }       # (ports without one are in "default")
//!
//! [[policy]]
//! name = "db"
//! namespace = "prod"              # default "default"
//! pod_selector = { role = "db" }  # {} selects every endpoint of the namespace
//! policy_types = ["Ingress"]      # default: Ingress, and Egress when egress is set
//!
//! [[policy.ingress]]              # one table per rule
//! from = [
//!     { ip_block = { cidr = "172.17.0.0/16", except = ["172.17.1.0/24"] } },
//!     { namespace_selector = { project = "app" } },
//!     { pod_selector = { role = "frontend" } },
//! ]
//! ports = [{ protocol = "TCP", port = 6379, end_port = 6380 }]
//!
//! [[policy.egress]]
//! to = [{ ip_block = { cidr = "10.0.0.0/24" } }]
//! ports = [{ protocol = "TCP", port = 5978 }]
//! ```
//!
//! As in Kubernetes: an endpoint selected by any policy with a type is
//! isolated for that direction (what no rule allows is denied), policies
//! add up (the union of their rules), a policy of a type with no rules
//! denies everything that way, a rule without `from`/`to` admits every
//! peer and one without `ports` every port. A `pod_selector` peer picks
//! endpoints of the policy's namespace, a `namespace_selector` peer every
//! endpoint of the namespaces it matches, both together the endpoints
//! matching both. Replies of allowed connections pass (the ACLs are
//! stateful).

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::acl::{Direction, Peer, RuleAction, RuleSpec};

use super::acl::{is_endpoint, parse_proto, select, AclConfig, Labels, RawPeerBlock, RuleConfig};
use super::{BridgeConfig, ConfigError, PortConfig, Validator};

/// The namespace of a port that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNamespace {
    name: Spanned<String>,
    #[serde(default)]
    labels: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    name: Spanned<String>,
    namespace: Option<Spanned<String>>,
    #[serde(default)]
    pod_selector: Labels,
    policy_types: Option<Vec<Spanned<String>>>,
    ingress: Option<Vec<RawPolicyRule>>,
    egress: Option<Vec<RawPolicyRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyRule {
    #[serde(default, alias = "to")]
    from: Vec<RawPolicyPeer>,
    #[serde(default)]
    ports: Vec<RawPolicyPort>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyPeer {
    pod_selector: Option<Labels>,
    namespace_selector: Option<Labels>,
    ip_block: Option<RawPeerBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyPort {
    protocol: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    end_port: Option<Spanned<i64>>,
}

/// The labels of each namespace, by name.
struct Namespaces(Vec<(String, Labels)>);

impl Namespaces {
    fn labels(&self, name: &str) -> Option<&Labels> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }
}

fn matches(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Validator<'_> {
    /// The ACLs the policies give the endpoints they select; none of
    /// those may have an `[[acl]]` of its own.
    pub(super) fn policies(
        &self,
        namespaces: Vec<RawNamespace>,
        raw: Vec<RawPolicy>,
        bridges: &[BridgeConfig],
        acls: &[AclConfig],
    ) -> Result<Vec<AclConfig>, ConfigError> {
        let mut known = Namespaces(vec![(DEFAULT_NAMESPACE.into(), Labels::new())]);
        for (n, ns) in namespaces.into_iter().enumerate() {
            let field = format!("namespace[{n}]");
            self.name(&ns.name, &format!("{field}.name"), "namespace")?;
            self.labels(&ns.labels, ns.name.span(), &format!("{field}.labels"))?;
            match known
                .0
                .iter_mut()
                .find(|(name, _)| name == ns.name.get_ref())
            {
                Some((name, labels)) if name == DEFAULT_NAMESPACE && labels.is_empty() => {
                    *labels = ns.labels
                }
                Some(_) => {
                    return self.err(
                        ns.name.span(),
                        &format!("{field}.name"),
                        format!("duplicate namespace {:?}", ns.name.get_ref()),
                    )
                }
                None => known.0.push((ns.name.into_inner(), ns.labels)),
            }
        }
        for port in bridges.iter().flat_map(|b| b.ports.iter()) {
            if known.labels(&port.namespace).is_none() {
                return Err(self.at.error(
                    None,
                    &format!("port {}", port.name),
                    format!(
                        "port {:?} is in namespace {:?}, which no [[namespace]] names: add one",
                        port.name, port.namespace
                    ),
                ));
            }
        }
        let mut out: Vec<AclConfig> = Vec::new();
        for (p, policy) in raw.iter().enumerate() {
            let field = format!("policy[{p}]");
            self.name(&policy.name, &format!("{field}.name"), "policy")?;
            let namespace = policy
                .namespace
                .as_ref()
                .map_or(DEFAULT_NAMESPACE, |n| n.get_ref().as_str());
            if known.labels(namespace).is_none() {
                let span = policy
                    .namespace
                    .as_ref()
                    .map_or(policy.name.span(), |n| n.span());
                return self.err(
                    span,
                    &format!("{field}.namespace"),
                    format!("no namespace {namespace:?}: add a [[namespace]] with that name"),
                );
            }
            let (ingress, egress) = self.policy_types(policy, &field)?;
            let mut compiled = Vec::new();
            for (direction, on, rules, at) in [
                (Direction::Ingress, ingress, &policy.ingress, "ingress"),
                (Direction::Egress, egress, &policy.egress, "egress"),
            ] {
                if !on {
                    continue;
                }
                for (r, rule) in rules.iter().flatten().enumerate() {
                    let field = format!("{field}.{at}[{r}]");
                    let name = format!("{}/{at}[{r}]", policy.name.get_ref());
                    compiled.extend(
                        self.policy_rule(
                            rule, &field, name, direction, namespace, &known, bridges,
                        )?,
                    );
                }
            }
            let selected = select(bridges, &policy.pod_selector, |port: &PortConfig| {
                is_endpoint(port) && port.namespace == namespace
            });
            for port in selected {
                if acls.iter().any(|a| a.port == port) {
                    return self.err(
                        policy.name.span(),
                        &format!("{field}.pod_selector"),
                        format!("port {port:?} has an [[acl]] and this policy selects it: use one or the other"),
                    );
                }
                let acl = match out.iter_mut().position(|a| a.port == port) {
                    Some(i) => &mut out[i],
                    None => {
                        out.push(AclConfig {
                            port,
                            rules: Vec::new(),
                            default_ingress_allow: true,
                            default_egress_allow: true,
                        });
                        out.last_mut().expect("just pushed")
                    }
                };
                acl.default_ingress_allow &= !ingress;
                acl.default_egress_allow &= !egress;
                acl.rules.extend(compiled.iter().cloned());
            }
        }
        Ok(out)
    }

    /// Whether the policy isolates ingress and egress.
    fn policy_types(&self, policy: &RawPolicy, field: &str) -> Result<(bool, bool), ConfigError> {
        let Some(types) = &policy.policy_types else {
            return Ok((true, policy.egress.is_some()));
        };
        let (mut ingress, mut egress) = (false, false);
        for (t, kind) in types.iter().enumerate() {
            match kind.get_ref().as_str() {
                "Ingress" => ingress = true,
                "Egress" => egress = true,
                other => {
                    return self.err(
                        kind.span(),
                        &format!("{field}.policy_types[{t}]"),
                        format!("{other:?} is not a policy type: use \"Ingress\" or \"Egress\""),
                    )
                }
            }
        }
        Ok((ingress, egress))
    }

    /// One ingress or egress rule: an allow rule per port entry, with the
    /// rule's peers.
    #[allow(clippy::too_many_arguments)]
    fn policy_rule(
        &self,
        rule: &RawPolicyRule,
        field: &str,
        name: String,
        direction: Direction,
        namespace: &str,
        known: &Namespaces,
        bridges: &[BridgeConfig],
    ) -> Result<Vec<RuleConfig>, ConfigError> {
        let mut peers = Vec::new();
        let mut peer_ports: Option<Vec<String>> = None;
        for (p, peer) in rule.from.iter().enumerate() {
            let at = format!("{field}.from[{p}]");
            match (&peer.ip_block, &peer.pod_selector, &peer.namespace_selector) {
                (Some(block), None, None) => {
                    peers.push(Peer::Block(self.block(&block.cidr, &block.except, &at)?))
                }
                (None, pods, namespaces) if pods.is_some() || namespaces.is_some() => {
                    let chosen = select(bridges, pods.as_ref().unwrap_or(&Labels::new()), |port| {
                        is_endpoint(port)
                            && match namespaces {
                                Some(ns) => known
                                    .labels(&port.namespace)
                                    .is_some_and(|labels| matches(ns, labels)),
                                None => port.namespace == namespace,
                            }
                    });
                    peer_ports.get_or_insert_with(Vec::new).extend(chosen);
                }
                _ => {
                    return Err(self.at.error(
                        None,
                        &at,
                        "a peer is { ip_block = {...} }, or { pod_selector = {...} } and/or { namespace_selector = {...} }".into(),
                    ))
                }
            }
        }
        // (protocol, port range) per entry; `None`: any.
        type Match = (Option<u8>, Option<(u16, u16)>);
        let mut ports: Vec<Match> = Vec::new();
        for (p, entry) in rule.ports.iter().enumerate() {
            let at = format!("{field}.ports[{p}]");
            let proto = match &entry.protocol {
                Some(text) => match parse_proto(text.get_ref()) {
                    Some(proto @ (6 | 17 | 132)) => proto,
                    _ => {
                        return self.err(
                            text.span(),
                            &format!("{at}.protocol"),
                            format!(
                                "{:?} is not a policy protocol: use TCP, UDP or SCTP",
                                text.get_ref()
                            ),
                        )
                    }
                },
                None => vswitch_pipeline::wire::ip_proto::TCP,
            };
            let range = match (&entry.port, &entry.end_port) {
                (None, None) => None,
                (Some(port), end) => {
                    let first = self.ranged(port, &format!("{at}.port"), 1..65536, "port")? as u16;
                    let last = match end {
                        Some(end) => self.ranged(
                            end,
                            &format!("{at}.end_port"),
                            i64::from(first)..65536,
                            "end port (at least port)",
                        )? as u16,
                        None => first,
                    };
                    Some((first, last))
                }
                (None, Some(end)) => {
                    return self.err(
                        end.span(),
                        &format!("{at}.end_port"),
                        "end_port needs port, the first of the range",
                    )
                }
            };
            ports.push((Some(proto), range));
        }
        if ports.is_empty() {
            ports.push((None, None));
        }
        Ok(ports
            .into_iter()
            .map(|(proto, range)| RuleConfig {
                spec: RuleSpec {
                    name: name.clone(),
                    direction,
                    action: RuleAction::Allow,
                    peers: peers.clone(),
                    proto,
                    ports: range,
                },
                peer_ports: peer_ports.clone(),
            })
            .collect())
    }
}
