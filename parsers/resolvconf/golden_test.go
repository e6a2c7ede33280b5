package resolvconf

import (
	"bytes"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// TestGolden parses every capture under testdata/ and compares its JSON with
// testdata/golden/<name>.json (rewritten by go test -update).
func TestGolden(t *testing.T) { golden.Captures(t, parseForTest) }

func FuzzParse(f *testing.F) { golden.FuzzCaptures(f, parseForTest) }

func parseForTest(_ string, data []byte) (any, error) { return Parse(bytes.NewReader(data)) }
