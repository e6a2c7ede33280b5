package sysctl

import (
	"strings"
	"testing"
)

func TestParseEdgeCases(t *testing.T) {
	in := "net.ipv4.ip_forward = 1\n" +
		"net.ipv4.ip_local_port_range = 32768\t60999\n" +
		"sysctl: permission denied on key 'fs.protected_fifos'\n" +
		"sysctl: reading key \"net.ipv6.conf.all.stable_secret\"\n" +
		"kernel.hostname: busybox\n" +
		"kernel.domainname = \n" +
		"garbage line\n" +
		"= 3\n" +
		"net.ipv4.conf.all.rp_filter = 1\n" +
		"net.ipv4.conf.eth0/100.rp_filter = 2\n" +
		"net.ipv4.conf.eth1.rp_filter = 0\n" +
		"net.ipv4.ip_forward=0\n"
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, value string
		line       int
		ok         bool
	}{
		{"net.ipv4.ip_forward", "0", 12, true}, // repeated: last wins
		{"net.ipv4.ip_local_port_range", "32768\t60999", 2, true},
		{"kernel.hostname", "busybox", 5, true},
		{"kernel.domainname", "", 6, true},
		{"net.bridge.bridge-nf-call-iptables", "", 0, false},
		{"fs.protected_fifos", "", 0, false},
	}
	for _, tt := range tests {
		e, ok := s.Get(tt.key)
		if ok != tt.ok || e.Value != tt.value || e.Line != tt.line {
			t.Errorf("Get(%q) = %+v, %v; want value %q line %d ok %v", tt.key, e, ok, tt.value, tt.line, tt.ok)
		}
	}
	// the command's own messages (3, 4) and the repeated ip_forward (12) are notes, not damage
	if len(s.Notes) != 3 || s.Notes[0].Line != 3 || s.Notes[1].Line != 4 || s.Notes[2].Line != 12 {
		t.Errorf("notes = %+v, want lines 3, 4 and 12", s.Notes)
	}
	// garbage (7), "= 3" (8)
	var lines []int
	for _, w := range s.Warnings {
		lines = append(lines, w.Line)
	}
	if len(lines) != 2 || lines[0] != 7 || lines[1] != 8 {
		t.Errorf("warning lines = %v, want [7 8]", lines)
	}
	if _, _, ok := s.Int("net.ipv4.ip_local_port_range"); ok {
		t.Error("Int of a two-number value must fail")
	}
	if v, e, ok := s.Int("net.ipv4.ip_forward"); !ok || v != 0 || e.Line != 12 {
		t.Errorf("Int(ip_forward) = %d %+v %v", v, e, ok)
	}
	rp := []struct {
		dev  string
		want int64
		ok   bool
	}{
		{"eth0.100", 2, true}, // dots in device names are slashes in keys
		{"eth1", 1, true},     // max(all=1, dev=0)
		{"eth9", 0, false},    // absent device: no default invented
	}
	for _, tt := range rp {
		got, ok := s.EffectiveRPFilter(tt.dev)
		if ok != tt.ok || got.Value != tt.want {
			t.Errorf("EffectiveRPFilter(%s) = %+v %v, want %d %v", tt.dev, got, ok, tt.want, tt.ok)
		}
	}
	if s.BridgeNFLoaded() {
		t.Error("BridgeNFLoaded without net.bridge keys")
	}
	s2, _ := Parse(strings.NewReader("net.bridge.bridge-nf-call-iptables = 0\n"))
	if !s2.BridgeNFLoaded() {
		t.Error("BridgeNFLoaded false with a net.bridge key")
	}
}

func TestEffectiveRPFilterNeedsAll(t *testing.T) {
	s, _ := Parse(strings.NewReader("net.ipv4.conf.eth0.rp_filter = 1\n"))
	if _, ok := s.EffectiveRPFilter("eth0"); ok {
		t.Error("EffectiveRPFilter must not assume conf.all")
	}
}
