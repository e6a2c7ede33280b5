// Package rules holds the fault catalogue as code: one explicit registry of rules, each with its
// ID, severity, title, declared inputs and check over the model, and the engine that runs them.
package rules

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
	"github.com/netsift/netsift/internal/par"
)

// Input is something a rule needs from the bundle: a kind of cluster object, or a capture that
// every node should have. A rule whose input is absent is skipped, naming the input.
type Input struct {
	// Kind is a Kubernetes kind that must have been collected (cluster/<plural>.yaml).
	Kind string `json:"kind,omitempty"`
	// NodeFile is a capture under nodes/<node>/ that at least one node must have.
	NodeFile string `json:"node_file,omitempty"`
}

func (in Input) String() string {
	if in.Kind != "" {
		return model.KindFile(in.Kind)
	}
	return "nodes/<node>/" + in.NodeFile
}

// Kinds is shorthand for cluster inputs.
func Kinds(kinds ...string) []Input {
	out := make([]Input, len(kinds))
	for i, k := range kinds {
		out[i] = Input{Kind: k}
	}
	return out
}

// Rule is one entry of the fault catalogue.
type Rule struct {
	ID       string           `json:"id"`
	Severity finding.Severity `json:"severity"`
	Title    string           `json:"title"`
	Inputs   []Input          `json:"inputs"`
	// Doc says what the rule checks and why, for `netsift rules`.
	Doc   string         `json:"doc"`
	Check func(*Context) `json:"-"`
}

// Status is how a rule's run ended.
type Status string

const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skipped Status = "skipped"
	Error   Status = "error"
)

// Outcome is the result of running one rule.
type Outcome struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   Status `json:"status"`
	Findings int    `json:"findings,omitempty"`
	// Missing names the inputs whose absence skipped the rule, with why they are absent.
	Missing []string `json:"missing,omitempty"`
	// Notes are parts of the check that could not run (a node without a capture).
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Context is what a check sees: the model, and where to report.
type Context struct {
	Model    *model.Model
	rule     *Rule
	findings []finding.Finding
	notes    []string
	traces   []*trace.Result
	skipped  []string
}

// Skip says the check could not run at all for a reason only the check can see (the proxy
// mode could not be determined): the outcome is skipped with that reason, never a pass.
func (c *Context) Skip(format string, args ...any) {
	c.skipped = append(c.skipped, fmt.Sprintf(format, args...))
}

// RecordTrace keeps a packet trace the rule ran, for the report to show hop by hop.
func (c *Context) RecordTrace(r *trace.Result) {
	if r != nil && r.Error == "" {
		c.traces = append(c.traces, r)
	}
}

// Report records a finding. ID, severity and title default to the rule's; the fingerprint is
// computed here so no rule can forget it.
func (c *Context) Report(f finding.Finding) {
	if f.ID == "" {
		f.ID = c.rule.ID
	}
	if f.Severity == "" {
		f.Severity = c.rule.Severity
	}
	if f.Title == "" {
		f.Title = c.rule.Title
	}
	if f.Evidence == nil {
		f.Evidence = []finding.Evidence{}
	}
	f.ComputeFingerprint()
	c.findings = append(c.findings, f)
}

// Note records a part of the check that could not be done, e.g. a node lacking a capture.
func (c *Context) Note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

// NodeCapture returns a node's capture file, or nil with a note saying why it is unusable.
func (c *Context) NodeCapture(node, file string) *bundle.File {
	cap := c.Model.Bundle.Capture("nodes/" + node + "/" + file)
	if cap.State == bundle.Collected {
		return cap.File
	}
	c.Note("node %s not checked: %s", node, cap.Why())
	return nil
}

// NodeLacks notes that a node's capture is missing or unusable, so the rule says which nodes it
// could not check instead of passing them silently. Call it when the parsed field is nil.
func (c *Context) NodeLacks(nd *model.NodeData, capture string) {
	cap := c.Model.Bundle.Capture(nd.Path(capture))
	why := cap.Why()
	if cap.State == bundle.Collected {
		why = nd.Path(capture) + " could not be parsed (see input warnings)"
	}
	c.Note("node %s not checked: %s", nd.Name, why)
}

// NodeEvidence quotes line n of a node's capture.
func (c *Context) NodeEvidence(nd *model.NodeData, capture string, line int) finding.Evidence {
	f := c.Model.Bundle.File(nd.Path(capture))
	if f == nil {
		return finding.Evidence{File: nd.Path(capture), Line: line}
	}
	return f.Evidence(line)
}

// maxExcerpt is the longest line quoted as it is: `ip -j` prints a whole capture on one line.
const maxExcerpt = 300

// readableEvidence is NodeEvidence, except that when the cited line is a whole one-line JSON
// capture (ip -j …) and the bundle has the text form of the same capture (ip-addr.txt beside
// ip-addr.json), it quotes the text line that contains needle instead.
func (c *Context) readableEvidence(nd *model.NodeData, capture string, line int, needle string) finding.Evidence {
	ev := c.NodeEvidence(nd, capture, line)
	if len(ev.Excerpt) <= maxExcerpt || needle == "" {
		return ev
	}
	txt := c.Model.Bundle.File("nodes/" + nd.Name + "/" + capture + ".txt")
	if txt == nil || txt.Path == ev.File {
		return ev
	}
	for n := 1; n <= txt.Lines(); n++ {
		if strings.Contains(txt.Line(n)+" ", needle+" ") {
			return txt.Evidence(n)
		}
	}
	return ev
}

// Options select rules by ID.
type Options struct {
	Only []string
	Skip []string
}

// Result is every outcome, in registry order, and every finding, sorted for the report.
type Result struct {
	Outcomes []Outcome
	Findings []finding.Finding
	// Traces are the packet traces rules ran (the DNS path from every node…).
	Traces []*trace.Result
}

// Run runs the selected rules of the registry over the model. A panicking rule is reported as an
// error outcome; the others still run.
func Run(m *model.Model, rules []*Rule, opts Options) (*Result, error) {
	only, err := idSet(rules, opts.Only)
	if err != nil {
		return nil, err
	}
	skip, err := idSet(rules, opts.Skip)
	if err != nil {
		return nil, err
	}
	var selected []*Rule
	for _, r := range rules {
		if (len(only) > 0 && !only[r.ID]) || skip[r.ID] {
			continue
		}
		selected = append(selected, r)
	}
	// Rules only read the model, so they run on every core; what the model derives lazily is
	// derived first, and the results are gathered in catalogue order.
	m.CNI()
	m.ProxyMode()
	type ran struct {
		out    Outcome
		fs     []finding.Finding
		traces []*trace.Result
	}
	results := make([]ran, len(selected))
	par.For(len(selected), func(i int) {
		out, fs, traces := runOne(m, selected[i])
		results[i] = ran{out, fs, traces}
	})
	res := &Result{}
	for _, r := range results {
		res.Outcomes = append(res.Outcomes, r.out)
		res.Findings = append(res.Findings, r.fs...)
		res.Traces = append(res.Traces, r.traces...)
	}
	finding.Sort(res.Findings)
	correlate(m, res.Findings)
	return res, nil
}

func idSet(rules []*Rule, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, r := range rules {
		known[r.ID] = true
	}
	set := map[string]bool{}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !known[id] {
			return nil, fmt.Errorf("unknown rule %q (see `netsift rules`)", id)
		}
		set[id] = true
	}
	return set, nil
}

func runOne(m *model.Model, r *Rule) (out Outcome, fs []finding.Finding, traces []*trace.Result) {
	out = Outcome{ID: r.ID, Title: r.Title}
	if missing := missingInputs(m, r.Inputs); len(missing) > 0 {
		out.Status, out.Missing = Skipped, missing
		return out, nil, nil
	}
	c := &Context{Model: m, rule: r}
	defer func() {
		if p := recover(); p != nil {
			out.Status = Error
			out.Error = fmt.Sprintf("rule panicked: %v\n%s", p, firstFrames(debug.Stack(), 12))
			out.Notes = c.notes
			fs, traces = nil, nil
		}
	}()
	r.Check(c)
	out.Notes = c.notes
	out.Findings = len(c.findings)
	if len(c.skipped) > 0 && len(c.findings) == 0 {
		out.Status, out.Missing = Skipped, c.skipped
		return out, nil, c.traces
	}
	out.Status = Pass
	if len(c.findings) > 0 {
		out.Status = Fail
	}
	return out, c.findings, c.traces
}

func firstFrames(stack []byte, n int) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func missingInputs(m *model.Model, inputs []Input) []string {
	var missing []string
	for _, in := range inputs {
		switch {
		case in.Kind != "":
			if _, ok := m.Has(in.Kind); !ok {
				missing = append(missing, m.Bundle.Capture(model.KindFile(in.Kind)).Why())
			}
		case in.NodeFile != "":
			if !anyNodeHas(m.Bundle, in.NodeFile) {
				missing = append(missing, fmt.Sprintf("%s: on no node", in))
			}
		}
	}
	return missing
}

// anyNodeHas tells whether some node has the capture: a file, a base name whose .json or .txt
// form exists (ip-route), or a directory with files (cni).
func anyNodeHas(b *bundle.Bundle, capture string) bool {
	for _, n := range b.Nodes() {
		p := "nodes/" + n + "/" + capture
		for _, c := range []string{p, p + ".json", p + ".txt"} {
			if b.Capture(c).State == bundle.Collected {
				return true
			}
		}
		if len(b.Dir(p)) > 0 {
			return true
		}
	}
	return false
}

// IDs returns the registered rule IDs, sorted.
func IDs(rules []*Rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.ID
	}
	sort.Strings(out)
	return out
}
