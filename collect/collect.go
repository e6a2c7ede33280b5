// Package collect owns the customer-side collector: collect.sh, a read-only POSIX sh script that
// writes a netsift bundle (format v1, FORMAT.md). The binary embeds it so `netsift collect` can run
// exactly the script a customer may read first (`netsift collect --print-script`).
package collect

import _ "embed"

// Script is collect.sh. Run it as `sh FILE cluster|node ARGS...` from a file: in cluster mode it
// streams itself to the nodes, so it must be able to read its own path ($0).
//
//go:embed collect.sh
var Script []byte
