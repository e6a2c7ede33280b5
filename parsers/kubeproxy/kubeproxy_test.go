package kubeproxy

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n" +
		"kind: KubeProxyConfiguration\n" +
		"clientConnection:\n" +
		"  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n" +
		"clusterCIDR: 10.244.0.0/16\n" +
		"mode: \"\"\n" +
		"ipvs:\n" +
		"  scheduler: rr\n" +
		"  strictARP: true\n" +
		"iptables:\n" +
		"  masqueradeAll: false\n" +
		"conntrack:\n" +
		"  maxPerCore: null\n" +
		"detectLocalMode: ClusterCIDR\n" +
		"nodePortAddresses: [\"192.168.0.0/16\"]\n"
	c, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.EffectiveMode() != "iptables" || c.Line("mode") != 6 {
		t.Errorf("mode %q effective %q line %d", c.Mode, c.EffectiveMode(), c.Line("mode"))
	}
	if c.IPVS.StrictARP == nil || !*c.IPVS.StrictARP || c.Line("ipvs.strictARP") != 9 || c.IPVS.Scheduler != "rr" {
		t.Errorf("ipvs = %+v", c.IPVS)
	}
	if c.IPTables.MasqueradeAll == nil || *c.IPTables.MasqueradeAll || c.Line("iptables.masqueradeAll") != 11 {
		t.Errorf("iptables = %+v", c.IPTables)
	}
	if c.Conntrack.MaxPerCore != nil || c.Line("conntrack.maxPerCore") != 13 {
		t.Errorf("maxPerCore null must stay unset: %+v", c.Conntrack)
	}
	if c.ClusterCIDR != "10.244.0.0/16" || c.DetectLocalMode != "ClusterCIDR" || len(c.NodePortAddresses) != 1 || c.Kubeconfig != "/var/lib/kube-proxy/kubeconfig.conf" {
		t.Errorf("config = %+v", c)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %+v", c.Warnings)
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		in   string
		line int
	}{
		{"mode: ipvs\nipvs:\n  strictARP: yes-please\n", 3},
		{"mode: userspacex\n", 1},
		{"mode: [\n", 1},
		{"", 0},
		{"ipvs:\n  scheduler: rr\n  scheduler: wrr\n", 3},
	}
	for _, tt := range tests {
		c, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Warnings) == 0 || c.Warnings[0].Line != tt.line {
			t.Errorf("%q: warnings %+v, want first at line %d", tt.in, c.Warnings, tt.line)
		}
	}
	c, _ := Parse(strings.NewReader("mode: ipvs\n"))
	if c.EffectiveMode() != "ipvs" {
		t.Errorf("EffectiveMode = %q", c.EffectiveMode())
	}
}

func TestIllTypedKeyCostsOnlyItself(t *testing.T) {
	c, _ := Parse(strings.NewReader("mode: ipvs\nipvs:\n  scheduler: lc\n  strictARP: maybe\nconntrack:\n  maxPerCore: many\n"))
	if c.Mode != "ipvs" || c.IPVS.Scheduler != "lc" || c.IPVS.StrictARP != nil || c.Conntrack.MaxPerCore != nil {
		t.Errorf("config = %+v", c)
	}
	if len(c.Warnings) != 2 || c.Warnings[0].Line != 4 || c.Warnings[1].Line != 6 {
		t.Errorf("warnings = %+v", c.Warnings)
	}
}
