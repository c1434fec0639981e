//! CPU placement and cycle counting for poll-mode workers.

use crate::PortError;

/// Pins the calling thread to CPU `core`.
pub fn pin_current_thread(core: usize) -> Result<(), PortError> {
    let cores = available_cores();
    if core >= libc::CPU_SETSIZE as usize || !cores.contains(&core) {
        return Err(PortError::io(
            format!("cannot pin a worker to core {core}"),
            std::io::Error::other(format!(
                "this process may run on cores {cores:?}; pick worker cores from that list"
            )),
        ));
    }
    // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is below CPU_SETSIZE (checked above), so CPU_SET
    // writes inside `set`.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; the pointer and size describe
    // `set`, which lives across the call.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(PortError::io(
            format!("cannot pin a worker to core {core}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// The cores this process may run on.
pub fn available_cores() -> Vec<usize> {
    // SAFETY: as above, all zeros is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()`
    // bytes into `set`.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `i` is below CPU_SETSIZE, so CPU_ISSET reads inside `set`.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect()
}

/// The CPU's time-stamp counter: cycles at a constant rate, cheap to read
/// (no system call). Used for cycles-per-packet figures, never for time.
#[inline]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64 and touches no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_to_an_allowed_core_and_refuse_others() {
        let cores = available_cores();
        assert!(!cores.is_empty());
        let allowed = cores[0];
        std::thread::spawn(move || pin_current_thread(allowed).unwrap())
            .join()
            .unwrap();
        let err = pin_current_thread(100_000).unwrap_err().to_string();
        assert!(err.contains("core 100000"), "{err}");
    }

    #[test]
    fn cycles_advance() {
        let a = cycles();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(cycles() > a);
    }
}
