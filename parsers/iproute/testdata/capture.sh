#!/bin/sh
# Builds a throwaway node-like network namespace (bridge cni0 with two pod veths, an uplink,
# podCIDR routes, a blackhole, a fwmark rule, a flannel-style vxlan with fdb/neigh entries),
# captures the iproute2 outputs the parsers read, and deletes every namespace it created.
# Run once as root from this directory; the tests only read the captures.
set -eu
S=$$
N=nstest-ipr-$S
P1=nstest-ipr-$S-p1
P2=nstest-ipr-$S-p2
U=nstest-ipr-$S-up
cleanup() { for ns in $N $P1 $P2 $U; do ip netns del $ns 2>/dev/null || true; done; }
trap cleanup EXIT
for ns in $N $P1 $P2 $U; do ip netns add $ns; done
nsip() { ip -n $N "$@"; }
nsip link set lo up
# uplink: eth0 in the node, its peer in a "router" namespace
nsip link add eth0 type veth peer name up0 netns $U
nsip addr add 192.168.1.11/24 dev eth0
nsip -6 addr add fd00:1::11/64 dev eth0 nodad
nsip link set eth0 up
ip -n $U addr add 192.168.1.1/24 dev up0
ip -n $U link set up0 up
# the CNI bridge and two pods
nsip link add cni0 type bridge
nsip addr add 10.244.1.1/24 dev cni0
nsip link set cni0 up
i=2
for p in $P1 $P2; do
  nsip link add veth$i type veth peer name eth0 netns $p
  nsip link set veth$i master cni0 up
  ip -n $p addr add 10.244.1.$i/24 dev eth0
  ip -n $p link set eth0 up
  ip -n $p link set lo up
  ip -n $p route add default via 10.244.1.1
  i=$((i+1))
done
nsip link set veth2 type bridge_slave hairpin on
nsip link set veth3 type bridge_slave hairpin off
# routes to other nodes' podCIDRs
nsip route add 10.244.2.0/24 via 192.168.1.12 dev eth0 onlink
nsip route add 10.244.3.0/24 via 192.168.1.1 dev eth0 proto static metric 100
nsip route add blackhole 10.244.9.0/24
nsip route add unreachable 10.99.0.0/16
nsip route add 10.50.0.0/16 nexthop via 192.168.1.1 dev eth0 weight 1 nexthop via 192.168.1.12 dev eth0 weight 2
nsip route add default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.11 metric 100
# policy routing: fwmark into table 100
nsip rule add fwmark 0x4000/0x4000 lookup 100 priority 1000
nsip rule add from 10.244.1.0/24 iif cni0 lookup main suppress_prefixlength 0 priority 1001
nsip rule add not to 10.0.0.0/8 priority 1002 prohibit
nsip route add default via 192.168.1.1 dev eth0 onlink table 100
nsip route add throw 10.0.0.0/8 table 100
# flannel-style vxlan
if nsip link add flannel.1 type vxlan id 1 dstport 8472 dev eth0 nolearning local 192.168.1.11 2>/dev/null; then
  nsip link set flannel.1 mtu 1450 up
  nsip addr add 10.244.1.0/32 dev flannel.1
  nsip route add 10.244.4.0/24 via 10.244.4.0 dev flannel.1 onlink
  nsip neigh add 10.244.4.0 lladdr 5a:1b:2c:3d:4e:5f dev flannel.1 nud permanent
  bridge -n $N fdb append 5a:1b:2c:3d:4e:5f dev flannel.1 dst 192.168.1.14 self permanent
fi
nsip link add dummy0 type dummy 2>/dev/null && nsip addr add 169.254.20.10/32 dev dummy0 || true
nsip neigh add 192.168.1.12 lladdr 02:00:00:00:01:12 dev eth0 nud permanent
nsip neigh add 192.168.1.13 dev eth0 nud failed 2>/dev/null || true
nsip neigh add 192.168.1.1 lladdr 02:00:00:00:01:01 dev eth0 nud reachable
nsip neigh add 10.244.1.2 lladdr 02:00:00:0a:01:02 dev cni0 nud stale
nsip -6 neigh add fd00:1::1 lladdr 02:00:00:00:01:01 dev eth0 router nud stale
bridge -n $N fdb add 02:00:00:0a:01:03 dev veth3 master static
nsip -j addr > ip-addr.json
nsip addr > ip-addr.txt
nsip -j -d -s link > ip-link.json
nsip -d -s link > ip-link.txt
nsip -j route show table all > ip-route.json
nsip route show table all > ip-route.txt
nsip -j rule > ip-rule.json
nsip rule > ip-rule.txt
nsip neigh > ip-neigh.txt
bridge -n $N fdb show > bridge-fdb.txt
nsip -j neigh > ip-neigh.json
bridge -n $N -j fdb show > bridge-fdb.json
# pretty-printed JSON, so line tracking is exercised on a multi-line file
nsip -j -p route show table all > ip-route.pretty.json
