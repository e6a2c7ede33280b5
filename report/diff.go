package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/netsift/netsift/analyze/diff"
	"github.com/netsift/netsift/analyze/finding"
)

// The renderers of `netsift diff`. Like the diagnosis, the comparison is one canonical document
// (diff.Diff, written as JSON); text, Markdown and HTML lay out the same lines, built once here.

// DiffJSON writes the canonical comparison.
func DiffJSON(w io.Writer, d *diff.Diff) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// diffView is the comparison as the renderers lay it out: sections of lines, most important
// first, with kube-proxy's per-Service rule churn folded into one line per Service and nodes
// with identical changes shown once.
type diffView struct {
	Title    string
	Old, New string
	Apart    string
	Summary  string
	Changed  bool
	Findings []diffFindingLine
	// Persisting lists the findings present in both bundles, briefly.
	Persisting []string
	Objects    []diffGroup
	Nodes      []diffNodeGroup
	Sections   map[string]bool
}

type diffFindingLine struct {
	Status   string // NEW, RESOLVED
	Severity finding.Severity
	ID       string
	Title    string
	Subject  string
	Anchor   string
}

type diffGroup struct {
	Title string
	Lines []diffLine
}

type diffLine struct {
	Op   diff.Op
	Text string
}

type diffNodeGroup struct {
	Nodes    []string
	Presence diff.Presence
	Lines    []diffLine
}

func (g diffNodeGroup) Heading() string {
	switch g.Presence {
	case diff.OldOnly:
		return "node " + g.Nodes[0] + ": only in the OLD bundle (absent from NEW)"
	case diff.NewOnly:
		return "node " + g.Nodes[0] + ": only in the NEW bundle (absent from OLD)"
	}
	if len(g.Nodes) == 1 {
		return "node " + g.Nodes[0]
	}
	return "nodes " + strings.Join(g.Nodes, ", ") + " (same changes)"
}

func bundleDesc(b diff.BundleRef) string {
	s := strings.Join(b.Sources, " + ")
	if b.CollectedAt != nil {
		s += " (collected " + b.CollectedAt.Format(time.RFC3339) + ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func buildDiffView(d *diff.Diff) *diffView {
	v := &diffView{Old: bundleDesc(d.Old), New: bundleDesc(d.New), Changed: d.Changed(), Sections: map[string]bool{}}
	for _, s := range d.Sections {
		v.Sections[s] = true
	}
	v.Title = "netsift diff"
	if c := d.New.Cluster; c != "" {
		v.Title += " — cluster " + c
		if o := d.Old.Cluster; o != "" && o != c {
			v.Title += " (OLD is cluster " + o + ")"
		}
	}
	switch {
	case d.Old.CollectedAt == nil || d.New.CollectedAt == nil:
		v.Apart = "unknown (a manifest has no collected_at): counter rates are not computed"
	case d.ElapsedSeconds > 0:
		v.Apart = (time.Duration(d.ElapsedSeconds) * time.Second).String()
	case d.New.CollectedAt.Before(*d.Old.CollectedAt):
		v.Apart = "NEW was collected before OLD: counter rates are not computed"
	default:
		v.Apart = "0s (same collection time): counter rates are not computed"
	}

	for _, f := range d.Findings.New {
		v.Findings = append(v.Findings, diffFindingLine{"NEW", f.Severity, f.ID, f.Title, f.Subject.String(), "f-" + f.Fingerprint})
	}
	for _, f := range d.Findings.Resolved {
		v.Findings = append(v.Findings, diffFindingLine{"RESOLVED", f.Severity, f.ID, f.Title, f.Subject.String(), "f-" + f.Fingerprint})
	}
	for _, f := range d.Findings.Persisting {
		v.Persisting = append(v.Persisting, f.ID+" ("+f.Subject.String()+")")
	}

	for _, l := range d.Objects.Lists() {
		if len(l.Changes) == 0 {
			continue
		}
		g := diffGroup{Title: l.Title}
		for _, c := range l.Changes {
			g.Lines = append(g.Lines, diffLine{c.Op, objectLine(c)})
		}
		v.Objects = append(v.Objects, g)
	}

	nodes := 0
	index := map[string]int{}
	for _, n := range d.Dataplane {
		nodes++
		lines := nodeLines(n.Changes)
		if n.Presence != diff.Both {
			v.Nodes = append(v.Nodes, diffNodeGroup{Nodes: []string{n.Node}, Presence: n.Presence})
			continue
		}
		sig := signature(lines)
		if i, ok := index[sig]; ok {
			v.Nodes[i].Nodes = append(v.Nodes[i].Nodes, n.Node)
			continue
		}
		index[sig] = len(v.Nodes)
		v.Nodes = append(v.Nodes, diffNodeGroup{Nodes: []string{n.Node}, Presence: diff.Both, Lines: lines})
	}

	var parts []string
	if v.Sections[diff.SectionFindings] {
		parts = append(parts, fmt.Sprintf("findings: %d new, %d resolved, %d persisting", len(d.Findings.New), len(d.Findings.Resolved), len(d.Findings.Persisting)))
	}
	if v.Sections[diff.SectionObjects] {
		parts = append(parts, "objects: "+plural(d.Objects.Count(), "change", "changes"))
	}
	if v.Sections[diff.SectionDataplane] {
		parts = append(parts, "dataplane: "+plural(nodes, "node", "nodes")+" changed")
	}
	v.Summary = strings.Join(parts, " · ")
	if !v.Changed {
		v.Summary = "nothing relevant changed (" + v.Summary + ")"
	}
	return v
}

func signature(lines []diffLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(string(l.Op) + "\x00" + l.Text + "\n")
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// objectLine renders one object change.
func objectLine(c diff.Change) string {
	subject := c.Kind + " " + c.Subject
	if c.Kind == "Connectivity" {
		switch c.Op {
		case diff.Added:
			return subject + ": now allowed: " + c.New
		case diff.Removed:
			return subject + ": no longer allowed (was " + c.Old + ")"
		}
	}
	return changeLine(subject, c)
}

func changeLine(subject string, c diff.Change) string {
	field := ""
	if c.Field != "" {
		field = " " + c.Field
	}
	switch c.Op {
	case diff.Added:
		if c.Field == "rule" {
			return subject + ": " + c.New
		}
		if c.New != "" {
			return subject + field + ": added (" + c.New + ")"
		}
		return subject + field + ": added"
	case diff.Removed:
		if c.Field == "rule" {
			return subject + ": " + c.Old
		}
		if c.Old != "" {
			return subject + field + ": removed (was " + c.Old + ")"
		}
		return subject + field + ": removed"
	case diff.Grew:
		rate := "rate unknown"
		if c.PerSecond > 0 {
			rate = fmt.Sprintf("%.2f/s", c.PerSecond)
		}
		unit := " packets"
		if c.Kind == "conntrack" {
			unit = ""
		}
		return fmt.Sprintf("%s%s: %s → %s%s (+%d, %s)", subject, field, c.Old, c.New, unit, c.Delta, rate)
	}
	return subject + field + ": " + orNone(c.Old) + " → " + orNone(c.New)
}

// nodeLines renders one node's changes in rank order, folding the rules of each Service's
// kube-proxy chains into one line at the rank of the Service's most important rule change.
func nodeLines(cs []diff.Change) []diffLine {
	type svcRules struct {
		added, removed  int
		epAdded, epGone map[string]bool
		first           int // index in out
	}
	var out []diffLine
	services := map[string]*svcRules{}
	var order []string
	for _, c := range cs {
		if c.Kind == "iptables" && c.Field == "rule" && c.Service != "" {
			s := services[c.Service]
			if s == nil {
				s = &svcRules{epAdded: map[string]bool{}, epGone: map[string]bool{}, first: len(out)}
				services[c.Service] = s
				order = append(order, c.Service)
				out = append(out, diffLine{Op: diff.Changed})
			}
			ep := endpointOf(c.Subject)
			if c.Op == diff.Added {
				s.added++
				if ep != "" {
					s.epAdded[ep] = true
				}
			} else {
				s.removed++
				if ep != "" {
					s.epGone[ep] = true
				}
			}
			continue
		}
		subject := c.Subject
		if c.Kind == "route" {
			subject = "route"
		}
		out = append(out, diffLine{c.Op, changeLine(subject, c)})
	}
	for _, svc := range order {
		s := services[svc]
		var counts []string
		if s.added > 0 {
			counts = append(counts, plural(s.added, "rule", "rules")+" added")
		}
		if s.removed > 0 {
			counts = append(counts, plural(s.removed, "rule", "rules")+" removed")
		}
		text := "kube-proxy rules of " + svc + ": " + strings.Join(counts, ", ")
		var added, gone []string
		for ep := range s.epAdded {
			if !s.epGone[ep] {
				added = append(added, ep)
			}
		}
		for ep := range s.epGone {
			if !s.epAdded[ep] {
				gone = append(gone, ep)
			}
		}
		sort.Strings(added)
		sort.Strings(gone)
		if len(added) > 0 {
			text += "; endpoints added: " + strings.Join(added, ", ")
		}
		if len(gone) > 0 {
			text += "; endpoints removed: " + strings.Join(gone, ", ")
		}
		op := diff.Changed
		switch {
		case s.removed == 0:
			op = diff.Added
		case s.added == 0:
			op = diff.Removed
		}
		out[s.first] = diffLine{op, text}
	}
	return out
}

// endpointOf reads the endpoint of an endpoint chain's meaning, "… SEP(ns/svc:port → ip:port)".
func endpointOf(subject string) string {
	i := strings.Index(subject, "SEP(")
	if i < 0 {
		return ""
	}
	_, ep, ok := strings.Cut(subject[i:], " → ")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(ep, ")")
}

var opMarks = map[diff.Op]string{diff.Added: "+", diff.Removed: "-", diff.Changed: "~", diff.Grew: "↑"}

// DiffText writes the comparison for a person at a terminal: findings, then objects, then each
// node's dataplane, each most important first.
func DiffText(w io.Writer, d *diff.Diff, opts TextOptions) error {
	v := buildDiffView(d)
	p := painter{opts.Color}
	ew := &errWriter{w: w}
	ew.printf("%s\n", p.paint(ansiBold, v.Title))
	ew.printf("  OLD:   %s\n  NEW:   %s\n  apart: %s\n", v.Old, v.New, v.Apart)
	ew.printf("\n%s\n", p.paint(ansiBold, v.Summary))
	if v.Sections[diff.SectionFindings] {
		ew.printf("\n%s\n", p.paint(ansiBold, "== Findings"))
		if len(v.Findings) == 0 {
			ew.printf("  no new or resolved finding\n")
		}
		for _, f := range v.Findings {
			status := pad(f.Status, 8)
			if f.Status == "NEW" {
				status = p.paint(ansiBold, status)
			}
			sev := pad(strings.ToUpper(string(f.Severity)), 8)
			switch f.Severity {
			case finding.Critical:
				sev = p.paint(ansiBold+ansiRed, sev)
			case finding.Warning:
				sev = p.paint(ansiYellow, sev)
			}
			ew.printf("  %s  %s  %s  %s — %s\n", status, sev, f.ID, f.Title, f.Subject)
		}
		if len(v.Persisting) > 0 {
			ew.printf("  %s\n", p.paint(ansiDim, fmt.Sprintf("persisting (%d): %s", len(v.Persisting), strings.Join(v.Persisting, "; "))))
		}
	}
	if v.Sections[diff.SectionObjects] {
		ew.printf("\n%s\n", p.paint(ansiBold, "== Objects"))
		if len(v.Objects) == 0 {
			ew.printf("  no object changed\n")
		}
		for _, g := range v.Objects {
			ew.printf("  %s\n", g.Title)
			for _, l := range g.Lines {
				ew.printf("    %s %s\n", opMarks[l.Op], l.Text)
			}
		}
	}
	if v.Sections[diff.SectionDataplane] {
		ew.printf("\n%s\n", p.paint(ansiBold, "== Dataplane"))
		if len(v.Nodes) == 0 {
			ew.printf("  no node's dataplane changed\n")
		}
		for _, g := range v.Nodes {
			ew.printf("  %s\n", g.Heading())
			for _, l := range g.Lines {
				ew.printf("    %s %s\n", opMarks[l.Op], l.Text)
			}
		}
	}
	return ew.err
}

// DiffMarkdown writes the comparison as Markdown, for a ticket.
func DiffMarkdown(w io.Writer, d *diff.Diff) error {
	v := buildDiffView(d)
	ew := &errWriter{w: w}
	ew.printf("# %s\n\n", mdEscape(v.Title))
	ew.printf("- **OLD:** %s\n- **NEW:** %s\n- **apart:** %s\n\n**%s**\n", mdEscape(v.Old), mdEscape(v.New), mdEscape(v.Apart), mdEscape(v.Summary))
	if v.Sections[diff.SectionFindings] {
		ew.printf("\n## Findings\n\n")
		if len(v.Findings) == 0 {
			ew.printf("No new or resolved finding.\n")
		} else {
			ew.printf("| change | severity | rule | finding | subject |\n|---|---|---|---|---|\n")
			for _, f := range v.Findings {
				ew.printf("| %s | %s | %s | %s | %s |\n", f.Status, f.Severity, mdCode(f.ID), mdCell(f.Title), mdCell(f.Subject))
			}
		}
		if len(v.Persisting) > 0 {
			ew.printf("\nPersisting (%d): %s\n", len(v.Persisting), mdEscape(strings.Join(v.Persisting, "; ")))
		}
	}
	if v.Sections[diff.SectionObjects] {
		ew.printf("\n## Objects\n\n")
		if len(v.Objects) == 0 {
			ew.printf("No object changed.\n")
		}
		for _, g := range v.Objects {
			ew.printf("### %s\n\n", mdEscape(g.Title))
			for _, l := range g.Lines {
				ew.printf("- %s %s\n", mdCode(opMarks[l.Op]), mdEscape(l.Text))
			}
			ew.printf("\n")
		}
	}
	if v.Sections[diff.SectionDataplane] {
		ew.printf("\n## Dataplane\n\n")
		if len(v.Nodes) == 0 {
			ew.printf("No node's dataplane changed.\n")
		}
		for _, g := range v.Nodes {
			ew.printf("### %s\n\n", mdEscape(g.Heading()))
			for _, l := range g.Lines {
				ew.printf("- %s %s\n", mdCode(opMarks[l.Op]), mdCode(l.Text))
			}
			ew.printf("\n")
		}
	}
	return ew.err
}
