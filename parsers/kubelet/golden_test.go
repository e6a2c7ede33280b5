package kubelet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// TestGolden parses every capture under testdata/ and compares its JSON with
// testdata/golden/<name>.json (rewritten by go test -update).
func TestGolden(t *testing.T) { golden.Captures(t, parseForTest) }

func FuzzParse(f *testing.F) { golden.FuzzCaptures(f, parseForTest) }

func parseForTest(name string, data []byte) (any, error) {
	switch {
	case name == "fuzz":
		c, err := ParseConfig(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		l, err := ParseCmdline(bytes.NewReader(data))
		return []any{c, l}, err
	case strings.HasSuffix(name, "cmdline.txt"):
		return ParseCmdline(bytes.NewReader(data))
	}
	return ParseConfig(bytes.NewReader(data))
}
