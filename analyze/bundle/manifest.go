package bundle

import "time"

// FormatVersion is the bundle format this analyzer reads (collect/FORMAT.md).
const FormatVersion = 1

// Manifest is manifest.json at the bundle root: who collected what, and how every command ended.
// It is what lets a rule tell "never collected" from "the command failed" from "empty output".
type Manifest struct {
	FormatVersion    int             `json:"format_version"`
	CollectorVersion string          `json:"collector_version,omitempty"`
	CollectedAt      time.Time       `json:"collected_at"`
	Cluster          string          `json:"cluster,omitempty"`
	Context          string          `json:"context,omitempty"`
	Kubectl          KubectlVersions `json:"kubectl,omitempty"`
	// Mode is "cluster" (kubectl data, maybe with node data) or "node" (one node's captures).
	Mode     string          `json:"mode,omitempty"`
	Nodes    []string        `json:"nodes,omitempty"`
	Commands []CommandRecord `json:"commands"`
}

// KubectlVersions are the client and server versions kubectl reported at collection time.
type KubectlVersions struct {
	ClientVersion string `json:"client_version,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
}

// CommandRecord is the outcome of one collection command. Path is relative to the bundle root
// (e.g. "nodes/node-a/iptables-save.txt"); a command whose binary is missing has exit code 127
// and says so in Stderr.
type CommandRecord struct {
	ID         string    `json:"id"`
	Node       string    `json:"node,omitempty"`
	Command    string    `json:"command"`
	Path       string    `json:"path,omitempty"`
	ExitCode   int       `json:"exit_code"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	DurationMS int64     `json:"duration_ms"`
	TimedOut   bool      `json:"timed_out,omitempty"`
	Stderr     string    `json:"stderr,omitempty"`
	Bytes      int64     `json:"bytes"`
}
