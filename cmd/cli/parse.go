package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/cniconf"
	"github.com/netsift/netsift/parsers/corefile"
	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/kubeproxy"
	"github.com/netsift/netsift/parsers/loglines"
)

// parseFormats are the formats `netsift parse` reads: every node capture the model reads, plus
// the configuration files embedded in cluster objects and logs.
func parseFormats() map[string]func(name string, r io.Reader) (any, []diag.Warning, error) {
	out := map[string]func(string, io.Reader) (any, []diag.Warning, error){}
	for _, cf := range model.CaptureFormats {
		parse := cf.Parse
		out[cf.Name] = func(_ string, r io.Reader) (any, []diag.Warning, error) { return parse(r) }
	}
	out["cni-config"] = func(name string, r io.Reader) (any, []diag.Warning, error) {
		v, err := cniconf.Parse(filepath.Base(name), r)
		if v == nil {
			return v, nil, err
		}
		return v, v.Warnings, err
	}
	out["kube-proxy-config"] = func(_ string, r io.Reader) (any, []diag.Warning, error) {
		v, err := kubeproxy.Parse(r)
		if v == nil {
			return v, nil, err
		}
		return v, v.Warnings, err
	}
	out["corefile"] = func(_ string, r io.Reader) (any, []diag.Warning, error) {
		v, err := corefile.Parse(r)
		if v == nil {
			return v, nil, err
		}
		return v, v.Warnings, err
	}
	out["log"] = func(_ string, r io.Reader) (any, []diag.Warning, error) {
		v, err := loglines.Parse(r)
		if v == nil {
			return v, nil, err
		}
		return v, v.Warnings, err
	}
	return out
}

func newParseCommand(s Streams) *cobra.Command {
	formats := parseFormats()
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return &cobra.Command{
		Use:   "parse FORMAT FILE",
		Short: "Parse one raw capture and print it as JSON (a debugging aid)",
		Long: "Parses one capture the way the analyzer does and prints the typed result as JSON on stdout;\n" +
			"warnings (with line numbers) go to stderr. FILE - reads standard input.\n\nFormats: " + strings.Join(names, ", "),
		Example: `  netsift parse iptables-save nodes/worker-1/iptables-save.txt
  ip -j route show table all | netsift parse ip-route -`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return names, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			parse, ok := formats[args[0]]
			if !ok {
				return fmt.Errorf("unknown format %q (want one of: %s)", args[0], strings.Join(names, ", "))
			}
			var r io.Reader = s.In
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			v, warns, err := parse(args[1], r)
			for _, w := range warns {
				fmt.Fprintf(s.Err, "%s:%s\n", args[1], strings.TrimPrefix(w.String(), "line "))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		},
	}
}
