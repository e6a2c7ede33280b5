// Command netsift diagnoses Kubernetes container networking offline, from a support bundle.
package main

import (
	"os"

	"github.com/netsift/netsift/cmd/cli"
)

func main() {
	os.Exit(cli.Main(os.Stdin, os.Stdout, os.Stderr, os.Args[1:]))
}
