package trace

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
)

// WriteText writes the result as an engineer's notes: the verdict, then one line per hop
// (node, stage, verdict, the rule's file:line and text, a note). With several candidates, the
// hops they share are written once, then each candidate's own.
func WriteText(w io.Writer, r *Result) error {
	fmt.Fprintf(w, "trace %s → %s (%s): %s\n", r.From, r.To, r.Protocol, strings.ToUpper(string(r.Verdict)))
	if r.Error != "" {
		_, err := fmt.Fprintf(w, "  cannot trace: %s\n", r.Error)
		return err
	}
	masq := "no"
	if r.Masquerade {
		masq = "yes"
	}
	if len(r.DNAT) > 0 {
		fmt.Fprintf(w, "  dnat: %s   masquerade: %s\n", strings.Join(r.DNAT, ", "), masq)
	} else {
		fmt.Fprintf(w, "  dnat: none   masquerade: %s\n", masq)
	}
	if r.FailedAt != nil {
		fmt.Fprintf(w, "  fails at: %s\n", hopSummary(*r.FailedAt))
	}
	if len(r.Candidates) == 0 {
		return writeHops(w, r.Hops, "  ")
	}
	shared := len(r.Candidates[0].Hops)
	for _, c := range r.Candidates[1:] {
		shared = min(shared, commonPrefix(r.Candidates[0].Hops, c.Hops))
	}
	if err := writeHops(w, r.Candidates[0].Hops[:shared], "  "); err != nil {
		return err
	}
	for _, c := range r.Candidates {
		fmt.Fprintf(w, "  ── candidate %s: %s\n", c.Destination, strings.ToUpper(string(c.Verdict)))
		if err := writeHops(w, c.Hops[shared:], "     "); err != nil {
			return err
		}
	}
	return nil
}

func commonPrefix(a, b []Hop) int {
	n := 0
	for n < len(a) && n < len(b) && sameHop(a[n], b[n]) {
		n++
	}
	return n
}

func sameHop(a, b Hop) bool {
	if a.Node != b.Node || a.Stage != b.Stage || a.Verdict != b.Verdict || a.Note != b.Note || (a.Rule == nil) != (b.Rule == nil) {
		return false
	}
	return a.Rule == nil || *a.Rule == *b.Rule
}

var counters = regexp.MustCompile(`^\[\d+:\d+\]\s+`)

func hopSummary(h Hop) string {
	s := fmt.Sprintf("%s %s %s", h.Node, h.Stage, h.Verdict)
	if h.Rule != nil {
		s += "  " + h.Rule.Location() + "  " + counters.ReplaceAllString(h.Rule.Text, "")
	}
	if h.Note != "" {
		s += "  — " + h.Note
	}
	return s
}

func writeHops(w io.Writer, hops []Hop, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, h := range hops {
		rule := ""
		if h.Rule != nil {
			rule = h.Rule.Location() + "  " + counters.ReplaceAllString(h.Rule.Text, "")
		}
		note := ""
		if h.Note != "" {
			note = "— " + h.Note
			if rule != "" {
				note = "  " + note
			}
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s%s\n", indent, h.Node, h.Stage, h.Verdict, rule, note)
	}
	return tw.Flush()
}
