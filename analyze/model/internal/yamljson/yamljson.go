// Package yamljson writes a yaml.v3 node tree as JSON the way the API server would have sent
// it: timestamps stay strings, YAML 1.2 scalars resolve as yaml.v3 resolves them, and alias
// expansion and nesting are bounded (YAML bombs). analyze/model decodes objects with it, and
// the fast kubectl-YAML path (internal/fastyaml) is tested against it.
package yamljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on one object.
const (
	MaxNodes = 1_000_000
	MaxDepth = 500
)

// Documents parses every YAML document of data, in order; on an error it returns the documents
// before it.
func Documents(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, &n)
	}
}

// Converter writes one node tree as JSON; MaxLine is the last line it saw, for where the object ends.
type Converter struct {
	nodes   int
	MaxLine int
}

func (c *Converter) Write(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	c.nodes++
	if c.nodes > MaxNodes {
		return errors.New("object too large or alias expansion too deep (YAML bomb?)")
	}
	if depth > MaxDepth {
		return fmt.Errorf("nesting deeper than %d levels", MaxDepth)
	}
	if n.Line > c.MaxLine {
		c.MaxLine = n.Line
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			buf.WriteString("null")
			return nil
		}
		return c.Write(buf, n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.Write(buf, n.Alias, depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k := n.Content[i]
			if k.Line > c.MaxLine {
				c.MaxLine = k.Line
			}
			key, _ := json.Marshal(k.Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := c.Write(buf, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, it := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := c.Write(buf, it, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		WriteScalar(buf, n)
	}
	return nil
}

// WriteScalar writes one scalar node as JSON.
func WriteScalar(buf *bytes.Buffer, n *yaml.Node) {
	switch n.ShortTag() {
	case "!!null":
		buf.WriteString("null")
		return
	case "!!bool":
		if v, err := strconv.ParseBool(n.Value); err == nil {
			buf.WriteString(strconv.FormatBool(v))
			return
		}
	case "!!int":
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			buf.WriteString(strconv.FormatInt(v, 10))
			return
		}
	case "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			buf.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			return
		}
	}
	s, _ := json.Marshal(n.Value)
	buf.Write(s)
}
