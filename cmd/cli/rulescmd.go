package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/report"
)

func newRulesCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the fault catalogue: rule IDs, severities, titles and the inputs each needs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all := rules.All()
			switch output {
			case "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			case "md":
				fmt.Fprintf(s.Out, "| ID | severity | stage | title | inputs |\n|---|---|---|---|---|\n")
				for _, r := range all {
					fmt.Fprintf(s.Out, "| `%s` | %s | %s | %s | %s |\n", r.ID, r.Severity, finding.StageOf(r.ID), r.Title, inputList(r))
				}
				return nil
			case "text", "":
				rows := make([][]string, len(all))
				for i, r := range all {
					rows[i] = []string{r.ID, string(r.Severity), finding.StageOf(r.ID).String(), r.Title, inputList(r)}
				}
				return report.Table(s.Out, []string{"id", "severity", "stage", "title", "inputs"}, rows)
			}
			return fmt.Errorf("unknown output format %q (want text, md, json)", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, md or json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "md", "json"))
	return cmd
}

func inputList(r *rules.Rule) string {
	parts := make([]string, len(r.Inputs))
	for i, in := range r.Inputs {
		parts[i] = in.String()
	}
	return strings.Join(parts, ", ")
}
