package report

import (
	"io"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
)

// Markdown writes the report for pasting into a ticket.
func Markdown(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("# netsift diagnosis%s\n\n", clusterTitle(r))
	ew.printf("_%s_\n\n_%s_\n\n", mdEscape(bundleLine(r)), mdEscape(assumptionLine(r)))
	ew.printf("**Verdict:** %s\n\n", mdEscape(r.Summary.Verdict))
	ew.printf("| severity | critical | warning | info |\n|---|---|---|---|\n| findings | %d | %d | %d |\n\n",
		r.Summary.Findings["critical"], r.Summary.Findings["warning"], r.Summary.Findings["info"])

	if len(r.Findings) > 0 {
		index := findingIndex(r)
		ew.printf("## Findings\n\n| # | severity | stage | rule | subject | caused by |\n|---|---|---|---|---|---|\n")
		for i, f := range r.Findings {
			ew.printf("| %d | %s | %s | `%s` | %s | %s |\n", i+1, f.Severity, finding.StageOf(f.ID), f.ID, mdEscape(f.Subject.String()), causeRefs(f, index))
		}
		for i, f := range r.Findings {
			ew.printf("\n### %d. %s: %s — %s\n\n", i+1, strings.ToUpper(string(f.Severity)), f.ID, mdEscape(f.Title))
			ew.printf("**Subject:** %s\n\n", mdEscape(f.Subject.String()))
			if refs := causeRefs(f, index); refs != "" {
				ew.printf("_A consequence of %s: fix that first._\n\n", refs)
			}
			ew.printf("%s\n\n", mdEscape(f.Message))
			if len(f.Evidence) > 0 {
				ew.printf("**Evidence:**\n\n```\n")
				for _, e := range f.Evidence {
					ew.printf("%s  %s\n", e.Location(), fenceSafe(e.Excerpt))
				}
				ew.printf("```\n\n")
			}
			if f.Remediation != "" {
				ew.printf("**Next steps:**\n\n```sh\n%s\n```\n", fenceSafe(f.Remediation))
			}
		}
	}
	var skipped []rules.Outcome
	for _, o := range r.Rules {
		if o.Status == rules.Skipped || o.Status == rules.Error {
			skipped = append(skipped, o)
		}
	}
	if len(skipped) > 0 {
		ew.printf("\n## Not checked\n\n")
		for _, o := range skipped {
			if o.Status == rules.Error {
				ew.printf("- `%s` error: %s\n", o.ID, mdEscape(firstLine(o.Error)))
			} else {
				ew.printf("- `%s` skipped: missing %s\n", o.ID, mdEscape(strings.Join(o.Missing, "; ")))
			}
		}
	}
	if len(r.Warnings) > 0 {
		ew.printf("\n## Input warnings\n\n")
		for _, w := range r.Warnings {
			ew.printf("- %s\n", mdEscape(w.String()))
		}
	}
	return ew.err
}

var mdReplacer = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`)

// mdEscape keeps bundle text (which customers control) from becoming Markdown markup.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

// fenceSafe keeps bundle text from closing a code fence.
func fenceSafe(s string) string { return strings.ReplaceAll(s, "```", "`\u200b``") }
