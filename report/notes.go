package report

import (
	"fmt"
	"strings"
)

// noteLine is one line of "Partly checked": a rule and what it could not check.
type noteLine struct {
	ID, Text string
}

// noteLines are the rules' notes, the same note about many nodes folded into one line that
// names them: a 2,000-node bundle with 50 captured nodes would otherwise print the same
// "not checked: nodes/X/… (not in the bundle)" 1,950 times.
func noteLines(r *Report) []noteLine {
	type group struct {
		id, text string // text with the node's name as <node>
		nodes    []string
		original string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, o := range r.Rules {
		for _, n := range o.Notes {
			text, node := n, ""
			if rest, ok := strings.CutPrefix(n, "node "); ok {
				if end := strings.IndexAny(rest, ": "); end > 0 {
					node = rest[:end]
					text = "node <node>" + strings.ReplaceAll(rest[end:], "nodes/"+node+"/", "nodes/<node>/")
				}
			}
			key := o.ID + "\x00" + text
			g := byKey[key]
			if g == nil || node == "" {
				g = &group{id: o.ID, text: text, original: n}
				groups = append(groups, g)
				if node != "" {
					byKey[key] = g
				}
			}
			if node != "" {
				g.nodes = append(g.nodes, node)
			}
		}
	}
	out := make([]noteLine, 0, len(groups))
	for _, g := range groups {
		if len(g.nodes) <= 1 {
			out = append(out, noteLine{g.id, g.original})
			continue
		}
		shown := g.nodes
		more := ""
		if len(shown) > 5 {
			shown, more = shown[:5], fmt.Sprintf(" and %d more", len(g.nodes)-5)
		}
		who := fmt.Sprintf("%d nodes (%s%s)", len(g.nodes), strings.Join(shown, ", "), more)
		out = append(out, noteLine{g.id, strings.Replace(g.text, "node <node>", who, 1)})
	}
	return out
}
