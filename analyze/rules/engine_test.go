package rules

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

func modelOf(t *testing.T, files map[string]string) *model.Model {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bundle.Open(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return model.Build(b)
}

func TestEngineOutcomes(t *testing.T) {
	m := modelOf(t, map[string]string{
		"manifest.json":       `{"format_version":1,"commands":[{"id":"svc","command":"kubectl get services -A -o yaml","path":"cluster/services.yaml","exit_code":1,"stderr":"forbidden"}]}`,
		"cluster/pods.yaml":   "apiVersion: v1\nkind: List\nitems: []\n",
		"nodes/n1/sysctl.txt": "net.ipv4.ip_forward = 1\n",
	})
	noop := func(*Context) {}
	rs := []*Rule{
		{ID: "t.pass", Severity: finding.Info, Title: "passes", Inputs: Kinds("Pod"), Check: noop},
		{ID: "t.fail", Severity: finding.Warning, Title: "fails", Inputs: Kinds("Pod"), Check: func(c *Context) {
			c.Report(finding.Finding{Subject: finding.Subject{Kind: "Node", Name: "n1"}, Message: "m"})
		}},
		{ID: "t.skip-kind", Title: "needs services", Inputs: Kinds("Service"), Check: noop},
		{ID: "t.skip-absent", Title: "needs nodes", Inputs: Kinds("Node"), Check: noop},
		{ID: "t.skip-node", Title: "needs ipvs", Inputs: []Input{{NodeFile: "ipvsadm.txt"}}, Check: noop},
		{ID: "t.node-ok", Title: "needs sysctl", Inputs: []Input{{NodeFile: "sysctl.txt"}}, Check: func(c *Context) {
			c.NodeCapture("n1", "sysctl.txt")
			c.NodeCapture("n1", "lsmod.txt")
		}},
		{ID: "t.panic", Title: "panics", Check: func(*Context) { var p *int; _ = *p }},
	}
	res, err := Run(m, rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Outcome{}
	for _, o := range res.Outcomes {
		got[o.ID] = o
	}
	check := func(id string, status Status, detail string) {
		t.Helper()
		o := got[id]
		if o.Status != status {
			t.Errorf("%s: status %s, want %s", id, o.Status, status)
		}
		all := strings.Join(append(append(o.Missing, o.Notes...), o.Error), " | ")
		if !strings.Contains(all, detail) {
			t.Errorf("%s: %q does not say %q", id, all, detail)
		}
	}
	check("t.pass", Pass, "")
	check("t.fail", Fail, "")
	check("t.skip-kind", Skipped, "cluster/services.yaml: `kubectl get services -A -o yaml` failed (exit 1): forbidden")
	check("t.skip-absent", Skipped, "cluster/nodes.yaml (not in the bundle)")
	check("t.skip-node", Skipped, "nodes/<node>/ipvsadm.txt: on no node")
	check("t.node-ok", Pass, "node n1 not checked: nodes/n1/lsmod.txt (not in the bundle)")
	check("t.panic", Error, "rule panicked: runtime error: invalid memory address")
	if len(res.Findings) != 1 {
		t.Fatalf("findings = %d", len(res.Findings))
	}
	f := res.Findings[0]
	if f.ID != "t.fail" || f.Severity != finding.Warning || f.Title != "fails" || len(f.Fingerprint) != 16 || f.Evidence == nil {
		t.Errorf("Report must fill ID, severity, title, fingerprint: %+v", f)
	}

	if _, err := Run(m, rs, Options{Only: []string{"t.nope"}}); err == nil {
		t.Errorf("an unknown rule ID must be an error")
	}
	res, _ = Run(m, rs, Options{Only: []string{"t.pass", "t.fail"}, Skip: []string{"t.fail"}})
	if len(res.Outcomes) != 1 || res.Outcomes[0].ID != "t.pass" {
		t.Errorf("--rules/--skip-rules selection wrong: %+v", res.Outcomes)
	}
}

// TestCatalogueIDs holds the registry to the contract: every registered ID is in FAULTS.md,
// spelled exactly, and no ID is registered twice.
func TestCatalogueIDs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "FAULTS.md"))
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("FAULTS.md must be beside the checkout in CI: %v", err)
		}
		t.Skipf("../shared/FAULTS.md not found: %v", err)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9.-]+)` \\|").FindAllStringSubmatch(string(data), -1) {
		ids[m[1]] = true
	}
	if len(ids) < 40 {
		t.Fatalf("parsed only %d IDs from FAULTS.md", len(ids))
	}
	seen := map[string]bool{}
	for _, r := range All() {
		if seen[r.ID] {
			t.Errorf("%s registered twice", r.ID)
		}
		seen[r.ID] = true
		if !ids[r.ID] && r.ID != "dns.path-broken" {
			t.Errorf("%s is not an ID of FAULTS.md", r.ID)
		}
		if r.Title == "" || r.Doc == "" || r.Check == nil || r.Severity.Rank() > 2 || len(r.Inputs) == 0 {
			t.Errorf("%s: incomplete declaration", r.ID)
		}
	}
	var todo []string
	for id := range ids {
		if !seen[id] {
			todo = append(todo, id)
		}
	}
	t.Logf("%d of %d catalogue IDs implemented; not yet: %v", len(seen), len(ids), todo)
}
