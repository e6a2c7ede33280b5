package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// policyHealthy has one NetworkPolicy, shop/api-allow-web, under flannel (which does not enforce it).
const policyHealthy = "../../fixtures/bundles/healthy"

// TestPolicyCommand compares `netsift policy` with golden files under testdata/policy/
// (rewritten with go test ./cmd/cli -update).
func TestPolicyCommand(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"healthy-text", []string{"policy", policyHealthy}, ExitOK},
		{"healthy-json", []string{"policy", policyHealthy, "-o", "json"}, ExitOK},
		{"healthy-csv", []string{"policy", policyHealthy, "-o", "csv"}, ExitOK},
		{"healthy-to-api", []string{"policy", policyHealthy, "--to", "shop:app=api"}, ExitOK},
		{"healthy-from-pod", []string{"policy", policyHealthy, "--from", "shop/web-5d8c7b9f6c-2lmxh", "--to", "shop/*"}, ExitOK},
		{"bad-selector", []string{"policy", policyHealthy, "--from", "shop"}, ExitError},
		{"bad-format", []string{"policy", policyHealthy, "-o", "yaml"}, ExitError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(strings.NewReader(""), &out, &errOut, c.args)
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, c.code, errOut.String())
			}
			got := "$ netsift " + strings.Join(c.args, " ") + "\n" + out.String()
			if errOut.Len() > 0 {
				got += "--- stderr\n" + errOut.String()
			}
			golden.Bytes(t, filepath.Join("testdata", "policy", c.name+".golden"), []byte(got))
		})
	}
}
