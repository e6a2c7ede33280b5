package resolvconf

import (
	"strings"
	"testing"
)

func TestParseEdgeCases(t *testing.T) {
	in := "# comment\n" +
		"domain corp.example\n" +
		"search default.svc.cluster.local svc.cluster.local cluster.local ; trailing comment\n" +
		"nameserver 10.96.0.10\n" +
		"nameserver fe80::1%eth0\n" +
		"nameserver not-an-ip\n" +
		"nameserver\n" +
		"options ndots:5 timeout:2 rotate\n" +
		"options ndots:20\n" +
		"bogus word\n"
	rc, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Nameservers) != 3 || rc.Nameservers[1].Addr != "fe80::1%eth0" || rc.Nameservers[2].Line != 6 {
		t.Errorf("nameservers = %+v", rc.Nameservers)
	}
	s, ok := rc.SearchList()
	if !ok || s.Keyword != "search" || s.Line != 3 || len(s.Domains) != 3 {
		t.Errorf("search = %+v", s)
	}
	n, o, ok := rc.Ndots()
	if !ok || n != 15 || o.Line != 9 {
		t.Errorf("ndots = %d %+v %v (want 15 capped, line 9)", n, o, ok)
	}
	if o, ok := rc.Option("rotate"); !ok || o.Value != "" || o.Line != 8 {
		t.Errorf("rotate = %+v %v", o, ok)
	}
	var lines []int
	for _, w := range rc.Warnings {
		lines = append(lines, w.Line)
	}
	if len(lines) != 3 || lines[0] != 6 || lines[1] != 7 || lines[2] != 10 {
		t.Errorf("warning lines = %v, want [6 7 10]", lines)
	}
	empty, _ := Parse(strings.NewReader(""))
	if _, _, ok := empty.Ndots(); ok {
		t.Error("Ndots must not invent a default")
	}
}
