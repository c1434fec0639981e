//! What the project's tests share about the machine they run on: whether a
//! test can run here (and, under CI, a failure when it cannot), temporary
//! directories that remove themselves, and signals to child processes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether a test that needs something of the machine can run. True when
/// `ok`; otherwise prints one line, `skipped: <test>: needs <needs>`, and
/// returns false, so the test returns early. When the environment variable
/// `CI` is set (not empty) it panics with that reason instead: a green CI
/// run means every test ran.
pub fn require(test: &str, needs: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(!ci, "{test} cannot run, and CI is set: needs {needs}");
    // Straight to the stream, not eprintln!: the test harness captures the
    // print macros of passing tests, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "skipped: {test}: needs {needs}");
    false
}

/// [`require`] of what building network namespaces and links takes: root
/// (which XDP programs and TAP devices need too) and iproute2's `ip`.
pub fn require_netns(test: &str) -> bool {
    require(
        test,
        "root (network namespaces, links and XDP programs)",
        crate::netns::is_root(),
    ) && require(
        test,
        "the `ip` command (apt-get install iproute2)",
        can_exec("ip", "-V"),
    )
}

/// Whether `program` can be started (it is installed and on PATH).
pub fn can_exec(program: &str, version_flag: &str) -> bool {
    std::process::Command::new(program)
        .arg(version_flag)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Sends SIGTERM to process `pid` (a child a test started), as `kill`
/// would, to check that it stops cleanly.
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::other(format!("process id {pid} is out of range")))?;
    // SAFETY: kill takes no pointers; a wrong pid is an error, not UB.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A child process killed and reaped on drop, so that a test failing half
/// way leaves no process behind.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory under the system temp dir, unique to this run, removed with
/// what it holds on drop (also when the test fails).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<temp>/<prefix><unique>`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let dir = std::env::temp_dir().join(crate::netns::unique_name(prefix));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_need_runs() {
        assert!(require("a_met_need_runs", "nothing", true));
    }

    #[test]
    fn temp_dirs_are_removed_on_drop() {
        let dir = TempDir::new("tmp").unwrap();
        std::fs::write(dir.join("f"), b"x").unwrap();
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn terminate_refuses_a_pid_out_of_range() {
        assert!(terminate(u32::MAX).is_err());
    }
}
