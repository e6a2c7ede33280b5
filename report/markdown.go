package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
)

// Markdown writes the report for pasting into a ticket.
func Markdown(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("# netsift diagnosis%s\n\n", mdEscape(clusterTitle(r)))
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
	writeMarkdownCluster(ew, r)
	writeMarkdownLacked(ew, r)
	return ew.err
}

// writeMarkdownCluster is the cluster at a glance: what the rules assumed about the CNI and the
// proxy, on what evidence, and the nodes.
func writeMarkdownCluster(ew *errWriter, r *Report) {
	ew.printf("\n## Cluster at a glance\n\n")
	version := r.Cluster.KubernetesVersion
	if version == "" {
		version = "version unknown"
	}
	ew.printf("Kubernetes %s, %d nodes, %d pods, %d services.\n\n", mdEscape(version), len(r.Cluster.Nodes), r.Cluster.Pods, r.Cluster.Services)
	for _, a := range []struct {
		label string
		d     model.Detection
	}{{"CNI assumed", r.Assumptions.CNI}, {"Proxy mode assumed", r.Assumptions.ProxyMode}} {
		name := a.d.Name
		if name == "" {
			name = "unknown"
		}
		if a.d.Detail != "" {
			name += " (" + a.d.Detail + ")"
		}
		ew.printf("- **%s:** %s", a.label, mdEscape(name))
		if len(a.d.Why) == 0 {
			ew.printf(" — nothing in the bundle identified it\n")
			continue
		}
		ew.printf(", because:\n")
		for _, why := range a.d.Why {
			ew.printf("  - %s\n", mdEscape(why))
		}
	}
	if len(r.Cluster.Nodes) > 0 {
		ew.printf("\n| node | Ready | InternalIP | podCIDR | captures | iptables | peer routes | top drop |\n|---|---|---|---|---:|---|---|---|\n")
		for _, n := range r.Cluster.Nodes {
			tables, routes, drop := "-", "-", "-"
			if d := n.Dataplane; d != nil {
				tables = tablesText(d)
				if d.Peers > 0 {
					routes = fmt.Sprintf("%d/%d", d.PeerRoutes, d.Peers)
				}
				if len(d.Drops) > 0 {
					drop = fmt.Sprintf("%d pkts at `%s`", d.Drops[0].Packets, d.Drops[0].Evidence.Location())
				}
			}
			ew.printf("| %s | %s | %s | %s | %d | %s | %s | %s |\n", mdCell(n.Name), mdCell(n.Ready), mdCell(n.InternalIP), mdCell(n.PodCIDR), n.Captures,
				mdCell(tables), routes, drop)
		}
	}
}

// writeMarkdownLacked says what could not be checked: rules that failed or were skipped for
// missing inputs, checks that ran only in part, failed collection commands, unreadable inputs.
func writeMarkdownLacked(ew *errWriter, r *Report) {
	ew.printf("\n## What the bundle lacked\n\n")
	var skipped, errored []rules.Outcome
	var notes []string
	for _, n := range noteLines(r) {
		notes = append(notes, "`"+n.ID+"` "+mdEscape(n.Text))
	}
	for _, o := range r.Rules {
		switch o.Status {
		case rules.Skipped:
			skipped = append(skipped, o)
		case rules.Error:
			errored = append(errored, o)
		}
	}
	if len(skipped)+len(errored)+len(notes)+len(r.FailedCommands)+len(r.Warnings) == 0 {
		ew.printf("Nothing: every rule ran on complete inputs, every collection command succeeded and every capture was read.\n")
		return
	}
	if len(errored) > 0 {
		ew.printf("**Rules that failed to run** (a bug in netsift; please report it with the bundle):\n\n")
		for _, o := range errored {
			ew.printf("- `%s` error: %s\n", o.ID, mdEscape(firstLine(o.Error)))
		}
		ew.printf("\n")
	}
	if len(skipped) > 0 {
		ew.printf("**Rules skipped, inputs missing:**\n\n")
		for _, o := range skipped {
			ew.printf("- `%s` skipped: missing %s\n", o.ID, mdEscape(strings.Join(o.Missing, "; ")))
		}
		ew.printf("\n")
	}
	if len(notes) > 0 {
		ew.printf("**Partly checked:**\n\n")
		for _, n := range notes {
			ew.printf("- %s\n", n)
		}
		ew.printf("\n")
	}
	if len(r.FailedCommands) > 0 {
		ew.printf("**Collection commands that failed:**\n\n| command | node | result | stderr (last line) |\n|---|---|---|---|\n")
		for _, c := range r.FailedCommands {
			state := fmt.Sprintf("exit %d", c.ExitCode)
			if c.TimedOut {
				state = "timed out"
			}
			node := c.Node
			if node == "" {
				node = "—"
			}
			ew.printf("| %s | %s | %s | %s |\n", mdCode(c.Command), mdCell(node), state, mdCell(lastLines(c.Stderr)))
		}
		ew.printf("\n")
	}
	if len(r.Warnings) > 0 {
		ew.printf("**Input warnings** (files or lines that could not be read; the analysis went on without them):\n\n")
		for _, w := range r.Warnings {
			ew.printf("- %s\n", mdEscape(w.String()))
		}
	}
}

// mdCell makes bundle text safe in one table cell.
func mdCell(s string) string {
	if s == "" {
		return "—"
	}
	return mdEscape(strings.Join(strings.Fields(s), " "))
}

// mdCode quotes bundle text as inline code in a table cell. A code span shows its content
// literally, so text holding a backtick or markup falls back to escaped text.
func mdCode(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || strings.ContainsAny(s, "`<>") {
		return mdCell(s)
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

var mdReplacer = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`)

// mdEscape keeps bundle text (which customers control) from becoming Markdown markup.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

// fenceSafe keeps bundle text from closing a code fence.
func fenceSafe(s string) string { return strings.ReplaceAll(s, "```", "`\u200b``") }
