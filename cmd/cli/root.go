// Package cli holds netsift's cobra commands. Each command is built by a function that takes its
// I/O streams; nothing is wired through globals or init().
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitError carries a chosen exit code (e.g. from --fail-on) without being printed as an error.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// Exit codes.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitFindings = 3 // --fail-on matched a finding
)

// Main runs netsift with args and returns the process exit code.
func Main(in io.Reader, out, errOut io.Writer, args []string) int {
	setMemoryLimit()
	cmd := NewRootCommand(Streams{In: in, Out: out, Err: errOut})
	cmd.SetArgs(args)
	err := cmd.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(errOut, "netsift: %v\n", err)
		return ExitError
	}
}

// NewRootCommand builds the netsift command tree.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "netsift",
		Short: "Find where container networking breaks in a Kubernetes cluster, offline, from a support bundle",
		Long: `netsift answers, offline: container networking in this Kubernetes cluster is broken —
where exactly is the failing point? It reads a bundle written by its collector (kubectl YAML,
logs, and per-node iptables/IPVS/routes/sysctls/CNI config), runs the fault catalogue's rules,
and reports each fault with the bundle lines that prove it and the commands that fix it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		newAnalyzeCommand(s),
		newCollectCommand(s),
		newRulesCommand(s),
		newGetCommand(s),
		newPolicyCommand(s),
		newParseCommand(s),
		newTraceCommand(s),
		newDiffCommand(s),
		newVersionCommand(s),
	)
	return root
}

// Version is the module version netsift was built from ("dev" for a source tree).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netsift's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(s.Out, "netsift %s\n", Version())
			return err
		},
	}
}

// isTerminal reports whether w is a terminal (for colour and table decoration).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
