package fastyaml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/analyze/model/internal/yamljson"
)

// The full path, as analyze/model/decode.go runs it: yaml.v3 node tree, then yamljson.

// reference converts data the full way. It fails unless data is one document holding a
// mapping; it also returns the mapping's apiVersion and kind as scalarField reads them.
func reference(data []byte) (out []byte, maxLine int, apiVersion, kind string, err error) {
	docs, err := yamljson.Documents(data)
	if err != nil {
		return nil, 0, "", "", err
	}
	if len(docs) != 1 {
		return nil, 0, "", "", fmt.Errorf("%d documents", len(docs))
	}
	n := docs[0]
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, 0, "", "", errors.New("empty document")
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil, 0, "", "", errors.New("not a mapping")
	}
	var c yamljson.Converter
	var buf bytes.Buffer
	if err := c.Write(&buf, n, 0); err != nil {
		return nil, 0, "", "", err
	}
	return buf.Bytes(), c.MaxLine, scalarField(n, "apiVersion"), scalarField(n, "kind"), nil
}

func scalarField(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if v := m.Content[i+1]; v.Kind == yaml.ScalarNode {
				return v.Value
			}
			return ""
		}
	}
	return ""
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(a, b []byte) (bool, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false, fmt.Errorf("fast JSON: %v", err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false, fmt.Errorf("reference JSON: %v", err)
	}
	return reflect.DeepEqual(va, vb), nil
}

// checkAgainstReference runs Convert on data and, when it says ok, compares it with the full
// path. It returns ok and a description of any disagreement.
func checkAgainstReference(data []byte) (ok bool, problem string) {
	prefix := []byte("prefix")
	out, line, ok := Convert(append([]byte(nil), prefix...), data)
	if !bytes.HasPrefix(out, prefix) {
		return ok, "dst prefix lost"
	}
	if !ok {
		if len(out) != len(prefix) {
			return ok, "dst grew on !ok"
		}
		return false, ""
	}
	out = out[len(prefix):]
	ref, refLine, api, kind, err := reference(data)
	if err != nil {
		return true, fmt.Sprintf("Convert ok but yaml.v3 path fails: %v\nfast: %s", err, out)
	}
	same, err := sameJSON(out, ref)
	if err != nil {
		return true, fmt.Sprintf("%v\nfast: %s\nref:  %s", err, out, ref)
	}
	if !same {
		return true, fmt.Sprintf("JSON differs\nfast: %s\nref:  %s", out, ref)
	}
	if line != refLine {
		return true, fmt.Sprintf("lastLine %d, converter.maxLine %d", line, refLine)
	}
	if a, k := Header(data); a != api || k != kind {
		return true, fmt.Sprintf("Header = %q, %q; scalarField gives %q, %q", a, k, api, kind)
	}
	return true, ""
}
