//! Daemon-wide settings: the `[switch]` section, checked and turned into
//! [`SwitchConfig`].

use super::*;

/// What an idle worker does. Measured on a 2-vCPU VM with the demo's
/// three containers up and no traffic, vswitchd used 0.17 to 0.22% of a
/// core with `Adaptive`, 6.9% with `Sleep` and 88% (all its worker could get)
/// with `Spin` (README, Measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Keep polling: lowest latency, burns its core.
    Spin,
    /// Sleep between polls when no frame came, backing off up to
    /// `max_us` microseconds.
    Sleep {
        /// The longest sleep.
        max_us: u32,
    },
    /// Busy-poll while frames come; after [`ADAPTIVE_IDLE_ITERATIONS`]
    /// empty polls in a row that also span `quiet_us` microseconds without
    /// a frame, block in epoll on every receive descriptor and the
    /// worker's doorbell until the next frame (or hand-off, or
    /// configuration update) arrives.
    Adaptive {
        /// How long the queues must be quiet before the worker blocks.
        quiet_us: u32,
    },
}

/// Empty polls in a row before an adaptive worker starts timing the quiet.
pub const ADAPTIVE_IDLE_ITERATIONS: u32 = 64;

/// Default quiet time before an adaptive worker blocks, in microseconds.
pub const DEFAULT_IDLE_QUIET_US: u32 = 200;

/// Daemon-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Cores to pin one worker each to.
    pub workers: Vec<usize>,
    /// Frames per receive burst.
    pub batch_size: usize,
    /// Idle behaviour.
    pub idle: IdlePolicy,
    /// Where the control socket listens.
    pub control_socket: PathBuf,
    /// The most detailed log lines written.
    pub log_level: log::LevelFilter,
    /// Where the Prometheus endpoint listens (a loopback address), if on.
    pub metrics: Option<std::net::SocketAddr>,
    /// The group whose members may read through the control socket.
    pub control_group: Option<ControlGroup>,
    /// The most connections the connection tracker holds at once.
    pub conntrack_limit: u32,
}

/// Default `conntrack_limit`: 40 MB of table (160 bytes a connection).
pub const DEFAULT_CONNTRACK_LIMIT: u32 = 262_144;

/// A group granted read-only access to the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlGroup {
    /// Its name as configured, or as the system names its gid (`gid N`
    /// when it has no name), for messages.
    pub name: String,
    /// Its gid.
    pub gid: u32,
}

/// Default longest sleep of an idle worker, in microseconds.
pub const DEFAULT_IDLE_SLEEP_US: u32 = 200;

/// Default path of the control socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/vswitch/vswitchd.sock";

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            workers: vec![0],
            batch_size: 32,
            idle: IdlePolicy::Adaptive {
                quiet_us: DEFAULT_IDLE_QUIET_US,
            },
            control_socket: PathBuf::from(DEFAULT_CONTROL_SOCKET),
            log_level: log::LevelFilter::Info,
            metrics: None,
            control_group: None,
            conntrack_limit: DEFAULT_CONNTRACK_LIMIT,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSwitch {
    workers: Option<Spanned<Vec<Spanned<i64>>>>,
    batch_size: Option<Spanned<i64>>,
    idle: Option<Spanned<String>>,
    idle_sleep_us: Option<Spanned<i64>>,
    idle_quiet_us: Option<Spanned<i64>>,
    control_socket: Option<Spanned<String>>,
    log_level: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    /// A group name or a numeric gid.
    control_group: Option<Spanned<toml::Value>>,
    conntrack_limit: Option<Spanned<i64>>,
}

impl Validator<'_> {
    pub(super) fn switch(&self, raw: RawSwitch) -> Result<SwitchConfig, ConfigError> {
        let mut switch = SwitchConfig::default();
        if let Some(workers) = &raw.workers {
            if workers.get_ref().is_empty() {
                return self.err(
                    workers.span(),
                    "switch.workers",
                    "list at least one core for a worker, like [1]",
                );
            }
            switch.workers.clear();
            for (i, core) in workers.get_ref().iter().enumerate() {
                let c =
                    self.ranged(core, &format!("switch.workers[{i}]"), 0..1024, "core")? as usize;
                if switch.workers.contains(&c) {
                    return self.err(
                        core.span(),
                        &format!("switch.workers[{i}]"),
                        format!("core {c} is listed twice: one worker per core"),
                    );
                }
                switch.workers.push(c);
            }
        }
        switch.batch_size = self.ranged_or(
            &raw.batch_size,
            "switch.batch_size",
            1..257,
            "batch size",
            switch.batch_size as u32,
        )? as usize;
        switch.conntrack_limit = self.ranged_or(
            &raw.conntrack_limit,
            "switch.conntrack_limit",
            1..16_777_217,
            "connection limit",
            DEFAULT_CONNTRACK_LIMIT,
        )?;
        let max_us = self.ranged_or(
            &raw.idle_sleep_us,
            "switch.idle_sleep_us",
            1..100_001,
            "idle sleep",
            DEFAULT_IDLE_SLEEP_US,
        )?;
        let quiet_us = self.ranged_or(
            &raw.idle_quiet_us,
            "switch.idle_quiet_us",
            0..1_000_001,
            "quiet time",
            DEFAULT_IDLE_QUIET_US,
        )?;
        switch.idle = match raw.idle.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("adaptive", _)) => IdlePolicy::Adaptive { quiet_us },
            Some(("sleep", _)) => IdlePolicy::Sleep { max_us },
            Some(("spin", _)) => IdlePolicy::Spin,
            Some((other, span)) => {
                return self.err(
                    span,
                    "switch.idle",
                    format!("{other:?} is not an idle policy: use adaptive, sleep or spin"),
                )
            }
        };
        if let Some(path) = &raw.control_socket {
            if path.get_ref().is_empty() || path.get_ref().len() > 100 {
                return self.err(
                    path.span(),
                    "switch.control_socket",
                    "the control socket path must be 1 to 100 bytes (a Unix socket path limit)",
                );
            }
            switch.control_socket = PathBuf::from(path.get_ref());
        }
        if let Some(level) = &raw.log_level {
            switch.log_level = parse_log_level(level.get_ref())
                .map_err(|m| self.at.error(Some(level.span()), "switch.log_level", m))?;
        }
        if let Some(addr) = &raw.metrics {
            switch.metrics = Some(
                checks::metrics_address(addr.get_ref())
                    .map_err(|m| self.at.error(Some(addr.span()), "switch.metrics", m))?,
            );
        }
        if let Some(group) = &raw.control_group {
            switch.control_group = Some(self.control_group(group)?);
        }
        Ok(switch)
    }

    /// Resolves `control_group` now, so that a mistyped name is refused
    /// before anything starts.
    fn control_group(&self, group: &Spanned<toml::Value>) -> Result<ControlGroup, ConfigError> {
        let field = "switch.control_group";
        match group.get_ref() {
            &toml::Value::Integer(gid) => match u32::try_from(gid) {
                Ok(gid) if gid != u32::MAX => Ok(ControlGroup {
                    name: vswitch_ports::unix_socket::group_name(gid)
                        .unwrap_or_else(|| format!("gid {gid}")),
                    gid,
                }),
                _ => self.err(group.span(), field, format!("gid {gid} is out of range")),
            },
            toml::Value::String(name) => match vswitch_ports::unix_socket::group_id(name) {
                Ok(Some(gid)) => Ok(ControlGroup {
                    name: name.clone(),
                    gid,
                }),
                Ok(None) => self.err(
                    group.span(),
                    field,
                    format!(
                        "there is no group {name:?} on this system: create it (groupadd {name}) or give a numeric gid"
                    ),
                ),
                Err(e) => self.err(
                    group.span(),
                    field,
                    format!("cannot look up group {name:?}: {e}"),
                ),
            },
            other => self.err(
                group.span(),
                field,
                format!(
                    "{other} is not a group: give its name (\"vswitch\") or its numeric gid"
                ),
            ),
        }
    }
}
