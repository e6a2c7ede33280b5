package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze/diff"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/report"
)

// Exit codes of `netsift diff`, as diff(1) and `git diff --exit-code`: a script asks "did
// anything change?" with the code alone. So an error is 2 here, not the usual 1.
const (
	ExitDiffSame    = 0
	ExitDiffChanged = 1
	ExitDiffError   = 2
)

type diffOptions struct {
	old, new string
	output   string
	only     string
	outFile  string
	color    string
	maxBytes int64
}

func newDiffCommand(s Streams) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Say what changed between two bundles of the same cluster",
		Long: `Compares two bundles of one cluster — an earlier incident (or a time it worked) and now — and
reports, most important first:

  findings    new, resolved and persisting, matched by fingerprint (rule + subject + key)
  objects     Services (ports, selector, type, ClusterIP, traffic policies), endpoints per
              Service port, NetworkPolicies and the connectivity they allow (pod-group pairs
              that gained or lost ports), Nodes, kube-proxy/CoreDNS/CNI pods (matched by owner
              and node) and their ConfigMaps
  dataplane   per node: iptables rules matched by meaning (kube-proxy's hashed chains are read
              as the Service port and endpoint they stand for), chain policies, DROP/REJECT
              counters that grew (per second of the time between the collections), IPVS,
              routes, sysctls, links and conntrack statistics

What changes on its own never counts: resourceVersions, uids, timestamps, pod name suffixes,
chain hashes, ACCEPT counters, list order.

Exit codes: 0 nothing relevant changed; 1 something changed; 2 error.`,
		Example: `  netsift diff last-week.tgz today.tgz
  netsift diff healthy.tgz broken.tgz --only dataplane
  netsift diff a.tgz b.tgz -o html --out diff.html`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return diffFail(s, fmt.Errorf("diff takes two bundles, OLD and NEW (got %d arguments)", len(args)))
			}
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"tgz", "tar.gz", "tar", "tar.zst", "tar.xz", "zip"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.old, o.new = args[0], args[1]
			if err := o.validate(); err != nil {
				return diffFail(s, err)
			}
			return o.run(cmd, s)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return diffFail(s, err) })
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "format: "+strings.Join(outputFormats, ", "))
	f.StringVar(&o.only, "only", "", "compare one part only: "+strings.Join(diff.Sections, ", "))
	f.StringVar(&o.outFile, "out", "", "write the comparison to this file instead of standard output")
	f.StringVar(&o.color, "color", "auto", "colour the text output: auto (on a terminal), always, never")
	f.Int64Var(&o.maxBytes, "max-bytes", 0, "stop reading a bundle after this many uncompressed bytes (default 8 GiB)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outputFormats...))
	_ = cmd.RegisterFlagCompletionFunc("only", fixedCompletion(diff.Sections...))
	_ = cmd.RegisterFlagCompletionFunc("color", fixedCompletion("auto", "always", "never"))
	return cmd
}

// diffFail prints err itself (Main prints nothing for an exitError) and exits with code 2.
func diffFail(s Streams, err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	fmt.Fprintf(s.Err, "netsift: %v\n", err)
	return &exitError{code: ExitDiffError}
}

func (o *diffOptions) validate() error {
	if !contains(outputFormats, o.output) {
		return fmt.Errorf("unknown output format %q (want %s)", o.output, strings.Join(outputFormats, ", "))
	}
	if o.only != "" && !contains(diff.Sections, o.only) {
		return fmt.Errorf("--only: want %s, not %q", strings.Join(diff.Sections, ", "), o.only)
	}
	switch o.color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--color: want auto, always or never, not %q", o.color)
	}
	return nil
}

func (o *diffOptions) run(cmd *cobra.Command, s Streams) error {
	// Findings need the rules run on both bundles; the other sections only the models.
	var ropts *rules.Options
	if o.only == "" || o.only == diff.SectionFindings {
		ropts = &rules.Options{}
	}
	prog := startProgress(s, o.old+" and "+o.new)
	d, err := diff.Run(cmd.Context(), []string{o.old}, []string{o.new}, prog.options(o.maxBytes), ropts)
	prog.done()
	if err != nil {
		return diffFail(s, err)
	}
	d.Only(o.only)

	var w io.Writer = s.Out
	var file *os.File
	if o.outFile != "" {
		if file, err = os.Create(o.outFile); err != nil {
			return diffFail(s, err)
		}
		w = file
	}
	switch o.output {
	case "json":
		err = report.DiffJSON(w, d)
	case "md":
		err = report.DiffMarkdown(w, d)
	case "html":
		err = report.DiffHTML(w, d)
	default:
		color := o.color == "always" || (o.color == "auto" && file == nil && isTerminal(s.Out) && os.Getenv("NO_COLOR") == "")
		err = report.DiffText(w, d, report.TextOptions{Color: color})
	}
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			fmt.Fprintf(s.Err, "netsift: comparison written to %s\n", o.outFile)
		}
	}
	if err != nil {
		return diffFail(s, err)
	}
	if d.Changed() {
		return &exitError{code: ExitDiffChanged}
	}
	return nil
}
