//! `vswitchd [--db FILE] [--config FILE]`: the switch daemon. Runs until
//! SIGINT or SIGTERM.

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
    /// The configuration database: the TOML document the daemon runs,
    /// changed by `vsctl` and restored at start.
    #[arg(long, default_value = vswitch::db::DEFAULT_DB)]
    db: PathBuf,
    /// A configuration file (TOML) to load into the database, replacing
    /// what it held; `vswitch check --config FILE` validates it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The most detailed log lines written: error, warn, info or debug
    /// (default: `[switch] log_level`, or info).
    #[arg(long, value_parser = vswitch::config::parse_log_level)]
    log_level: Option<log::LevelFilter>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match vswitch::daemon::main_with_database(&cli.db, cli.config.as_deref(), cli.log_level) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("vswitchd: {e}");
            ExitCode::FAILURE
        }
    }
}
