package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/internal/ruletest"
)

// TestAPIUnreachableTracesThePath plants an API dial timeout in the log of a pod on worker-2 of
// the forward-drop fixture: api.unreachable must follow the packet and name worker-2's FORWARD
// DROP policy as where it dies.
func TestAPIUnreachableTracesThePath(t *testing.T) {
	src := filepath.Join("..", "..", "fixtures", "bundles", "forward-drop")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "netsift-shop-prod-20261120T101500Z")
	logDir := filepath.Join(root, "logs", "shop", "api-7b4f9c6d8d-tn6wr")
	os.MkdirAll(logDir, 0o755)
	line := `E1120 10:12:01.000000       1 reflector.go:166] "Unhandled Error" err="failed to list *v1.ConfigMap: Get \"https://10.96.0.1:443/api/v1/configmaps?limit=500\": dial tcp 10.96.0.1:443: i/o timeout"` + "\n"
	if err := os.WriteFile(filepath.Join(logDir, "api.log"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := model.Build(b)
	res, err := Run(m, []*Rule{apiUnreachable}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 {
		t.Fatalf("want one finding, got %d (%+v)", len(res.Findings), res.Outcomes)
	}
	f := res.Findings[0]
	if !strings.Contains(f.Message, "dies at worker-2 filter/FORWARD drop") {
		t.Errorf("message does not name the failing hop: %s", f.Message)
	}
	found := false
	for _, e := range f.Evidence {
		if strings.HasPrefix(e.Excerpt, ":FORWARD DROP") && strings.HasSuffix(e.File, "worker-2/iptables-save.txt") {
			found = true
		}
	}
	if !found {
		t.Errorf("evidence lacks worker-2's FORWARD policy line: %+v", f.Evidence)
	}
	if len(res.Traces) != 1 {
		t.Errorf("the trace is not recorded for the report: %d traces", len(res.Traces))
	}
	ruletest.CheckEvidence(t, b, res.Findings)
}
