package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/internal/golden"
)

// demoReport runs the whole pipeline on the demo bundle, as `netsift analyze` does.
func demoReport(t *testing.T) *Report {
	t.Helper()
	m, res, err := analyze.Run(context.Background(), []string{"../fixtures/demo.tgz"}, bundle.Options{}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := Build(m.Bundle, m, res, "test")
	// The path depends on where the test runs from; the page shows it as given.
	r.Bundle.Sources = []string{"fixtures/demo.tgz"}
	return r
}

func renderPage(t *testing.T, r *Report, traces []Trace) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := renderHTML(&buf, r, traces); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHTMLDemoGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := HTML(&buf, demoReport(t)); err != nil {
		t.Fatal(err)
	}
	golden.Bytes(t, "testdata/html/demo.golden.html", buf.Bytes())
}

// hostile is what a customer's bundle may hold in any string: markup, a script, an event
// handler, a script URL, a style end tag, template syntax, a right-to-left override and NUL.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>` +
	"javascript:alert(1)</style>{{.Title}}\u202Egnp.exe\x00end"

func hostileReport() *Report {
	h := func(s string) string { return s + " " + hostile }
	collected := time.Date(2026, 11, 20, 10, 15, 0, 0, time.UTC)
	subject := finding.Subject{Kind: "Pod", Namespace: h("ns"), Name: h("pod"), Node: h("node")}
	root := finding.Finding{
		ID: "pod.duplicate-ip", Severity: finding.Critical, Title: h("title"), Subject: subject,
		Message:     h("message with label app=") + "\nsecond paragraph " + hostile,
		Evidence:    []finding.Evidence{{File: h("nodes/x/iptables-save.txt"), Line: 7, Excerpt: `-A KUBE-SVC -m comment --comment "` + hostile + `" -j DROP`}},
		Remediation: "# " + hostile + "\nkubectl get pod '" + hostile + "'",
		Fingerprint: "aaaa",
	}
	child := root
	child.ID, child.Severity, child.Fingerprint, child.CausedBy = "svc.no-endpoints", finding.Warning, "bbbb", []string{"aaaa"}
	r := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "netsift", Version: "test"},
		Bundle:        BundleInfo{Sources: []string{h("bundle.tgz")}, Cluster: h("cluster"), Context: h("ctx"), CollectedAt: &collected},
		Cluster: Cluster{KubernetesVersion: h("v1"), Pods: 1, Services: 1, Nodes: []NodeInfo{
			{Name: h("node"), Ready: h("True"), InternalIP: h("10.0.0.1"), PodCIDR: h("10.244.0.0/24"), Captures: 3},
		}},
		Assumptions: Assumptions{
			CNI:       model.Detection{Name: h("flannel"), Detail: h("vxlan"), Why: []string{h("DaemonSet")}},
			ProxyMode: model.Detection{Name: h("iptables"), Why: []string{h("ConfigMap")}},
		},
		Findings: []finding.Finding{root, child},
		Rules: []rules.Outcome{
			{ID: "pod.duplicate-ip", Title: h("rule"), Status: rules.Fail, Findings: 1, Notes: []string{h("note")}},
			{ID: h("rule.skipped"), Title: h("rule"), Status: rules.Skipped, Missing: []string{h("nodes/*/ipvsadm.txt")}},
			{ID: h("rule.error"), Title: h("rule"), Status: rules.Error, Error: h("panic")},
		},
		Warnings: []finding.InputWarning{{File: h("file"), Line: 3, Message: h("warning")}},
		FailedCommands: []bundle.CommandRecord{
			{ID: "x", Node: h("node"), Command: h("iptables-save -c"), ExitCode: 1, Stderr: h("stderr")},
		},
	}
	r.Summary = summarize(r)
	return r
}

func hostileTrace() Trace {
	h := func(s string) string { return s + " " + hostile }
	failed := 1
	return Trace{
		From: h("ns/pod"), To: h("svc/ns/name:53"), Protocol: "udp", Verdict: "dropped",
		DNAT: []string{h("10.244.1.5:53")}, Masquerade: true, FailedAt: &failed,
		Hops: []TraceHop{
			{Node: h("node"), Stage: "nat PREROUTING", Verdict: "dnat", Rule: &TraceRule{File: h("iptables-save.txt"), Line: 4, Text: h("-A KUBE-SVC")}},
			{Node: h("node"), Stage: "filter FORWARD", Verdict: "dropped", Rule: &TraceRule{File: "nodes/a/iptables-save.txt", Line: 9, Text: h("-A FORWARD -j DROP")}, Note: h("note")},
		},
	}
}

// walk calls fn for every node of the parsed page.
func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func parsePage(t *testing.T, page []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// checkInert asserts the page can run only our script and load nothing: exactly one script and
// one style element, both ours; no element that loads or embeds; no event handler, style
// attribute or URL other than an anchor in the page.
func checkInert(t *testing.T, page []byte) {
	t.Helper()
	doc := parsePage(t, page)
	var scripts, styles []string
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script":
			scripts = append(scripts, textOf(n))
		case "style":
			styles = append(styles, textOf(n))
		case "img", "iframe", "frame", "object", "embed", "link", "base", "image", "use", "foreignobject", "video", "audio", "source":
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			switch {
			case strings.HasPrefix(key, "on"):
				t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
			case key == "style":
				t.Errorf("<%s> has a style attribute (the CSP blocks it)", n.Data)
			case key == "href" || key == "src" || key == "action" || key == "formaction" || key == "srcset" || key == "poster" || key == "data" && n.Data == "object":
				if !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q> points outside the page", n.Data, a.Key, a.Val)
				}
			}
		}
	})
	if len(scripts) != 1 || scripts[0] != htmlJS {
		t.Errorf("want exactly our one script, got %d script elements", len(scripts))
	}
	if len(styles) != 1 || styles[0] != htmlCSS {
		t.Errorf("want exactly our one style block, got %d style elements", len(styles))
	}
	if n := bytes.Count(bytes.ToLower(page), []byte("<script")); n != 1 {
		t.Errorf("raw page has %d <script, want 1", n)
	}
}

func TestHTMLHostileInputIsInert(t *testing.T) {
	page := renderPage(t, hostileReport(), []Trace{hostileTrace()})
	checkInert(t, page)

	raw := string(page)
	for _, bad := range []string{"<img", "\u202e", "\x00", `href="javascript`, "</style>{{"} {
		if strings.Contains(strings.ToLower(raw), bad) {
			t.Errorf("raw page contains %q", bad)
		}
	}
	// Rendered as text, visibly: the markup as characters, the invisible characters as escapes.
	text := textOf(parsePage(t, page))
	for _, want := range []string{"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "javascript:alert(1)</style>{{.Title}}", `\u202egnp.exe\x00end`} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	// Every section had hostile values to show; each must still be there.
	for _, want := range []string{"Caused by #1", "rule.skipped", "Partly checked", "Collection commands that failed", "Input warnings", "Rules that failed to run", "Traces"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q", want)
		}
	}
}

func TestHTMLCSPAllowsExactlyTheInlineBlocks(t *testing.T) {
	for name, page := range map[string][]byte{
		"demo":    renderPage(t, demoReport(t), nil),
		"hostile": renderPage(t, hostileReport(), []Trace{hostileTrace()}),
	} {
		t.Run(name, func(t *testing.T) {
			doc := parsePage(t, page)
			var csp string
			var metas int
			hashes := map[string][]string{}
			walk(doc, func(n *html.Node) {
				if n.Type != html.ElementNode {
					return
				}
				switch n.Data {
				case "meta":
					if attr(n, "http-equiv") == "Content-Security-Policy" {
						metas++
						csp = attr(n, "content")
					}
				case "script", "style":
					sum := sha256.Sum256([]byte(textOf(n)))
					hashes[n.Data] = append(hashes[n.Data], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
				}
			})
			if metas != 1 {
				t.Fatalf("want one CSP meta tag, got %d", metas)
			}
			directives := map[string]string{}
			for _, d := range strings.Split(csp, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
				directives[name] = strings.TrimSpace(value)
			}
			want := map[string]string{
				"default-src": "'none'",
				"style-src":   strings.Join(hashes["style"], " "),
				"script-src":  strings.Join(hashes["script"], " "),
				"img-src":     "data:",
				"base-uri":    "'none'",
				"form-action": "'none'",
			}
			for k, v := range want {
				if directives[k] != v {
					t.Errorf("CSP %s = %q, want %q", k, directives[k], v)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP allows unsafe sources: %s", csp)
			}
		})
	}
}

func TestHTMLNoRemoteURL(t *testing.T) {
	trace := Trace{From: "kube-system/coredns-1", To: "svc/default/kubernetes:443", Protocol: "tcp", Verdict: "delivered",
		Hops: []TraceHop{{Node: "cp-1", Stage: "nat OUTPUT", Verdict: "dnat", Rule: &TraceRule{File: "nodes/cp-1/iptables-save.txt", Line: 12, Text: "-A KUBE-SERVICES -j KUBE-SVC-NPX46M4PTMTKRN6Y"}}}}
	page := renderPage(t, demoReport(t), []Trace{trace})
	checkInert(t, page)
	lower := bytes.ToLower(page)
	for _, scheme := range []string{"http://", "https://", "//cdn", "url(http", "@import", "@font-face"} {
		if i := bytes.Index(lower, []byte(scheme)); i >= 0 {
			t.Errorf("page contains %q near %q", scheme, page[max(0, i-40):min(len(page), i+40)])
		}
	}
}

func TestTraceSVG(t *testing.T) {
	failed := 2
	tr := Trace{
		From: "shop/web-1", To: "svc/kube-system/kube-dns:53", Protocol: "udp", Verdict: "dropped",
		DNAT: []string{"10.244.2.7:53"}, FailedAt: &failed,
		Hops: []TraceHop{
			{Node: "worker-1", Stage: "nat PREROUTING", Verdict: "dnat", Rule: &TraceRule{File: "nodes/worker-1/iptables-save.txt", Line: 40, Text: "-A KUBE-SVC-TCOU7JCQXEZGVUNU -j KUBE-SEP-X"}},
			{Node: "worker-1", Stage: "routing", Verdict: "forward", Note: "10.244.2.0/24 via 192.168.56.12"},
			{Node: "worker-2", Stage: "filter FORWARD", Verdict: "dropped", Rule: &TraceRule{File: "nodes/worker-2/iptables-save.txt", Line: 88, Text: `-A FORWARD -m comment --comment "<b>block</b>" -j DROP`}},
			{Node: "worker-2", Stage: "netpol ingress", Verdict: "unknown", Note: "policy uses a named port the simulator cannot resolve"},
		},
	}
	if got := tr.FailingHop(); got != 2 {
		t.Errorf("FailingHop = %d, want 2", got)
	}
	tr2 := tr
	tr2.FailedAt = nil
	if got := tr2.FailingHop(); got != 2 {
		t.Errorf("FailingHop without failed_at = %d, want 2 (the first dropped hop)", got)
	}

	var buf bytes.Buffer
	if err := TraceSVG(&buf, tr); err != nil {
		t.Fatal(err)
	}
	doc := parsePage(t, buf.Bytes())
	var rects []*html.Node
	var svgs int
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "svg" {
			svgs++
		}
		if n.Type == html.ElementNode && n.Data == "rect" {
			rects = append(rects, n)
		}
	})
	if svgs != 1 {
		t.Fatalf("want one <svg>, got %d", svgs)
	}
	if want := len(tr.Hops) + 2; len(rects) != want {
		t.Fatalf("want %d boxes (from, each hop, to), got %d", want, len(rects))
	}
	for i, r := range rects {
		stroke := attr(r, "stroke")
		hop := i - 1
		switch {
		case hop == failed:
			if stroke != svgFailed.Stroke || attr(r, "stroke-width") != "3" {
				t.Errorf("failing hop box: stroke %q width %q, want red and thick", stroke, attr(r, "stroke-width"))
			}
		case hop == 3:
			if stroke != svgUnknown.Stroke || attr(r, "stroke-dasharray") == "" {
				t.Errorf("unknown hop box: stroke %q, want amber and dashed", stroke)
			}
		case i == len(rects)-1:
			if stroke != svgFailed.Stroke {
				t.Errorf("destination of a dropped packet: stroke %q, want red", stroke)
			}
		default:
			if stroke == svgFailed.Stroke {
				t.Errorf("box %d is red but the packet did not fail there", i)
			}
		}
	}
	text := textOf(doc)
	for _, want := range []string{
		"3. worker-2", "✗ filter FORWARD · dropped", "nodes/worker-2/iptables-save.txt:88",
		`“-A FORWARD -m comment --comment "<b>block</b>" -j DROP”`, "DNAT to 10.244.2.7:53", "from shop/web-1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diagram text lacks %q", want)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("<b>")) {
		t.Error("rule text was not escaped")
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain name-1":         "plain name-1",
		"two\nlines\tand tab":  "two\nlines\tand tab",
		"gnp\u202e.exe":        `gnp\u202e.exe`,
		"nul\x00":              `nul\x00`,
		"zero\u200bwidth":      `zero\u200bwidth`,
		"bad \xff utf8":        `bad \xff utf8`,
		"isolate\u2066x\u2069": `isolate\u2066x\u2069`,
		"ünïcödé ok":           "ünïcödé ok",
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownHasClusterAndLackedSections(t *testing.T) {
	var buf bytes.Buffer
	r := hostileReport()
	// Rule IDs come from netsift's registry, not the bundle; the Markdown quotes them as code.
	for i := range r.Rules {
		r.Rules[i].ID = "rule.id"
	}
	if err := Markdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"## Cluster at a glance", "**CNI assumed:**", "**Proxy mode assumed:**", "| node | Ready | InternalIP | podCIDR | captures |",
		"## What the bundle lacked", "**Rules skipped, inputs missing:**", "**Partly checked:**", "**Collection commands that failed:**", "**Input warnings**"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Outside code fences (whose content is shown literally) no markup may pass through.
	fenced := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && (strings.Contains(l, "<script") || strings.Contains(l, "<img")) {
			t.Errorf("Markdown carries raw markup from the bundle: %s", l)
		}
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
