package lsmod

import (
	"strings"
	"testing"
)

func TestParseEdgeCases(t *testing.T) {
	in := "Module                  Size  Used by\n" +
		"br_netfilter           32768  0\n" +
		"bridge                421888  1 br_netfilter\n" +
		"llc                    16384  2 bridge,stp,\n" +
		"dm_multipath           40960  0 [permanent]\n" +
		"broken\n" +
		"nf_nat                 big  2\n" +
		"ip_tables              32768  -\n"
	m, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		line   int
		count  int
		usedBy string
		ok     bool
	}{
		{"br_netfilter", 2, 0, "", true},
		{"br-netfilter", 2, 0, "", true}, // '-' and '_' are the same in module names
		{"bridge", 3, 1, "br_netfilter", true},
		{"llc", 4, 2, "bridge,stp", true}, // trailing comma of old lsmod
		{"ip_tables", 8, -1, "", true},
		{"nf_nat", 0, 0, "", false},
		{"xt_conntrack", 0, 0, "", false},
	}
	for _, tt := range tests {
		mod, ok := m.Loaded(tt.name)
		if ok != tt.ok || mod.Line != tt.line || (ok && mod.UsedCount != tt.count) || strings.Join(mod.UsedBy, ",") != tt.usedBy {
			t.Errorf("Loaded(%s) = %+v %v", tt.name, mod, ok)
		}
	}
	if mod, _ := m.Loaded("dm_multipath"); len(mod.Flags) != 1 || mod.Flags[0] != "[permanent]" {
		t.Errorf("flags = %v", mod.Flags)
	}
	if len(m.Warnings) != 2 || m.Warnings[0].Line != 6 || m.Warnings[1].Line != 7 {
		t.Errorf("warnings = %+v", m.Warnings)
	}
}
