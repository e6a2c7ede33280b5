// Package kubeproxy parses a KubeProxyConfiguration (the `config.conf` key of the kube-proxy
// ConfigMap) into the settings network rules read, with the line of every key.
package kubeproxy

import (
	"io"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/internal/yamlconf"
)

// IPVS is the ipvs section.
type IPVS struct {
	Scheduler     string   `yaml:"scheduler" json:"scheduler,omitempty"`
	StrictARP     *bool    `yaml:"strictARP" json:"strictARP,omitempty"`
	MasqueradeAll *bool    `yaml:"masqueradeAll" json:"masqueradeAll,omitempty"`
	ExcludeCIDRs  []string `yaml:"excludeCIDRs" json:"excludeCIDRs,omitempty"`
}

// IPTables is the iptables section.
type IPTables struct {
	MasqueradeAll      *bool  `yaml:"masqueradeAll" json:"masqueradeAll,omitempty"`
	MasqueradeBit      *int32 `yaml:"masqueradeBit" json:"masqueradeBit,omitempty"`
	LocalhostNodePorts *bool  `yaml:"localhostNodePorts" json:"localhostNodePorts,omitempty"`
}

// Conntrack is the conntrack section.
type Conntrack struct {
	MaxPerCore *int32 `yaml:"maxPerCore" json:"maxPerCore,omitempty"`
	Min        *int32 `yaml:"min" json:"min,omitempty"`
}

// DetectLocal is the detectLocal section (bridgeInterface / interfaceNamePrefix).
type DetectLocal struct {
	BridgeInterface     string `yaml:"bridgeInterface" json:"bridgeInterface,omitempty"`
	InterfaceNamePrefix string `yaml:"interfaceNamePrefix" json:"interfaceNamePrefix,omitempty"`
}

// Config is the networking-relevant part of a KubeProxyConfiguration.
type Config struct {
	APIVersion        string      `yaml:"apiVersion" json:"apiVersion,omitempty"`
	Kind              string      `yaml:"kind" json:"kind,omitempty"`
	Mode              string      `yaml:"mode" json:"mode"`
	ClusterCIDR       string      `yaml:"clusterCIDR" json:"clusterCIDR,omitempty"`
	DetectLocalMode   string      `yaml:"detectLocalMode" json:"detectLocalMode,omitempty"`
	DetectLocal       DetectLocal `yaml:"detectLocal" json:"detectLocal"`
	BindAddress       string      `yaml:"bindAddress" json:"bindAddress,omitempty"`
	HostnameOverride  string      `yaml:"hostnameOverride" json:"hostnameOverride,omitempty"`
	NodePortAddresses []string    `yaml:"nodePortAddresses" json:"nodePortAddresses,omitempty"`
	IPVS              IPVS        `yaml:"ipvs" json:"ipvs"`
	IPTables          IPTables    `yaml:"iptables" json:"iptables"`
	Conntrack         Conntrack   `yaml:"conntrack" json:"conntrack"`
	Kubeconfig        string      `yaml:"-" json:"kubeconfig,omitempty"` // clientConnection.kubeconfig

	// KeyLines maps each mapping key's dotted path ("ipvs.strictARP") to its line.
	KeyLines map[string]int `yaml:"-" json:"key_lines"`
	Warnings []diag.Warning `yaml:"-" json:"warnings,omitempty"`
}

// EffectiveMode is the proxier kube-proxy runs: "" means iptables on Linux.
func (c *Config) EffectiveMode() string {
	if c == nil || c.Mode == "" {
		return "iptables"
	}
	return c.Mode
}

// Line returns the line of a dotted key path, 0 when the key is absent.
func (c *Config) Line(path string) int {
	if c == nil {
		return 0
	}
	return c.KeyLines[path]
}

// Parse reads a KubeProxyConfiguration YAML document (only the first document is read).
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = diag.NoLoneCR(data)
	c := &Config{KeyLines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.Warnings = append(c.Warnings, yamlconf.Warnings(err)...)
		return c, nil
	}
	root := yamlconf.Root(&doc)
	if root == nil {
		c.Warnings = append(c.Warnings, diag.Warnf(0, "empty document"))
		return c, nil
	}
	if root.Kind != yaml.MappingNode {
		c.Warnings = append(c.Warnings, diag.Warnf(root.Line, "want a mapping at the top"))
		return c, nil
	}
	c.walk(root, "", 0)
	c.Warnings = append(c.Warnings, yamlconf.DecodePairs(root, c, func() any { return &Config{} }, func(n *yaml.Node) *yaml.Node { return n }, 0)...)
	var cc struct {
		ClientConnection struct {
			Kubeconfig string `yaml:"kubeconfig"`
		} `yaml:"clientConnection"`
	}
	if root.Decode(&cc) == nil {
		c.Kubeconfig = cc.ClientConnection.Kubeconfig
	}
	if c.Kind != "" && c.Kind != "KubeProxyConfiguration" {
		c.Warnings = append(c.Warnings, diag.Warnf(c.KeyLines["kind"], "kind is %q, not KubeProxyConfiguration", c.Kind))
	}
	switch c.Mode {
	case "", "iptables", "ipvs", "nftables", "kernelspace", "userspace":
	default:
		c.Warnings = append(c.Warnings, diag.Warnf(c.KeyLines["mode"], "unknown proxy mode %q", c.Mode))
	}
	return c, nil
}

// walk records the line of every mapping key under n; depth bounds hostile nesting.
func (c *Config) walk(n *yaml.Node, prefix string, depth int) {
	if n.Kind != yaml.MappingNode || depth > 16 {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		if prev, dup := c.KeyLines[p]; dup {
			c.Warnings = append(c.Warnings, diag.Warnf(k.Line, "key %s repeated (first at line %d)", p, prev))
			continue
		}
		c.KeyLines[p] = k.Line
		c.walk(n.Content[i+1], p, depth+1)
	}
}
