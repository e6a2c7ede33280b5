package diff

import (
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
)

// compareFindings matches findings by fingerprint (rule, subject and normalized key), so a
// finding whose evidence only moved lines, or whose message quotes other counters, persists.
func compareFindings(old, new *rules.Result) Findings {
	f := Findings{New: []finding.Finding{}, Resolved: []finding.Finding{}, Persisting: []finding.Finding{}}
	var of, nf []finding.Finding
	if old != nil {
		of = old.Findings
	}
	if new != nil {
		nf = new.Findings
	}
	inOld := map[string]bool{}
	for _, x := range of {
		inOld[x.Fingerprint] = true
	}
	inNew := map[string]bool{}
	for _, x := range nf {
		inNew[x.Fingerprint] = true
		if inOld[x.Fingerprint] {
			f.Persisting = append(f.Persisting, x)
		} else {
			f.New = append(f.New, x)
		}
	}
	for _, x := range of {
		if !inNew[x.Fingerprint] {
			f.Resolved = append(f.Resolved, x)
		}
	}
	finding.Sort(f.New)
	finding.Sort(f.Resolved)
	finding.Sort(f.Persisting)
	return f
}
