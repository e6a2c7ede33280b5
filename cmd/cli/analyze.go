package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/report"
)

type analyzeOptions struct {
	sources     []string
	output      string
	outFile     string
	minSeverity string
	failOn      string
	only        []string
	skip        []string
	color       string
	maxBytes    int64

	min, fail finding.Severity
}

var outputFormats = []string{"text", "md", "html", "json"}

func newAnalyzeCommand(s Streams) *cobra.Command {
	o := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze BUNDLE [NODE-BUNDLE...]",
		Short: "Diagnose a bundle: run the fault catalogue and report each fault with its evidence",
		Long: `Reads one bundle (a .tar.gz/.tgz, .tar, .tar.zst, .tar.xz, .zip, or a directory) — or a
cluster bundle plus node bundles, merged into one — and reports the faults found, most severe
first, in the order an engineer debugs: pods → Service → Endpoints → kube-proxy → node → CNI → DNS.

Exit codes: 0 done; 1 error; 3 a finding at or above --fail-on.`,
		Example: `  netsift analyze bundle.tgz
  netsift analyze cluster.tgz node-a.tgz node-b.tgz -o md --out diagnosis.md
  netsift analyze bundle.tgz -o json --fail-on critical`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"tgz", "tar.gz", "tar", "tar.zst", "tar.xz", "zip"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.sources = args
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "text", "report format: "+strings.Join(outputFormats, ", "))
	f.StringVar(&o.outFile, "out", "", "write the report to this file instead of standard output")
	f.StringVar(&o.minSeverity, "min-severity", "info", "show findings at least this severe: critical, warning, info")
	f.StringVar(&o.failOn, "fail-on", "", "exit with code 3 when a finding at least this severe is reported (critical, warning, info)")
	f.StringSliceVar(&o.only, "rules", nil, "run only these rule IDs (comma-separated)")
	f.StringSliceVar(&o.skip, "skip-rules", nil, "do not run these rule IDs (comma-separated)")
	f.StringVar(&o.color, "color", "auto", "colour the text report: auto (on a terminal), always, never")
	f.Int64Var(&o.maxBytes, "max-bytes", 0, "stop reading after this many uncompressed bytes (default 8 GiB)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outputFormats...))
	_ = cmd.RegisterFlagCompletionFunc("min-severity", fixedCompletion("critical", "warning", "info"))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", fixedCompletion("critical", "warning", "info"))
	_ = cmd.RegisterFlagCompletionFunc("rules", ruleIDCompletion)
	_ = cmd.RegisterFlagCompletionFunc("skip-rules", ruleIDCompletion)
	return cmd
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

func ruleIDCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return rules.IDs(rules.All()), cobra.ShellCompDirectiveNoFileComp
}

func (o *analyzeOptions) validate() error {
	if !contains(outputFormats, o.output) {
		return fmt.Errorf("unknown output format %q (want %s)", o.output, strings.Join(outputFormats, ", "))
	}
	var err error
	if o.min, err = finding.ParseSeverity(o.minSeverity); err != nil {
		return fmt.Errorf("--min-severity: %w", err)
	}
	if o.failOn != "" {
		if o.fail, err = finding.ParseSeverity(o.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	switch o.color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--color: want auto, always or never, not %q", o.color)
	}
	return nil
}

func (o *analyzeOptions) run(cmd *cobra.Command, s Streams) error {
	prog := startProgress(s, strings.Join(o.sources, " "))
	stopWatch := watchPeakHeap(s.Err)
	defer stopWatch()
	m, err := analyze.Load(cmd.Context(), o.sources, prog.options(o.maxBytes))
	if err != nil {
		prog.done()
		return err
	}
	writeHeapProfile(s.Err, ".load")
	releaseLoadGarbage()
	prog.setStage("running rules on")
	res, err := rules.Run(m, rules.All(), rules.Options{Only: o.only, Skip: o.skip})
	prog.done()
	if err != nil {
		return err
	}
	stopWatch()
	writeHeapProfile(s.Err, "")
	rep := report.Build(m.Bundle, m, res, Version())
	// --fail-on looks at every finding, whatever --min-severity hides from the report.
	failed := o.fail != "" && rep.Worst() != "" && rep.Worst().AtLeast(o.fail)
	rep.Filter(o.min)

	var w io.Writer = s.Out
	var file *os.File
	if o.outFile != "" {
		if file, err = os.Create(o.outFile); err != nil {
			return err
		}
		w = file
	}
	switch o.output {
	case "json":
		err = report.JSON(w, rep)
	case "md":
		err = report.Markdown(w, rep)
	case "html":
		err = report.HTML(w, rep)
	default:
		color := o.color == "always" || (o.color == "auto" && file == nil && isTerminal(s.Out) && os.Getenv("NO_COLOR") == "")
		err = report.Text(w, rep, report.TextOptions{Color: color})
	}
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			fmt.Fprintf(s.Err, "netsift: report written to %s (%s)\n", o.outFile, rep.Summary.Verdict)
		}
	}
	if err != nil {
		return err
	}
	if failed {
		return &exitError{code: ExitFindings}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
