// Package yamlconf holds what the parsers of component configuration files (KubeletConfiguration,
// KubeProxyConfiguration) share: decoding key by key so one ill-typed value costs only its key,
// and yaml errors turned into warnings at the lines they name.
package yamlconf

import (
	"errors"
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/parsers/diag"
)

var lineRE = regexp.MustCompile(`line (\d+)`)

// LineOf returns the line a yaml error message names, 0 if none.
func LineOf(msg string) int {
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// Root is the top node of a parsed document, nil when the document is empty. A document of only
// "---" is empty too: yaml.v3 gives it a null scalar on the line after the input's end.
func Root(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
		return nil
	}
	return root
}

// Warnings turns a yaml error into warnings, each at the line the message names.
func Warnings(err error) []diag.Warning {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []diag.Warning
		for _, e := range te.Errors {
			out = append(out, diag.Warnf(LineOf(e), "%s", e))
		}
		return out
	}
	return []diag.Warning{diag.Warnf(LineOf(err.Error()), "%v", err)}
}

// DecodePairs decodes each key of mapping n into dst on its own, so one ill-typed value costs
// only its key (yaml would otherwise leave a half-set field): a pair is first tried on a scratch
// value and applied only when it decodes; a failing mapping value is retried key by key. wrap
// rebuilds the path from the document root to the pair.
func DecodePairs(n *yaml.Node, dst any, scratch func() any, wrap func(*yaml.Node) *yaml.Node, depth int) []diag.Warning {
	var out []diag.Warning
	for i := 0; i+1 < len(n.Content); i += 2 {
		pair := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{n.Content[i], n.Content[i+1]}}
		doc := wrap(pair)
		err := doc.Decode(scratch())
		if err == nil {
			if err := doc.Decode(dst); err != nil {
				out = append(out, Warnings(err)...)
			}
			continue
		}
		if v := n.Content[i+1]; v.Kind == yaml.MappingNode && depth < 4 {
			key := n.Content[i]
			out = append(out, DecodePairs(v, dst, scratch, func(inner *yaml.Node) *yaml.Node {
				return wrap(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, inner}})
			}, depth+1)...)
			continue
		}
		out = append(out, Warnings(err)...)
	}
	return out
}
