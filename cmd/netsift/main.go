// Command netsift diagnoses Kubernetes container networking offline, from a support bundle.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/netsift/netsift/cmd/cli"
)

func main() {
	// NETSIFT_CPUPROFILE=FILE writes a CPU profile of the whole run: how the scale numbers of
	// README "Performance" are investigated (go tool pprof FILE).
	if p := os.Getenv("NETSIFT_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netsift:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err == nil {
			code := cli.Main(os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(cli.Main(os.Stdin, os.Stdout, os.Stderr, os.Args[1:]))
}
