//! The configuration database through the real binaries: `vsctl`
//! commands against a running `vswitchd` child, the state restored by a
//! restart on the same `--db`, refused transactions that change nothing,
//! and SIGKILL at random moments of 100 writes leaving the old or the new
//! document; and, as root, a port deleted and re-created under a ping
//! between two others that loses nothing. Every daemon is killed and every
//! file, link and namespace removed by guards, also on failure.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vswitch::config::Config;
use vswitch::daemon::{call, Request};
use vswitch::db::{Op, TableName};
use vswitch_ports::netns::{ip, run_in_netns, unique_name, NetNs, Veth};
use vswitch_ports::ping::Pinger;
use vswitch_ports::testing::{require_netns, TempDir};

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const VSCTL: &str = env!("CARGO_BIN_EXE_vsctl");

/// A `vswitchd` child on a database in its own directory; killed on drop.
struct Vswitchd {
    child: Child,
}

impl Vswitchd {
    /// Starts the daemon on `db` (loading `config` if given) and waits
    /// until its control socket answers.
    fn start(db: &Path, config: Option<&Path>, socket: &Path) -> Vswitchd {
        let mut command = Command::new(VSWITCHD);
        command.arg("--db").arg(db);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child = command.stderr(std::process::Stdio::null()).spawn().unwrap();
        let mut daemon = Vswitchd { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while call(socket, &Request::Show).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            assert!(
                daemon.child.try_wait().unwrap().is_none(),
                "the daemon exited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vswitchd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `vsctl --socket SOCKET args...`.
fn vsctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(VSCTL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap()
}

/// `vsctl` that must succeed: its standard output.
fn ok(socket: &Path, args: &[&str]) -> String {
    let out = vsctl(socket, args);
    assert!(
        out.status.success(),
        "vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `vsctl` that must fail: its standard error.
fn refused(socket: &Path, args: &[&str]) -> String {
    let out = vsctl(socket, args);
    assert!(!out.status.success(), "vsctl {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// A test's directory with a database path and a start-up file holding
/// `[switch]` (its socket in the directory) and `rest`.
struct Setup {
    dir: TempDir,
    db: PathBuf,
    socket: PathBuf,
    config: PathBuf,
}

fn setup(name: &str, rest: &str) -> Setup {
    let dir = TempDir::new(name).unwrap();
    let db = dir.join("db/conf.toml");
    let socket = dir.join("vswitchd.sock");
    let config = dir.join("start.toml");
    std::fs::write(
        &config,
        format!(
            "# start-up file\n[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n{rest}",
            socket.display()
        ),
    )
    .unwrap();
    Setup {
        dir,
        db,
        socket,
        config,
    }
}

#[test]
fn vsctl_round_trip_and_restore_on_restart() {
    let s = setup("dbrt", "");
    let sock = s.socket.as_path();
    let mut daemon = Vswitchd::start(&s.db, Some(&s.config), sock);
    assert!(s.db.exists(), "--config is stored in the database at start");
    assert_eq!(ok(sock, &["show"]).lines().count(), 1, "no ports yet");

    ok(sock, &["add-br", "br0", "mac_aging_secs=60"]);
    let output = s.dir.join("p2.pcap");
    let pcap_output = format!("options:output={}", output.display());
    ok(sock, &["add-port", "br0", "p1", "type=null", "vlan=10"]);
    ok(sock, &["add-port", "br0", "p2", "type=pcap", &pcap_output]);
    // Two ops joined by `--` as one transaction.
    ok(
        sock,
        &[
            "add-port",
            "br0",
            "p3",
            "type=null",
            "--",
            "set",
            "port",
            "p3",
            "trunks=[10,20]",
        ],
    );
    ok(sock, &["set", "port", "p1", "vlan=20", "mac_limit=50"]);
    assert_eq!(
        ok(sock, &["get", "port", "p1", "vlan", "mac_limit"]),
        "20\n50\n"
    );
    assert_eq!(ok(sock, &["get", "port", "p3", "trunks"]), "[10, 20]\n");
    assert_eq!(
        ok(sock, &["get", "port", "p2", "options:output"]),
        format!("{}\n", output.display())
    );
    let listed = ok(sock, &["list", "bridge", "br0"]);
    assert!(
        listed.contains("mac_aging_secs : 60") && listed.contains(r#"["p1", "p2", "p3"]"#),
        "{listed}"
    );
    let show = ok(sock, &["show"]);
    for port in ["br0/p1", "br0/p2", "br0/p3"] {
        assert!(show.contains(port), "{show}");
    }
    assert!(output.exists(), "the pcap port was opened, live");
    ok(sock, &["del-port", "p2"]);
    assert!(!ok(sock, &["show"]).contains("p2"));
    let exported = ok(sock, &["export"]);
    assert_eq!(exported, std::fs::read_to_string(&s.db).unwrap());
    let config = Config::parse(&exported, "export").unwrap();
    let ports: Vec<&str> = config.bridges[0]
        .ports
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(ports, ["p1", "p3"]);
    assert_eq!(config.bridges[0].mac_aging_secs, 60);

    // Restarted on the same database, without --config: all restored.
    daemon.kill();
    let daemon = Vswitchd::start(&s.db, None, sock);
    assert_eq!(ok(sock, &["export"]), exported);
    let show = ok(sock, &["show"]);
    assert!(show.contains("br0/p1") && show.contains("br0/p3"), "{show}");
    assert_eq!(ok(sock, &["get", "port", "p1", "vlan"]), "20\n");

    ok(sock, &["del-br", "br0"]);
    assert_eq!(ok(sock, &["show"]).lines().count(), 1, "no ports left");
    assert!(!ok(sock, &["export"]).contains("bridge"));
    // Queries keep working, and join no transaction.
    ok(sock, &["stats"]);
    ok(sock, &["pmd-stats"]);
    let e = refused(sock, &["add-br", "br1", "--", "show"]);
    assert!(e.contains("only configuration commands"), "{e}");
    drop(daemon);
}

#[test]
fn a_database_without_bridges_grows_by_vsctl() {
    // The stored document holds only [switch] (where the socket is): the
    // daemon starts with no bridges, and add-br adds the first.
    let s = setup("dbempty", "");
    std::fs::create_dir_all(s.db.parent().unwrap()).unwrap();
    std::fs::copy(&s.config, &s.db).unwrap();
    let sock = s.socket.as_path();
    let _daemon = Vswitchd::start(&s.db, None, sock);
    ok(sock, &["add-br", "br0"]);
    ok(sock, &["add-port", "br0", "c1", "type=null"]);
    assert!(ok(sock, &["show"]).contains("br0/c1"));
    assert_eq!(
        ok(sock, &["list", "bridge"]),
        "name : br0\nport : [\"c1\"]\n"
    );
}

#[test]
fn a_refused_transaction_changes_nothing() {
    let s = setup(
        "dbrb",
        "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"p1\"\ntype = \"null\"\n",
    );
    let sock = s.socket.as_path();
    let _daemon = Vswitchd::start(&s.db, Some(&s.config), sock);
    let stored = std::fs::read(&s.db).unwrap();
    let exported = ok(sock, &["export"]);
    let show = ok(sock, &["show"]);
    let unchanged = |why: &str| {
        assert_eq!(std::fs::read(&s.db).unwrap(), stored, "{why}: the file");
        assert_eq!(ok(sock, &["export"]), exported, "{why}: the database");
        let now = ok(sock, &["show"]);
        // Only the uptime may differ.
        assert_eq!(
            now.lines().skip(1).collect::<Vec<_>>(),
            show.lines().skip(1).collect::<Vec<_>>(),
            "{why}: the running ports"
        );
    };

    // The last op adds a port on an interface that does not exist.
    let e = refused(
        sock,
        &[
            "add-port",
            "br0",
            "c1",
            "type=null",
            "--",
            "add-port",
            "br0",
            "c2",
            "type=afxdp",
            "options:interface=nosuchif0",
        ],
    );
    assert!(
        e.contains("nothing changed") && e.contains("nosuchif0"),
        "{e}"
    );
    unchanged("a port that cannot be opened");

    let e = refused(
        sock,
        &[
            "add-port",
            "br0",
            "c1",
            "type=null",
            "--",
            "set",
            "port",
            "c1",
            "vlan=5000",
        ],
    );
    assert!(
        e.contains("op 2 (set port c1)") && e.contains("vlan") && e.contains("5000"),
        "{e}"
    );
    unchanged("an invalid VLAN");

    let e = refused(sock, &["set", "switch", ".", "batch_size=64"]);
    assert!(e.contains("restart"), "{e}");
    unchanged("a [switch] change");

    let e = refused(sock, &["del-port", "nosuch"]);
    assert!(e.contains("no port \"nosuch\""), "{e}");
    let e = refused(sock, &["set", "port", "p1", "vlan"]);
    assert!(e.contains("column=value"), "{e}");
    unchanged("a bad op");
}

/// What the writer of the crash test shares with the killer.
#[derive(Default)]
struct Writes {
    /// The last value the daemon acknowledged.
    acked: u32,
    /// While set, the writer sends nothing.
    paused: bool,
}

fn aging_set(value: u32) -> Request {
    let mut settings = toml::Table::new();
    settings.insert("mac_aging_secs".into(), i64::from(value).into());
    Request::Transact {
        ops: vec![Op::Set {
            table: TableName::Bridge,
            record: "br0".into(),
            settings,
        }],
    }
}

/// A value in 1..=n, different from run to run.
fn random_below(n: u64, salt: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.finish() % n + 1
}

#[test]
fn sigkill_during_writes_leaves_the_old_or_the_new_document() {
    const WRITES: u32 = 100;
    let s = setup(
        "dbkill",
        "[[bridge]]\nname = \"br0\"\nmac_aging_secs = 1000\n\
         [[bridge.port]]\nname = \"p1\"\ntype = \"null\"\n",
    );
    let sock = s.socket.clone();
    let mut daemon = Vswitchd::start(&s.db, Some(&s.config), &sock);
    let initial = Config::parse(&std::fs::read_to_string(&s.db).unwrap(), "db").unwrap();
    // The document with aging `v` is the initial one but for that value.
    let expected = |v: u32| {
        let mut c = initial.clone();
        c.bridges[0].mac_aging_secs = v;
        c
    };
    let writes = Arc::new(Mutex::new(Writes {
        acked: 1000,
        paused: false,
    }));
    // The writer sets the aging to 1, 2, ... 100, each once acknowledged,
    // retrying while the daemon is down; it holds the lock while a
    // request is out, so the killer sees which are acknowledged.
    let writer = {
        let writes = Arc::clone(&writes);
        let sock = sock.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(240);
            let mut next = 1;
            while next <= WRITES && Instant::now() < deadline {
                let mut w = writes.lock().unwrap();
                if !w.paused && call(&sock, &aging_set(next)).is_ok() {
                    w.acked = next;
                    next += 1;
                    continue;
                }
                drop(w);
                std::thread::sleep(Duration::from_millis(5));
            }
            next > WRITES
        })
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut kills = 0;
    let mut caught_in_flight = 0;
    while !writer.is_finished() && Instant::now() < deadline && kills < 40 {
        // Let a few writes through, then kill at a random moment.
        std::thread::sleep(Duration::from_millis(random_below(60, kills)));
        daemon.kill();
        kills += 1;
        let acked = {
            let mut w = writes.lock().unwrap();
            w.paused = true;
            w.acked
        };
        let text = std::fs::read_to_string(&s.db).unwrap();
        let stored = Config::parse(&text, "db")
            .unwrap_or_else(|e| panic!("kill {kills}: the database does not parse: {e}\n{text}"));
        let v = stored.bridges[0].mac_aging_secs;
        // The last acknowledged document, or the one in flight when killed.
        let in_flight = if acked == 1000 { 1 } else { acked + 1 };
        assert!(
            v == acked || v == in_flight,
            "kill {kills}: stored aging {v}, acknowledged {acked}"
        );
        assert_eq!(stored, expected(v), "kill {kills}: half a document");
        caught_in_flight += u32::from(v != acked);
        daemon = Vswitchd::start(&s.db, None, &sock);
        let restored = call(&sock, &Request::Export).unwrap();
        assert_eq!(restored["document"].as_str(), Some(text.as_str()));
        writes.lock().unwrap().paused = false;
    }
    assert!(
        writer.join().unwrap(),
        "the writer did not get its 100 writes through"
    );
    assert!(kills >= 3, "only {kills} kills happened during the writes");
    eprintln!("{kills} kills; {caught_in_flight} stored a write not yet acknowledged");
    let text = std::fs::read_to_string(&s.db).unwrap();
    assert_eq!(Config::parse(&text, "db").unwrap(), expected(WRITES));
    let leftovers: Vec<_> = std::fs::read_dir(s.db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "conf.toml" && n != "conf.toml.tmp")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    drop(daemon);
}

/// A namespace with its eth0 at `address`, the other end of a veth whose
/// host end is the returned name.
fn container(address: &str) -> (NetNs, Veth, String) {
    let ns = NetNs::create(&unique_name("dbl")).unwrap();
    let host = unique_name("vd");
    let peer = unique_name("vd");
    let veth = Veth::create(&host, &peer, Some(&ns)).unwrap();
    ns.ip(&["link", "set", &peer, "name", "eth0"]).unwrap();
    ns.ip(&["addr", "add", address, "dev", "eth0"]).unwrap();
    ns.ip(&["link", "set", "eth0", "up"]).unwrap();
    ip(&["link", "set", &host, "up"]).unwrap();
    (ns, veth, host)
}

#[test]
fn a_port_deleted_and_re_created_under_traffic_costs_the_others_nothing() {
    let test = "a_port_deleted_and_re_created_under_traffic_costs_the_others_nothing";
    if !require_netns(test) {
        return;
    }
    let (ns1, _veth1, host1) = container("10.77.0.1/24");
    let (ns2, _veth2, host2) = container("10.77.0.2/24");
    let (ns3, _veth3, host3) = container("10.77.0.3/24");
    let port = |name: &str, host: &str| {
        format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"afxdp\"\noptions = {{ interface = \"{host}\" }}\n")
    };
    let s = setup(
        "dblive",
        &format!(
            "[[bridge]]\nname = \"br0\"\n{}{}{}",
            port("c1", &host1),
            port("c2", &host2),
            port("c3", &host3)
        ),
    );
    let sock = s.socket.as_path();
    let _daemon = Vswitchd::start(&s.db, Some(&s.config), sock);
    let c2: Ipv4Addr = "10.77.0.2".parse().unwrap();
    let c1: Ipv4Addr = "10.77.0.1".parse().unwrap();
    let pinger = |ns: &NetNs| run_in_netns(ns.name(), Pinger::open).unwrap().unwrap();
    // Resolve ARP first, so the measured run is echo only.
    let warm = pinger(&ns1)
        .ping(c2, 3, Duration::from_millis(100), Duration::from_secs(2))
        .unwrap();
    assert_eq!(warm.received(), 3, "c1 cannot reach c2 at all");

    // 300 echoes 10 ms apart while c3's port goes and comes back 3 times.
    const ECHOES: u32 = 300;
    let flow = {
        let p = pinger(&ns1);
        std::thread::spawn(move || {
            p.ping(
                c2,
                ECHOES,
                Duration::from_millis(10),
                Duration::from_secs(3),
            )
        })
    };
    let readd = format!("options:interface={host3}");
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        ok(sock, &["del-port", "c3"]);
        assert!(!ok(sock, &["show"]).contains("br0/c3"), "round {round}");
        std::thread::sleep(Duration::from_millis(100));
        // A socket just closed may be released by the kernel a moment
        // later: the transaction is refused (changing nothing) until then.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = vsctl(sock, &["add-port", "br0", "c3", "type=afxdp", &readd]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: c3 did not come back: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let report = flow.join().unwrap().unwrap();
    assert_eq!(
        report.received(),
        ECHOES,
        "c1 to c2 lost echoes while c3 changed: {}",
        report.summary()
    );
    // And the re-created port forwards again.
    let back = pinger(&ns3)
        .ping(c1, 3, Duration::from_millis(100), Duration::from_secs(2))
        .unwrap();
    assert_eq!(back.received(), 3, "c3 does not forward after re-creation");
    drop(ns2);
}
