//! The XDP program that steers frames to AF_XDP sockets, loaded and
//! attached with the bpf() system call alone.
//!
//! The program is `bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`:
//! a frame goes to the socket registered for its receive queue, or to the
//! kernel's stack when no socket is registered there. It is attached through
//! a BPF link, which the kernel detaches by itself when the last descriptor
//! of the link closes, also when the process is killed; a netlink attach
//! would leave the interface captured after a crash.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::errors::attach_error;
use super::{AttachMode, XdpMode};
use crate::PortError;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

const XDP_PASS: i32 = 2;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;
/// Offset of `rx_queue_index` in `struct xdp_md`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

/// Bytes of the verifier log asked for when a load fails, to explain why.
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

/// `union bpf_attr` for BPF_MAP_CREATE.
#[repr(C)]
#[derive(Clone, Copy)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// `union bpf_attr` for BPF_MAP_UPDATE_ELEM. Padding is an explicit field
/// so that every byte passed to the kernel is initialised.
#[repr(C)]
#[derive(Clone, Copy)]
struct MapElemAttr {
    map_fd: u32,
    padding: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_LINK_CREATE of an XDP link.
#[repr(C)]
#[derive(Clone, Copy)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// The part of `union bpf_attr` that these commands use. Built from
/// `zeroed` first, so the bytes a command does not use are zero, as the
/// kernel requires.
#[repr(C)]
union BpfAttr {
    zeroed: [u64; 9],
    map_create: MapCreateAttr,
    map_elem: MapElemAttr,
    prog_load: ProgLoadAttr,
    link_create: LinkCreateAttr,
}

const _: () = assert!(size_of::<BpfAttr>() == size_of::<[u64; 9]>());

impl BpfAttr {
    fn zeroed() -> BpfAttr {
        BpfAttr { zeroed: [0; 9] }
    }
}

/// Runs bpf(`cmd`, `attr`) and returns the non-negative result.
fn bpf(cmd: libc::c_long, attr: &mut BpfAttr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, fully initialised bpf_attr of the size
    // passed; every pointer stored in it (instructions, license, log, key,
    // value) points to memory that the caller keeps alive for this call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut BpfAttr,
            size_of::<BpfAttr>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a descriptor the bpf() call returned.
fn owned_fd(raw: libc::c_long) -> io::Result<OwnedFd> {
    let raw =
        RawFd::try_from(raw).map_err(|_| io::Error::other("bpf() returned a bad descriptor"))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A name for bpftool's listings, NUL-terminated in 16 bytes.
fn object_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (dst, src) in out.iter_mut().zip(name.bytes().take(15)) {
        *dst = src;
    }
    out
}

/// One eBPF instruction, `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BpfInsn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);`
fn redirect_program(xsk_map: RawFd) -> [BpfInsn; 6] {
    const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const LD_IMM_DW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
    const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const JMP_CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    [
        // r2 = ctx->rx_queue_index (the key)
        insn(LDX_MEM_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        // r1 = &xsks (a 64-bit immediate takes two instructions)
        insn(LD_IMM_DW, 1, BPF_PSEUDO_MAP_FD, 0, xsk_map),
        insn(0, 0, 0, 0, 0),
        // r3 = XDP_PASS: the action when the map has no socket for the key
        insn(ALU64_MOV_K, 3, 0, 0, XDP_PASS),
        insn(JMP_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(JMP_EXIT, 0, 0, 0, 0),
    ]
}

/// The redirect program attached to one interface, with its socket map.
///
/// Fields drop in declaration order: the link first (detaching the
/// program), then the program, then the map.
pub(super) struct XdpAttachment {
    _link: OwnedFd,
    _program: OwnedFd,
    xsk_map: OwnedFd,
    interface: String,
    mode: AttachMode,
}

impl XdpAttachment {
    /// Loads the program with a map of `max_queues` sockets and attaches it
    /// to `interface` in `mode`: `Auto` tries native, then generic.
    pub(super) fn attach(
        interface: &str,
        ifindex: u32,
        max_queues: u32,
        mode: XdpMode,
    ) -> Result<XdpAttachment, PortError> {
        let xsk_map = create_xsk_map(max_queues)
            .map_err(|e| attach_error(interface, "create the XSKMAP of", e))?;
        let program = load_program(&xsk_map)
            .map_err(|e| attach_error(interface, "load the XDP program for", e))?;
        let link_in = |mode: AttachMode| {
            create_link(&program, ifindex, mode)
                .map(|link| (link, mode))
                .map_err(|e| {
                    attach_error(
                        interface,
                        &format!("attach the XDP program ({mode} mode) to"),
                        e,
                    )
                })
        };
        let (link, mode) = match mode {
            XdpMode::Native => link_in(AttachMode::Native)?,
            XdpMode::Generic => link_in(AttachMode::Generic)?,
            // Busy and permission errors would be the same in generic mode;
            // anything else means the driver refused native mode.
            XdpMode::Auto => match link_in(AttachMode::Native) {
                Ok(attached) => attached,
                Err(e @ (PortError::InUse { .. } | PortError::Permission { .. })) => return Err(e),
                Err(_) => link_in(AttachMode::Generic)?,
            },
        };
        Ok(XdpAttachment {
            _link: link,
            _program: program,
            xsk_map,
            interface: interface.to_string(),
            mode,
        })
    }

    /// Where the program runs: in the driver or on the generic path.
    pub(super) fn mode(&self) -> AttachMode {
        self.mode
    }

    /// Steers frames of `queue_id` to the AF_XDP socket `xsk`. The kernel
    /// removes the entry by itself when the socket closes.
    pub(super) fn register_socket(&self, queue_id: u32, xsk: RawFd) -> Result<(), PortError> {
        let key = queue_id;
        let value = xsk as u32;
        let mut attr = BpfAttr::zeroed();
        attr.map_elem = MapElemAttr {
            map_fd: self.xsk_map.as_raw_fd() as u32,
            padding: 0,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            flags: 0, // BPF_ANY
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop).map_err(|e| {
            attach_error(
                &self.interface,
                &format!("register the AF_XDP socket of queue {queue_id} in the XSKMAP of"),
                e,
            )
        })
    }
}

fn create_xsk_map(max_entries: u32) -> io::Result<OwnedFd> {
    let mut attr = BpfAttr::zeroed();
    attr.map_create = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries,
        map_flags: 0,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: object_name("vsw_xsks"),
    };
    owned_fd(bpf(BPF_MAP_CREATE, &mut attr)?)
}

fn load_program(xsk_map: &OwnedFd) -> io::Result<OwnedFd> {
    let insns = redirect_program(xsk_map.as_raw_fd());
    let license = c"GPL";
    let load = |log: Option<&mut [u8]>| {
        let (log_level, log_size, log_buf) = match log {
            Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
            None => (0, 0, 0),
        };
        let mut attr = BpfAttr::zeroed();
        attr.prog_load = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            kern_version: 0,
            prog_flags: 0,
            prog_name: object_name("vsw_xsk_redir"),
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
        };
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    match load(None) {
        Ok(fd) => owned_fd(fd),
        Err(first) if first.raw_os_error() == Some(libc::EPERM) => Err(first),
        // Load again with the verifier's log, only to say why.
        Err(first) => {
            let mut log = vec![0u8; VERIFIER_LOG_SIZE];
            match load(Some(&mut log)) {
                Ok(fd) => owned_fd(fd),
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    Err(io::Error::new(
                        first.kind(),
                        format!("{first}; verifier log: {}", text.trim()),
                    ))
                }
            }
        }
    }
}

fn create_link(program: &OwnedFd, ifindex: u32, mode: AttachMode) -> io::Result<OwnedFd> {
    let mut attr = BpfAttr::zeroed();
    attr.link_create = LinkCreateAttr {
        prog_fd: program.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: match mode {
            AttachMode::Native => XDP_FLAGS_DRV_MODE,
            AttachMode::Generic => XDP_FLAGS_SKB_MODE,
        },
    };
    owned_fd(bpf(BPF_LINK_CREATE, &mut attr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_program_encodes_registers_and_helper() {
        let prog = redirect_program(7);
        assert_eq!(
            prog[0],
            BpfInsn {
                code: 0x61,
                regs: 0x12,
                off: 16,
                imm: 0
            }
        );
        assert_eq!(
            prog[1],
            BpfInsn {
                code: 0x18,
                regs: 0x11,
                off: 0,
                imm: 7
            }
        );
        assert_eq!(prog[3].imm, XDP_PASS);
        assert_eq!(prog[4].imm, BPF_FUNC_REDIRECT_MAP);
        assert_eq!(size_of::<BpfInsn>(), 8);
    }

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(size_of::<MapCreateAttr>(), 44);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
    }

    #[test]
    fn object_names_are_truncated_and_terminated() {
        let name = object_name("a_very_long_object_name");
        assert_eq!(&name[..15], b"a_very_long_obj");
        assert_eq!(name[15], 0);
    }
}
