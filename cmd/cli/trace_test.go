package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/internal/golden"
)

// TestTraceCommand runs `netsift trace` command lines against the fixture bundles and compares
// their output with testdata/trace/<name>.golden (rewritten with -update).
func TestTraceCommand(t *testing.T) {
	const b = "../../fixtures/bundles/"
	web := "shop/web-5d8c7b9f6c-2lmxh"
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"dns-udp", []string{"trace", b + "healthy", "--from", web, "--to", "svc/kube-system/kube-dns:dns"}, ExitOK},
		{"hairpin-json", []string{"trace", b + "healthy", "--from", web, "--to", "svc/shop/web:80", "-o", "json"}, ExitOK},
		{"no-endpoints", []string{"trace", b + "svc-selector-mismatch", "--from", "node/worker-1", "--to", "svc/shop/web"}, ExitOK},
		{"forward-drop", []string{"trace", b + "forward-drop", "--from", web, "--to", "svc/shop/web:80"}, ExitOK},
		{"ip-forward-off", []string{"trace", b + "ip-forward-off", "--from", "shop/api-7b4f9c6d8d-tn6wr", "--to", web + ":8080"}, ExitOK},
		{"all-nodes", []string{"trace", b + "svc-selector-mismatch", "--from", "all-nodes", "--to", "svc/shop/web"}, ExitOK},
		{"namespace-text", []string{"trace", b + "forward-drop", "--from", "shop/*", "--to", "svc/kube-system/kube-dns:dns"}, ExitOK},
		{"namespace", []string{"trace", b + "ip-forward-off", "--from", "shop/*", "--to", "svc/kube-system/kube-dns:53", "--proto", "tcp", "-o", "json"}, ExitOK},
		{"unknown-pod", []string{"trace", b + "healthy", "--from", "shop/nope", "--to", "svc/shop/web"}, ExitError},
		{"bad-proto", []string{"trace", b + "healthy", "--from", web, "--to", "svc/shop/web", "--proto", "icmp"}, ExitError},
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
			golden.Bytes(t, filepath.Join("testdata", "trace", c.name+".golden"), []byte(got))
		})
	}
}
