package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/collect"
)

// newCollectCommand runs the embedded collector, exactly the script `--print-script` shows, so a
// customer can read what will run before running it.
func newCollectCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collect [cluster|node] [collector flags...]",
		Short: "Collect a bundle from a cluster (or, with `node`, from this node) with the read-only collector script",
		Long: `Runs collect/collect.sh, embedded in this binary: a POSIX shell script that only reads
(kubectl get/logs and read-only commands on nodes), never collects Secrets, and writes one
.tar.gz bundle. Every flag after the mode is the script's own (see --print-script).

  netsift collect --print-script > collect.sh     # read it, or hand it to the customer
  netsift collect cluster -o bundle.tgz           # kubectl data, node data through kubectl debug
  netsift collect cluster --node-data none        # kubectl data only
  netsift collect node -o node.tgz                # on a node`,
		// The script parses its own flags; cobra passes everything through.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				switch args[0] {
				case "--print-script":
					_, err := s.Out.Write(collect.Script)
					return err
				case "-h", "--help":
					return cmd.Help()
				}
			}
			if len(args) == 0 || (args[0] != "cluster" && args[0] != "node") {
				args = append([]string{"cluster"}, args...)
			}
			return runScript(cmd, s, args)
		},
	}
	return cmd
}

func runScript(cmd *cobra.Command, s Streams, args []string) error {
	dir, err := os.MkdirTemp("", "netsift-collect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "collect.sh")
	if err := os.WriteFile(script, collect.Script, 0o755); err != nil {
		return err
	}
	sh := exec.CommandContext(cmd.Context(), "sh", append([]string{script}, args...)...)
	sh.Stdin, sh.Stdout, sh.Stderr = s.In, s.Out, s.Err
	err = sh.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &exitError{code: exit.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("running the collector: %w", err)
	}
	return nil
}
