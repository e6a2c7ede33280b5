package model

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/analyze/model/internal/yamljson"
	"github.com/netsift/netsift/parsers/diag"
)

// rawObject is one Kubernetes object found in a file, as JSON, with where it stands.
type rawObject struct {
	APIVersion, Kind string
	JSON             []byte
	Src              Source
	// strs, when set, gives a decoded pod's strings their copy shared with the pods decoded
	// before it on the same goroutine (intoVia).
	strs *interner
}

type decodeError struct {
	line int
	msg  string
}

func (e *decodeError) Error() string { return e.msg }

var (
	yamlLineRE = regexp.MustCompile(`line (\d+)`)
	topKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*:`)
)

// yamlErrorLine pulls the line number out of a yaml.v3 error message (0 if none).
func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// splitObjects returns every object in a YAML or JSON file (a List, several documents, or one
// object). A document that does not parse is retried item by item, so garbage in the middle of
// a List loses only the items it touches; each loss is reported with its line.
func splitObjects(file string, data []byte) ([]rawObject, []*decodeError) {
	data = diag.NoLoneCR(data)
	docs, err := decodeDocuments(data)
	if err == nil {
		var out []rawObject
		var errs []*decodeError
		for _, d := range docs {
			o, e := objectsOf(file, d, 0, 0)
			out, errs = append(out, o...), append(errs, e...)
		}
		return out, errs
	}
	return recoverObjects(file, data, err)
}

// decodeDocuments parses every YAML document of data.
func decodeDocuments(data []byte) ([]*yaml.Node, error) { return yamljson.Documents(data) }

// recoverObjects re-reads a file that failed to parse: document by document, and inside a
// document item by item (kubectl prints List items as "- " at column 0).
func recoverObjects(file string, data []byte, firstErr error) ([]rawObject, []*decodeError) {
	lines := strings.SplitAfter(string(data), "\n")
	var out []rawObject
	var errs []*decodeError
	// chunks: [start,end) line ranges (0-based) of documents, then of items within them.
	docStart := 0
	flushDoc := func(end int) {
		if end <= docStart {
			return
		}
		text := strings.Join(lines[docStart:end], "")
		if strings.TrimSpace(text) == "" {
			return
		}
		docs, err := decodeDocuments([]byte(text))
		if err == nil {
			for _, d := range docs {
				o, e := objectsOf(file, d, docStart, 0)
				out, errs = append(out, o...), append(errs, e...)
			}
			return
		}
		o, e := recoverItems(file, lines[docStart:end], docStart, err)
		out, errs = append(out, o...), append(errs, e...)
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "---") {
			flushDoc(i)
			docStart = i + 1
		}
	}
	flushDoc(len(lines))
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, &decodeError{line: yamlErrorLine(firstErr), msg: firstErr.Error()})
	}
	return out, errs
}

func recoverItems(file string, lines []string, offset int, docErr error) ([]rawObject, []*decodeError) {
	var starts []int
	for i, l := range lines {
		if strings.HasPrefix(l, "- ") {
			starts = append(starts, i)
		}
	}
	if len(starts) == 0 {
		line := yamlErrorLine(docErr)
		if line > 0 {
			line += offset
		}
		return nil, []*decodeError{{line: line, msg: "not valid YAML or JSON: " + stripLine(docErr.Error())}}
	}
	var out []rawObject
	var errs []*decodeError
	for k, s := range starts {
		end := len(lines)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		// Stop an item at the first line back at column 0 (e.g. "kind: List" after the items).
		for j := s + 1; j < end; j++ {
			// Only a key ends it: other text there (a tab-indented line) is the item's damage.
			if l := lines[j]; len(l) > 0 && l[0] != ' ' && l[0] != '\n' && l[0] != '\r' && l[0] != '#' && topKeyRE.MatchString(l) {
				end = j
				break
			}
		}
		// Dedent "- " so the item parses as a mapping on its own.
		var b strings.Builder
		for j := s; j < end; j++ {
			l := lines[j]
			if j == s {
				l = "  " + l[2:]
			}
			b.WriteString(strings.TrimPrefix(l, "  "))
		}
		docs, err := decodeDocuments([]byte(b.String()))
		if err != nil || len(docs) == 0 {
			line := offset + s + 1
			if err != nil {
				if el := yamlErrorLine(err); el > 0 {
					line = offset + s + el
				}
				errs = append(errs, &decodeError{line: line, msg: "object skipped: not valid YAML: " + stripLine(err.Error())})
			}
			continue
		}
		o, e := objectsOf(file, docs[0], offset+s, 2)
		out, errs = append(out, o...), append(errs, e...)
	}
	return out, errs
}

// stripLine removes yaml.v3's "yaml: line N:" prefix, since the warning carries the line.
func stripLine(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		return msg[i+2:]
	}
	return msg
}

// objectsOf yields the objects of one parsed document: the items of a List, or the document.
// lineOffset and colOffset place a re-parsed fragment back in its file.
func objectsOf(file string, doc *yaml.Node, lineOffset, colOffset int) ([]rawObject, []*decodeError) {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, []*decodeError{{line: n.Line + lineOffset, msg: "expected a Kubernetes object or List, found " + nodeKindName(n)}}
	}
	kind := scalarField(n, "kind")
	if strings.HasSuffix(kind, "List") {
		items := field(n, "items")
		if items == nil || items.Kind == yaml.ScalarNode && items.Tag == "!!null" {
			return nil, nil
		}
		if items.Kind != yaml.SequenceNode {
			return nil, []*decodeError{{line: items.Line + lineOffset, msg: kind + ": items is not a list"}}
		}
		var out []rawObject
		var errs []*decodeError
		for _, it := range items.Content {
			o, err := toObject(file, it, lineOffset, colOffset)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, o)
		}
		return out, errs
	}
	o, err := toObject(file, n, lineOffset, colOffset)
	if err != nil {
		return nil, []*decodeError{err}
	}
	return []rawObject{o}, nil
}

func toObject(file string, n *yaml.Node, lineOffset, colOffset int) (rawObject, *decodeError) {
	if n.Kind != yaml.MappingNode {
		return rawObject{}, &decodeError{line: n.Line + lineOffset, msg: "list item is not an object"}
	}
	c := yamljson.Converter{}
	var buf bytes.Buffer
	if err := c.Write(&buf, n, 0); err != nil {
		return rawObject{}, &decodeError{line: n.Line + lineOffset, msg: err.Error()}
	}
	return rawObject{
		APIVersion: scalarField(n, "apiVersion"),
		Kind:       scalarField(n, "kind"),
		JSON:       buf.Bytes(),
		Src: Source{
			File:    file,
			Line:    n.Line + lineOffset,
			EndLine: c.MaxLine + lineOffset,
			Column:  n.Column + colOffset,
		},
	}, nil
}

func field(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarField(m *yaml.Node, key string) string {
	if v := field(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func nodeKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", truncate(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
