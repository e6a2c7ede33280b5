package cniconf

import (
	"bytes"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// TestGolden parses every capture under testdata/ and compares its JSON with
// testdata/golden/<name>.json (rewritten by go test -update).
func TestGolden(t *testing.T) { golden.Captures(t, parseForTest) }

func FuzzParse(f *testing.F) { golden.FuzzCaptures(f, parseForTest) }

func parseForTest(name string, data []byte) (any, error) {
	if name == "fuzz" {
		// fuzz both ways libcni would read the bytes
		a, err := Parse("fuzz.conf", bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		b, err := Parse("fuzz.conflist", bytes.NewReader(data))
		return []*File{a, b}, err
	}
	return Parse(name, bytes.NewReader(data))
}
