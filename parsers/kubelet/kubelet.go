// Package kubelet parses the kubelet's two configuration captures: the KubeletConfiguration file
// (kubelet-config.yaml) with the line of each top-level key, and its command line
// (kubelet-cmdline.txt) with typed accessors for the networking flags.
package kubelet

import (
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/parsers/cmdline"
	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/internal/yamlconf"
)

// Hairpin modes (kubelet --hairpin-mode / hairpinMode).
const (
	HairpinVeth        = "hairpin-veth"
	PromiscuousBridge  = "promiscuous-bridge"
	HairpinNone        = "none"
	DefaultHairpinMode = PromiscuousBridge // kubelet's default when neither file nor flag sets it
)

// Config is the networking-relevant part of a KubeletConfiguration. Unset fields are zero;
// KeyLines tells set from unset.
type Config struct {
	APIVersion               string   `yaml:"apiVersion" json:"apiVersion,omitempty"`
	Kind                     string   `yaml:"kind" json:"kind,omitempty"`
	ClusterDNS               []string `yaml:"clusterDNS" json:"clusterDNS,omitempty"`
	ClusterDomain            string   `yaml:"clusterDomain" json:"clusterDomain,omitempty"`
	HairpinMode              string   `yaml:"hairpinMode" json:"hairpinMode,omitempty"`
	ResolvConf               *string  `yaml:"resolvConf" json:"resolvConf,omitempty"` // "" disables
	PodCIDR                  string   `yaml:"podCIDR" json:"podCIDR,omitempty"`
	CgroupDriver             string   `yaml:"cgroupDriver" json:"cgroupDriver,omitempty"`
	MaxPods                  *int32   `yaml:"maxPods" json:"maxPods,omitempty"`
	Address                  string   `yaml:"address" json:"address,omitempty"`
	StaticPodPath            string   `yaml:"staticPodPath" json:"staticPodPath,omitempty"`
	ContainerRuntimeEndpoint string   `yaml:"containerRuntimeEndpoint" json:"containerRuntimeEndpoint,omitempty"`
	FailSwapOn               *bool    `yaml:"failSwapOn" json:"failSwapOn,omitempty"`
	MakeIPTablesUtilChains   *bool    `yaml:"makeIPTablesUtilChains" json:"makeIPTablesUtilChains,omitempty"`
	ProviderID               string   `yaml:"providerID" json:"providerID,omitempty"`

	// KeyLines maps each top-level key present to its line.
	KeyLines map[string]int `yaml:"-" json:"key_lines"`
	Warnings []diag.Warning `yaml:"-" json:"warnings,omitempty"`
}

// ParseConfig reads a KubeletConfiguration YAML document (only the first document is read).
func ParseConfig(r io.Reader) (*Config, error) {
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
		c.Warnings = append(c.Warnings, diag.Warnf(root.Line, "want a mapping at the top, got %s", kindName(root.Kind)))
		return c, nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if prev, dup := c.KeyLines[k.Value]; dup {
			c.Warnings = append(c.Warnings, diag.Warnf(k.Line, "key %s repeated (first at line %d)", k.Value, prev))
			continue
		}
		c.KeyLines[k.Value] = k.Line
	}
	c.Warnings = append(c.Warnings, yamlconf.DecodePairs(root, c, func() any { return &Config{} }, func(n *yaml.Node) *yaml.Node { return n }, 0)...)
	if c.Kind != "" && c.Kind != "KubeletConfiguration" {
		c.Warnings = append(c.Warnings, diag.Warnf(c.KeyLines["kind"], "kind is %q, not KubeletConfiguration", c.Kind))
	}
	return c, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("node kind %d", k)
}

// Cmdline is the kubelet's command line with accessors for the networking flags.
type Cmdline struct {
	*cmdline.CommandLine
}

// ParseCmdline reads kubelet-cmdline.txt.
func ParseCmdline(r io.Reader) (*Cmdline, error) {
	c, err := cmdline.Parse(r)
	if err != nil {
		return nil, err
	}
	return &Cmdline{c}, nil
}

// HairpinMode is --hairpin-mode.
func (c *Cmdline) HairpinMode() (cmdline.Flag, bool) { return c.Get("hairpin-mode") }

// ClusterDNS is --cluster-dns (comma-separated, repeatable).
func (c *Cmdline) ClusterDNS() []string { return c.List("cluster-dns") }

// ClusterDomain is --cluster-domain.
func (c *Cmdline) ClusterDomain() (cmdline.Flag, bool) { return c.Get("cluster-domain") }

// NetworkPlugin is --network-plugin (removed in 1.24; still seen on old nodes).
func (c *Cmdline) NetworkPlugin() (cmdline.Flag, bool) { return c.Get("network-plugin") }

// ConfigPath is --config, the KubeletConfiguration file.
func (c *Cmdline) ConfigPath() (cmdline.Flag, bool) { return c.Get("config") }

// ResolvConf is --resolv-conf.
func (c *Cmdline) ResolvConf() (cmdline.Flag, bool) { return c.Get("resolv-conf") }

// PodCIDR is --pod-cidr.
func (c *Cmdline) PodCIDR() (cmdline.Flag, bool) { return c.Get("pod-cidr") }

// Setting is one effective kubelet setting and where it comes from.
type Setting struct {
	Value  string `json:"value"`
	Source string `json:"source"` // flag, config, or default
	Line   int    `json:"line,omitempty"`
}

// EffectiveHairpinMode is the hairpin mode the kubelet runs with: a command-line flag overrides
// the config file, which overrides the default (promiscuous-bridge). Either argument may be nil.
func EffectiveHairpinMode(cfg *Config, cmd *Cmdline) Setting {
	if cmd != nil && cmd.CommandLine != nil {
		if f, ok := cmd.HairpinMode(); ok {
			return Setting{Value: f.Value, Source: "flag", Line: f.Line}
		}
	}
	if cfg != nil {
		if line, ok := cfg.KeyLines["hairpinMode"]; ok {
			return Setting{Value: cfg.HairpinMode, Source: "config", Line: line}
		}
	}
	return Setting{Value: DefaultHairpinMode, Source: "default"}
}
