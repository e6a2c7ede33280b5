package ipvsadm

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
	"github.com/netsift/netsift/parsers/diag"
)

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) < 4 {
		t.Fatalf("testdata missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tab, w, err := Parse(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(w) != 0 {
				t.Errorf("warnings on a well-formed listing: %v", w)
			}
			lines := strings.Split(string(b), "\n")
			for _, vs := range tab.VirtualServers {
				if f := strings.Fields(lines[vs.Line-1]); len(f) < 2 || f[0] != vs.Protocol || f[1] != vs.AddressText {
					t.Errorf("vs line %d is %q, not %s %s", vs.Line, lines[vs.Line-1], vs.Protocol, vs.AddressText)
				}
				for _, rs := range vs.RealServers {
					if f := strings.Fields(lines[rs.Line-1]); len(f) < 2 || f[0] != "->" || f[1] != rs.AddressText {
						t.Errorf("rs line %d is %q, not -> %s", rs.Line, lines[rs.Line-1], rs.AddressText)
					}
				}
			}
			golden.JSON(t, strings.TrimSuffix(f, ".txt")+".json", struct {
				Table    *Table         `json:"table"`
				Warnings []diag.Warning `json:"warnings"`
			}{tab, w})
		})
	}
}

func load(t *testing.T, name string) *Table {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	tab, _, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestListing(t *testing.T) {
	tab := load(t, "ipvsadm-Ln.txt")
	if tab.Version != "1.2.1" || tab.Size != 4096 {
		t.Errorf("header %q %d", tab.Version, tab.Size)
	}
	if len(tab.VirtualServers) != 11 {
		t.Fatalf("%d virtual servers", len(tab.VirtualServers))
	}
	api := tab.Find("tcp", netip.MustParseAddrPort("10.96.0.1:443"))
	if api == nil || api.Line != 4 || api.Scheduler != "rr" || len(api.RealServers) != 3 {
		t.Fatalf("api %+v", api)
	}
	rs := api.RealServers[1]
	want := &RealServer{Line: 6, RealServerSpec: &RealServerSpec{Address: netip.MustParseAddrPort("192.168.56.11:6443"), AddressText: "192.168.56.11:6443", Forward: "Masq", Weight: 1}, ActiveConn: 3, InActConn: 1}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("rs\n got %+v\nwant %+v", rs, want)
	}
	if empty := tab.Find("TCP", netip.MustParseAddrPort("10.96.45.12:80")); empty == nil || len(empty.RealServers) != 0 {
		t.Errorf("service without endpoints %+v", empty)
	}
	ing := tab.Find("TCP", netip.MustParseAddrPort("10.96.113.20:80"))
	if !ing.Persistent || ing.Timeout != 10800 || ing.Scheduler != "sh" {
		t.Errorf("persistent %+v", ing)
	}
	if udp := tab.Find("UDP", netip.MustParseAddrPort("10.96.0.10:53")); udp == nil || udp.RealServers[1].InActConn != 41 {
		t.Errorf("udp %+v", udp)
	}
	if sctp := tab.Find("SCTP", netip.MustParseAddrPort("10.96.77.3:3868")); sctp == nil {
		t.Errorf("sctp missing")
	}
	v6 := tab.Find("TCP", netip.MustParseAddrPort("[fd00:10:96::1]:443"))
	if v6 == nil || v6.RealServers[0].Address != netip.MustParseAddrPort("[fd00:10:244:1::5]:6443") {
		t.Errorf("v6 %+v", v6)
	}
	fwm := tab.FindFWMark(100)
	if fwm == nil || fwm.Scheduler != "wlc" || fwm.Timeout != 360 || fwm.Netmask != "255.255.255.255" || fwm.Address.IsValid() {
		t.Fatalf("fwm %+v", fwm)
	}
	var fw []string
	for _, r := range fwm.RealServers {
		fw = append(fw, r.Forward)
	}
	if !reflect.DeepEqual(fw, []string{"Route", "Tunnel", "Local"}) || fwm.RealServers[0].Weight != 2 {
		t.Errorf("forwarding %v", fw)
	}
}

func TestStatsAndRate(t *testing.T) {
	st := load(t, "ipvsadm-Ln-stats.txt")
	api := st.VirtualServers[0]
	want := &Stats{Conns: 1842, InPkts: 285117000, OutPkts: 270022000, InBytes: 38947000000, OutBytes: 113000000000}
	if !reflect.DeepEqual(api.Stats, want) || api.Scheduler != "" {
		t.Errorf("stats %+v", api.Stats)
	}
	if rs := api.RealServers[0]; rs.Stats == nil || rs.Stats.Conns != 614 || rs.Line != 5 || rs.Forward != "" {
		t.Errorf("rs stats %+v", rs)
	}
	rt := load(t, "ipvsadm-Ln-rate.txt")
	if r := rt.VirtualServers[1].RealServers[1].Rate; r == nil || *r != (Rate{CPS: 7, InPPS: 7, OutPPS: 7, InBPS: 455, OutBPS: 1117}) {
		t.Errorf("rate %+v", r)
	}
	if rt.VirtualServers[0].Stats != nil {
		t.Errorf("rate listing has stats")
	}
}

func TestWarnings(t *testing.T) {
	head := "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	tests := []struct {
		name  string
		in    string
		lines []int
		vs    int
		rs    int
	}{
		{"clean", head + "TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Masq 1 0 0\n", nil, 1, 1},
		{"crlf", strings.ReplaceAll(head+"TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Masq 1 0 0\n", "\n", "\r\n"), nil, 1, 1},
		{"rs before vs", head + "  -> 10.1.1.1:80 Masq 1 0 0\n", []int{4}, 0, 0},
		{"garbage", head + "hello\nTCP  10.0.0.1:80 rr\n", []int{4}, 1, 0},
		{"kernel without ipvs", "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n", []int{1, 2}, 0, 0},
		{"names not numbers", head + "TCP  kubernetes:https rr\n  -> node1:6443 Masq 1 0 0\n", []int{4, 5}, 1, 1},
		{"short rs", head + "TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Masq 1\n", []int{5}, 1, 1},
		{"bad numbers", head + "TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Masq x 0 9Q\n", []int{5, 5}, 1, 1},
		{"unknown forward", head + "TCP  10.0.0.1:80 rr\n  -> 10.1.1.1:80 Bounce 1 0 0\n", []int{5}, 1, 1},
		{"bad fwmark", head + "FWM  abc rr\n", []int{4}, 1, 0},
		{"no scheduler", head + "TCP  10.0.0.1:80\n", []int{4}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, w, err := Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var lines []int
			for _, x := range w {
				lines = append(lines, x.Line)
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("warning lines %v want %v: %v", lines, tc.lines, w)
			}
			rs := 0
			for _, vs := range tab.VirtualServers {
				rs += len(vs.RealServers)
			}
			if len(tab.VirtualServers) != tc.vs || rs != tc.rs {
				t.Errorf("got %d vs %d rs", len(tab.VirtualServers), rs)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "99999999": 99999999, "123K": 123000, "5M": 5e6, "7G": 7e9, "2T": 2e12} {
		if got, ok := ParseNumber(in); !ok || got != want {
			t.Errorf("%q = %d %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "K", "-1", "1.5K", "99999999999999999999T"} {
		if _, ok := ParseNumber(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, w, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(b, []byte("\n")) + 1
		for _, x := range w {
			if x.Line < 1 || x.Line > n {
				t.Fatalf("warning line %d of %d", x.Line, n)
			}
		}
		for _, vs := range tab.VirtualServers {
			if vs.Line < 1 || vs.Line > n {
				t.Fatalf("vs line %d", vs.Line)
			}
			for _, rs := range vs.RealServers {
				if rs.Line <= vs.Line {
					t.Fatalf("rs line %d not after vs line %d", rs.Line, vs.Line)
				}
			}
		}
	})
}

// A listing parsed after another with one Cache is what Parse makes of it alone, whatever the
// first listing was: sharing changes where the servers are held, never what they say.
func FuzzParseShared(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b, b)
		f.Add(b, bytes.Replace(b, []byte("Masq    1      0"), []byte("Masq    1      7"), 1))
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		c := &Cache{}
		if _, _, err := ParseShared(bytes.NewReader(first), c); err != nil {
			t.Fatal(err)
		}
		got, gw, err := ParseShared(bytes.NewReader(second), c)
		if err != nil {
			t.Fatal(err)
		}
		want, ww, _ := Parse(bytes.NewReader(second))
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gw, ww) {
			t.Fatalf("shared parse differs:\n%+v\n%v\nalone:\n%+v\n%v", got, gw, want, ww)
		}
		// Without counters: the same, counters left out, warnings all there.
		c = &Cache{OmitCounters: true}
		if _, _, err := ParseShared(bytes.NewReader(first), c); err != nil {
			t.Fatal(err)
		}
		got, gw, _ = ParseShared(bytes.NewReader(second), c)
		if zeroCounters(want); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gw, ww) {
			t.Fatalf("shared parse without counters differs:\n%+v\n%v\nalone, counters zeroed:\n%+v\n%v", got, gw, want, ww)
		}
	})
}

// zeroCounters clears what Cache.OmitCounters leaves out.
func zeroCounters(t *Table) {
	for _, vs := range t.VirtualServers {
		vs.Stats, vs.Rate = nil, nil
		for _, rs := range vs.RealServers {
			rs.ActiveConn, rs.InActConn, rs.PersistConn, rs.Stats, rs.Rate = 0, 0, 0, nil, nil
		}
	}
}

// Without counters, nodes whose listings differ only in them share every server; a malformed
// counter still warns.
func TestOmitCountersShares(t *testing.T) {
	b, err := os.ReadFile("testdata/ipvsadm-Ln.txt")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{OmitCounters: true}
	first, _, _ := ParseShared(bytes.NewReader(b), c)
	lines := strings.Split(string(b), "\n")
	changed := 0
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 6 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			f[4], f[5] = f[4]+"1", "x"+f[5]
			lines[i] = "  -> " + strings.Join(f[1:], " ")
			changed++
		}
	}
	if changed < 2 {
		t.Fatalf("%d real server lines changed: the listing does not test sharing", changed)
	}
	other, w, _ := ParseShared(strings.NewReader(strings.Join(lines, "\n")), c)
	if len(w) != changed {
		t.Errorf("%d warnings for %d malformed InActConn values: %v", len(w), changed, w)
	}
	for i, vs := range other.VirtualServers {
		if vs != first.VirtualServers[i] {
			t.Errorf("virtual server at line %d not shared though only counters changed", vs.Line)
		}
		for _, rs := range vs.RealServers {
			if rs.ActiveConn != 0 || rs.InActConn != 0 {
				t.Errorf("real server at line %d kept its counters", rs.Line)
			}
		}
	}
}

// Servers said the same at the same place are the last listing's; those that differ, and the
// virtual servers holding them, are the listing's own.
func TestParseSharedShares(t *testing.T) {
	b, err := os.ReadFile("testdata/ipvsadm-Ln.txt")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{}
	first, _, _ := ParseShared(bytes.NewReader(b), c)
	again, _, _ := ParseShared(bytes.NewReader(b), c)
	for i, vs := range again.VirtualServers {
		if vs != first.VirtualServers[i] {
			t.Errorf("virtual server at line %d not shared with the identical listing", vs.Line)
		}
	}
	// One real server's counters change: it and its virtual server are new, nothing else.
	lines := strings.Split(string(b), "\n")
	changed := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 6 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			f[4] = f[4] + "1"
			lines[i] = "  -> " + strings.Join(f[1:], " ")
			changed = i + 1
			break
		}
	}
	if changed < 0 {
		t.Fatal("no real server line in the listing")
	}
	other, _, _ := ParseShared(strings.NewReader(strings.Join(lines, "\n")), c)
	var own int
	for i, vs := range other.VirtualServers {
		ref := again.VirtualServers[i]
		for j, rs := range vs.RealServers {
			if (rs != ref.RealServers[j]) != (rs.Line == changed) {
				t.Errorf("real server at line %d: shared %v, changed line %d", rs.Line, rs == ref.RealServers[j], changed)
			}
			if rs.Line == changed {
				if vs == ref {
					t.Errorf("virtual server at line %d shared though its real server changed", vs.Line)
				}
				if vs.VirtualServerSpec != ref.VirtualServerSpec {
					t.Errorf("virtual server at line %d: its spec is the same, yet not shared", vs.Line)
				}
				if rs.RealServerSpec != ref.RealServers[j].RealServerSpec {
					t.Errorf("the real server's counters changed, not its spec, yet the spec is not shared")
				}
			}
		}
		if vs != ref {
			own++
		}
	}
	if own != 1 {
		t.Errorf("%d virtual servers not shared, want 1", own)
	}
}
