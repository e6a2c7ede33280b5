// Package kubelet parses the kubelet's two configuration captures: the KubeletConfiguration file
// (kubelet-config.yaml) with the line of each top-level key, and its command line
// (kubelet-cmdline.txt) with typed accessors for the networking flags.
package kubelet

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/parsers/cmdline"
	"github.com/netsift/netsift/parsers/diag"
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

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlWarning turns a yaml error into warnings, each at the line the message names.
func yamlWarning(err error) []diag.Warning {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []diag.Warning
		for _, e := range te.Errors {
			out = append(out, diag.Warnf(lineOf(e), "%s", e))
		}
		return out
	}
	return []diag.Warning{diag.Warnf(lineOf(err.Error()), "%v", err)}
}

func lineOf(msg string) int {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
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
		c.Warnings = append(c.Warnings, yamlWarning(err)...)
		return c, nil
	}
	if len(doc.Content) == 0 {
		c.Warnings = append(c.Warnings, diag.Warnf(0, "empty document"))
		return c, nil
	}
	root := doc.Content[0]
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
	c.Warnings = append(c.Warnings, decodePairs(root, c, func() any { return &Config{} }, func(n *yaml.Node) *yaml.Node { return n }, 0)...)
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

// decodePairs decodes each key of mapping n into dst on its own, so one ill-typed value costs
// only its key (yaml would otherwise leave a half-set field): a pair is first tried on a scratch
// value and applied only when it decodes; a failing mapping value is retried key by key.
func decodePairs(n *yaml.Node, dst any, scratch func() any, wrap func(*yaml.Node) *yaml.Node, depth int) []diag.Warning {
	var out []diag.Warning
	for i := 0; i+1 < len(n.Content); i += 2 {
		pair := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{n.Content[i], n.Content[i+1]}}
		doc := wrap(pair)
		err := doc.Decode(scratch())
		if err == nil {
			if err := doc.Decode(dst); err != nil {
				out = append(out, yamlWarning(err)...)
			}
			continue
		}
		if v := n.Content[i+1]; v.Kind == yaml.MappingNode && depth < 4 {
			key := n.Content[i]
			out = append(out, decodePairs(v, dst, scratch, func(inner *yaml.Node) *yaml.Node {
				return wrap(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, inner}})
			}, depth+1)...)
			continue
		}
		out = append(out, yamlWarning(err)...)
	}
	return out
}
