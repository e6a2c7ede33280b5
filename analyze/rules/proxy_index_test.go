package rules

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/internal/ruletest"
	"github.com/netsift/netsift/parsers/ipvsadm"
)

// Nodes whose KUBE-SERVICES says the same share one ClusterIP index; a node whose chain
// differs has its own (the rules-missing case's lagging node is caught by TestCases).
func TestClusterIPIndexShared(t *testing.T) {
	_, m := ruletest.Bundle(t, "testdata/cases/kube-proxy.rules-stale/fail-iptables-one-sep-differs.txtar")
	st := proxyState(m)
	var maps []uintptr
	for _, name := range []string{"worker-1", "worker-2"} {
		nd := m.NodeData(name)
		if nd == nil || nd.IPTables == nil {
			t.Fatalf("node %s has no iptables dump", name)
		}
		ix := st.node(nd).v4
		if len(ix.clusterIP) == 0 {
			t.Fatalf("%s: no ClusterIP rules indexed", name)
		}
		for k, i := range ix.clusterIP {
			r := ix.services.Rule(int(i))
			if got, ok := ruleVIP(r); !ok || got != k {
				t.Errorf("%s: %v indexes rule %d (line %d), which is for %v", name, k, i, r.Line, got)
			}
		}
		maps = append(maps, reflect.ValueOf(ix.clusterIP).Pointer())
	}
	if maps[0] != maps[1] {
		t.Error("worker-1 and worker-2 declare the same KUBE-SERVICES but hold two indexes")
	}

	_, other := ruletest.Bundle(t, "testdata/cases/kube-proxy.rules-missing/fail-iptables-node-behind.txtar")
	st = proxyState(other)
	seen := map[uintptr]bool{}
	for _, nd := range nodesWithData(other) {
		if nd.IPTables != nil {
			seen[reflect.ValueOf(st.node(nd).v4.clusterIP).Pointer()] = true
		}
	}
	if len(seen) != 2 {
		t.Errorf("a node behind the others must have its own index: %d indexes for 2 nodes", len(seen))
	}
}

// Nodes listing the same virtual servers share one IPVS index, and it finds each node's own
// virtual server; a node whose listing differs has its own index.
func TestIPVSIndexShared(t *testing.T) {
	text := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  10.96.0.1:443 rr\n" +
		"  -> 192.168.0.1:6443             Masq    1      0          0\n" +
		"UDP  10.96.0.10:53 rr\n" +
		"  -> 10.244.0.2:53                Masq    1      0          0\n"
	c := &ipvsadm.Cache{}
	parse := func(s string) *ipvsadm.Table {
		tab, w, err := ipvsadm.ParseShared(strings.NewReader(s), c)
		if err != nil || len(w) > 0 {
			t.Fatalf("parse: %v %v", err, w)
		}
		return tab
	}
	a := parse(text)
	busy := parse(strings.Replace(text, "Masq    1      0", "Masq    1      5", 1)) // its own counters
	other := parse(strings.Replace(text, "10.96.0.10:53", "10.96.0.11:53", 1))
	var shared []*ipvsIndex
	ia, ib, io := indexIPVS(a, &shared), indexIPVS(busy, &shared), indexIPVS(other, &shared)
	ptr := func(ix *ipvsIndex) uintptr { return reflect.ValueOf(ix.pos).Pointer() }
	if ptr(ia) != ptr(ib) {
		t.Error("two listings of the same virtual servers hold two indexes")
	}
	if ptr(io) == ptr(ia) {
		t.Error("a listing with another virtual server shares the index")
	}
	api := vip{addr: netip.MustParseAddr("10.96.0.1"), proto: "tcp", port: 443}
	if got := ib.find(api); got != busy.VirtualServers[0] || got == a.VirtualServers[0] {
		t.Errorf("the shared index finds %p, not the node's own virtual server %p", got, busy.VirtualServers[0])
	}
	dns := vip{addr: netip.MustParseAddr("10.96.0.11"), proto: "udp", port: 53}
	if io.find(dns) != other.VirtualServers[1] || ia.find(dns) != nil {
		t.Error("10.96.0.11:53 is found where it is not listed, or not where it is")
	}
}

// splitReady keeps, per IP:port, what the maps it replaced kept: the last ready endpoint when
// any is ready, else the last listed; both sets sorted by IP:port.
func TestSplitReady(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		n := rng.IntN(40) // past the sets find scans
		eps := make([]model.ServiceEndpoint, n)
		seen := make([]endpointSeen, n)
		wantReady := map[netip.AddrPort]*model.ServiceEndpoint{}
		wantNot := map[netip.AddrPort]*model.ServiceEndpoint{}
		for i := range eps {
			a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(1 + n/2))}), uint16(80+rng.IntN(2)))
			eps[i] = model.ServiceEndpoint{IP: a.Addr().String(), Ready: rng.IntN(2) == 0}
			seen[i] = endpointSeen{epAt{a, &eps[i]}, eps[i].Ready}
			// The maps' way: ready by IP:port, not-ready unless a ready one came first, and
			// not-ready ones dropped where a ready one came later.
			if eps[i].Ready {
				wantReady[a] = &eps[i]
			} else if wantReady[a] == nil {
				wantNot[a] = &eps[i]
			}
		}
		for a := range wantReady {
			delete(wantNot, a)
		}
		ready, notReady := splitReady(seen)
		for _, c := range []struct {
			got  epSet
			want map[netip.AddrPort]*model.ServiceEndpoint
		}{{ready, wantReady}, {notReady, wantNot}} {
			if len(c.got) != len(c.want) || !slices.IsSortedFunc(c.got, func(x, y epAt) int { return x.addr.Compare(y.addr) }) {
				t.Fatalf("round %d: %d endpoints (sorted: %v), want %d", round, len(c.got), slices.IsSortedFunc(c.got, func(x, y epAt) int { return x.addr.Compare(y.addr) }), len(c.want))
			}
			for a, ep := range c.want {
				if got, ok := c.got.find(a); !ok || got != ep {
					t.Fatalf("round %d: %v is %p, want %p", round, a, got, ep)
				}
			}
			if _, ok := c.got.find(netip.MustParseAddrPort("10.9.9.9:80")); ok {
				t.Fatalf("round %d: found an address never listed", round)
			}
		}
	}
}
