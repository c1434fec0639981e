//! `vswitch`: offline tools. `check` validates a configuration; `replay`
//! runs captures through the datapath.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vswitch::config::Config;
use vswitch::replay::{replay, replay_traced, ReplayOptions};

#[derive(Parser)]
#[command(name = "vswitch", version, about = "vswitch offline tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring up the example containers of a configuration on the switch,
    /// show traffic crossing it, and tear everything down (needs root).
    Demo {
        /// A configuration with [[container]] entries.
        #[arg(long, default_value = "configs/demo.toml")]
        config: PathBuf,
        /// Keep the containers and the switch up until Ctrl-C, to explore
        /// with `vsctl --socket <path>` and `ip netns exec`.
        #[arg(long)]
        keep: bool,
        /// Instead: two hosts, each a namespace running vswitchd, with
        /// containers on overlay networks blue (VXLAN VNI 42) and red (VNI
        /// 43) across an underlay veth (`--config` is not used).
        #[arg(long)]
        overlay: bool,
        /// The vswitchd binary the overlay demo runs on each host (default:
        /// the one beside this program).
        #[arg(long, requires = "overlay")]
        vswitchd: Option<PathBuf>,
    },
    /// Validate a configuration file and print what it declares.
    Check {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run capture files through the datapath of a configuration, writing
    /// one capture per port and a JSON summary.
    Replay {
        /// The configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// PORT=FILE: frames of FILE (pcap or pcapng) arrive on port PORT.
        /// Repeat for several ports.
        #[arg(long = "input", value_parser = parse_input, required = true)]
        inputs: Vec<(String, PathBuf)>,
        /// Directory for <port>.pcap outputs and summary.json.
        #[arg(long)]
        output_dir: PathBuf,
        /// Print, for every frame, the stages it met and what each decided
        /// (as Open vSwitch's ofproto/trace does).
        #[arg(long)]
        trace: bool,
    },
}

fn parse_input(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((port, file)) if !port.is_empty() && !file.is_empty() => {
            Ok((port.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!(
            "{text:?} is not PORT=FILE (for example c1=in.pcap)"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            overlay: true,
            keep,
            vswitchd,
            ..
        } => vswitch::demo::overlay::run(vswitchd.as_deref(), keep),
        Command::Demo { config, keep, .. } => vswitch::demo::run(&config, keep),
        Command::Check { config } => Config::load(&config)
            .map(|c| {
                for bridge in &c.bridges {
                    println!(
                        "bridge {}: {} port(s), MAC limit {}, aging {} s",
                        bridge.name,
                        bridge.ports.len(),
                        bridge.mac_limit,
                        bridge.mac_aging_secs
                    );
                    for port in &bridge.ports {
                        println!("  port {} type={}", port.name, port.kind.type_name());
                    }
                }
                println!("{}: ok", config.display());
            })
            .map_err(|e| e.to_string()),
        Command::Replay {
            config,
            inputs,
            output_dir,
            trace,
        } => {
            let options = ReplayOptions {
                config,
                inputs,
                output_dir: output_dir.clone(),
            };
            if trace {
                replay_traced(&options).map(|(summary, text)| {
                    print!("{text}");
                    summary
                })
            } else {
                replay(&options)
            }
        }
        .map(|s| {
            for (name, p) in &s.ports {
                println!(
                    "{name}: rx {} tx {} drops {}",
                    p.rx_packets, p.tx_packets, p.drops
                );
            }
            let us = |ns: Option<u64>| ns.map_or("-".into(), |n| format!("{:.1}", n as f64 / 1e3));
            println!(
                "in the switch per frame: p50 {} us p99 {} us p99.9 {} us",
                us(s.latency.p50_ns),
                us(s.latency.p99_ns),
                us(s.latency.p999_ns)
            );
            println!(
                "{} frames replayed; outputs and summary.json in {}",
                s.frames,
                output_dir.display()
            );
        })
        .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vswitch: {e}");
            ExitCode::FAILURE
        }
    }
}
