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

// A capture parsed after another with one AddrCache is what ParseAddr makes of it alone,
// whatever the first capture was: sharing changes where addresses are held, never what they are.
func FuzzParseAddrShared(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip-addr.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, data)
	f.Add(data, bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":25`), 1))
	f.Add(data, bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":"x"`), 1))
	f.Add(bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":"x"`), 1), data)
	f.Add(data, append([]byte("\n"), data...))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		c := &AddrCache{}
		ParseAddrShared(bytes.NewReader(first), c)
		got, gerr := ParseAddrShared(bytes.NewReader(second), c)
		want, werr := ParseAddr(bytes.NewReader(second))
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("shared parse differs:\n%+v\nalone:\n%+v", got, want)
		}
	})
}

// An interface with the same addr_info on the same line holds the last capture's addresses.
func TestParseAddrSharedShares(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip-addr.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &AddrCache{}
	first, _ := ParseAddrShared(bytes.NewReader(data), c)
	second, _ := ParseAddrShared(bytes.NewReader(data), c)
	shared := 0
	for i, it := range second.Interfaces {
		if len(it.Addresses) == 0 {
			continue
		}
		if &it.Addresses[0] != &first.Interfaces[i].Addresses[0] {
			t.Errorf("%s: same addr_info, addresses not shared", it.Name)
		}
		shared++
	}
	if shared == 0 {
		t.Fatal("no interface with addresses in the capture")
	}
	// A changed prefix length: that interface's addresses are its own.
	changed := bytes.Replace(data, []byte(`"prefixlen":24`), []byte(`"prefixlen":25`), 1)
	if bytes.Equal(changed, data) {
		t.Fatal("no /24 address in the capture")
	}
	third, _ := ParseAddrShared(bytes.NewReader(changed), c)
	own := 0
	for i, it := range third.Interfaces {
		if len(it.Addresses) > 0 && &it.Addresses[0] != &second.Interfaces[i].Addresses[0] {
			own++
		}
	}
	if own != 1 {
		t.Errorf("%d interfaces with addresses of their own, want 1", own)
	}
}
