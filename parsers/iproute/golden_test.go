package iproute

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// parsers by capture name; the captures come from testdata/capture.sh run on a real kernel.
var parsers = map[string]func(io.Reader) (any, error){
	"ip-addr":    func(r io.Reader) (any, error) { return ParseAddr(r) },
	"ip-link":    func(r io.Reader) (any, error) { return ParseLink(r) },
	"ip-route":   func(r io.Reader) (any, error) { return ParseRoutes(r) },
	"ip-rule":    func(r io.Reader) (any, error) { return ParseRules(r) },
	"ip-neigh":   func(r io.Reader) (any, error) { return ParseNeigh(r) },
	"bridge-fdb": func(r io.Reader) (any, error) { return ParseFDB(r) },
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	txt, _ := filepath.Glob("testdata/*.txt")
	files = append(files, txt...)
	n := 0
	for _, path := range files {
		base := filepath.Base(path)
		kind, _, _ := strings.Cut(base, ".")
		parse, ok := parsers[kind]
		if !ok {
			continue
		}
		n++
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			v, err := parse(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, filepath.Join("testdata", "golden", base+".golden.json"), v)
		})
	}
	if n < 12 {
		t.Fatalf("found %d captures, want at least 12", n)
	}
}
