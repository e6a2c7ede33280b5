package hairpin

import (
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	tests := []struct {
		in           string
		bridge, port string
		value        int
		warn, note   bool
	}{
		{in: "/sys/class/net/cni0/brif/veth1234/hairpin_mode:1", bridge: "cni0", port: "veth1234", value: 1},
		{in: "/sys/class/net/cni0/brif/veth1234/hairpin_mode 0", bridge: "cni0", port: "veth1234"},
		{in: "/sys/class/net/cbr0/brif/vethab/hairpin_mode=1", bridge: "cbr0", port: "vethab", value: 1},
		{in: "/sys/devices/virtual/net/docker0/brif/veth9/hairpin_mode:\t0", bridge: "docker0", port: "veth9"},
		{in: "/sys/class/net/cni0/brif/veth1234/hairpin_mode:", warn: true},
		{in: "/sys/class/net/cni0/brif/veth1234/hairpin_modeX1", warn: true},
		{in: "/sys/class/net/cni0/veth1234/hairpin_mode:1", warn: true},
		{in: "/sys/class/net/cni0/brif/veth1234/hairpin_mode:on", warn: true},
		{in: "grep: /sys/class/net/*/brif/*/hairpin_mode: No such file or directory", note: true},
	}
	for _, tt := range tests {
		p, err := Parse(strings.NewReader("\n" + tt.in + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if tt.warn || tt.note {
			if len(p.Entries) != 0 || (len(p.Warnings) == 1) != tt.warn || (len(p.Notes) == 1) != tt.note {
				t.Errorf("%q: entries %+v warnings %+v notes %+v", tt.in, p.Entries, p.Warnings, p.Notes)
			}
			continue
		}
		if len(p.Entries) != 1 {
			t.Fatalf("%q: entries %+v warnings %+v", tt.in, p.Entries, p.Warnings)
		}
		e := p.Entries[0]
		if e.Bridge != tt.bridge || e.Port != tt.port || e.Value != tt.value || e.Line != 2 {
			t.Errorf("%q: got %+v", tt.in, e)
		}
	}
}

func TestDisabled(t *testing.T) {
	p, _ := Parse(strings.NewReader("/sys/class/net/cni0/brif/a/hairpin_mode:1\n/sys/class/net/cni0/brif/b/hairpin_mode:0\n/sys/class/net/br1/brif/c/hairpin_mode:0\n"))
	d := p.Disabled()
	if len(d) != 2 || d[0].Port != "b" || d[1].Port != "c" {
		t.Errorf("Disabled = %+v", d)
	}
	if b := p.Bridge("cni0"); len(b) != 2 {
		t.Errorf("Bridge(cni0) = %+v", b)
	}
}
