package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

type policyOptions struct {
	source   string
	from, to string
	output   string

	fromSel, toSel policy.Selector
}

var policyFormats = []string{"text", "json", "csv"}

func newPolicyCommand(s Streams) *cobra.Command {
	o := &policyOptions{}
	cmd := &cobra.Command{
		Use:   "policy BUNDLE [--from SEL] [--to SEL]",
		Short: "List who may talk to whom under the bundle's NetworkPolicies",
		Long: `Lists, for every ordered pair of pods (and of pods and external IP ranges), the connections
the bundle's NetworkPolicies allow: "All Connections", or ports per protocol such as
"TCP 80,8080-8090; UDP 53". Pairs not listed have no allowed connection.

Pods of a namespace with identical labels are one group, shown as ns/[app=web] (3 pods);
external endpoints are the IP ranges cut by the policies' ipBlocks. hostNetwork pods are node
traffic: policies do not select them, and they appear as the external range of their node IP.

SEL is ns/* (a namespace), ns/pod (one pod), ns:label=value,... (a label selector, kubectl
syntax; ns may be *), external (the IP ranges only), or empty for every pod and range.`,
		Example: `  netsift policy bundle.tgz
  netsift policy bundle.tgz --from 'shop/*' --to 'shop:app=api'
  netsift policy bundle.tgz --to kube-system/coredns-6f6b679f8f-4xkqz -o csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.source = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "sources: ns/*, ns/pod, ns:label=value,..., external (default: all)")
	f.StringVar(&o.to, "to", "", "destinations, as --from (default: all)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(policyFormats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(policyFormats...))
	return cmd
}

func (o *policyOptions) validate() error {
	switch o.output {
	case "text", "json", "csv":
	default:
		return fmt.Errorf("unknown output format %q (want %s)", o.output, strings.Join(policyFormats, ", "))
	}
	var err error
	if o.fromSel, err = policy.ParseSelector(o.from); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	if o.toSel, err = policy.ParseSelector(o.to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	return nil
}

func (o *policyOptions) run(cmd *cobra.Command, s Streams) error {
	m, err := loadWithProgress(cmd, s, o.source)
	if err != nil {
		return err
	}
	// Only the warnings about what the engine reads: the rest belongs to `netsift analyze`.
	read := map[string]bool{}
	for _, kind := range []string{"NetworkPolicy", "Pod", "Namespace"} {
		f, ok := m.Has(kind)
		if !ok {
			fmt.Fprintf(s.Err, "warning: the bundle has no %s data (%s)\n", kind, m.Bundle.Capture(model.KindFile(kind)).Why())
		}
		read[f] = true
	}
	for _, w := range m.Warnings {
		if read[w.File] {
			fmt.Fprintf(s.Err, "warning: %s\n", w)
		}
	}
	e := policy.New(m)
	for _, w := range e.Warnings {
		fmt.Fprintf(s.Err, "warning: %s\n", w)
	}
	c := e.Connectivity(o.fromSel, o.toSel)
	switch o.output {
	case "json":
		return writePolicyJSON(s.Out, c, len(m.NetworkPolicies))
	case "csv":
		if !c.Enforced {
			fmt.Fprintf(s.Err, "note: %s\n", notEnforcedNote(c))
		}
		return writePolicyCSV(s.Out, c)
	}
	return writePolicyText(s.Out, c, len(m.NetworkPolicies))
}

func notEnforcedNote(c *policy.Connectivity) string {
	if c.CNI == "" || c.CNI == "unknown" {
		return "the CNI could not be identified from the bundle, so whether these policies are enforced is unknown"
	}
	return fmt.Sprintf("the CNI (%s) does not enforce NetworkPolicies: this is what the policies allow, while the dataplane lets every connection through", c.CNI)
}

func writePolicyText(w io.Writer, c *policy.Connectivity, policies int) error {
	ew := &policyWriter{w: w}
	ew.printf("%s; %s, %s, %s. Pairs not listed have no allowed connection.\n",
		plural(policies, "NetworkPolicy", "NetworkPolicies"), plural(len(c.Sources), "source", "sources"),
		plural(len(c.Destinations), "destination", "destinations"), plural(len(c.Connections), "allowed pair", "allowed pairs"))
	if !c.Enforced {
		ew.printf("Note: %s.\n", notEnforcedNote(c))
	}
	srcWidth, dstWidth := 0, 0
	for _, conn := range c.Connections {
		srcWidth = max(srcWidth, len(c.Sources[conn.From].Name))
		dstWidth = max(dstWidth, len(c.Destinations[conn.To].Name))
	}
	for i, conn := range c.Connections {
		if i == 0 || conn.From != c.Connections[i-1].From {
			ew.printf("\n")
		}
		ew.printf("%-*s => %-*s : %s\n", srcWidth, c.Sources[conn.From].Name, dstWidth, c.Destinations[conn.To].Name, conn.Allowed)
	}
	return ew.err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// policyWriter keeps the first write error, so a long listing is checked once.
type policyWriter struct {
	w   io.Writer
	err error
}

func (e *policyWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// policyJSON is the stable JSON of `netsift policy`.
type policyJSON struct {
	CNI          string           `json:"cni"`
	Enforced     bool             `json:"enforced"`
	Policies     int              `json:"policies"`
	Sources      []policy.Peer    `json:"sources"`
	Destinations []policy.Peer    `json:"destinations"`
	Connections  []connectionJSON `json:"connections"`
}

type connectionJSON struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Allowed string `json:"allowed"`
	// All is true for "All Connections"; otherwise Ports lists port ranges by protocol.
	All   bool                `json:"all"`
	Ports map[string][]string `json:"ports,omitempty"`
}

func writePolicyJSON(w io.Writer, c *policy.Connectivity, policies int) error {
	out := policyJSON{CNI: c.CNI, Enforced: c.Enforced, Policies: policies,
		Sources: nonNil(c.Sources), Destinations: nonNil(c.Destinations), Connections: []connectionJSON{}}
	for _, conn := range c.Connections {
		j := connectionJSON{From: c.Sources[conn.From].Name, To: c.Destinations[conn.To].Name,
			Allowed: conn.Allowed.String(), All: conn.Allowed.IsAll()}
		for _, proto := range []string{"TCP", "UDP", "SCTP"} {
			for _, r := range conn.Allowed.Ranges(corev1.Protocol(proto)) {
				if j.Ports == nil {
					j.Ports = map[string][]string{}
				}
				p := strconv.Itoa(int(r.Lo))
				if r.Hi != r.Lo {
					p += "-" + strconv.Itoa(int(r.Hi))
				}
				j.Ports[proto] = append(j.Ports[proto], p)
			}
		}
		out.Connections = append(out.Connections, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func nonNil(p []policy.Peer) []policy.Peer {
	if p == nil {
		return []policy.Peer{}
	}
	return p
}

func writePolicyCSV(w io.Writer, c *policy.Connectivity) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"src", "dst", "connections"})
	for _, conn := range c.Connections {
		_ = cw.Write([]string{c.Sources[conn.From].Name, c.Destinations[conn.To].Name, conn.Allowed.String()})
	}
	cw.Flush()
	return cw.Error()
}
