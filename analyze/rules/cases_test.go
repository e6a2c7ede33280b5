package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/internal/golden"
	"github.com/netsift/netsift/internal/ruletest"
)

// TestCases runs each rule on its minimal bundles: testdata/cases/<rule-id>/<case>.txtar. The
// rule's outcome and findings are compared with <case>.golden.json (rewritten with -update), and
// every evidence excerpt is checked against the bundle. Case names say what must happen:
// fail-*.txtar must produce findings, pass-*.txtar none, skip-*.txtar a skipped outcome.
func TestCases(t *testing.T) {
	byID := map[string]*Rule{}
	for _, r := range All() {
		byID[r.ID] = r
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "cases", "*", "*.txtar"))
	if len(paths) == 0 {
		t.Fatal("no rule cases found under testdata/cases")
	}
	for _, path := range paths {
		id := filepath.Base(filepath.Dir(path))
		name := strings.TrimSuffix(filepath.Base(path), ".txtar")
		t.Run(id+"/"+name, func(t *testing.T) {
			r := byID[id]
			if r == nil {
				t.Fatalf("testdata/cases/%s: no rule with that ID", id)
			}
			_, m := ruletest.Bundle(t, path)
			res, err := Run(m, []*Rule{r}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			out := res.Outcomes[0]
			switch {
			case strings.HasPrefix(name, "fail"):
				if out.Status != Fail {
					t.Errorf("want findings, got %s %v %v %s", out.Status, out.Missing, out.Notes, out.Error)
				}
			case strings.HasPrefix(name, "pass"):
				if out.Status != Pass {
					t.Errorf("want pass, got %s with %d findings %v", out.Status, out.Findings, summaries(res.Findings))
				}
			case strings.HasPrefix(name, "skip"):
				if out.Status != Skipped {
					t.Errorf("want skipped, got %s", out.Status)
				}
			default:
				t.Fatalf("case name must start with fail, pass or skip")
			}
			ruletest.CheckEvidence(t, m.Bundle, res.Findings)
			for _, w := range m.Warnings {
				if !strings.Contains(name, "warn") {
					t.Errorf("unexpected input warning: %s", w)
				}
			}
			golden.JSON(t, strings.TrimSuffix(path, ".txtar")+".golden.json", struct {
				Outcome  Outcome           `json:"outcome"`
				Findings []finding.Finding `json:"findings"`
			}{out, res.Findings})
		})
	}
}

// TestEveryRuleHasCases requires a failing and a passing case for every registered rule.
func TestEveryRuleHasCases(t *testing.T) {
	for _, r := range All() {
		dir := filepath.Join("testdata", "cases", r.ID)
		fails, _ := filepath.Glob(filepath.Join(dir, "fail*.txtar"))
		passes, _ := filepath.Glob(filepath.Join(dir, "pass*.txtar"))
		if len(fails) == 0 || len(passes) == 0 {
			if _, err := os.Stat(dir); err != nil || len(fails) == 0 || len(passes) == 0 {
				t.Errorf("%s: needs testdata/cases/%s/fail-*.txtar and pass-*.txtar", r.ID, r.ID)
			}
		}
	}
}

func summaries(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Subject.String()+": "+f.Message)
	}
	return out
}
