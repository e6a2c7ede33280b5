package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
)

// JSON writes the canonical report.
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// TextOptions shape the terminal rendering.
type TextOptions struct {
	// Color adds ANSI colours (only on a terminal).
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

type painter struct{ on bool }

func (p painter) paint(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p painter) severity(s finding.Severity) string {
	label := strings.ToUpper(string(s))
	switch s {
	case finding.Critical:
		return p.paint(ansiBold+ansiRed, label)
	case finding.Warning:
		return p.paint(ansiYellow, label)
	}
	return p.paint(ansiCyan, label)
}

// Text writes the report for a person at a terminal: verdict, findings table, then each finding
// with its evidence and fix, then what could not be checked.
func Text(w io.Writer, r *Report, opts TextOptions) error {
	p := painter{on: opts.Color}
	ew := &errWriter{w: w}
	ew.printf("%s\n", p.paint(ansiBold, "netsift diagnosis"+clusterTitle(r)))
	ew.printf("%s\n", p.paint(ansiDim, bundleLine(r)))
	ew.printf("%s\n", p.paint(ansiDim, assumptionLine(r)))
	ew.printf("\n%s %s\n", p.paint(ansiBold, "Verdict:"), r.Summary.Verdict)
	if roots := rootRefs(r); roots != "" {
		ew.printf("%s %s\n", p.paint(ansiBold, "Start with:"), roots)
	}
	ew.printf("Findings: %d critical, %d warning, %d info.  Rules: %d passed, %d failed, %d skipped, %d errors.\n",
		r.Summary.Findings["critical"], r.Summary.Findings["warning"], r.Summary.Findings["info"],
		r.Summary.Rules["pass"], r.Summary.Rules["fail"], r.Summary.Rules["skipped"], r.Summary.Rules["error"])

	if len(r.Findings) > 0 {
		ew.printf("\n")
		index := findingIndex(r)
		rows := make([][]string, len(r.Findings))
		for i, f := range r.Findings {
			rows[i] = []string{fmt.Sprint(i + 1), strings.ToUpper(string(f.Severity)), finding.StageOf(f.ID).String(), f.ID, f.Subject.String(), causeRefs(f, index)}
		}
		if err := Table(ew, []string{"#", "severity", "stage", "rule", "subject", "caused by"}, rows); err != nil {
			return err
		}
		for i, f := range r.Findings {
			ew.printf("\n%s %s %s — %s\n", p.paint(ansiBold, fmt.Sprintf("[%d]", i+1)), p.severity(f.Severity), p.paint(ansiBold, f.ID), f.Title)
			ew.printf("    %s\n", f.Subject.String())
			if refs := causeRefs(f, index); refs != "" {
				ew.printf("    %s\n", p.paint(ansiDim, "A consequence of "+refs+": fix that first."))
			}
			ew.printf("%s\n", indent(wrap(f.Message, 96), "    "))
			if len(f.Evidence) > 0 {
				ew.printf("    %s\n", p.paint(ansiBold, "Evidence:"))
				width := 0
				for _, e := range f.Evidence {
					width = max(width, len(e.Location()))
				}
				for _, e := range f.Evidence {
					ew.printf("      %s  %s\n", p.paint(ansiDim, pad(e.Location(), width)), e.Excerpt)
				}
			}
			if f.Remediation != "" {
				ew.printf("    %s\n", p.paint(ansiBold, "Next steps:"))
				for _, l := range strings.Split(f.Remediation, "\n") {
					if strings.HasPrefix(l, "#") {
						ew.printf("      %s\n", p.paint(ansiDim, l))
					} else {
						ew.printf("      $ %s\n", l)
					}
				}
			}
		}
	}
	writeNodes(ew, r, p)
	writeNotChecked(ew, r, p)
	return ew.err
}

// writeNodes prints the nodes at a glance with their dataplane summary.
func writeNodes(ew *errWriter, r *Report, p painter) {
	if len(r.Cluster.Nodes) == 0 {
		return
	}
	ew.printf("\n%s\n", p.paint(ansiBold, "Nodes:"))
	// A big cluster's bundle captures a few nodes: list those and the nodes not Ready, and
	// count the rest, rather than print 2,000 rows of dashes.
	var rows [][]string
	quiet := 0
	for _, n := range r.Cluster.Nodes {
		if len(r.Cluster.Nodes) > maxNodeRows && n.Dataplane == nil && n.Ready == "True" {
			quiet++
			continue
		}
		rules, routes, drops := "-", "-", "-"
		if d := n.Dataplane; d != nil {
			if len(d.Tables) > 0 {
				total := 0
				for _, t := range d.Tables {
					total += t.Rules
				}
				rules = fmt.Sprint(total)
			}
			if d.Peers > 0 {
				routes = fmt.Sprintf("%d/%d", d.PeerRoutes, d.Peers)
			}
			if len(d.Drops) > 0 {
				e := d.Drops[0].Evidence
				excerpt := e.Excerpt
				if len(excerpt) > 48 {
					excerpt = excerpt[:47] + "…"
				}
				drops = fmt.Sprintf("%d pkts: %s %s", d.Drops[0].Packets, path.Base(e.File)+fmt.Sprintf(":%d", e.Line), excerpt)
			} else if len(d.Tables) > 0 {
				drops = "none counted"
			}
		}
		rows = append(rows, []string{n.Name, n.Ready, orDashText(n.InternalIP), orDashText(n.PodCIDR), rules, routes, drops})
	}
	ew.printf("%s", indentTable([]string{"name", "ready", "internal-ip", "pod-cidr", "iptables rules", "peer routes", "top drop"}, rows))
	if quiet > 0 {
		ew.printf("  … and %d more nodes, Ready, without captures in the bundle (JSON and HTML list them all)\n", quiet)
	}
}

// maxNodeRows is how many nodes the text report lists one per row before it lists only the
// captured and not-Ready ones.
const maxNodeRows = 30

func orDashText(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// indentTable renders a Table indented by two spaces.
func indentTable(header []string, rows [][]string) string {
	var b strings.Builder
	if err := Table(&b, header, rows); err != nil {
		return ""
	}
	return indent(strings.TrimRight(b.String(), "\n"), "  ") + "\n"
}

// findingIndex maps each finding's fingerprint to its 1-based number in the report.
func findingIndex(r *Report) map[string]int {
	idx := make(map[string]int, len(r.Findings))
	for i, f := range r.Findings {
		idx[f.Fingerprint] = i + 1
	}
	return idx
}

// rootRefs lists the findings that others follow from (caused by nothing, cause of something),
// "#7 node.selinux-blocks-cni (Node worker-1)", when there are consequences to skip.
func rootRefs(r *Report) string {
	index := findingIndex(r)
	isCause := map[string]bool{}
	for _, f := range r.Findings {
		for _, fp := range f.CausedBy {
			isCause[fp] = true
		}
	}
	var refs []string
	for _, f := range r.Findings {
		if isCause[f.Fingerprint] && len(f.CausedBy) == 0 {
			refs = append(refs, fmt.Sprintf("#%d %s (%s)", index[f.Fingerprint], f.ID, f.Subject))
		}
	}
	if len(refs) == 0 {
		return ""
	}
	return strings.Join(refs, ", ") + " — the other findings follow from these"
}

// causeRefs renders a finding's causes as "#7 cni.pod-crashloop" references.
func causeRefs(f finding.Finding, index map[string]int) string {
	var refs []string
	for _, fp := range f.CausedBy {
		if n, ok := index[fp]; ok {
			refs = append(refs, fmt.Sprintf("#%d", n))
		}
	}
	return strings.Join(refs, " ")
}

func clusterTitle(r *Report) string {
	var parts []string
	if r.Bundle.Cluster != "" {
		parts = append(parts, "cluster "+r.Bundle.Cluster)
	}
	if r.Cluster.KubernetesVersion != "" {
		parts = append(parts, "Kubernetes "+r.Cluster.KubernetesVersion)
	}
	parts = append(parts, fmt.Sprintf("%d nodes, %d pods, %d services", len(r.Cluster.Nodes), r.Cluster.Pods, r.Cluster.Services))
	return " — " + strings.Join(parts, ", ")
}

// assumptionLine says which CNI and proxy mode the rules assumed, and on what evidence.
func assumptionLine(r *Report) string {
	a := r.Assumptions
	cni := a.CNI.Name
	if a.CNI.Detail != "" {
		cni += " (" + a.CNI.Detail + ")"
	}
	s := "assumed CNI " + cni
	if len(a.CNI.Why) > 0 {
		s += " [" + a.CNI.Why[0] + "]"
	}
	s += "; proxy mode " + a.ProxyMode.Name
	if len(a.ProxyMode.Why) > 0 {
		s += " [" + a.ProxyMode.Why[0] + "]"
	}
	return s
}

func bundleLine(r *Report) string {
	s := "bundle " + strings.Join(r.Bundle.Sources, " + ")
	if r.Bundle.CollectedAt != nil {
		s += ", collected " + r.Bundle.CollectedAt.Format("2006-01-02 15:04 UTC")
	}
	return s + ", analysed by netsift " + r.Tool.Version
}

func writeNotChecked(ew *errWriter, r *Report, p painter) {
	var skipped, errored []rules.Outcome
	for _, o := range r.Rules {
		switch o.Status {
		case rules.Skipped:
			skipped = append(skipped, o)
		case rules.Error:
			errored = append(errored, o)
		}
	}
	if len(errored) > 0 {
		ew.printf("\n%s\n", p.paint(ansiBold+ansiRed, "Rules that failed to run (a bug in netsift; please report it with the bundle):"))
		for _, o := range errored {
			ew.printf("  %s: %s\n", o.ID, firstLine(o.Error))
		}
	}
	if len(skipped) > 0 {
		ew.printf("\n%s\n", p.paint(ansiBold, "Not checked (inputs missing from the bundle):"))
		for _, o := range skipped {
			ew.printf("  %s  skipped: missing %s\n", o.ID, strings.Join(o.Missing, "; "))
		}
	}
	if notes := noteLines(r); len(notes) > 0 {
		ew.printf("\n%s\n", p.paint(ansiBold, "Partly checked:"))
		for _, n := range notes {
			ew.printf("  %s: %s\n", n.ID, n.Text)
		}
	}
	if len(r.FailedCommands) > 0 {
		ew.printf("\n%s\n", p.paint(ansiBold, "Collection commands that failed:"))
		for _, c := range r.FailedCommands {
			where := ""
			if c.Node != "" {
				where = " on " + c.Node
			}
			state := fmt.Sprintf("exit %d", c.ExitCode)
			if c.TimedOut {
				state = "timed out"
			}
			ew.printf("  %s%s (%s): %s\n", c.Command, where, state, firstLine(lastLines(c.Stderr)))
		}
	}
	if len(r.Warnings) > 0 {
		ew.printf("\n%s\n", p.paint(ansiBold, fmt.Sprintf("Input warnings (%d):", len(r.Warnings))))
		for i, w := range r.Warnings {
			if i == 20 {
				ew.printf("  … and %d more (see -o json)\n", len(r.Warnings)-20)
				break
			}
			ew.printf("  %s\n", w.String())
		}
	}
}

func lastLines(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Table writes a borderless, kubectl-style table: upper-case headers, columns separated by
// three spaces, no leading or trailing blanks.
func Table(w io.Writer, header []string, rows [][]string) error {
	pad := tw.CellPadding{Global: tw.Padding{Left: "", Right: "   ", Overwrite: true}}
	var buf strings.Builder
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Formatting: tw.CellFormatting{AutoFormat: tw.Off},
				Padding:    pad,
			},
			Row: tw.CellConfig{Alignment: tw.CellAlignment{Global: tw.AlignLeft}, Padding: pad},
		}),
	)
	upper := make([]string, len(header))
	for i, h := range header {
		upper[i] = strings.ToUpper(h)
	}
	t.Header(upper)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	// Trailing blanks are padding of the last column; drop them.
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(l, " \n")+strings.Repeat("\n", strings.Count(l, "\n"))); err != nil {
			return err
		}
	}
	return nil
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// wrap breaks text at spaces so lines stay under width.
func wrap(s string, width int) string {
	var out strings.Builder
	for pi, para := range strings.Split(s, "\n") {
		if pi > 0 {
			out.WriteByte('\n')
		}
		col := 0
		for i, word := range strings.Fields(para) {
			if i > 0 && col+1+len(word) > width {
				out.WriteByte('\n')
				col = 0
			} else if i > 0 {
				out.WriteByte(' ')
				col++
			}
			out.WriteString(word)
			col += len(word)
		}
	}
	return out.String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
