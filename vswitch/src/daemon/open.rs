//! Opening a configured port: its handles (one per queue) and what `show`
//! says it is attached to.

use vswitch_pipeline::PortId;
use vswitch_ports::afpacket::AfPacketPort;
use vswitch_ports::afxdp::{AfXdpConfig, AfXdpPort, XdpMode, ZeroCopy};
use vswitch_ports::memory::MemoryPort;
use vswitch_ports::pcap::{PcapPort, PcapReader, PcapWriter};
use vswitch_ports::tap::TapPort;
use vswitch_ports::Port;

use crate::config::{PortConfig, PortKind, XdpAttachMode, ZeroCopyMode};

/// Handles of one configured port.
pub(crate) struct OpenPort {
    pub(crate) id: PortId,
    pub(crate) handles: Vec<Box<dyn Port>>,
    pub(crate) detail: String,
}

pub(crate) fn open_port(id: PortId, port: &PortConfig) -> Result<OpenPort, String> {
    let what = format!("port {:?} ({})", port.name, port.kind.type_name());
    let (handles, detail): (Vec<Box<dyn Port>>, String) = match &port.kind {
        PortKind::AfXdp {
            interface,
            queues,
            mode,
            zero_copy,
            ring_size,
        } => {
            let mut cfg = AfXdpConfig::new(interface.clone());
            cfg.rx_ring = *ring_size;
            cfg.tx_ring = *ring_size;
            cfg.completion_ring = *ring_size;
            // The fill ring at twice the RX ring (DESIGN.md), with a frame
            // for every fill slot and every TX slot.
            cfg.fill_ring = ring_size * 2;
            cfg.frame_count = ring_size * 4;
            cfg.mode = match mode {
                XdpAttachMode::Auto => XdpMode::Auto,
                XdpAttachMode::Native => XdpMode::Native,
                XdpAttachMode::Generic => XdpMode::Generic,
            };
            cfg.zero_copy = match zero_copy {
                ZeroCopyMode::Auto => ZeroCopy::Auto,
                ZeroCopyMode::On => ZeroCopy::On,
                ZeroCopyMode::Off => ZeroCopy::Off,
            };
            let queue_ids: Vec<u32> = (0..*queues).collect();
            let opened =
                AfXdpPort::open_queues(&cfg, &queue_ids).map_err(|e| format!("{what}: {e}"))?;
            let detail = match opened.first() {
                Some(p) => format!("{interface}, {} queue(s), {}", opened.len(), p.mode()),
                None => interface.clone(),
            };
            (
                opened
                    .into_iter()
                    .map(|p| Box::new(p) as Box<dyn Port>)
                    .collect(),
                detail,
            )
        }
        PortKind::AfPacket { interface } => {
            let port = AfPacketPort::open(interface).map_err(|e| format!("{what}: {e}"))?;
            (
                vec![Box::new(port)],
                format!("{interface}, AF_PACKET with offloads"),
            )
        }
        PortKind::Tap { interface, netns } => {
            let tap =
                TapPort::open(interface, netns.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            let detail = match netns {
                Some(ns) => format!("{} in namespace {ns}", tap.name()),
                None => tap.name().to_string(),
            };
            (vec![Box::new(tap)], detail)
        }
        PortKind::Pcap {
            input,
            looping: true,
            ..
        } => {
            let input = input
                .as_ref()
                .ok_or_else(|| format!("{what}: loop needs an input"))?;
            let mut reader = PcapReader::open(input).map_err(|e| format!("{what}: {e}"))?;
            let mut mem = MemoryPort::new(&port.name);
            mem.push_rx_pcap(&mut reader)
                .map_err(|e| format!("{what}: {e}"))?;
            mem.set_looping(true);
            mem.set_discard_tx(true);
            let detail = format!(
                "{} frames of {} looping from memory",
                mem.rx_len(),
                input.display()
            );
            (vec![Box::new(mem)], detail)
        }
        PortKind::Pcap { input, output, .. } => {
            let reader = input
                .as_ref()
                .map(PcapReader::open)
                .transpose()
                .map_err(|e| format!("{what}: {e}"))?;
            let writer = output
                .as_ref()
                .map(PcapWriter::create)
                .transpose()
                .map_err(|e| format!("{what}: {e}"))?;
            let detail = format!(
                "in {}, out {}",
                input
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string()),
                output
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string())
            );
            (
                vec![Box::new(PcapPort::new(&port.name, reader, writer))],
                detail,
            )
        }
        PortKind::Tunnel(t) => (
            Vec::new(),
            format!(
                "{} VNI {} over {} from {}",
                t.kind.name(),
                t.vni,
                t.uplink,
                t.local
            ),
        ),
        PortKind::Null => (
            vec![Box::new(MemoryPort::null(&port.name))],
            "drops what it is sent".into(),
        ),
    };
    log::info!(
        "port {:?} ({}) open: {detail}",
        port.name,
        port.kind.type_name()
    );
    Ok(OpenPort {
        id,
        handles,
        detail,
    })
}
