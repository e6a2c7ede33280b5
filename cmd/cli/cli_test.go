package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

const demo = "../../fixtures/demo.tgz"
const healthy = "../../fixtures/bundles/healthy"

// TestCommands runs command lines and compares their output with golden files under testdata/
// (rewritten with go test ./cmd/cli -update).
func TestCommands(t *testing.T) {
	ipForwardOff := "../../fixtures/bundles/ip-forward-off/netsift-shop-prod-20261120T101500Z/nodes/worker-1/sysctl.txt"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"analyze-demo-text", []string{"analyze", demo}, ExitOK},
		{"analyze-demo-md", []string{"analyze", demo, "-o", "md"}, ExitOK},
		{"analyze-demo-json", []string{"analyze", demo, "-o", "json"}, ExitOK},
		{"analyze-demo-fail-on", []string{"analyze", demo, "--fail-on", "critical", "--min-severity", "critical", "--rules", "svc.selector-mismatch"}, ExitFindings},
		{"analyze-healthy-fail-on", []string{"analyze", healthy, "--fail-on", "critical", "--rules", "svc.no-endpoints,dns.coredns-down"}, ExitOK},
		{"analyze-missing-file", []string{"analyze", "no-such-bundle.tgz"}, ExitError},
		{"analyze-bad-format", []string{"analyze", demo, "-o", "pdf"}, ExitError},
		{"analyze-unknown-rule", []string{"analyze", demo, "--rules", "svc.nope"}, ExitError},
		{"get-pods", []string{"get", demo, "pods", "-n", "shop"}, ExitOK},
		{"get-svc-all", []string{"get", demo, "svc", "-A", "-o", "wide"}, ExitOK},
		{"get-svc-yaml", []string{"get", demo, "svc", "web", "-n", "shop", "-o", "yaml"}, ExitOK},
		{"get-nodes", []string{"get", demo, "nodes"}, ExitOK},
		// The model leaves out fields no rule reads (most of a pod, every kind's UID and annotations);
		// get -o yaml|json re-reads the object whole (get-svc-yaml too).
		{"get-pod-yaml", []string{"get", demo, "pods", "web-5d8c7b9f6c-2lmxh", "-n", "shop", "-o", "yaml"}, ExitOK},
		{"get-pod-json", []string{"get", demo, "pods", "web-5d8c7b9f6c-2lmxh", "-n", "shop", "-o", "json"}, ExitOK},
		{"get-missing", []string{"get", demo, "svc", "nope", "-n", "shop"}, ExitError},
		{"parse-sysctl", []string{"parse", "sysctl", ipForwardOff}, ExitOK},
		{"version", []string{"version"}, ExitOK},
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
			golden.Bytes(t, filepath.Join("testdata", c.name+".golden"), []byte(got))
		})
	}
}

// TestAnalyzeOutFile checks --out writes the report to a file and says so on stderr.
func TestAnalyzeOutFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.md")
	var out, errOut bytes.Buffer
	if code := Main(strings.NewReader(""), &out, &errOut, []string{"analyze", demo, "-o", "md", "--out", path}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("# netsift diagnosis")) || out.Len() != 0 || !strings.Contains(errOut.String(), path) {
		t.Errorf("--out: file starts %q, stdout %d bytes, stderr %q", data[:min(40, len(data))], out.Len(), errOut.String())
	}
}

// TestCompletion checks cobra's shell completion is wired (bash script generated).
func TestCompletion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(strings.NewReader(""), &out, &errOut, []string{"completion", "bash"}); code != 0 || !strings.Contains(out.String(), "__start_netsift") {
		t.Fatalf("completion bash: exit %d, %d bytes", code, out.Len())
	}
}
