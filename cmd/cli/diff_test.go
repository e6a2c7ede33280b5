package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// TestDiffCommand runs `netsift diff` on pairs of fixture bundles — the same cluster before and
// after one fault — and compares the output with testdata/diff/<name>.golden (-update rewrites).
func TestDiffCommand(t *testing.T) {
	const b = "../../fixtures/bundles/"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"forward-drop", []string{"diff", b + "healthy", b + "forward-drop"}, ExitDiffChanged},
		{"forward-drop-json", []string{"diff", b + "healthy", b + "forward-drop", "-o", "json"}, ExitDiffChanged},
		{"forward-drop-md", []string{"diff", b + "healthy", b + "forward-drop", "-o", "md"}, ExitDiffChanged},
		{"forward-drop-resolved", []string{"diff", b + "forward-drop", b + "healthy"}, ExitDiffChanged},
		{"svc-selector-mismatch", []string{"diff", b + "healthy", b + "svc-selector-mismatch"}, ExitDiffChanged},
		{"svc-selector-mismatch-json", []string{"diff", b + "healthy", b + "svc-selector-mismatch", "-o", "json", "--only", "objects"}, ExitDiffChanged},
		{"ip-forward-off", []string{"diff", b + "healthy", b + "ip-forward-off"}, ExitDiffChanged},
		{"duplicate-pod-ip", []string{"diff", b + "healthy", b + "duplicate-pod-ip"}, ExitDiffChanged},
		{"only-dataplane", []string{"diff", b + "healthy", b + "svc-selector-mismatch", "--only", "dataplane"}, ExitDiffChanged},
		{"same", []string{"diff", b + "healthy", b + "healthy"}, ExitDiffSame},
		{"only-objects-unchanged", []string{"diff", b + "healthy", b + "ip-forward-off", "--only", "objects"}, ExitDiffSame},
		{"missing-bundle", []string{"diff", b + "healthy", "no-such-bundle.tgz"}, ExitDiffError},
		{"one-arg", []string{"diff", b + "healthy"}, ExitDiffError},
		{"bad-format", []string{"diff", b + "healthy", b + "healthy", "-o", "pdf"}, ExitDiffError},
		{"bad-only", []string{"diff", b + "healthy", b + "healthy", "--only", "pods"}, ExitDiffError},
		{"bad-flag", []string{"diff", b + "healthy", b + "healthy", "--nope"}, ExitDiffError},
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
			golden.Bytes(t, filepath.Join("testdata", "diff", c.name+".golden"), []byte(got))
		})
	}
}

// TestDiffHTML checks the page is self-contained: our CSP, no script, no URL off the page,
// and bundle text escaped.
func TestDiffHTML(t *testing.T) {
	const b = "../../fixtures/bundles/"
	var out, errOut bytes.Buffer
	if code := Main(strings.NewReader(""), &out, &errOut, []string{"diff", b + "healthy", b + "forward-drop", "-o", "html"}); code != ExitDiffChanged {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	page := out.String()
	for _, want := range []string{`http-equiv="Content-Security-Policy"`, "default-src 'none'", "iptables.forward-drop", "iptables filter FORWARD policy: ACCEPT → DROP", "! -i docker0 -o docker0 -j DROP"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", `src="`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}
