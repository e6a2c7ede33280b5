package iproute

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzParse seeds with the real captures of kind and checks that no input panics and that
// every warning points inside the input.
func fuzzParse(f *testing.F, kind string, parse func(io.Reader) (any, error)) {
	paths, _ := filepath.Glob(filepath.Join("testdata", kind+".*"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && !strings.HasSuffix(p, ".sh") {
			f.Add(data)
		}
	}
	f.Add([]byte("[{\"dst\":\"default\"},\n{]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		// The fast JSON decoder must parse exactly as encoding/json does.
		saved := fastJSON
		fastJSON = stdJSON{}
		ref, _ := parse(bytes.NewReader(data))
		fastJSON = saved
		if !reflect.DeepEqual(v, ref) {
			t.Fatalf("json-iterator and encoding/json parse differently:\n%+v\n%+v", v, ref)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		var ws []int
		switch x := v.(type) {
		case *Addrs:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Links:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Routes:
			checkLookup(t, x)
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Rules:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *Neighbours:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		case *FDB:
			for _, w := range x.Warnings {
				ws = append(ws, w.Line)
			}
		}
		for _, l := range ws {
			if l < 0 || l > lines {
				t.Fatalf("warning at line %d of a %d-line input", l, lines)
			}
		}
	})
}

func FuzzParseAddr(f *testing.F)   { fuzzParse(f, "ip-addr", parsers["ip-addr"]) }
func FuzzParseLink(f *testing.F)   { fuzzParse(f, "ip-link", parsers["ip-link"]) }
func FuzzParseRoutes(f *testing.F) { fuzzParse(f, "ip-route", parsers["ip-route"]) }
func FuzzParseRules(f *testing.F)  { fuzzParse(f, "ip-rule", parsers["ip-rule"]) }
func FuzzParseNeigh(f *testing.F)  { fuzzParse(f, "ip-neigh", parsers["ip-neigh"]) }
func FuzzParseFDB(f *testing.F)    { fuzzParse(f, "bridge-fdb", parsers["bridge-fdb"]) }

type stdJSON struct{}

func (stdJSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
