package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
)

// traceOptions are `netsift trace`'s flags; complete → validate → run.
type traceOptions struct {
	bundle   string
	from, to string
	proto    string
	node     string
	output   string
}

func newTraceCommand(s Streams) *cobra.Command {
	o := &traceOptions{}
	cmd := &cobra.Command{
		Use:   "trace BUNDLE --from SRC --to DST[:PORT]",
		Short: "Follow one packet hop by hop through the captured dataplane and say where it dies",
		Long: `trace simulates a packet from SRC to DST through the bundle's dataplane: NetworkPolicy
egress, each node's netfilter chains (DNAT, masquerade, REJECT, DROP) or IPVS, its routing (ip
rule, tables, longest prefix), the next node, NetworkPolicy ingress, the pod. Every endpoint the
Service rules can pick is traced. Each hop cites the rule, route or sysctl line it rests on; a
rule the simulator cannot evaluate makes the verdict unknown rather than a guess.

SRC and DST are ns/pod, node/NAME or an IP; DST may also be svc/ns/name. DST takes :PORT (a
number, or a Service or container port name). --from 'ns/*' traces from every pod of a
namespace, --from all-nodes from every node, and summarizes which sources fail and why.`,
		Example: `  netsift trace bundle.tgz --from shop/web-7d4b9c-x2x1z --to svc/kube-system/kube-dns:dns
  netsift trace bundle.tgz --from all-nodes --to svc/default/kubernetes:https -o json
  netsift trace bundle.tgz --from 203.0.113.7 --node worker-1 --to 192.168.56.11:30080`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.bundle = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			m, err := loadWithProgress(cmd, s, o.bundle)
			if err != nil {
				return err
			}
			return o.run(s, m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "source: ns/pod, node/NAME, an IP, 'ns/*' or all-nodes")
	f.StringVar(&o.to, "to", "", "destination: ns/pod, node/NAME, svc/ns/name or an IP, with :PORT")
	f.StringVar(&o.proto, "proto", "", "tcp, udp or sctp (default: the Service port's protocol, else tcp)")
	f.StringVar(&o.node, "node", "", "the node where a source IP that is no pod or node of the bundle arrives")
	f.StringVarP(&o.output, "output", "o", "text", "text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("proto", fixedCompletion("tcp", "udp", "sctp"))
	return cmd
}

func (o *traceOptions) validate() error {
	switch {
	case o.from == "":
		return errors.New("--from is required")
	case o.to == "":
		return errors.New("--to is required")
	}
	switch strings.ToLower(o.proto) {
	case "", "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("unknown protocol %q (want tcp, udp or sctp)", o.proto)
	}
	switch o.output {
	case "text", "json":
	default:
		return fmt.Errorf("unknown output format %q (want text or json)", o.output)
	}
	return nil
}

// sources expands --from: 'ns/*' and all-nodes into one source each.
func (o *traceOptions) sources(m *model.Model) ([]string, bool, error) {
	if o.from == "all-nodes" {
		var out []string
		for _, n := range m.NodeNames() {
			out = append(out, "node/"+n)
		}
		if len(out) == 0 {
			return nil, true, errors.New("the bundle has no nodes")
		}
		return out, true, nil
	}
	if ns, ok := strings.CutSuffix(o.from, "/*"); ok && !strings.Contains(ns, "/") {
		var out []string
		for _, p := range m.PodsIn(ns) {
			if len(model.PodIPs(p)) > 0 && p.Spec.NodeName != "" && p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed" {
				out = append(out, model.Key(p.Namespace, p.Name))
			}
		}
		sort.Strings(out)
		if len(out) == 0 {
			return nil, true, fmt.Errorf("namespace %q has no running pod with an IP in the bundle", ns)
		}
		return out, true, nil
	}
	return []string{o.from}, false, nil
}

func (o *traceOptions) run(s Streams, m *model.Model) error {
	srcs, many, err := o.sources(m)
	if err != nil {
		return err
	}
	req := trace.Request{To: o.to, Protocol: strings.ToLower(o.proto), Node: o.node, Policy: trace.DefaultPolicy(m)}
	var results []*trace.Result
	for _, src := range srcs {
		req.From = src
		r := trace.Trace(m, req)
		if r.Error != "" && !many {
			return errors.New(r.Error)
		}
		results = append(results, r)
	}
	if o.output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if !many {
			return enc.Encode(results[0])
		}
		return enc.Encode(struct {
			Summary []summaryLine   `json:"summary"`
			Results []*trace.Result `json:"results"`
		}{summarize(results), results})
	}
	if !many {
		return trace.WriteText(s.Out, results[0])
	}
	return writeSummary(s.Out, results)
}

// summaryLine groups the sources whose traces end the same way (the same rule text on any
// node counts as the same way); At lists where, file:line.
type summaryLine struct {
	Verdict trace.Verdict `json:"verdict"`
	Sources []string      `json:"sources"`
	Why     string        `json:"why,omitempty"`
	At      []string      `json:"at,omitempty"`
}

func summarize(rs []*trace.Result) []summaryLine {
	var out []summaryLine
	idx := map[string]int{}
	for _, r := range rs {
		why, at := r.Error, ""
		if why == "" && r.FailedAt != nil {
			h := *r.FailedAt
			// The same failure on another node is the same way: "the routes of node-7 were not
			// captured" and "…of node-9…" group together, their files listed under At.
			why = h.Stage + " " + h.Verdict
			if h.Rule != nil {
				at = h.Rule.Location()
				why += "  " + strings.TrimSpace(trimCounters(h.Rule.Text))
			}
			if h.Note != "" {
				why += " — " + h.Note
			}
			if h.Node != "" {
				why = strings.ReplaceAll(why, "nodes/"+h.Node+"/", "nodes/<node>/")
			}
			if fs := r.Failing(); len(fs) > 0 && len(fs) < len(r.Candidates) {
				var c []string
				for _, f := range fs {
					c = append(c, f.Destination)
				}
				why = fmt.Sprintf("candidates %s fail: %s", strings.Join(c, ", "), why)
			}
		}
		key := string(r.Verdict) + "\x00" + why
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, summaryLine{Verdict: r.Verdict, Why: why})
		}
		out[i].Sources = append(out[i].Sources, r.From)
		if at != "" && !slices.Contains(out[i].At, at) {
			out[i].At = append(out[i].At, at)
		}
	}
	return out
}

func trimCounters(s string) string {
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "] "); i > 0 {
			return s[i+2:]
		}
	}
	return s
}

func writeSummary(w io.Writer, rs []*trace.Result) error {
	ok := 0
	for _, r := range rs {
		if r.Verdict == trace.Delivered {
			ok++
		}
	}
	fmt.Fprintf(w, "trace → %s from %d sources: %d delivered, %d not\n", rs[0].To, len(rs), ok, len(rs)-ok)
	for _, l := range summarize(rs) {
		fmt.Fprintf(w, "\n%s (%d): %s\n", strings.ToUpper(string(l.Verdict)), len(l.Sources), listMore(l.Sources, 12))
		if l.Why != "" {
			fmt.Fprintf(w, "  %s\n", l.Why)
		}
		if len(l.At) > 0 {
			fmt.Fprintf(w, "  at %s\n", listMore(l.At, 6))
		}
	}
	// One full trace per way of failing (its first source), not one per source: with
	// --from all-nodes that would be thousands of near-identical traces.
	for _, l := range summarize(rs) {
		if l.Verdict == trace.Delivered {
			continue
		}
		for _, r := range rs {
			if r.From == l.Sources[0] {
				fmt.Fprintf(w, "\nexample of %s (%d source(s)):\n", strings.ToUpper(string(l.Verdict)), len(l.Sources))
				if err := trace.WriteText(w, r); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// listMore joins the first n items and says how many more there are.
func listMore(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
