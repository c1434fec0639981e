#!/bin/bash
# Geneve interop by hand (not in CI: it needs Open vSwitch installed):
# vswitchd as host A and Open vSwitch userspace (a second instance inside
# host B's namespace, as ../shared/bench/peers/03-overlay.sh runs it) as
# host B, VNI 77, pings both ways, then both sides' tunnel state. Run as
# root from anywhere after `cargo build --release`; it removes what it
# made on exit.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v ovs-vswitchd >/dev/null || { echo "needs Open vSwitch: apt-get install openvswitch-switch" >&2; exit 1; }
[ -x "$ROOT/target/release/vswitchd" ] || { echo "build first: cargo build --release" >&2; exit 1; }
P=$(mktemp -d /tmp/vswitch-geneve-ovs.XXXX); R=$(date +%s%N | tail -c 6)
A=gA$R; B=gB$R; C=gC$R
cleanup() {
  [ -n "${VPID:-}" ] && kill $VPID 2>/dev/null
  for f in $P/ovs2/run/ovs-vswitchd.pid $P/ovs2/run/ovsdb-server.pid; do [ -f $f ] && kill $(cat $f) 2>/dev/null; done
  sleep 1; rm -rf "$P"
  ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; ip netns del $C 2>/dev/null
}
trap cleanup EXIT
ip netns add $A; ip netns add $B; ip netns add $C
ip -n $A link set lo up; ip -n $B link set lo up; ip -n $C link set lo up
ip link add ula$R netns $A type veth peer name ulb$R netns $B
ip link add vha$R netns $A type veth peer name eth0 netns $C
for l in ula$R vha$R; do ip -n $A link set $l up; ip netns exec $A ethtool -K $l tx off >/dev/null; done
ip -n $B link set ulb$R up; ip netns exec $B ethtool -K ulb$R tx off >/dev/null
ip -n $C addr add 10.0.77.1/24 dev eth0; ip -n $C link set eth0 mtu 1450 up; ip netns exec $C ethtool -K eth0 tx off >/dev/null
cat > $P/a.toml <<T
[switch]
workers = [0]
idle = "sleep"
control_socket = "$P/a.sock"
[[uplink]]
name = "up0"
type = "afxdp"
options = { interface = "ula$R" }
addresses = ["10.251.1.1/24"]
[[bridge]]
name = "apps"
[[bridge.port]]
name = "c1"
type = "afxdp"
options = { interface = "vha$R" }
[[bridge.port]]
name = "gnv77"
type = "geneve"
options = { uplink = "up0", vni = 77, remote = ["10.251.1.3"] }
T
ip netns exec $A $ROOT/target/release/vswitchd --db $P/a-db.toml --config $P/a.toml > $P/a.log 2>&1 &
VPID=$!
export OVS_RUNDIR=$P/ovs2/run OVS_LOGDIR=$P/ovs2/log OVS_DBDIR=$P/ovs2/db
rm -rf $P/ovs2; mkdir -p $OVS_RUNDIR $OVS_LOGDIR $OVS_DBDIR
ovsdb-tool create $OVS_DBDIR/conf.db /usr/share/openvswitch/vswitch.ovsschema
ip netns exec $B ovsdb-server $OVS_DBDIR/conf.db --remote=punix:$OVS_RUNDIR/db.sock --pidfile=$OVS_RUNDIR/ovsdb-server.pid --log-file=$OVS_LOGDIR/ovsdb-server.log --detach
ovs-vsctl --no-wait init
ip netns exec $B ovs-vswitchd unix:$OVS_RUNDIR/db.sock --pidfile=$OVS_RUNDIR/ovs-vswitchd.pid --log-file=$OVS_LOGDIR/ovs-vswitchd.log --detach
ovs-vsctl add-br b2phy -- set bridge b2phy datapath_type=netdev -- add-port b2phy ulb$R
ovs-vsctl add-br b2int -- set bridge b2int datapath_type=netdev \
   -- add-port b2int gnv2 -- set interface gnv2 type=geneve options:remote_ip=10.251.1.1 options:key=77 \
   -- add-port b2int b2vm -- set interface b2vm type=internal
ip -n $B addr add 10.251.1.3/24 dev b2phy; ip -n $B link set b2phy up
ip -n $B addr add 10.0.77.2/24 dev b2vm; ip -n $B link set b2vm mtu 1450 up
sleep 3
echo "--- ping container -> OVS host"
ip netns exec $C ping -c 5 -i 0.3 -W 1 10.0.77.2
echo "--- ping OVS host -> container"
ip netns exec $B ping -c 3 -i 0.3 -W 1 10.0.77.1
echo "--- vswitchd"
$ROOT/target/release/vsctl --socket $P/a.sock stats
$ROOT/target/release/vsctl --socket $P/a.sock tunnel-show
echo "--- ovs"
ovs-appctl tnl/arp/show; ovs-appctl dpctl/dump-flows 2>/dev/null | grep -E "tnl_pop|tnl_push|geneve" | head -4
