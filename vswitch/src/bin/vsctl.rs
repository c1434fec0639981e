//! `vsctl`: asks a running vswitchd over its control socket, and changes
//! its configuration database in transactions, as ovs-vsctl does:
//! configuration commands joined by `--` are one transaction, applied all
//! together or not at all.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vswitch::config::DEFAULT_CONTROL_SOCKET;
use vswitch::daemon::{call, render, Request};
use vswitch::db::cli::{parse_settings, parse_value, render_results};
use vswitch::db::{Op, TableName};

#[derive(Parser)]
#[command(
    name = "vsctl",
    version,
    about = "query and configure a running vswitchd",
    after_help = "Join configuration commands with `--` to make one transaction:\n  vsctl add-port br0 c1 type=null -- set port c1 vlan=10"
)]
struct Cli {
    /// The daemon's control socket.
    #[arg(long, global = true, default_value = DEFAULT_CONTROL_SOCKET)]
    socket: PathBuf,
    /// Print the raw JSON answer.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// A command after a `--`.
#[derive(Parser)]
#[command(name = "vsctl", no_binary_name = true)]
struct Joined {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bridges, ports, what each port is attached to, and which workers poll it.
    Show,
    /// Per-port packets, bytes and drops by reason.
    Stats,
    /// Per-worker loop counters and cycles per packet.
    PmdStats,
    /// The MAC table of a bridge.
    FdbShow {
        /// The bridge.
        bridge: String,
    },
    /// Tunnels: remote VTEPs and the MACs behind each; uplinks: their
    /// neighbours.
    TunnelShow,
    /// Removes the learned MACs of a bridge (static ones stay).
    FdbFlush {
        /// The bridge.
        bridge: String,
    },
    /// The tracked connections: zone, protocol, both tuples, state, NAT,
    /// age and expiry.
    ConntrackShow,
    /// Each port's ACL: its defaults and its rules with their hit counts.
    AclShow,
    /// Removes the tracked connections (of one zone, when given).
    ConntrackFlush {
        /// The zone (all when absent).
        zone: Option<u16>,
    },
    /// Which stages each port's frames meet, in order.
    DumpPipeline,
    /// Where a packet would go and why: every stage's decision for one
    /// packet, without sending it or learning from it.
    Trace {
        /// The bridge it enters.
        bridge: String,
        /// The packet in flow syntax, e.g.
        /// in_port=c1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,tcp,nw_dst=10.0.0.2,tp_dst=80
        flow: String,
    },
    /// Print the configuration database (TOML).
    Export,
    /// Add a bridge: `add-br br0 mac_aging_secs=60`.
    AddBr {
        /// The bridge.
        bridge: String,
        /// column=value settings.
        settings: Vec<String>,
    },
    /// Remove a bridge with its ports.
    DelBr {
        /// The bridge.
        bridge: String,
    },
    /// Add a port: `add-port br0 c1 type=afxdp options:interface=veth1 vlan=10`.
    AddPort {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
        /// column=value settings; type= is required.
        settings: Vec<String>,
    },
    /// Remove a port with its static MACs.
    DelPort {
        /// The port.
        port: String,
    },
    /// Add an uplink: `add-uplink u0 type=afxdp addresses=["192.0.2.1/24"]`.
    AddUplink {
        /// The uplink.
        uplink: String,
        /// column=value settings; type= and addresses= are required.
        settings: Vec<String>,
    },
    /// Remove an uplink.
    DelUplink {
        /// The uplink.
        uplink: String,
    },
    /// Add a container network: `add-network front bridge=br0
    /// subnet=10.1.0.0/24 gateway=10.1.0.1 routes_to=["back"] uplink=u0`.
    AddNetwork {
        /// The network.
        network: String,
        /// column=value settings; bridge=, subnet= and gateway= are required.
        settings: Vec<String>,
    },
    /// Remove a network.
    DelNetwork {
        /// The network.
        network: String,
    },
    /// Set columns: `set port c1 vlan=20`, `set bridge br0 mac_limit=100`.
    Set {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// The record's name (`.` for switch).
        record: String,
        /// column=value settings.
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Print columns: `get port c1 vlan options:interface`.
    Get {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// The record's name (`.` for switch).
        record: String,
        /// The columns.
        #[arg(required = true)]
        columns: Vec<String>,
    },
    /// Print records: `list port`, `list bridge br0`.
    List {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// One record; all when left out.
        record: Option<String>,
    },
    /// Append to a list column: `add bridge br0 static_mac '{mac="02:00:00:00:00:01", port="c1"}'`.
    Add {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// The record's name.
        record: String,
        /// The list column.
        column: String,
        /// The values.
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove from a list column (a table removes the entries with all its keys).
    Remove {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// The record's name.
        record: String,
        /// The list column.
        column: String,
        /// The values.
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove columns, so their defaults apply: `clear port c1 vlan`.
    Clear {
        /// switch, bridge, port, uplink, network or container.
        table: TableName,
        /// The record's name.
        record: String,
        /// The columns.
        #[arg(required = true)]
        columns: Vec<String>,
    },
}

/// What a command asks of the daemon.
enum Action {
    /// A request of its own.
    Query(Request),
    /// An op of a transaction.
    Change(Op),
}

impl Command {
    fn action(&self) -> Result<Action, String> {
        let values = |v: &[String]| v.iter().map(|s| parse_value(s)).collect();
        let query = |r| Ok(Action::Query(r));
        Ok(Action::Change(match self {
            Command::Show => return query(Request::Show),
            Command::Stats => return query(Request::Stats),
            Command::PmdStats => return query(Request::PmdStats),
            Command::FdbShow { bridge } => {
                return query(Request::FdbShow {
                    bridge: bridge.clone(),
                })
            }
            Command::TunnelShow => return query(Request::TunnelShow),
            Command::Export => return query(Request::Export),
            Command::FdbFlush { bridge } => {
                return query(Request::FdbFlush {
                    bridge: bridge.clone(),
                })
            }
            Command::DumpPipeline => return query(Request::DumpPipeline),
            Command::ConntrackShow => return query(Request::ConntrackShow),
            Command::AclShow => return query(Request::AclShow),
            Command::ConntrackFlush { zone } => {
                return query(Request::ConntrackFlush { zone: *zone })
            }
            Command::Trace { bridge, flow } => {
                return query(Request::Trace {
                    bridge: bridge.clone(),
                    flow: flow.clone(),
                })
            }
            Command::AddBr { bridge, settings } => Op::AddBr {
                bridge: bridge.clone(),
                settings: parse_settings(settings)?,
            },
            Command::DelBr { bridge } => Op::DelBr {
                bridge: bridge.clone(),
            },
            Command::AddPort {
                bridge,
                port,
                settings,
            } => Op::AddPort {
                bridge: bridge.clone(),
                port: port.clone(),
                settings: parse_settings(settings)?,
            },
            Command::DelPort { port } => Op::DelPort { port: port.clone() },
            Command::AddUplink { uplink, settings } => Op::AddUplink {
                uplink: uplink.clone(),
                settings: parse_settings(settings)?,
            },
            Command::DelUplink { uplink } => Op::DelUplink {
                uplink: uplink.clone(),
            },
            Command::AddNetwork { network, settings } => Op::AddNetwork {
                network: network.clone(),
                settings: parse_settings(settings)?,
            },
            Command::DelNetwork { network } => Op::DelNetwork {
                network: network.clone(),
            },
            Command::Set {
                table,
                record,
                settings,
            } => Op::Set {
                table: *table,
                record: record.clone(),
                settings: parse_settings(settings)?,
            },
            Command::Get {
                table,
                record,
                columns,
            } => Op::Get {
                table: *table,
                record: record.clone(),
                columns: columns.clone(),
            },
            Command::List { table, record } => Op::List {
                table: *table,
                record: record.clone(),
            },
            Command::Add {
                table,
                record,
                column,
                values: v,
            } => Op::Add {
                table: *table,
                record: record.clone(),
                column: column.clone(),
                values: values(v),
            },
            Command::Remove {
                table,
                record,
                column,
                values: v,
            } => Op::Remove {
                table: *table,
                record: record.clone(),
                column: column.clone(),
                values: values(v),
            },
            Command::Clear {
                table,
                record,
                columns,
            } => Op::Clear {
                table: *table,
                record: record.clone(),
                columns: columns.clone(),
            },
        }))
    }
}

/// The request the command line asks for: a query, or a transaction of
/// the configuration commands joined by `--`.
fn build(cli: &Cli, joined: &[Vec<OsString>]) -> Result<Request, String> {
    let only_changes = || "only configuration commands join a transaction with --".to_string();
    let mut ops = match cli.command.action()? {
        Action::Query(request) if joined.is_empty() => return Ok(request),
        Action::Query(_) => return Err(only_changes()),
        Action::Change(op) => vec![op],
    };
    for args in joined {
        let command = Joined::try_parse_from(args)
            .map_err(|e| e.render().to_string())?
            .command;
        match command.action()? {
            Action::Change(op) => ops.push(op),
            Action::Query(_) => return Err(only_changes()),
        }
    }
    Ok(Request::Transact { ops })
}

fn main() -> ExitCode {
    // `--` separates the commands of one transaction, as in ovs-vsctl.
    let mut groups = std::env::args_os()
        .collect::<Vec<_>>()
        .split(|a| a == "--")
        .map(<[OsString]>::to_vec)
        .collect::<Vec<_>>()
        .into_iter();
    let cli = Cli::parse_from(groups.next().unwrap_or_default());
    let joined: Vec<Vec<OsString>> = groups.collect();
    let request = match build(&cli, &joined) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vsctl: {}", e.trim_end());
            return ExitCode::FAILURE;
        }
    };
    match call(&cli.socket, &request) {
        Ok(v) if cli.json => {
            println!("{v:#}");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            match &request {
                Request::Export => print!("{}", v["document"].as_str().unwrap_or_default()),
                Request::Transact { ops } => {
                    let results = v["results"].as_array().map_or(&[][..], Vec::as_slice);
                    print!("{}", render_results(ops, results));
                }
                other => print!("{}", render(other.method(), &v)),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vsctl: {e}");
            ExitCode::FAILURE
        }
    }
}
