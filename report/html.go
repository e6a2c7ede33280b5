package report

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
)

// The page is one file that must open offline from file:// and must never run what a bundle
// contains. So: html/template escapes every bundle value for its context, the only style and
// script are ours (inlined, and allowed by hash in a Content-Security-Policy that denies
// everything else), and no URL in the page points anywhere but at an anchor in it.

//go:embed templates/page.html.tmpl templates/page.css templates/page.js
var htmlFiles embed.FS

var (
	htmlCSS    = mustRead("templates/page.css")
	htmlJS     = mustRead("templates/page.js")
	htmlStyle  = template.HTML("<style>" + htmlCSS + "</style>")
	htmlScript = template.HTML("<script>" + htmlJS + "</script>")
	// htmlCSP allows our one style block and one script block, images only as data: URLs, and
	// nothing else: no fetch, no frame, no form, no base URL.
	htmlCSP = "default-src 'none'; style-src '" + cspHash(htmlCSS) + "'; script-src '" + cspHash(htmlJS) +
		"'; img-src data:; base-uri 'none'; form-action 'none'"
	htmlCSPMeta = template.HTML(`<meta http-equiv="Content-Security-Policy" content="` + attrEscaper.Replace(htmlCSP) + `">`)
	attrEscaper = strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;")
	htmlPage    = template.Must(template.Must(template.New("page").ParseFS(htmlFiles, "templates/page.html.tmpl")).Parse(traceSVGTemplate))
)

func mustRead(name string) string {
	b, err := htmlFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	if strings.Contains(strings.ToLower(string(b)), "</") {
		panic(name + " must not contain an end tag: it is inlined in the page")
	}
	return string(b)
}

// cspHash is the CSP source expression allowing an inline block with exactly this content.
func cspHash(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// HTML writes the report as one self-contained page: verdict, findings with evidence and
// copyable next steps, the cluster at a glance, what the bundle lacked, and packet traces.
func HTML(w io.Writer, r *Report) error {
	return renderHTML(w, r, reportTraces(r))
}

func renderHTML(w io.Writer, r *Report, traces []Trace) error {
	return htmlPage.ExecuteTemplate(w, "page.html.tmpl", buildHTMLView(r, traces))
}

// htmlView is the page's model: the report's values made visible (control and bidi characters
// shown as escapes), grouped and cross-referenced, so the template only lays them out.
type htmlView struct {
	CSP    template.HTML
	Style  template.HTML
	Script template.HTML

	Title    string
	Heading  string
	Facts    []htmlFact
	Verdict  string
	Tone     string // critical, warning, info, partial or ok: the verdict's colour
	Root     *htmlFinding
	Counts   htmlCounts
	Findings []*htmlFinding
	Filters  htmlFilters
	Cluster  htmlCluster
	Lacked   htmlLacked
	Outcomes []htmlOutcome
	Traces   []htmlTrace
	Tool     string
}

type htmlFact struct{ Label, Value string }

type htmlCounts struct {
	Critical, Warning, Info     int
	Pass, Fail, Skipped, Errors int
	Rules                       int
}

type htmlFinding struct {
	N        int
	Anchor   string
	Severity string
	ID       string
	Title    string
	Stage    string
	Subject  string
	// Filter keys.
	Node, Namespace string
	Root            bool
	Causes          []htmlRef
	Consequences    []htmlRef
	Message         []string
	Evidence        []htmlEvidence
	Remediation     []htmlLine
}

type htmlRef struct {
	N      int
	Anchor string
	ID     string
}

type htmlEvidence struct{ Location, Excerpt string }

type htmlLine struct {
	Text    string
	Comment bool
}

type htmlFilters struct {
	Severities, Nodes, Namespaces, Rules []string
}

type htmlCluster struct {
	KubernetesVersion string
	Pods, Services    int
	Nodes             []htmlNode
	CNI, Proxy        htmlAssumption
}

type htmlNode struct {
	Name, Ready, ReadyTone, InternalIP, PodCIDR string
	Captures, Findings                          int
	Dataplane                                   *htmlDataplane
}

// htmlDataplane is a node's dataplane summary, as text ready for the page.
type htmlDataplane struct {
	Tables, IPVS, Routes string
	Drops, Sysctls       []htmlEvidence
}

type htmlAssumption struct {
	Name   string
	Detail string
	Why    []string
}

type htmlLacked struct {
	Skipped        []htmlOutcome
	Errored        []htmlOutcome
	Notes          []htmlFact
	FailedCommands []htmlCommand
	Warnings       []string
}

func (l htmlLacked) Empty() bool {
	return len(l.Skipped)+len(l.Errored)+len(l.Notes)+len(l.FailedCommands)+len(l.Warnings) == 0
}

type htmlOutcome struct {
	ID, Title, Status string
	Findings          int
	Missing           []string
	Error             string
}

type htmlCommand struct {
	Command, Node, State, Path string
	Stderr                     []string
}

type htmlTrace struct {
	N        int
	Anchor   string
	Title    string
	Verdict  string
	Failed   bool
	Facts    []htmlFact
	Diagram  traceDiagram
	Hops     []htmlHop
	Unknowns int
}

type htmlHop struct {
	N                          int
	Node, Stage, Verdict, Note string
	Location, Rule             string
	Failed, Unknown            bool
}

func buildHTMLView(r *Report, traces []Trace) *htmlView {
	v := &htmlView{CSP: htmlCSPMeta, Style: htmlStyle, Script: htmlScript}
	v.Heading = "netsift diagnosis"
	if r.Bundle.Cluster != "" {
		v.Heading += " — " + visible(r.Bundle.Cluster)
	}
	v.Title = v.Heading + ": " + visible(r.Summary.Verdict)
	v.Tool = visible(strings.TrimSpace(r.Tool.Name + " " + r.Tool.Version))
	v.Facts = bundleFacts(r)
	v.Verdict = visible(r.Summary.Verdict)
	v.Counts = htmlCounts{
		Critical: r.Summary.Findings[string(finding.Critical)], Warning: r.Summary.Findings[string(finding.Warning)],
		Info: r.Summary.Findings[string(finding.Info)],
		Pass: r.Summary.Rules[string(rules.Pass)], Fail: r.Summary.Rules[string(rules.Fail)],
		Skipped: r.Summary.Rules[string(rules.Skipped)], Errors: r.Summary.Rules[string(rules.Error)],
		Rules: len(r.Rules),
	}

	index := findingIndex(r)
	consequences := map[string][]htmlRef{}
	for i, f := range r.Findings {
		for _, fp := range f.CausedBy {
			consequences[fp] = append(consequences[fp], htmlRef{N: i + 1, Anchor: findingAnchor(i + 1), ID: visible(f.ID)})
		}
	}
	sets := map[string]map[string]bool{"sev": {}, "node": {}, "ns": {}, "rule": {}}
	nodeFindings := map[string]int{}
	for i, f := range r.Findings {
		hf := &htmlFinding{
			N: i + 1, Anchor: findingAnchor(i + 1), Severity: visible(string(f.Severity)),
			ID: visible(f.ID), Title: visible(f.Title), Stage: finding.StageOf(f.ID).String(),
			Subject: visible(f.Subject.String()), Namespace: visible(f.Subject.Namespace), Node: visible(findingNode(f)),
			Root: r.Summary.RootCause != "" && f.Fingerprint == r.Summary.RootCause,
		}
		for _, fp := range f.CausedBy {
			if n, ok := index[fp]; ok {
				hf.Causes = append(hf.Causes, htmlRef{N: n, Anchor: findingAnchor(n), ID: visible(r.Findings[n-1].ID)})
			}
		}
		hf.Consequences = consequences[f.Fingerprint]
		for _, p := range strings.Split(strings.TrimSpace(f.Message), "\n") {
			if p = strings.TrimSpace(p); p != "" {
				hf.Message = append(hf.Message, visible(p))
			}
		}
		for _, e := range f.Evidence {
			hf.Evidence = append(hf.Evidence, htmlEvidence{Location: visible(e.Location()), Excerpt: visible(e.Excerpt)})
		}
		if rem := strings.TrimRight(f.Remediation, "\n"); rem != "" {
			for _, l := range strings.Split(rem, "\n") {
				hf.Remediation = append(hf.Remediation, htmlLine{Text: visible(l), Comment: strings.HasPrefix(strings.TrimSpace(l), "#")})
			}
		}
		if hf.Root {
			v.Root = hf
		}
		sets["sev"][string(f.Severity)] = true
		sets["rule"][hf.ID] = true
		if hf.Node != "" {
			sets["node"][hf.Node] = true
			nodeFindings[findingNode(f)]++
		}
		if hf.Namespace != "" {
			sets["ns"][hf.Namespace] = true
		}
		v.Findings = append(v.Findings, hf)
	}
	for _, s := range []finding.Severity{finding.Critical, finding.Warning, finding.Info} {
		if sets["sev"][string(s)] {
			v.Filters.Severities = append(v.Filters.Severities, string(s))
		}
	}
	v.Filters.Nodes, v.Filters.Namespaces, v.Filters.Rules = sortedKeys(sets["node"]), sortedKeys(sets["ns"]), sortedKeys(sets["rule"])

	switch {
	case v.Root != nil:
		v.Tone = v.Root.Severity
	case len(r.Findings) > 0:
		v.Tone = visible(string(r.Findings[0].Severity))
	case v.Counts.Skipped+v.Counts.Errors > 0:
		v.Tone = "partial"
	default:
		v.Tone = "ok"
	}

	v.Cluster = htmlCluster{
		KubernetesVersion: visible(r.Cluster.KubernetesVersion), Pods: r.Cluster.Pods, Services: r.Cluster.Services,
		CNI:   assumption(r.Assumptions.CNI.Name, r.Assumptions.CNI.Detail, r.Assumptions.CNI.Why),
		Proxy: assumption(r.Assumptions.ProxyMode.Name, r.Assumptions.ProxyMode.Detail, r.Assumptions.ProxyMode.Why),
	}
	for _, n := range r.Cluster.Nodes {
		tone := "warning"
		switch n.Ready {
		case "True":
			tone = "ok"
		case "False":
			tone = "critical"
		}
		v.Cluster.Nodes = append(v.Cluster.Nodes, htmlNode{Name: visible(n.Name), Ready: visible(n.Ready), ReadyTone: tone,
			InternalIP: visible(n.InternalIP), PodCIDR: visible(n.PodCIDR), Captures: n.Captures, Findings: nodeFindings[n.Name],
			Dataplane: htmlDataplaneOf(n.Dataplane)})
	}

	for _, o := range r.Rules {
		ho := htmlOutcome{ID: visible(o.ID), Title: visible(o.Title), Status: visible(string(o.Status)), Findings: o.Findings,
			Error: visible(firstLine(o.Error))}
		for _, m := range o.Missing {
			ho.Missing = append(ho.Missing, visible(m))
		}
		v.Outcomes = append(v.Outcomes, ho)
		switch o.Status {
		case rules.Skipped:
			v.Lacked.Skipped = append(v.Lacked.Skipped, ho)
		case rules.Error:
			v.Lacked.Errored = append(v.Lacked.Errored, ho)
		}
	}
	for _, n := range noteLines(r) {
		v.Lacked.Notes = append(v.Lacked.Notes, htmlFact{Label: visible(n.ID), Value: visible(n.Text)})
	}
	for _, c := range r.FailedCommands {
		hc := htmlCommand{Command: visible(c.Command), Node: visible(c.Node), Path: visible(c.Path), State: fmt.Sprintf("exit %d", c.ExitCode)}
		if c.TimedOut {
			hc.State = fmt.Sprintf("timed out after %s", durationMS(c.DurationMS))
		}
		hc.Stderr = tailLines(c.Stderr, 3)
		v.Lacked.FailedCommands = append(v.Lacked.FailedCommands, hc)
	}
	for _, w := range r.Warnings {
		v.Lacked.Warnings = append(v.Lacked.Warnings, visible(w.String()))
	}

	for i, t := range traces {
		v.Traces = append(v.Traces, traceView(i+1, t))
	}
	return v
}

func bundleFacts(r *Report) []htmlFact {
	var facts []htmlFact
	add := func(label, value string) {
		if value != "" {
			facts = append(facts, htmlFact{Label: label, Value: visible(value)})
		}
	}
	cluster := r.Bundle.Cluster
	if r.Bundle.Context != "" {
		cluster = strings.TrimSpace(cluster + " (context " + r.Bundle.Context + ")")
	}
	add("Cluster", cluster)
	add("Kubernetes", r.Cluster.KubernetesVersion)
	add("Size", fmt.Sprintf("%d nodes, %d pods, %d services", len(r.Cluster.Nodes), r.Cluster.Pods, r.Cluster.Services))
	if r.Bundle.CollectedAt != nil {
		add("Collected", r.Bundle.CollectedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	add("Bundle", strings.Join(r.Bundle.Sources, " + "))
	if r.Bundle.CollectorVersion != "" {
		add("Collector", fmt.Sprintf("%s (bundle format %d)", r.Bundle.CollectorVersion, r.Bundle.FormatVersion))
	}
	add("Analysed by", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	return facts
}

func assumption(name, detail string, why []string) htmlAssumption {
	a := htmlAssumption{Name: visible(name), Detail: visible(detail)}
	if a.Name == "" {
		a.Name = "unknown"
	}
	for _, w := range why {
		a.Why = append(a.Why, visible(w))
	}
	return a
}

func traceView(n int, t Trace) htmlTrace {
	failing := t.FailingHop()
	ht := htmlTrace{
		N: n, Anchor: fmt.Sprintf("t%d", n),
		Title:   visible(fmt.Sprintf("%s → %s", orDash(t.From), orDash(t.To))),
		Verdict: visible(orDash(t.Verdict)),
		Failed:  failing >= 0 || traceLost(t.Verdict),
		Diagram: layoutTrace(t),
	}
	ht.Facts = append(ht.Facts, htmlFact{Label: "Protocol", Value: visible(orDash(t.Protocol))})
	if len(t.DNAT) > 0 {
		ht.Facts = append(ht.Facts, htmlFact{Label: "DNAT candidates", Value: visible(strings.Join(t.DNAT, ", "))})
	}
	if t.Masquerade {
		ht.Facts = append(ht.Facts, htmlFact{Label: "Masquerade", Value: "yes"})
	}
	if failing >= 0 {
		h := t.Hops[failing]
		ht.Facts = append(ht.Facts, htmlFact{Label: "Failed at", Value: visible(fmt.Sprintf("hop %d: %s on %s", failing+1, h.Stage, orDash(h.Node)))})
	}
	for i, h := range t.Hops {
		hh := htmlHop{N: i + 1, Node: visible(h.Node), Stage: visible(h.Stage), Verdict: visible(h.Verdict), Note: visible(h.Note),
			Failed: i == failing, Unknown: strings.EqualFold(h.Verdict, "unknown")}
		if hh.Unknown {
			ht.Unknowns++
		}
		if h.Rule != nil {
			hh.Location, hh.Rule = visible(h.Rule.Location()), visible(h.Rule.Text)
		}
		ht.Hops = append(ht.Hops, hh)
	}
	return ht
}

func htmlDataplaneOf(d *Dataplane) *htmlDataplane {
	if d == nil {
		return nil
	}
	return &htmlDataplane{
		Tables: visible(tablesText(d)), IPVS: visible(ipvsText(d)), Routes: visible(routesText(d)),
		Drops: evidenceOf(countedEvidence(d.Drops)), Sysctls: evidenceOf(d.Sysctls),
	}
}

func evidenceOf(ev []finding.Evidence) []htmlEvidence {
	var out []htmlEvidence
	for _, e := range ev {
		out = append(out, htmlEvidence{Location: visible(e.Location()), Excerpt: visible(e.Excerpt)})
	}
	return out
}

// findingNode is the node a finding is about, for the node filter.
func findingNode(f finding.Finding) string {
	if f.Subject.Node != "" {
		return f.Subject.Node
	}
	if f.Subject.Kind == "Node" {
		return f.Subject.Name
	}
	return ""
}

func findingAnchor(n int) string { return fmt.Sprintf("f%d", n) }

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tailLines(s string, n int) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			out = append(out, visible(l))
		}
	}
	if len(out) > n {
		out = append([]string{"…"}, out[len(out)-n:]...)
	}
	return out
}

func durationMS(ms int64) string {
	if ms%1000 == 0 {
		return fmt.Sprintf("%ds", ms/1000)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// visible shows characters that would otherwise act unseen as escapes: NUL and other control
// characters, bidirectional overrides (U+202E can make "gpj.exe" read "exe.jpg"), zero-width
// and other format characters, and invalid UTF-8. Newlines and tabs stay: messages, excerpts and
// remediation keep their shape. html/template then escapes the result for its context.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if hiddenRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case hiddenRune(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case hiddenRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func hiddenRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r == utf8.RuneError:
		return true
	case unicode.IsControl(r):
		return true
	case unicode.Is(unicode.Cf, r): // format: bidi controls, zero-width characters, BOM
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}
