package cniconf

import (
	"strings"
	"testing"
)

func TestParseConflistLines(t *testing.T) {
	in := `{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "bridge", "mtu": "1450", "hairpinMode": "true",
     "ipam": {"type": "host-local", "subnet": "10.244.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}}
  ]
}`
	f, err := Parse("10-flannel.conflist", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != KindConflist || f.NetworkName != "cbr0" || f.CNIVersion != "0.3.1" || len(f.Plugins) != 3 {
		t.Fatalf("file = %+v", f)
	}
	fl := f.Plugins[0]
	if fl.Type != "flannel" || fl.TypeLine != 6 || fl.Line != 5 {
		t.Errorf("flannel plugin type %q line %d obj line %d", fl.Type, fl.TypeLine, fl.Line)
	}
	if fl.Delegate == nil || fl.Delegate.HairpinMode == nil || !*fl.Delegate.HairpinMode || fl.Delegate.Line != 7 {
		t.Errorf("delegate = %+v", fl.Delegate)
	}
	if pm := f.Plugins[1]; pm.TypeLine != 12 || !pm.Capabilities["portMappings"] {
		t.Errorf("portmap = %+v", pm)
	}
	br := f.Plugins[2]
	if br.TypeLine != 13 || br.MTU != nil || br.HairpinMode != nil {
		t.Errorf("bridge with string-typed mtu/hairpinMode: %+v", br)
	}
	if br.IPAM == nil || br.IPAM.Subnet != "10.244.0.0/24" || len(br.IPAM.Routes) != 1 || br.IPAM.Line != 14 {
		t.Errorf("ipam = %+v", br.IPAM)
	}
	if len(f.Warnings) != 2 || f.Warnings[0].Line != 13 || f.Warnings[1].Line != 13 {
		t.Errorf("warnings = %+v", f.Warnings)
	}
}

func TestParseConfAndMismatch(t *testing.T) {
	tests := []struct {
		name, in  string
		kind      Kind
		plugins   int
		typ       string
		warnLines []int
	}{
		{"10-bridge.conf", "{\"type\":\"bridge\",\"bridge\":\"cni0\",\"isGateway\":true}", KindConf, 1, "bridge", nil},
		{"10-x.conf", "{\n\"name\":\"x\",\n\"plugins\":[{\"type\":\"bridge\"}]}", KindConflist, 1, "bridge", []int{3}},
		{"10-x.conflist", "{\"type\":\"bridge\"}", KindConf, 1, "bridge", []int{0}},
		{"10-x.conf", "{\"name\":\"no type\"}", KindConf, 1, "", []int{1}},
		{"10-x.conf", "{\n  \"mtu\": __CNI_MTU__\n}", KindConf, 0, "", []int{2}},
		{"10-x.conf", "null", KindConf, 0, "", []int{0}},
		{"10-x.conflist", "{\"plugins\": {}}", KindConflist, 0, "", []int{1, 1}},
	}
	for _, tt := range tests {
		f, err := Parse(tt.name, strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		var lines []int
		for _, w := range f.Warnings {
			lines = append(lines, w.Line)
		}
		if f.Kind != tt.kind || len(f.Plugins) != tt.plugins || (tt.plugins > 0 && f.Plugins[0].Type != tt.typ) || len(lines) != len(tt.warnLines) {
			t.Errorf("%s %q: kind %s plugins %+v warnings %+v", tt.name, tt.in, f.Kind, f.Plugins, f.Warnings)
			continue
		}
		for i := range lines {
			if lines[i] != tt.warnLines[i] {
				t.Errorf("%s %q: warning lines %v, want %v", tt.name, tt.in, lines, tt.warnLines)
			}
		}
	}
}

func TestSelectActive(t *testing.T) {
	tests := []struct {
		files []string
		want  string
	}{
		{[]string{"/etc/cni/net.d/87-podman-bridge.conflist", "/etc/cni/net.d/10-flannel.conflist"}, "/etc/cni/net.d/10-flannel.conflist"},
		{[]string{"10-calico.conflist", "10-calico.conf"}, "10-calico.conf"},
		{[]string{"05-cilium.conf", "10-flannel.conflist"}, "05-cilium.conf"},
		{[]string{"00-multus.json", "10-flannel.conflist"}, "00-multus.json"},
		{[]string{"00-README", "calico-kubeconfig", "10-flannel.conflist.bak", "01-x.CONF"}, ""},
		{[]string{"a/99-z.conf", "b/10-a.conflist"}, "b/10-a.conflist"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := SelectActive(tt.files); got != tt.want {
			t.Errorf("SelectActive(%v) = %q, want %q", tt.files, got, tt.want)
		}
	}
}
