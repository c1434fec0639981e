//! `vsctl trace`, `dump-pipeline` and `fdb-flush` against a running daemon
//! with null ports: asking where a packet would go sends nothing and
//! learns nothing. Needs no root.

mod common;

use common::TempDir;
use vswitch::config::Config;
use vswitch::daemon::{render, request, Daemon};

fn daemon(dir: &TempDir) -> vswitch::daemon::BackgroundDaemon {
    let text = format!(
        "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n\
         [[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"a\"\ntype = \"null\"\n\
         [[bridge.port]]\nname = \"b\"\ntype = \"null\"\nvlan = 10\n\
         [[bridge.port]]\nname = \"c\"\ntype = \"null\"\n\
         [[bridge.static_mac]]\nmac = \"02:00:00:00:00:0c\"\nport = \"c\"\n",
        dir.join("d.sock").display()
    );
    let config = Config::parse(&text, "trace-test").unwrap();
    Daemon::start(&config).and_then(Daemon::spawn).unwrap()
}

#[test]
fn trace_says_where_a_packet_would_go_and_learns_nothing() {
    let dir = TempDir::new("trace").unwrap();
    let d = daemon(&dir);
    let command = "trace br0 in_port=a,dl_src=02:00:00:00:00:0a,dl_dst=02:00:00:00:00:0c,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80";
    let v = request(d.socket(), command).unwrap();
    let text = render(command, &v);
    assert!(text.contains("in_port a"), "{text}");
    assert!(text.contains("stage l2"), "{text}");
    assert!(
        text.contains("learn 02:00:00:00:00:0a vlan 0 on a: learned"),
        "{text}"
    );
    assert!(
        text.contains("lookup 02:00:00:00:00:0c vlan 0: hit, on c"),
        "{text}"
    );
    assert!(text.contains("sent: 60 bytes out of c"), "{text}");
    let fdb = request(d.socket(), "fdb-show br0").unwrap();
    assert_eq!(
        fdb["entries"].as_array().unwrap().len(),
        1,
        "only the static entry: a trace learns nothing: {fdb}"
    );

    // Broadcast floods to the ports of the sender's VLAN only.
    let command = "trace br0 in_port=a,dl_src=02:00:00:00:00:0a,dl_dst=ff:ff:ff:ff:ff:ff,arp";
    let text = render(command, &request(d.socket(), command).unwrap());
    assert!(text.contains("sent: 60 bytes out of c"), "{text}");
    assert!(!text.contains("out of b"), "b is on VLAN 10: {text}");

    // A hairpin is dropped, with the reason.
    let command = "trace br0 in_port=c,dl_dst=02:00:00:00:00:0c";
    let text = render(command, &request(d.socket(), command).unwrap());
    assert!(text.contains("sent: nothing"), "{text}");
}

#[test]
fn trace_mistakes_name_the_fix() {
    let dir = TempDir::new("trace").unwrap();
    let d = daemon(&dir);
    let error = |command: &str| request(d.socket(), command).unwrap_err().0;
    assert!(error("trace br9 in_port=a").contains("no bridge \"br9\""));
    assert!(error("trace br0 in_port=zz").contains("no port \"zz\""));
    assert!(error("trace br0 dl_dst=02:00:00:00:00:01").contains("in_port"));
    assert!(error("trace br0").contains("needs a bridge and a packet"));
}

#[test]
fn dump_pipeline_lists_each_ports_stages_and_fdb_flush_keeps_static_entries() {
    let dir = TempDir::new("trace").unwrap();
    let d = daemon(&dir);
    let v = request(d.socket(), "dump-pipeline").unwrap();
    let text = render("dump-pipeline", &v);
    assert!(text.contains("stages ingress -> l2"), "{text}");
    assert_eq!(v["ports"].as_array().unwrap().len(), 3, "{v}");
    let flushed = request(d.socket(), "fdb-flush br0").unwrap();
    assert_eq!(flushed["flushed"], 0, "{flushed}");
    let fdb = request(d.socket(), "fdb-show br0").unwrap();
    assert_eq!(fdb["entries"].as_array().unwrap().len(), 1, "{fdb}");
    assert!(request(d.socket(), "fdb-flush nope")
        .unwrap_err()
        .0
        .contains("no bridge"));
}
