package model

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/parsers/diag"
)

// Evidence quotes the line of an object's field, e.g. Evidence(svc.Src, "spec", "selector").
// A path segment that is a number indexes a list. When the field is absent, the nearest present
// ancestor is quoted; when the object's lines cannot be re-read, its metadata.name line or
// first line is.
//
// The object's lines are re-parsed on demand instead of keeping a line index for every field
// of every object: findings are few, objects are many.
//
// Results are memoized: rules ask for the same field of the same object once per node (every
// node's podCIDR, for each node's netfilter checks), and a re-parse costs a YAML decode.
func (m *Model) Evidence(src Source, path ...string) finding.Evidence {
	key := evidenceKey{src, strings.Join(path, "\x00")}
	m.evidenceMu.Lock()
	e, ok := m.evidence[key]
	m.evidenceMu.Unlock()
	if ok {
		return e
	}
	e = m.evidence1(src, path)
	m.evidenceMu.Lock()
	if m.evidence == nil {
		m.evidence = map[evidenceKey]finding.Evidence{}
	}
	m.evidence[key] = e
	m.evidenceMu.Unlock()
	return e
}

type evidenceKey struct {
	src  Source
	path string
}

func (m *Model) evidence1(src Source, path []string) finding.Evidence {
	f := m.Bundle.File(src.File)
	if f == nil {
		return finding.Evidence{File: src.File, Line: src.Line}
	}
	line := src.Line
	if root := m.reparse(src); root != nil {
		if l, ok := locate(root, path); ok {
			line = l + src.Line - 1
		} else if l, ok := locate(root, []string{"metadata", "name"}); ok && l > 1 {
			line = l + src.Line - 1
			// Keep the deepest ancestor that exists, if it is more specific than the name.
			for i := len(path) - 1; i > 0; i-- {
				if l2, ok := locate(root, path[:i]); ok {
					line = l2 + src.Line - 1
					break
				}
			}
		}
	}
	return f.Evidence(line)
}

// EvidenceLines quotes each line of a field's block (a selector, a port list), up to max lines.
func (m *Model) EvidenceLines(src Source, max int, path ...string) []finding.Evidence {
	first := m.Evidence(src, path...)
	f := m.Bundle.File(src.File)
	out := []finding.Evidence{first}
	if f == nil || first.Line == 0 {
		return out
	}
	indent := indentOf(f.Line(first.Line))
	for n := first.Line + 1; n <= src.EndLine && len(out) < max; n++ {
		l := f.Line(n)
		if strings.TrimSpace(l) == "" || indentOf(l) <= indent && !strings.HasPrefix(strings.TrimSpace(l), "- ") {
			break
		}
		if indentOf(l) < indent {
			break
		}
		out = append(out, f.Evidence(n))
	}
	return out
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// reparse reads an object's own lines again as YAML; line 1 of the result is src.Line.
func (m *Model) reparse(src Source) *yaml.Node {
	text, ok := m.objectText(src)
	if !ok {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(diag.NoLoneCR([]byte(text)), &doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// objectText is the text of the object at src, its lines cut at its column: an item of a YAML
// list loses its "- ", one of a JSON list the comma after it.
func (m *Model) objectText(src Source) (string, bool) {
	f := m.Bundle.File(src.File)
	if f == nil || src.EndLine < src.Line || src.Column < 1 {
		return "", false
	}
	cut := src.Column - 1
	var b strings.Builder
	isJSON := false
	for n := src.Line; n <= src.EndLine; n++ {
		l := f.Line(n)
		if len(l) >= cut && strings.TrimLeft(l[:cut], " -") == "" {
			l = l[cut:]
		} else if strings.TrimSpace(l) != "" && n == src.Line {
			return "", false
		}
		if n == src.Line {
			isJSON = strings.HasPrefix(l, "{")
		}
		if n == src.EndLine && isJSON {
			l = strings.TrimSuffix(strings.TrimRight(l, " \t\r"), ",")
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String(), true
}

// Reread decodes the object at src again from the bundle's text into v, whole: the model's
// objects lack the fields nothing reads (its own slim types such as Pod hold only those that
// are read; podUnread, objectUnread), and `netsift get -o yaml` shows them all.
func (m *Model) Reread(src Source, v any) error {
	text, ok := m.objectText(src)
	if !ok {
		return fmt.Errorf("%s:%d: the object's text cannot be cut from the file", src.File, src.Line)
	}
	if err := sigsyaml.Unmarshal(diag.NoLoneCR([]byte(text)), v); err != nil {
		return fmt.Errorf("%s:%d: %v", src.File, src.Line, err)
	}
	return nil
}

// locate returns the line of the field at path; for a block value (a map or list) the line of
// its key, which is what a reader looks for.
func locate(n *yaml.Node, path []string) (int, bool) {
	line := n.Line
	for _, seg := range path {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next, line = n.Content[i+1], n.Content[i].Line
					break
				}
			}
			if next == nil {
				return 0, false
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				return 0, false
			}
			n, line = n.Content[i], n.Content[i].Line
		default:
			return 0, false
		}
	}
	return line, true
}
