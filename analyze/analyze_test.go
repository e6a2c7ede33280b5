package analyze_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/internal/golden"
	"github.com/netsift/netsift/internal/ruletest"
	"github.com/netsift/netsift/report"
)

// TestScenarios runs the whole pipeline on every sample bundle in fixtures/bundles: the rules its
// README says must fire do (those implemented), those that must not fire don't, every evidence
// excerpt quotes the bundle, no input warning appears, and the report matches its golden file.
func TestScenarios(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "fixtures", "bundles", "*"))
	if len(dirs) < 10 {
		t.Fatalf("expected the fixture scenarios, found %d", len(dirs))
	}
	registered := map[string]bool{}
	for _, r := range rules.All() {
		registered[r.ID] = true
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			must, mustNot := ruletest.Expectations(t, filepath.Join(dir, "README.md"))
			m, res, err := analyze.Run(context.Background(), []string{dir}, bundle.Options{}, rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			fired := map[string]bool{}
			for _, f := range res.Findings {
				fired[f.ID] = true
			}
			for _, id := range must {
				if registered[id] && !fired[id] {
					t.Errorf("%s must fire and did not", id)
				}
			}
			for _, id := range mustNot {
				if fired[id] {
					t.Errorf("%s must not fire and did", id)
				}
			}
			for _, o := range res.Outcomes {
				if o.Status == rules.Error {
					t.Errorf("%s errored: %s", o.ID, o.Error)
				}
			}
			ruletest.CheckEvidence(t, m.Bundle, res.Findings)
			rep := report.Build(m.Bundle, m, res, "test")
			for _, w := range rep.Warnings {
				t.Errorf("input warning on a fixture: %s", w)
			}
			rep.Bundle.Sources = []string{"fixtures/bundles/" + name}
			golden.JSON(t, filepath.Join("testdata", "scenarios", name+".json"), rep)
		})
	}
}

// TestDemoTopFinding holds the README's first command to its promise: the demo's top finding is
// its injected fault.
func TestDemoTopFinding(t *testing.T) {
	m, res, err := analyze.Run(context.Background(), []string{filepath.Join("..", "fixtures", "demo.tgz")}, bundle.Options{}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := report.Build(m.Bundle, m, res, "test")
	if len(rep.Findings) == 0 {
		t.Fatal("no findings on the demo bundle")
	}
	top := rep.Findings[0]
	if top.ID != "svc.selector-mismatch" || top.Subject.Name != "web" || top.Subject.Namespace != "shop" {
		t.Errorf("top finding = %s %s, want svc.selector-mismatch on shop/web", top.ID, top.Subject)
	}
	if !strings.Contains(rep.Summary.Verdict, "shop/web") {
		t.Errorf("verdict does not name shop/web: %s", rep.Summary.Verdict)
	}
	ruletest.CheckEvidence(t, m.Bundle, res.Findings)
}
