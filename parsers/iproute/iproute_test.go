package iproute

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netsift/netsift/parsers/diag"
)

func TestParseRoutesText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Route
		warn []diag.Warning
	}{
		{"default dhcp", "default via 192.168.1.1 dev eth0 proto dhcp src 192.168.1.11 metric 100 \n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("0.0.0.0/0"), Gateway: ip("192.168.1.1"), Dev: "eth0", Protocol: "dhcp", PrefSrc: ip("192.168.1.11"), Table: "main", Metric: 100}}, nil},
		{"blackhole without dev", "blackhole 10.244.9.0/24 proto bird\n",
			[]Route{{Line: 1, Type: "blackhole", Dst: pfx("10.244.9.0/24"), Protocol: "bird", Table: "main"}}, nil},
		{"onlink", "10.244.2.0/24 via 192.168.1.12 dev eth0 onlink\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("10.244.2.0/24"), Gateway: ip("192.168.1.12"), Dev: "eth0", Flags: []string{"onlink"}, Table: "main"}}, nil},
		{"ipv6 link-local", "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("fe80::/64"), Dev: "eth0", Protocol: "kernel", Table: "main", Metric: 256, Pref: "medium"}}, nil},
		{"local table", "local 10.0.0.1 dev eth0 table local proto kernel scope host src 10.0.0.1\n",
			[]Route{{Line: 1, Type: "local", Dst: pfx("10.0.0.1/32"), Dev: "eth0", Table: "local", Protocol: "kernel", Scope: "host", PrefSrc: ip("10.0.0.1")}}, nil},
		{"multipath", "10.50.0.0/16 proto static\n\tnexthop via 192.168.1.1 dev eth0 weight 1\n\tnexthop via 192.168.1.12 dev eth1 weight 2 onlink\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("10.50.0.0/16"), Protocol: "static", Table: "main", Nexthops: []Nexthop{
				{Gateway: ip("192.168.1.1"), Dev: "eth0", Weight: 1},
				{Gateway: ip("192.168.1.12"), Dev: "eth1", Weight: 2, Flags: []string{"onlink"}}}}}, nil},
		{"single-line multipath", "default proto static nexthop via 10.0.0.1 dev eth0 weight 1 nexthop via 10.0.0.2 dev eth1 weight 1\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("0.0.0.0/0"), Protocol: "static", Table: "main", Nexthops: []Nexthop{
				{Gateway: ip("10.0.0.1"), Dev: "eth0", Weight: 1}, {Gateway: ip("10.0.0.2"), Dev: "eth1", Weight: 1}}}}, nil},
		{"ipv6 default by pref", "unreachable default dev lo proto kernel metric 4294967295 error -101 pref medium\n",
			[]Route{{Line: 1, Type: "unreachable", Dst: pfx("::/0"), Dev: "lo", Protocol: "kernel", Table: "main", Metric: 4294967295, Pref: "medium"}}, nil},
		{"ipv6 default via", "default via fe80::1 dev eth0 proto ra metric 1024 expires 1798sec hoplimit 64 pref medium\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("::/0"), Gateway: ip("fe80::1"), Dev: "eth0", Protocol: "ra", Table: "main", Metric: 1024, Pref: "medium"}}, nil},
		{"garbage", "10.0.0.0/8 dev eth0\nthis is garbage\n\n  stray continuation\n10.1.0.0/16 via 1.2.3 dev eth0\n",
			[]Route{{Line: 1, Type: "unicast", Dst: pfx("10.0.0.0/8"), Dev: "eth0", Table: "main"},
				{Line: 5, Type: "unicast", Dst: pfx("10.1.0.0/16"), Dev: "eth0", Table: "main"}},
			[]diag.Warning{{Line: 2, Message: `route: bad destination "this"`}, {Line: 4, Message: `route: unexpected continuation line "stray continuation"`}, {Line: 5, Message: `route: bad gateway "1.2.3"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRoutes(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.List(), tt.want) {
				t.Errorf("routes:\n got %s\nwant %s", js(got.List()), js(tt.want))
			}
			if !reflect.DeepEqual(got.Warnings, tt.warn) {
				t.Errorf("warnings:\n got %v\nwant %v", got.Warnings, tt.warn)
			}
		})
	}
}

func TestParseRoutesJSONLines(t *testing.T) {
	in := "[ {\n  \"dst\": \"default\",\n  \"gateway\": \"fe80::1\",\n  \"dev\": \"eth0\"\n},\n  {\"type\": \"blackhole\", \"dst\": \"10.9.0.0/16\"},{\"dst\": \"bogus\"},\n 17 ]\n"
	got, err := ParseRoutes(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Line: 1, Type: "unicast", Dst: pfx("::/0"), Gateway: ip("fe80::1"), Dev: "eth0", Table: "main"},
		{Line: 6, Type: "blackhole", Dst: pfx("10.9.0.0/16"), Table: "main"},
	}
	if !reflect.DeepEqual(got.List(), want) {
		t.Errorf("routes:\n got %s\nwant %s", js(got.List()), js(want))
	}
	wantWarn := []diag.Warning{{Line: 6, Message: `route: bad destination "bogus"`}, {Line: 7, Message: "JSON element is not an object: 17"}}
	if !reflect.DeepEqual(got.Warnings, wantWarn) {
		t.Errorf("warnings: got %v want %v", got.Warnings, wantWarn)
	}
}

func TestRouteHelpers(t *testing.T) {
	rs, _ := ParseRoutes(strings.NewReader("default via 192.168.1.1 dev eth0 metric 100\n10.244.0.0/16 dev flannel.1\n10.244.2.0/24 via 192.168.1.12 dev eth0 onlink\nblackhole 10.244.9.0/24\n"))
	if r, ok := rs.Lookup("main", ip("10.244.2.7")); !ok || r.Line != 3 || !r.OnLink() {
		t.Errorf("Lookup 10.244.2.7 = %+v, %v", r, ok)
	}
	if r, ok := rs.Lookup("main", ip("10.244.9.1")); !ok || !r.Drops() {
		t.Errorf("Lookup 10.244.9.1 = %+v, want the blackhole", r)
	}
	if r, _ := rs.Lookup("main", ip("8.8.8.8")); r.Line != 1 {
		t.Errorf("Lookup 8.8.8.8 = line %d, want default", r.Line)
	}
	if rs.At(1).Covers(ip("10.245.0.1")) || !rs.At(1).Covers(ip("10.244.200.1")) || !rs.At(0).Covers(ip("::ffff:1.2.3.4")) {
		t.Error("Covers wrong")
	}
}

func TestParseLinkText(t *testing.T) {
	in := `3: veth1@if5: <BROADCAST,MULTICAST,PROMISC,UP,LOWER_UP> mtu 1450 qdisc noqueue master cni0 state UP mode DEFAULT group default
    link/ether 2a:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff link-netnsid 0 promiscuity 1
    veth
    bridge_slave state forwarding priority 32 cost 2 hairpin on guard off learning on
4: veth9@NONE: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN
    link/ether 2a:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff
5: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN
    link/ipip 0.0.0.0 brd 0.0.0.0 promiscuity 0
    ipip remote any local any ttl inherit nopmtudisc
garbage
    RX: bytes  packets  errors  dropped overrun mcast
    1000       10       1        2       0       0
6: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu x state UNKNOWN
    link/none  promiscuity 0
    wireguard
    RX: bytes  packets  errors  dropped overrun mcast
    1000       10       1        2       0       0
    TX: bytes  packets  errors  dropped carrier collsns
    2000       20       0        3       0       0
`
	got, err := ParseLink(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := []Link{
		{Line: 1, Index: 3, Name: "veth1", Peer: "if5", LinkIndex: 5, LinkNetnsID: &zero, Flags: []string{"BROADCAST", "MULTICAST", "PROMISC", "UP", "LOWER_UP"},
			OperState: "UP", MTU: 1450, Qdisc: "noqueue", Master: "cni0", LinkType: "ether", MAC: "2a:00:00:00:00:01", Promiscuity: 1,
			Kind: "veth", SlaveKind: "bridge", BridgePort: &BridgePortInfo{State: "forwarding", Hairpin: true, Learning: true}},
		{Line: 5, Index: 4, Name: "veth9", Peer: "NONE", Flags: []string{"NO-CARRIER", "BROADCAST", "MULTICAST", "UP", "M-DOWN"}, OperState: "LOWERLAYERDOWN", MTU: 1500, Qdisc: "noqueue", LinkType: "ether", MAC: "2a:00:00:00:00:02"},
		{Line: 7, Index: 5, Name: "tunl0", Peer: "NONE", Flags: []string{"NOARP", "UP", "LOWER_UP"}, OperState: "UNKNOWN", MTU: 1480, Qdisc: "noqueue", LinkType: "ipip", MAC: "0.0.0.0", Kind: "ipip", Tunnel: &Tunnel{}},
		{Line: 13, Index: 6, Name: "wg0", Flags: []string{"POINTOPOINT", "NOARP", "UP", "LOWER_UP"}, OperState: "UNKNOWN", LinkType: "none", Kind: "wireguard",
			Stats: &LinkStats{RX: Counters{Bytes: 1000, Packets: 10, Errors: 1, Dropped: 2}, TX: Counters{Bytes: 2000, Packets: 20, Dropped: 3}}},
	}
	if !reflect.DeepEqual(got.Links, want) {
		t.Errorf("links:\n got %s\nwant %s", js(got.Links), js(want))
	}
	wantWarn := []diag.Warning{{Line: 10, Message: `unrecognised line "garbage"`}, {Line: 11, Message: "link: detail line before any device header"}, {Line: 12, Message: "link: detail line before any device header"}, {Line: 13, Message: `device wg0: bad mtu "x"`}}
	if !reflect.DeepEqual(got.Warnings, wantWarn) {
		t.Errorf("warnings:\n got %v\nwant %v", got.Warnings, wantWarn)
	}
	if l := got.ByName("veth1"); l == nil || !l.Promisc() || !l.Up() || !l.LowerUp() {
		t.Errorf("ByName(veth1) = %+v", l)
	}
	if got.ByName("nope") != nil || got.ByIndex(5).Name != "tunl0" || len(got.Ports("cni0")) != 1 {
		t.Error("accessors wrong")
	}
}

func TestParseAddrText(t *testing.T) {
	in := `2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0
    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0
       valid_lft forever preferred_lft forever
    inet 10.0.0.6/24 scope global secondary eth0:1
    inet 10.1.1.1 peer 10.1.1.2/32 scope global tun0
    inet6 fe80::42:acff:fe11:2/64 scope link dadfailed tentative
    inet 300.1.1.1/24 scope global eth0
`
	got, err := ParseAddr(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := []Interface{{Line: 1, Index: 2, Name: "eth0", Peer: "if7", LinkIndex: 7, LinkNetnsID: &zero, Flags: []string{"BROADCAST", "MULTICAST", "UP", "LOWER_UP"},
		State: "UP", MTU: 1500, LinkType: "ether", MAC: "02:42:ac:11:00:02", Addresses: []Address{
			{Line: 3, Family: "inet", Prefix: pfx("10.0.0.5/24"), Scope: "global", Label: "eth0"},
			{Line: 5, Family: "inet", Prefix: pfx("10.0.0.6/24"), Scope: "global", Label: "eth0:1", Secondary: true},
			{Line: 6, Family: "inet", Prefix: pfx("10.1.1.1/32"), Peer: pfx("10.1.1.2/32"), Scope: "global", Label: "tun0"},
			{Line: 7, Family: "inet6", Prefix: pfx("fe80::42:acff:fe11:2/64"), Scope: "link", Flags: []string{"dadfailed", "tentative"}},
		}}}
	if !reflect.DeepEqual(got.Interfaces, want) {
		t.Errorf("interfaces:\n got %s\nwant %s", js(got.Interfaces), js(want))
	}
	wantWarn := []diag.Warning{{Line: 8, Message: `eth0: bad address "300.1.1.1/24"`}}
	if !reflect.DeepEqual(got.Warnings, wantWarn) {
		t.Errorf("warnings: got %v want %v", got.Warnings, wantWarn)
	}
	if got.ByName("eth0") == nil || got.Owner(ip("10.0.0.6")).Name != "eth0" || got.Owner(ip("1.1.1.1")) != nil {
		t.Error("accessors wrong")
	}
}

func TestParseRulesText(t *testing.T) {
	in := "0:\tfrom all lookup local\n1000:\tfrom all fwmark 0x4000/0x4000 lookup 100\n1001:\tfrom 10.244.1.0/24 iif cni0 lookup main suppress_prefixlength 0\n1002:\tnot from all to 10.0.0.0/8 prohibit\n1003:\tfrom all fwmark 0x10 oif eth1 blackhole\nbogus line\n32766:\tfrom all lookup main\n"
	got, err := ParseRules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	mark, mask, m10, sp := uint32(0x4000), uint32(0x4000), uint32(0x10), 0
	want := []Rule{
		{Line: 1, Priority: 0, Action: "lookup", Table: "local"},
		{Line: 2, Priority: 1000, FwMark: &mark, FwMask: &mask, Action: "lookup", Table: "100"},
		{Line: 3, Priority: 1001, From: pfx("10.244.1.0/24"), IIF: "cni0", Action: "lookup", Table: "main", SuppressPrefixLength: &sp},
		{Line: 4, Priority: 1002, Not: true, To: pfx("10.0.0.0/8"), Action: "prohibit"},
		{Line: 5, Priority: 1003, FwMark: &m10, OIF: "eth1", Action: "blackhole"},
		{Line: 7, Priority: 32766, Action: "lookup", Table: "main"},
	}
	if !reflect.DeepEqual(got.Rules, want) {
		t.Errorf("rules:\n got %s\nwant %s", js(got.Rules), js(want))
	}
	if len(got.Warnings) != 1 || got.Warnings[0].Line != 6 {
		t.Errorf("warnings: %v", got.Warnings)
	}
	if !got.Rules[1].MatchesMark(0x4001) || got.Rules[1].MatchesMark(0x1) || got.Rules[4].MatchesMark(0x11) || !got.Rules[0].MatchesMark(7) {
		t.Error("MatchesMark wrong")
	}
}

func TestParseNeighAndFDBText(t *testing.T) {
	nb, err := ParseNeigh(strings.NewReader("10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE\nfe80::1 dev eth0 lladdr 02:00:00:00:00:01 router STALE\n10.0.0.9 dev eth0 INCOMPLETE\nxx dev eth0\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantN := []Neighbour{
		{Line: 1, Dst: ip("10.0.0.1"), Dev: "eth0", LLAddr: "02:00:00:00:00:01", State: []string{"REACHABLE"}},
		{Line: 2, Dst: ip("fe80::1"), Dev: "eth0", LLAddr: "02:00:00:00:00:01", State: []string{"STALE"}, Router: true},
		{Line: 3, Dst: ip("10.0.0.9"), Dev: "eth0", State: []string{"INCOMPLETE"}},
	}
	if !reflect.DeepEqual(nb.Neighbours, wantN) || len(nb.Warnings) != 1 || nb.Warnings[0].Line != 4 {
		t.Errorf("neigh:\n got %s %v\nwant %s", js(nb.Neighbours), nb.Warnings, js(wantN))
	}
	if !nb.Neighbours[2].HasState("incomplete") {
		t.Error("HasState")
	}
	fdb, err := ParseFDB(strings.NewReader("5a:1b:2c:3d:4e:5f dev flannel.1 dst 192.168.1.12 self permanent\n02:00:00:00:00:01 dev veth1 vlan 1 master cni0 permanent\n02:00:00:00:00:02 dev veth1 master cni0 extern_learn\nnot-a-mac dev x\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantF := []FDBEntry{
		{Line: 1, MAC: "5a:1b:2c:3d:4e:5f", Dev: "flannel.1", Dst: ip("192.168.1.12"), Self: true, Permanent: true},
		{Line: 2, MAC: "02:00:00:00:00:01", Dev: "veth1", VLAN: 1, Master: "cni0", Permanent: true},
		{Line: 3, MAC: "02:00:00:00:00:02", Dev: "veth1", Master: "cni0", Flags: []string{"extern_learn"}},
	}
	if !reflect.DeepEqual(fdb.Entries, wantF) || len(fdb.Warnings) != 1 || fdb.Warnings[0].Line != 4 {
		t.Errorf("fdb:\n got %s %v\nwant %s", js(fdb.Entries), fdb.Warnings, js(wantF))
	}
}

func TestFormatErrors(t *testing.T) {
	if _, err := ParseRoutes(strings.NewReader("\x00\x01binary")); err != ErrUnknownFormat {
		t.Errorf("binary input: err = %v", err)
	}
	got, err := ParseRoutes(strings.NewReader(`[{"dst": "10.0.0.0/8"`))
	if err != nil || len(got.Warnings) != 1 || got.Format != FormatJSON {
		t.Errorf("truncated JSON: %v %+v", err, got)
	}
}

// The text and JSON captures of the same namespace must parse to the same value.
func TestTextAndJSONAgree(t *testing.T) {
	strip := func(v any) string {
		b, _ := json.Marshal(v)
		var m any
		_ = json.Unmarshal(b, &m)
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case map[string]any:
				delete(x, "line")
				delete(x, "format")
				delete(x, "link_netns")
				delete(x, "link_netnsid")
				for _, v := range x {
					walk(v)
				}
			case []any:
				for _, v := range x {
					walk(v)
				}
			}
		}
		walk(m)
		out, _ := json.MarshalIndent(m, "", " ")
		return string(out)
	}
	for kind, parse := range parsers {
		t.Run(kind, func(t *testing.T) {
			var vals [2]string
			for i, ext := range []string{".txt", ".json"} {
				f, err := os.Open("testdata/" + kind + ext)
				if err != nil {
					t.Fatal(err)
				}
				v, err := parse(f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				vals[i] = strip(v)
			}
			if vals[0] != vals[1] {
				t.Errorf("text and JSON differ:\n%s\n---\n%s", vals[0], vals[1])
			}
		})
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func js(v any) string           { b, _ := json.Marshal(v); return string(b) }

// lookupScan is Lookup as the kernel's rule says it, one route at a time: the longest prefix
// covering addr in the table, the lowest metric among equals, the first printed among those.
func lookupScan(rs *Routes, table string, addr netip.Addr) (Route, bool) {
	best, found := Route{}, false
	for _, r := range rs.All() {
		if r.Table != table || !r.Covers(addr) || r.Type == "broadcast" || r.Type == "multicast" {
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() || (r.Dst.Bits() == best.Dst.Bits() && r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	return best, found
}

// checkLookup compares the indexed Lookup with the scan for every route's own addresses and
// their neighbours, in every table.
func checkLookup(t *testing.T, rs *Routes) {
	t.Helper()
	tables := map[string]bool{"main": true, "local": true}
	var probes []netip.Addr
	for _, r := range rs.All() {
		tables[r.Table] = true
		if a := r.Dst.Addr(); a.IsValid() {
			probes = append(probes, a, a.Next(), a.Prev())
		}
	}
	probes = append(probes, netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:10.244.1.5"))
	for table := range tables {
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			got, gok := rs.Lookup(table, a)
			want, wok := lookupScan(rs, table, a)
			if gok != wok || got.Line != want.Line {
				t.Fatalf("Lookup(%s, %s) = line %d %v, the scan gives line %d %v", table, a, got.Line, gok, want.Line, wok)
			}
			var cov, scan []int
			for r := range rs.Covering(table, a) {
				cov = append(cov, r.Line)
			}
			for _, r := range rs.All() {
				if r.Table == table && r.Covers(a) {
					scan = append(scan, r.Line)
				}
			}
			if !slices.Equal(cov, scan) {
				t.Fatalf("Covering(%s, %s) = lines %v, the scan gives %v", table, a, cov, scan)
			}
		}
		n := 0
		for _, r := range rs.All() {
			if r.Table == table {
				n++
			}
		}
		if rs.HasTable(table) != (n > 0) {
			t.Fatalf("HasTable(%s) = %v with %d routes in it", table, rs.HasTable(table), n)
		}
	}
}

func TestLookupMatchesScan(t *testing.T) {
	for _, name := range []string{"testdata/ip-route.txt", "testdata/ip-route.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ParseRoutes(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		checkLookup(t, rs)
	}
	// Equal prefixes with different metrics, unmasked destinations, both families.
	rs, err := ParseRoutes(strings.NewReader("10.0.0.0/8 via 1.1.1.1 dev a metric 200\n10.0.0.0/8 via 1.1.1.2 dev b metric 100\n10.1.2.3/16 dev c\n10.1.0.0/16 dev d metric 5\ndefault via 1.1.1.1 dev a\nblackhole 10.9.0.0/16\nbroadcast 10.255.255.255 dev a table local\nfd00::/64 dev e\n" +
		// A local table out of order, with a wide route before host routes it covers.
		"local 10.0.0.0/8 dev lo table local\nlocal 10.96.0.10 dev kube-ipvs0 table local\n10.96.0.10 dev x table 7\nbroadcast 10.96.0.10 dev y table local\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkLookup(t, rs)
	if r, _ := rs.Lookup("main", netip.MustParseAddr("10.5.0.1")); r.Dev != "b" {
		t.Errorf("lowest metric: got dev %q", r.Dev)
	}
	// No local table at all.
	if rs, err = ParseRoutes(strings.NewReader("default via 10.0.0.1 dev eth0\n")); err != nil {
		t.Fatal(err)
	}
	checkLookup(t, rs)
}

// An address on two devices (a ClusterIP on kube-ipvs0 and on a dummy device) belongs to the
// first listed, as the kernel's local table lists it first.
func TestOwnerFirstHolder(t *testing.T) {
	in := `5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default
    link/ether 2a:6b:1c:3d:4e:5f brd ff:ff:ff:ff:ff:ff
    inet 10.96.0.10/32 scope global kube-ipvs0
    inet 10.96.0.1/32 scope global kube-ipvs0
6: dummy0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN group default
    link/ether 2a:6b:1c:3d:4e:60 brd ff:ff:ff:ff:ff:ff
    inet 10.96.0.10/32 scope global dummy0
    inet 10.96.0.11/32 scope global dummy0
`
	as, err := ParseAddr(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]string{"10.96.0.10": "kube-ipvs0", "10.96.0.1": "kube-ipvs0", "10.96.0.11": "dummy0"} {
		if got := as.Owner(ip(a)); got == nil || got.Name != want {
			t.Errorf("Owner(%s) = %v, want %s", a, got, want)
		}
	}
	checkOwner(t, as)
}
