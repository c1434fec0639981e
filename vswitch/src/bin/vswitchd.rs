//! `vswitchd --config FILE`: the switch daemon. Runs until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "vswitchd",
    version,
    about = "vswitch daemon: poll-mode workers forwarding between AF_XDP, TAP and pcap ports"
)]
struct Cli {
    /// The configuration file (TOML); `vswitch check --config FILE` validates it.
    #[arg(long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match vswitch::daemon::main_with_config(&cli.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vswitchd: {e}");
            ExitCode::FAILURE
        }
    }
}
