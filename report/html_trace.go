package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"unicode/utf8"
)

// Trace is one simulated packet path, in the shape DESIGN.md gives the trace result. The report
// will carry the traces the analysis ran (DNS from every node, the API path) in Report.Traces.
type Trace struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Protocol string `json:"protocol"`
	// Verdict is delivered, dropped, rejected, no-route or unknown.
	Verdict string     `json:"verdict"`
	Hops    []TraceHop `json:"hops"`
	// DNAT lists the candidate IP:port destinations a Service rule could rewrite the packet to.
	DNAT       []string `json:"dnat,omitempty"`
	Masquerade bool     `json:"masquerade,omitempty"`
	// FailedAt is the index in Hops of the hop where the packet was lost; nil when it was not.
	FailedAt *int `json:"failed_at,omitempty"`
}

// TraceHop is one step of the path: where the packet was, what decided its fate there, and why.
type TraceHop struct {
	Node    string `json:"node,omitempty"`
	Stage   string `json:"stage"`
	Verdict string `json:"verdict"`
	// Rule is the captured rule (iptables line, route, policy) that matched, quoted as it stands.
	Rule *TraceRule `json:"rule,omitempty"`
	Note string     `json:"note,omitempty"`
}

// TraceRule points at the captured line that decided a hop.
type TraceRule struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Text string `json:"text"`
}

// Location is file:line, as evidence is quoted elsewhere in the report.
func (r TraceRule) Location() string {
	if r.Line == 0 {
		return r.File
	}
	return fmt.Sprintf("%s:%d", r.File, r.Line)
}

// FailingHop returns the index of the hop where the packet was lost, or -1. FailedAt wins when
// it points at a hop; otherwise it is the first hop that dropped, rejected or found no route.
func (t Trace) FailingHop() int {
	if t.FailedAt != nil && *t.FailedAt >= 0 && *t.FailedAt < len(t.Hops) {
		return *t.FailedAt
	}
	for i, h := range t.Hops {
		if traceLost(h.Verdict) {
			return i
		}
	}
	return -1
}

func traceLost(verdict string) bool {
	switch strings.ToLower(verdict) {
	case "dropped", "drop", "rejected", "reject", "no-route":
		return true
	}
	return false
}

// reportTraces is where the page reads the report's traces from. Until Report gains its Traces
// field it has none; then this returns r.Traces.
func reportTraces(r *Report) []Trace { return r.Traces }

// The diagram is drawn in a fixed coordinate space and scaled by the browser (viewBox), so it
// fits 800px and 1280px windows alike. Colours are SVG attributes, not CSS, so the drawing is
// complete on its own (and in print).
const (
	svgWidth     = 880
	svgBoxX      = 8
	svgBoxW      = 300
	svgBoxH      = 58
	svgGap       = 26
	svgTextX     = svgBoxX + svgBoxW + 22
	svgBoxChars  = 38 // characters that fit a box line
	svgRuleChars = 66 // monospace characters that fit the rule column
)

type svgColours struct{ Fill, Stroke, Text string }

var (
	svgPlain   = svgColours{"#ffffff", "#5f6368", "#1f1f1f"}
	svgEnd     = svgColours{"#eef2f7", "#44546a", "#1f1f1f"}
	svgFailed  = svgColours{"#fde7e9", "#b3261e", "#8c1d18"}
	svgUnknown = svgColours{"#fff4d6", "#8a5300", "#6b4000"}
	svgOK      = svgColours{"#e6f4ea", "#1e7a34", "#17612a"}
)

// traceDiagram is the laid-out drawing: every coordinate computed, every string already made
// visible and cut to fit; the template only places them.
type traceDiagram struct {
	Label  string
	Width  int
	Height int
	Boxes  []traceBox
	Arrows []traceArrow
}

type traceBox struct {
	X, Y, W, H   int
	TextX        int
	Line1Y       int
	Line2Y       int
	Line1, Line2 string
	Colours      svgColours
	StrokeWidth  int
	Dashed       bool
	Failed       bool
	// Tooltip holds the full, uncut text.
	Tooltip string
	// The quoted rule beside the box.
	Location string
	Rule     string
	Note     string
	SideX    int
	LocY     int
	RuleY    int
	NoteY    int
}

type traceArrow struct {
	X, Y1, Y2 int
	Head      string // polygon points
	Stroke    string
}

// layoutTrace places the from box, one box per hop, and the to box in one column, with the rule
// that decided each hop quoted to its right.
func layoutTrace(t Trace) traceDiagram {
	failing := t.FailingHop()
	d := traceDiagram{Width: svgWidth}
	d.Label = visible(fmt.Sprintf("Packet path from %s to %s (%s): %s", t.From, t.To, orDash(t.Protocol), orDash(t.Verdict)))
	y := 4
	add := func(b traceBox) {
		if len(d.Boxes) > 0 {
			prev := d.Boxes[len(d.Boxes)-1]
			stroke := "#5f6368"
			if prev.Failed {
				stroke = svgFailed.Stroke
			}
			x := svgBoxX + svgBoxW/2
			y1, y2 := prev.Y+prev.H, y-1
			d.Arrows = append(d.Arrows, traceArrow{X: x, Y1: y1, Y2: y2 - 6, Stroke: stroke,
				Head: fmt.Sprintf("%d,%d %d,%d %d,%d", x-5, y2-7, x+5, y2-7, x, y2)})
		}
		b.X, b.Y, b.W, b.H = svgBoxX, y, svgBoxW, svgBoxH
		b.TextX = svgBoxX + 12
		b.Line1Y, b.Line2Y = y+24, y+45
		b.SideX = svgTextX
		b.LocY, b.RuleY, b.NoteY = y+16, y+34, y+51
		if b.StrokeWidth == 0 {
			b.StrokeWidth = 1
		}
		d.Boxes = append(d.Boxes, b)
		y += svgBoxH + svgGap
	}
	add(traceBox{Line1: cut("from "+visible(t.From), svgBoxChars), Line2: cut(visible(orDash(t.Protocol)), svgBoxChars),
		Colours: svgEnd, Tooltip: visible("from " + t.From)})
	for i, h := range t.Hops {
		b := traceBox{Colours: svgPlain}
		head := fmt.Sprintf("%d. %s", i+1, visible(orDash(h.Node)))
		b.Line1 = cut(head, svgBoxChars)
		b.Line2 = cut(visible(h.Stage)+" · "+visible(orDash(h.Verdict)), svgBoxChars)
		switch {
		case i == failing:
			b.Colours, b.StrokeWidth, b.Failed = svgFailed, 3, true
			b.Line2 = cut("✗ "+visible(h.Stage)+" · "+visible(orDash(h.Verdict)), svgBoxChars)
		case strings.EqualFold(h.Verdict, "unknown"):
			b.Colours, b.Dashed = svgUnknown, true
			b.Line2 = cut("? "+visible(h.Stage)+" · unknown", svgBoxChars)
		}
		tip := []string{head, visible(h.Stage) + " · " + visible(orDash(h.Verdict))}
		if h.Rule != nil {
			b.Location = cut(visible(h.Rule.Location()), svgRuleChars)
			b.Rule = cut(quoteRule(visible(h.Rule.Text)), svgRuleChars)
			tip = append(tip, visible(h.Rule.Location())+": "+visible(h.Rule.Text))
		}
		if h.Note != "" {
			b.Note = cut(visible(h.Note), svgRuleChars+12)
			tip = append(tip, visible(h.Note))
		}
		b.Tooltip = strings.Join(tip, "\n")
		add(b)
	}
	end := traceBox{Colours: svgEnd, Tooltip: visible("to " + t.To)}
	end.Line1 = cut("to "+visible(t.To), svgBoxChars)
	end.Line2 = cut("verdict: "+visible(orDash(t.Verdict)), svgBoxChars)
	switch {
	case strings.EqualFold(t.Verdict, "delivered"):
		end.Colours = svgOK
	case traceLost(t.Verdict) || failing >= 0:
		end.Colours = svgFailed
	case strings.EqualFold(t.Verdict, "unknown"):
		end.Colours, end.Dashed = svgUnknown, true
	}
	var extra []string
	if len(t.DNAT) > 0 {
		extra = append(extra, "DNAT to "+visible(strings.Join(t.DNAT, ", ")))
	}
	if t.Masquerade {
		extra = append(extra, "masqueraded")
	}
	end.Note = cut(strings.Join(extra, "; "), svgRuleChars+12)
	add(end)
	d.Height = y - svgGap + 4
	return d
}

// quoteRule puts the rule text between quotation marks, as the page quotes captured lines.
func quoteRule(s string) string { return "“" + s + "”" }

// cut shortens s to n characters, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

const traceSVGTemplate = `{{define "trace-svg"}}<svg class="trace-svg" role="img" aria-label="{{.Label}}" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}" preserveAspectRatio="xMinYMin meet" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="14">
{{- range .Arrows}}
<line x1="{{.X}}" y1="{{.Y1}}" x2="{{.X}}" y2="{{.Y2}}" stroke="{{.Stroke}}" stroke-width="2"/><polygon points="{{.Head}}" fill="{{.Stroke}}"/>
{{- end}}
{{- range .Boxes}}
<g class="hop{{if .Failed}} hop-failed{{end}}"><title>{{.Tooltip}}</title>
<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" rx="6" fill="{{.Colours.Fill}}" stroke="{{.Colours.Stroke}}" stroke-width="{{.StrokeWidth}}"{{if .Dashed}} stroke-dasharray="6 4"{{end}}/>
<text x="{{.TextX}}" y="{{.Line1Y}}" fill="{{.Colours.Text}}" font-weight="600">{{.Line1}}</text>
<text x="{{.TextX}}" y="{{.Line2Y}}" fill="{{.Colours.Text}}">{{.Line2}}</text>
{{- if .Location}}
<text x="{{.SideX}}" y="{{.LocY}}" fill="#5f6368" font-size="12">{{.Location}}</text>
{{- end}}
{{- if .Rule}}
<text x="{{.SideX}}" y="{{.RuleY}}" fill="{{if .Failed}}{{.Colours.Text}}{{else}}#1f1f1f{{end}}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="13">{{.Rule}}</text>
{{- end}}
{{- if .Note}}
<text x="{{.SideX}}" y="{{if .Rule}}{{.NoteY}}{{else}}{{.RuleY}}{{end}}" fill="#3c4043" font-size="12" font-style="italic">{{.Note}}</text>
{{- end}}
</g>
{{- end}}
</svg>{{end}}`

// traceSVG is parsed on its own so the diagram can be rendered (and tested) without the page.
var traceSVG = template.Must(template.New("trace-svg").Parse(traceSVGTemplate))

// TraceSVG writes one trace as a standalone inline SVG diagram: a box per hop, the failing hop
// in red, the captured rule that decided each hop quoted beside it.
func TraceSVG(w io.Writer, t Trace) error {
	return traceSVG.ExecuteTemplate(w, "trace-svg", layoutTrace(t))
}
