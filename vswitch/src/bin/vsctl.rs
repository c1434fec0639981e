//! `vsctl`: asks a running vswitchd over its control socket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vswitch::config::DEFAULT_CONTROL_SOCKET;
use vswitch::daemon::{render, request};

#[derive(Parser)]
#[command(name = "vsctl", version, about = "query a running vswitchd")]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match &cli.command {
        Command::Show => "show".to_string(),
        Command::Stats => "stats".to_string(),
        Command::PmdStats => "pmd-stats".to_string(),
        Command::FdbShow { bridge } => format!("fdb-show {bridge}"),
        Command::TunnelShow => "tunnel-show".to_string(),
        Command::FdbFlush { bridge } => format!("fdb-flush {bridge}"),
        Command::DumpPipeline => "dump-pipeline".to_string(),
        Command::Trace { bridge, flow } => format!("trace {bridge} {flow}"),
    };
    match request(&cli.socket, &command) {
        Ok(v) if cli.json => {
            println!("{v:#}");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            print!("{}", render(&command, &v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vsctl: {e}");
            ExitCode::FAILURE
        }
    }
}
