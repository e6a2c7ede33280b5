package kubelet

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	in := "apiVersion: kubelet.config.k8s.io/v1beta1\n" +
		"kind: KubeletConfiguration\n" +
		"clusterDNS:\n" +
		"- 10.96.0.10\n" +
		"clusterDomain: cluster.local\n" +
		"hairpinMode: hairpin-veth\n" +
		"resolvConf: \"\"\n" +
		"maxPods: lots\n" +
		"cgroupDriver: systemd\n"
	c, err := ParseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ClusterDNS) != 1 || c.ClusterDNS[0] != "10.96.0.10" || c.KeyLines["clusterDNS"] != 3 {
		t.Errorf("clusterDNS = %v line %d", c.ClusterDNS, c.KeyLines["clusterDNS"])
	}
	if c.HairpinMode != HairpinVeth || c.KeyLines["hairpinMode"] != 6 || c.CgroupDriver != "systemd" {
		t.Errorf("config = %+v", c)
	}
	if c.ResolvConf == nil || *c.ResolvConf != "" {
		t.Errorf("resolvConf \"\" (DNS from the node disabled) must be kept, got %v", c.ResolvConf)
	}
	if c.MaxPods != nil || len(c.Warnings) != 1 || c.Warnings[0].Line != 8 {
		t.Errorf("maxPods %v warnings %+v", c.MaxPods, c.Warnings)
	}
	if _, ok := c.KeyLines["podCIDR"]; ok {
		t.Error("absent key has a line")
	}
}

func TestParseConfigMalformed(t *testing.T) {
	tests := []struct {
		in   string
		line int
	}{
		{"", 0},
		{"- a\n- b\n", 1},
		{"kind: KubeletConfiguration\nclusterDNS: [\n", 2},
		{"kind: KubeProxyConfiguration\n", 1},
		{"a: 1\na: 2\n", 2},
	}
	for _, tt := range tests {
		c, err := ParseConfig(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Warnings) == 0 || c.Warnings[0].Line != tt.line {
			t.Errorf("%q: warnings %+v, want one at line %d", tt.in, c.Warnings, tt.line)
		}
	}
}

func TestEffectiveHairpinMode(t *testing.T) {
	cfg, _ := ParseConfig(strings.NewReader("kind: KubeletConfiguration\nhairpinMode: none\n"))
	flags, _ := ParseCmdline(strings.NewReader("/usr/bin/kubelet\x00--hairpin-mode=hairpin-veth\x00--cluster-dns=10.96.0.10\x00"))
	noFlag, _ := ParseCmdline(strings.NewReader("/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml"))
	tests := []struct {
		cfg  *Config
		cmd  *Cmdline
		want Setting
	}{
		{cfg, flags, Setting{Value: HairpinVeth, Source: "flag", Line: 1}},
		{cfg, noFlag, Setting{Value: HairpinNone, Source: "config", Line: 2}},
		{nil, noFlag, Setting{Value: PromiscuousBridge, Source: "default"}},
		{nil, nil, Setting{Value: PromiscuousBridge, Source: "default"}},
	}
	for i, tt := range tests {
		if got := EffectiveHairpinMode(tt.cfg, tt.cmd); got != tt.want {
			t.Errorf("%d: got %+v, want %+v", i, got, tt.want)
		}
	}
	if dns := flags.ClusterDNS(); len(dns) != 1 || dns[0] != "10.96.0.10" {
		t.Errorf("ClusterDNS = %v", dns)
	}
	if f, ok := noFlag.ConfigPath(); !ok || f.Value != "/var/lib/kubelet/config.yaml" {
		t.Errorf("ConfigPath = %+v %v", f, ok)
	}
}
