//! One AF_XDP socket: its UMEM registration, its four rings, its bind to an
//! interface queue, and the system calls of the data path (kicks) and of
//! statistics.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ring::{ConsumerRing, ProducerRing};
use super::txmd::register_umem;
use super::umem::Umem;

/// Entries per ring, each a power of two.
#[derive(Clone, Copy, Debug)]
pub(super) struct RingSizes {
    pub(super) rx: u32,
    pub(super) tx: u32,
    pub(super) fill: u32,
    pub(super) completion: u32,
}

/// The step of socket setup that failed, for the error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SetupStep {
    CreateSocket,
    RegisterUmem,
    ConfigureRings,
    MapRings,
    Bind,
}

/// A failed setup step and the kernel's answer.
#[derive(Debug)]
pub(super) struct SetupError {
    pub(super) step: SetupStep,
    pub(super) source: io::Error,
}

fn at(step: SetupStep) -> impl FnOnce(io::Error) -> SetupError {
    move |source| SetupError { step, source }
}

/// A bound AF_XDP socket. Fields drop in declaration order: the rings are
/// unmapped, then the socket closes (which also removes it from the
/// XSKMAP).
pub(super) struct XskSocket {
    pub(super) rx: ConsumerRing<libc::xdp_desc>,
    pub(super) tx: ProducerRing<libc::xdp_desc>,
    pub(super) fill: ProducerRing<u64>,
    pub(super) completion: ConsumerRing<u64>,
    /// True when the UMEM was registered with TX metadata
    /// ([`super::txmd`]): every TX frame starts after its metadata area.
    pub(super) tx_metadata: bool,
    fd: OwnedFd,
}

impl XskSocket {
    /// Creates a socket on `umem`, bound to queue `queue_id` of interface
    /// `ifindex` with `bind_flags` (XDP_COPY or XDP_ZEROCOPY, and maybe
    /// XDP_USE_NEED_WAKEUP).
    pub(super) fn open(
        ifindex: u32,
        queue_id: u32,
        umem: &Umem,
        sizes: RingSizes,
        bind_flags: u16,
    ) -> Result<XskSocket, SetupError> {
        // SAFETY: socket() takes no pointers; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(at(SetupStep::CreateSocket)(io::Error::last_os_error()));
        }
        // SAFETY: socket() just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // A refused registration leaves the socket without a UMEM, so the
        // second attempt goes on the same socket.
        let tx_metadata = register_umem(|tx_metadata| {
            set_option(&fd, libc::XDP_UMEM_REG, &umem.registration(tx_metadata))
        })
        .map_err(at(SetupStep::RegisterUmem))?;
        set_option(&fd, libc::XDP_UMEM_FILL_RING, &sizes.fill)
            .map_err(at(SetupStep::ConfigureRings))?;
        set_option(&fd, libc::XDP_UMEM_COMPLETION_RING, &sizes.completion)
            .map_err(at(SetupStep::ConfigureRings))?;
        set_option(&fd, libc::XDP_RX_RING, &sizes.rx).map_err(at(SetupStep::ConfigureRings))?;
        set_option(&fd, libc::XDP_TX_RING, &sizes.tx).map_err(at(SetupStep::ConfigureRings))?;

        let offsets: libc::xdp_mmap_offsets =
            get_option(&fd, libc::XDP_MMAP_OFFSETS).map_err(at(SetupStep::MapRings))?;
        let rx = ConsumerRing::map(&fd, &offsets.rx, sizes.rx, libc::XDP_PGOFF_RX_RING as u64)
            .map_err(at(SetupStep::MapRings))?;
        let tx = ProducerRing::map(&fd, &offsets.tx, sizes.tx, libc::XDP_PGOFF_TX_RING as u64)
            .map_err(at(SetupStep::MapRings))?;
        let fill = ProducerRing::map(&fd, &offsets.fr, sizes.fill, libc::XDP_UMEM_PGOFF_FILL_RING)
            .map_err(at(SetupStep::MapRings))?;
        let completion = ConsumerRing::map(
            &fd,
            &offsets.cr,
            sizes.completion,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )
        .map_err(at(SetupStep::MapRings))?;

        let address = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: bind_flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue_id,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `address` is a valid sockaddr_xdp of the length passed and
        // outlives the call; the descriptor is open.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_xdp).cast(),
                size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(at(SetupStep::Bind)(io::Error::last_os_error()));
        }
        Ok(XskSocket {
            rx,
            tx,
            fill,
            completion,
            tx_metadata,
            fd,
        })
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// True when the kernel bound the socket in zero-copy mode.
    pub(super) fn is_zero_copy(&self) -> io::Result<bool> {
        let options: libc::xdp_options = get_option(&self.fd, libc::XDP_OPTIONS)?;
        Ok(options.flags & libc::XDP_OPTIONS_ZEROCOPY != 0)
    }

    /// The kernel's drop and error counters of this socket.
    pub(super) fn statistics(&self) -> io::Result<libc::xdp_statistics> {
        get_option(&self.fd, libc::XDP_STATISTICS)
    }

    /// Asks the kernel to look at the fill ring (needed when its
    /// need-wakeup flag is set).
    pub(super) fn kick_rx(&self) -> io::Result<()> {
        // SAFETY: a zero-length receive with null buffers reads nothing;
        // the descriptor is open.
        let rc = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Asks the kernel to send what is on the TX ring. In copy mode the
    /// kernel sends at most 32 frames per call before it returns.
    pub(super) fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: a zero-length send with null buffers writes nothing;
        // the descriptor is open.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

fn set_option<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the length passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A value read with getsockopt: a C struct of integers only, for which
/// all-zero and any bytes the kernel writes are valid.
trait PlainOption: Copy {}
impl PlainOption for libc::xdp_mmap_offsets {}
impl PlainOption for libc::xdp_options {}
impl PlainOption for libc::xdp_statistics {}

/// Reads socket option `name` of level SOL_XDP.
fn get_option<T: PlainOption>(fd: &OwnedFd, name: libc::c_int) -> io::Result<T> {
    // SAFETY: `T` is integers only (PlainOption), valid when zeroed.
    let mut value: T = unsafe { std::mem::zeroed() };
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a writable `T` of `len` bytes; the kernel writes
    // at most `len` bytes and stores the length it wrote.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<T>() {
        return Err(io::Error::other(format!(
            "kernel returned {len} bytes for socket option {name}, expected {} (kernel too old?)",
            size_of::<T>()
        )));
    }
    Ok(value)
}
