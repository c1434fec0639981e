//! The control socket of the real `vswitchd` binary (null ports, so no
//! links are needed): its mode and owner whatever the umask, read access
//! for a configured group checked by SO_PEERCRED, what it does with
//! whatever is at its path, and clients that stall, send garbage or send
//! too much. As root (the owner checks and `setpriv` need it): not root,
//! or no `setpriv`/`groupadd`: a skip line (a failure under CI). Every
//! process, file and group a test makes is removed by guards, also on
//! failure.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vswitch::daemon::request;
use vswitch_ports::netns::{is_root, unique_name};
use vswitch_ports::testing::{can_exec, require, terminate, ChildGuard, TempDir};

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const VSCTL: &str = env!("CARGO_BIN_EXE_vsctl");
/// The user the unprivileged clients run as (nobody).
const NOBODY: &str = "65534";

/// A group made for one test, deleted on drop.
struct GroupGuard {
    name: String,
    gid: u32,
}

impl GroupGuard {
    fn create() -> GroupGuard {
        let name = unique_name("vsg");
        let out = Command::new("groupadd").arg(&name).output().unwrap();
        assert!(out.status.success(), "groupadd {name}: {out:?}");
        let group = std::fs::read_to_string("/etc/group").unwrap();
        let gid = group
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                (f.next() == Some(name.as_str()))
                    .then(|| f.nth(1).and_then(|g| g.parse().ok()))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no gid for {name} in /etc/group"));
        GroupGuard { name, gid }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

fn require_root(test: &str) -> bool {
    require(test, "root (socket owners, setpriv)", is_root())
}

/// A config with two null ports and the control socket at `socket`,
/// plus `extra` lines in `[switch]`.
fn write_config(dir: &TempDir, socket: &Path, extra: &str) -> PathBuf {
    let config = dir.join("vswitchd.toml");
    std::fs::write(
        &config,
        format!(
            "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n{extra}\n[[bridge]]\nname = \"br0\"\n\
             [[bridge.port]]\nname = \"a\"\ntype = \"null\"\n\
             [[bridge.port]]\nname = \"b\"\ntype = \"null\"\n",
            socket.display()
        ),
    )
    .unwrap();
    config
}

/// Starts `vswitchd --config config` under `umask 000`, its database
/// beside the configuration.
fn spawn_daemon(config: &Path) -> ChildGuard {
    ChildGuard(
        Command::new("sh")
            .arg("-c")
            .arg("umask 000 && exec \"$0\" --db \"$2\" --config \"$1\"")
            .arg(VSWITCHD)
            .arg(config)
            .arg(config.with_extension("db"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Starts the daemon and waits (bounded) until it answers on `socket`.
fn start_daemon(config: &Path, socket: &Path) -> ChildGuard {
    let mut child = spawn_daemon(config);
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(socket, "show").is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the daemon exited: {status}: {}", stderr_of(&mut child));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stderr_of(child: &mut ChildGuard) -> String {
    let mut text = String::new();
    if let Some(stderr) = child.0.stderr.as_mut() {
        let _ = std::io::Read::read_to_string(stderr, &mut text);
    }
    text
}

/// Waits (bounded by `limit`) for the child to exit; panics past it.
fn wait_exit(child: &mut ChildGuard, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `vsctl --socket socket <args>` as nobody with `groups` options of
/// setpriv (`--clear-groups`, `--groups=N`, ...) and primary group `gid`.
fn vsctl_as_nobody(socket: &Path, gid: &str, groups: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={gid}"))
        .arg(groups)
        .arg(VSCTL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// Sends `line` and reads one reply line, bounded in time.
fn exchange(socket: &Path, line: &[u8]) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(line).unwrap();
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).unwrap();
    reply
}

#[test]
fn socket_is_private_whatever_the_umask() {
    if !require_root("socket_is_private_whatever_the_umask") {
        return;
    }
    let dir = TempDir::new("ctl").unwrap();
    // A directory the daemon creates, under umask 000 too.
    let socket = dir.join("run/vswitchd.sock");
    let config = write_config(&dir, &socket, "");
    let mut child = start_daemon(&config, &socket);
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let parent = std::fs::metadata(dir.join("run")).unwrap();
    assert_eq!(parent.permissions().mode() & 0o7777, 0o755);
    terminate(child.0.id()).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    assert!(!socket.exists(), "the daemon left its socket");
}

#[test]
fn control_group_members_read_and_others_are_refused() {
    let test = "control_group_members_read_and_others_are_refused";
    if !(require_root(test)
        && require(
            test,
            "setpriv (apt-get install util-linux)",
            can_exec("setpriv", "--version"),
        )
        && require(
            test,
            "groupadd (apt-get install passwd)",
            can_exec("groupadd", "--help"),
        ))
    {
        return;
    }
    let group = GroupGuard::create();
    let dir = TempDir::new("ctl").unwrap();
    // nobody must be able to reach the socket's directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.join("vswitchd.sock");
    let config = write_config(
        &dir,
        &socket,
        &format!("control_group = \"{}\"", group.name),
    );
    let _child = start_daemon(&config, &socket);
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, group.gid));

    let gid = group.gid.to_string();
    // In the group as a supplementary group, or as the primary one.
    for (primary, groups) in [
        (NOBODY.to_string(), format!("--groups={gid}")),
        (gid.clone(), "--clear-groups".to_string()),
    ] {
        let out = vsctl_as_nobody(&socket, &primary, &groups, &["stats"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("rx_packets"),
            "{primary} {groups}: {out:?}"
        );
        // Reading the configuration is allowed, changing it is not.
        let out = vsctl_as_nobody(&socket, &primary, &groups, &["list", "bridge"]);
        assert!(out.status.success(), "{primary} {groups}: {out:?}");
        for write in [&["add-br", "brx"][..], &["fdb-flush", "br0"][..]] {
            let out = vsctl_as_nobody(&socket, &primary, &groups, write);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success()
                    && stderr.contains(&format!("members of group {} may only read", group.name)),
                "{write:?} as {primary} {groups}: {out:?}"
            );
        }
    }
    let export = std::process::Command::new(env!("CARGO_BIN_EXE_vsctl"))
        .args(["--socket", socket.to_str().unwrap(), "export"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&export.stdout).contains("brx"),
        "a refused write changed the configuration: {export:?}"
    );
    // Outside it: the socket's mode keeps it out.
    let out = vsctl_as_nobody(&socket, NOBODY, "--clear-groups", &["stats"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ermission denied"),
        "{out:?}"
    );
    // And were the mode opened by mistake, the credentials check still
    // does, saying why and what to do.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = vsctl_as_nobody(&socket, NOBODY, "--clear-groups", &["stats"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains(&format!("uid 65534 is not in group {}", group.name))
            && stderr.contains("usermod"),
        "{out:?}"
    );
    // Root still reads (and may write).
    request(&socket, "stats").unwrap();
}

#[test]
fn an_unknown_control_group_is_a_config_error() {
    if !require_root("an_unknown_control_group_is_a_config_error") {
        return;
    }
    let dir = TempDir::new("ctl").unwrap();
    let socket = dir.join("vswitchd.sock");
    let config = write_config(&dir, &socket, "control_group = \"no-such-vswitch-group\"");
    let mut child = spawn_daemon(&config);
    assert!(!wait_exit(&mut child, Duration::from_secs(10)).success());
    let stderr = stderr_of(&mut child);
    assert!(
        stderr.contains("switch.control_group") && stderr.contains("no-such-vswitch-group"),
        "{stderr}"
    );
    assert!(!socket.exists());
}

#[test]
fn only_a_stale_socket_is_replaced_and_only_ours_removed() {
    if !require_root("only_a_stale_socket_is_replaced_and_only_ours_removed") {
        return;
    }
    let dir = TempDir::new("ctl").unwrap();
    let socket = dir.join("vswitchd.sock");
    let config = write_config(&dir, &socket, "");

    // A regular file at the path: refused, named, and left in place.
    std::fs::write(&socket, b"precious").unwrap();
    let mut child = spawn_daemon(&config);
    assert!(!wait_exit(&mut child, Duration::from_secs(10)).success());
    let stderr = stderr_of(&mut child);
    assert!(
        stderr.contains(&socket.display().to_string()) && stderr.contains("a regular file"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&socket).unwrap(), b"precious");
    std::fs::remove_file(&socket).unwrap();

    // A stale socket (bound, nobody listening): replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(UnixStream::connect(&socket).is_err());
    let mut child = start_daemon(&config, &socket);
    request(&socket, "stats").unwrap();

    // What took the path while the daemon ran is not removed at its stop.
    std::fs::remove_file(&socket).unwrap();
    std::fs::write(&socket, b"someone else's").unwrap();
    terminate(child.0.id()).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    assert_eq!(std::fs::read(&socket).unwrap(), b"someone else's");
}

#[test]
fn stalled_clients_hold_up_nobody() {
    if !require_root("stalled_clients_hold_up_nobody") {
        return;
    }
    let dir = TempDir::new("ctl").unwrap();
    let socket = dir.join("vswitchd.sock");
    let config = write_config(&dir, &socket, "");
    let mut child = start_daemon(&config, &socket);

    // Ten connections that send nothing.
    let idle: Vec<UnixStream> = (0..10)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let asked = Instant::now();
    request(&socket, "stats").unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(1), "stats took {took:?}");

    // Garbage gets an error.
    let reply = exchange(&socket, b"\x01\x02garbage\n");
    assert!(reply.contains("unknown command"), "{reply}");
    let reply = exchange(&socket, b"\xff\xfe\n");
    assert!(reply.contains("not UTF-8"), "{reply}");

    // 10 MB without a newline: an error once 1 MiB is in, and no more is
    // read (the writer is cut off); others are answered meanwhile.
    let mut huge = UnixStream::connect(&socket).unwrap();
    huge.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let sent = huge.write_all(&vec![b'x'; 10 << 20]);
    assert!(sent.is_err(), "the daemon read all 10 MB");
    let mut reply = String::new();
    BufReader::new(&huge).read_line(&mut reply).unwrap();
    assert!(reply.contains("longer than 1048576 bytes"), "{reply}");
    request(&socket, "stats").unwrap();

    // Past the cap of clients at once, the oldest are dropped, told why.
    let crowd: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    request(&socket, "stats").unwrap();
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    BufReader::new(&idle[0]).read_line(&mut reply).unwrap();
    assert!(reply.contains("more than 64 clients"), "{reply}");
    drop(crowd);

    // An idle client is let go at its deadline.
    let late = UnixStream::connect(&socket).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut reply = String::new();
    BufReader::new(&late).read_line(&mut reply).unwrap();
    assert!(reply.contains("no complete request within 5 s"), "{reply}");

    // And a stop does not wait for idle clients.
    let idle: Vec<UnixStream> = (0..10)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let stopping = Instant::now();
    terminate(child.0.id()).unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
    drop(idle);
}
