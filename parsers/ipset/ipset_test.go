package ipset

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
	if len(files) < 2 {
		t.Fatalf("testdata missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sets, w, err := Parse(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(w) != 0 {
				t.Errorf("warnings on a real capture: %v", w)
			}
			golden.JSON(t, strings.TrimSuffix(f, ".txt")+".json", struct {
				Sets     *Sets          `json:"sets"`
				Warnings []diag.Warning `json:"warnings"`
			}{sets, w})
		})
	}
}

// Both formats of the same sets must give the same sets and members.
func TestListAndSaveAgree(t *testing.T) {
	l, s := load(t, "ipset-list.txt"), load(t, "ipset-save.txt")
	if len(l.Sets) != len(s.Sets) || len(l.Sets) != 11 {
		t.Fatalf("%d vs %d sets", len(l.Sets), len(s.Sets))
	}
	for i := range l.Sets {
		a, b := l.Sets[i], s.Sets[i]
		if a.Name != b.Name || a.Type != b.Type || !reflect.DeepEqual(a.Header, b.Header) || len(a.Members) != len(b.Members) {
			t.Errorf("set %d: list %+v save %+v", i, a, b)
			continue
		}
		for j := range a.Members {
			if a.Members[j].Elem != b.Members[j].Elem || a.Members[j].Nomatch != b.Members[j].Nomatch {
				t.Errorf("%s member %d: %+v vs %+v", a.Name, j, a.Members[j], b.Members[j])
			}
		}
	}
	ci := l.Set("KUBE-CLUSTER-IP")
	if ci.Line != 1 || ci.Revision != 7 || ci.Entries != 4 || ci.References != 0 || ci.SizeInMemory != 472 || ci.Members[2].Line != 11 {
		t.Errorf("list fields %+v", ci)
	}
	if s.Set("KUBE-CLUSTER-IP").Entries != -1 {
		t.Errorf("save format cannot know the entry count")
	}
	if v6 := l.Set("KUBE-6-CLUSTER-IP"); v6.Family() != "inet6" {
		t.Errorf("family %q", v6.Family())
	}
}

func load(t *testing.T, name string) *Sets {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMatch(t *testing.T) {
	for _, file := range []string{"ipset-list.txt", "ipset-save.txt"} {
		sets := load(t, file)
		a := netip.MustParseAddr
		tests := []struct {
			set   string
			pk    Packet
			flags string
			want  bool
		}{
			{"KUBE-CLUSTER-IP", Packet{Dst: a("10.96.0.1"), Protocol: "tcp", DstPort: 443}, "dst,dst", true},
			{"KUBE-CLUSTER-IP", Packet{Dst: a("10.96.0.1"), Protocol: "udp", DstPort: 443}, "dst,dst", false},
			{"KUBE-CLUSTER-IP", Packet{Dst: a("10.96.0.10"), Protocol: "udp", DstPort: 53}, "dst,dst", true},
			{"KUBE-CLUSTER-IP", Packet{Dst: a("10.96.0.10"), Protocol: "tcp", DstPort: 54}, "dst,dst", false},
			{"KUBE-CLUSTER-IP", Packet{Src: a("10.96.0.1"), Dst: a("10.0.0.1"), Protocol: "tcp", DstPort: 443}, "src,dst", true},
			{"KUBE-LOOP-BACK", Packet{Src: a("10.244.1.12"), Dst: a("10.244.1.12"), Protocol: "udp", DstPort: 53}, "dst,dst,src", true},
			{"KUBE-LOOP-BACK", Packet{Src: a("10.244.1.13"), Dst: a("10.244.1.12"), Protocol: "udp", DstPort: 53}, "dst,dst,src", false},
			{"KUBE-NODE-PORT-TCP", Packet{Dst: a("192.168.56.10"), Protocol: "tcp", DstPort: 31080}, "dst", true},
			{"KUBE-NODE-PORT-TCP", Packet{Dst: a("192.168.56.10"), Protocol: "tcp", DstPort: 31081}, "dst", false},
			{"KUBE-NODE-PORT-LOCAL-TCP", Packet{Protocol: "tcp", DstPort: 31080}, "dst", false},
			{"KUBE-LOAD-BALANCER-SOURCE-CIDR", Packet{Src: a("203.0.113.9"), Dst: a("192.168.56.200"), Protocol: "tcp", DstPort: 80}, "dst,dst,src", true},
			{"KUBE-LOAD-BALANCER-SOURCE-CIDR", Packet{Src: a("198.51.100.1"), Dst: a("192.168.56.200"), Protocol: "tcp", DstPort: 80}, "dst,dst,src", false},
			{"KUBE-6-CLUSTER-IP", Packet{Dst: a("fd00:10:96::1"), Protocol: "tcp", DstPort: 443}, "dst,dst", true},
			{"KUBE-6-CLUSTER-IP", Packet{Dst: a("10.96.0.1"), Protocol: "tcp", DstPort: 443}, "dst,dst", false},
			{"cali40all-hosts-net", Packet{Dst: a("192.168.56.7")}, "dst", true},
			{"cali40all-hosts-net", Packet{Dst: a("10.1.2.3")}, "dst", false}, // nomatch entry
			{"cali40all-hosts-net", Packet{Dst: a("172.16.0.1")}, "dst", false},
		}
		for _, tc := range tests {
			got, err := sets.Set(tc.set).Match(tc.pk, strings.Split(tc.flags, ","))
			if err != nil || got != tc.want {
				t.Errorf("%s: %s %+v %s = %v, %v; want %v", file, tc.set, tc.pk, tc.flags, got, err, tc.want)
			}
		}
		if ok, err := sets.Set("KUBE-LOOP-BACK").Contains(Packet{Src: a("10.244.1.12"), Dst: a("10.244.1.12"), Protocol: "tcp", DstPort: 53}); !ok || err != nil {
			t.Errorf("Contains loop-back %v %v", ok, err)
		}
		if _, err := sets.Set("KUBE-CLUSTER-IP").Match(Packet{}, []string{"dst"}); err == nil {
			t.Errorf("too few flags accepted")
		}
	}
}

func TestEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		lines   []int
		sets    int
		members int
	}{
		{"clean save", "create s hash:ip family inet\nadd s 10.0.0.1\n", nil, 1, 1},
		{"crlf list", "Name: s\r\nType: hash:ip\r\nRevision: 6\r\nHeader: family inet hashsize 1024 maxelem 65536\r\nSize in memory: 1\r\nReferences: 1\r\nNumber of entries: 1\r\nMembers:\r\n10.0.0.1\r\n", nil, 1, 1},
		{"add before create", "add s 10.0.0.1\ncreate s hash:ip\n", []int{1}, 1, 0},
		{"garbage", "create s hash:ip\nbogus line\nadd s 10.0.0.1\n", []int{2}, 1, 1},
		{"bad element kept", "create s hash:ip,port\nadd s 10.0.0.1,tcp:http\nadd s 10.0.0.2\n", []int{2, 3}, 1, 2},
		{"entry count mismatch", "Name: s\nType: hash:ip\nNumber of entries: 3\nMembers:\n10.0.0.1\n", []int{1}, 1, 1},
		{"header before name", "Type: hash:ip\n", []int{1}, 0, 0},
		{"bad number", "Name: s\nType: hash:ip\nReferences: many\nMembers:\n", []int{3}, 1, 0},
		{"timeout and comment", "Name: s\nType: hash:ip\nHeader: family inet timeout 600 comment\nNumber of entries: 1\nMembers:\n10.1.2.3 timeout 299 comment \"kube note\"\n", nil, 1, 1},
		{"unsupported type kept", "create s hash:net,iface family inet\nadd s 10.0.0.0/8,eth0\n", []int{2}, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, w, err := Parse(strings.NewReader(tc.in))
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
			m := 0
			for _, set := range s.Sets {
				m += len(set.Members)
			}
			if len(s.Sets) != tc.sets || m != tc.members {
				t.Errorf("%d sets %d members", len(s.Sets), m)
			}
		})
	}
	s, _, _ := Parse(strings.NewReader("Name: s\nType: hash:ip\nMembers:\n10.1.2.3 timeout 299 comment \"kube note\"\n"))
	mem := s.Set("s").Members[0]
	if !reflect.DeepEqual(mem.Options, []Option{{"timeout", "299"}, {"comment", "kube note"}}) || mem.Line != 4 {
		t.Errorf("member options %+v", mem)
	}
	s, _, _ = Parse(strings.NewReader("create s hash:net,iface\nadd s 10.0.0.0/8,eth0\n"))
	if _, err := s.Set("s").Match(Packet{}, []string{"dst", "dst"}); err == nil {
		t.Errorf("unsupported dimension evaluated")
	}
	s, _, _ = Parse(strings.NewReader("create s hash:ip netmask 24\nadd s 10.1.2.0\n"))
	if ok, err := s.Set("s").Match(Packet{Dst: netip.MustParseAddr("10.1.2.77")}, []string{"dst"}); !ok || err != nil {
		t.Errorf("netmask set %v %v", ok, err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sets, w, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(b, []byte("\n")) + 1
		for _, x := range w {
			if x.Line < 1 || x.Line > n {
				t.Fatalf("warning line %d of %d", x.Line, n)
			}
		}
		pk := Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.96.0.1"), Protocol: "tcp", DstPort: 443}
		for _, s := range sets.Sets {
			for _, m := range s.Members {
				if m.Line < 1 || m.Line > n {
					t.Fatalf("member line %d", m.Line)
				}
			}
			s.Contains(pk)
			s.Match(pk, []string{"src"})
		}
	})
}

// A capture parsed after another with one Cache is what Parse makes of it alone, whatever the
// first capture was: sharing changes where members are held, never what they say.
func FuzzParseShared(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b, b)
		f.Add(b, bytes.Replace(b, []byte("10."), []byte("11."), 1))
		f.Add(b, bytes.Replace(b, []byte("Type: hash:ip,port"), []byte("Type: hash:ip"), 1))
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
	})
}

// Plain members listed the same at the same place are the last capture's; a changed one is its
// own.
func TestParseSharedShares(t *testing.T) {
	b, err := os.ReadFile("testdata/ipset-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{}
	first, _, _ := ParseShared(bytes.NewReader(b), c)
	lines := strings.Split(string(b), "\n")
	changed := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "10.") {
			lines[i] = "11." + l[3:]
			changed = i + 1
			break
		}
	}
	if changed < 0 {
		t.Fatal("no member starting with 10. in the capture")
	}
	other, _, _ := ParseShared(strings.NewReader(strings.Join(lines, "\n")), c)
	shared := 0
	for i, s := range other.Sets {
		for j, m := range s.Members {
			ref := first.Sets[i].Members[j]
			if m.Line == changed {
				if m == ref {
					t.Errorf("member at line %d shared though it changed", m.Line)
				}
				continue
			}
			if m.Options != nil || m.Nomatch {
				continue // only plain members are shared
			}
			if m != ref {
				t.Errorf("member at line %d (%s) not shared", m.Line, m.Elem)
			}
			shared++
		}
	}
	if shared == 0 {
		t.Error("no member shared")
	}
}
