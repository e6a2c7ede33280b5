package report

import (
	"github.com/netsift/netsift/analyze/trace"
)

// traceOf turns a trace result into the report's trace: with several DNAT candidates, the path
// shown is the first failing candidate's (the one an engineer must fix), else the first one's.
func traceOf(r *trace.Result) Trace {
	t := Trace{From: r.From, To: r.To, Protocol: r.Protocol, Verdict: string(r.Verdict), DNAT: r.DNAT, Masquerade: r.Masquerade}
	hops, failed := r.Hops, r.FailedAt
	if len(r.Candidates) > 0 {
		pick := r.Candidates[0]
		for _, c := range r.Candidates {
			if c.Verdict != trace.Delivered {
				pick = c
				break
			}
		}
		// Candidates repeat the shared hops before their own; show the candidate's whole path.
		if len(pick.Hops) > 0 {
			hops, failed = pick.Hops, pick.FailedAt
		}
	}
	for i, h := range hops {
		th := TraceHop{Node: h.Node, Stage: h.Stage, Verdict: h.Verdict, Note: h.Note}
		if h.Rule != nil {
			th.Rule = &TraceRule{File: h.Rule.File, Line: h.Rule.Line, Text: h.Rule.Text}
		}
		t.Hops = append(t.Hops, th)
		if failed != nil && t.FailedAt == nil && h.Node == failed.Node && h.Stage == failed.Stage && h.Verdict == failed.Verdict {
			idx := i
			t.FailedAt = &idx
		}
	}
	return t
}
