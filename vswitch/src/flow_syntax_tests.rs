use super::*;
use vswitch_pipeline::parse::parse;

fn key(text: &str) -> vswitch_pipeline::FlowKey {
    let d = FlowDescription::parse(text).unwrap();
    let frame = d.frame().unwrap();
    assert!(frame.len() >= MIN_FRAME);
    parse(&frame).unwrap().key
}

#[test]
fn a_tcp_description_parses_back_to_its_fields() {
    let k = key("in_port=c1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,dl_vlan=10,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,tp_dst=80,tcp_flags=syn|ack,nw_ttl=5");
    assert_eq!(k.eth_src, [2, 0, 0, 0, 0, 1]);
    assert_eq!(k.eth_dst, [2, 0, 0, 0, 0, 2]);
    assert_eq!((k.vlan, k.ethertype, k.ip_proto), (10, 0x0800, 6));
    assert_eq!(&k.ip_src[..4], &[10, 0, 0, 1]);
    assert_eq!(&k.ip_dst[..4], &[10, 0, 0, 2]);
    assert_eq!(
        (k.l4_src, k.l4_dst, k.tcp_flags, k.ip_ttl),
        (40000, 80, 0x12, 5)
    );
}

#[test]
fn udp6_icmp_and_arp_descriptions_parse() {
    let k = key("in_port=p,udp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_dst=53");
    assert_eq!((k.ethertype, k.ip_proto, k.l4_dst), (0x86dd, 17, 53));
    assert_eq!(k.ip_dst, "fd00::2".parse::<Ipv6Addr>().unwrap().octets());
    let k = key("in_port=p,icmp,nw_dst=10.0.0.9");
    assert_eq!((k.ip_proto, k.l4_src, k.l4_dst), (1, 8, 0), "echo request");
    let k = key("in_port=p,icmp6,ipv6_dst=fd00::2");
    assert_eq!((k.ip_proto, k.l4_src), (58, 128));
    let k = key("in_port=p,arp,dl_src=02:00:00:00:00:07,arp_spa=10.0.0.7,arp_tpa=10.0.0.1");
    assert_eq!((k.ethertype, k.ip_proto), (0x0806, 1), "an ARP request");
    assert_eq!(&k.ip_dst[..4], &[10, 0, 0, 1]);
}

#[test]
fn mistakes_name_the_field_and_the_fix() {
    let err = |t: &str| FlowDescription::parse(t).unwrap_err();
    assert!(err("dl_dst=02:00:00:00:00:01").contains("in_port"));
    assert!(err("in_port=a,dl_src=zz").contains("dl_src=zz"));
    assert!(err("in_port=a,dl_vlan=5000").contains("above 4095"));
    assert!(err("in_port=a,nw_src=1.2.3").contains("IPv4 address"));
    assert!(err("in_port=a,colour=red").contains("unknown field"));
    assert!(err("in_port=a,sctp").contains("unknown word"));
    assert!(err("in_port=a,tcp,arp").contains("conflicts"));
    assert!(err("in_port=a,tcp,tcp_flags=syn|bogus").contains("bogus"));
}
