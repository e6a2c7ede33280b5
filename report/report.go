// Package report builds the one canonical diagnosis document (JSON) from an analysis and renders
// it as terminal text or Markdown. Every renderer reads only the Report value, so they never
// disagree.
package report

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
)

// SchemaVersion is the version of the JSON report's shape; bump it on incompatible changes.
const SchemaVersion = 1

// Report is the canonical diagnosis.
type Report struct {
	SchemaVersion int        `json:"schema_version"`
	Tool          Tool       `json:"tool"`
	Bundle        BundleInfo `json:"bundle"`
	Cluster       Cluster    `json:"cluster"`
	// Assumptions are what the analysis detected and relied on: the CNI and the proxy mode.
	Assumptions Assumptions       `json:"assumptions"`
	Summary     Summary           `json:"summary"`
	Findings    []finding.Finding `json:"findings"`
	Rules       []rules.Outcome   `json:"rules"`
	// Warnings are inputs that could not be read, in whole or in part.
	Warnings []finding.InputWarning `json:"warnings"`
	// Traces are the packet traces the analysis ran (DNS and API paths), hop by hop.
	Traces []Trace `json:"traces,omitempty"`
	// FailedCommands are collection commands the manifest records as failed.
	FailedCommands []bundle.CommandRecord `json:"failed_commands,omitempty"`
}

// Assumptions say which CNI and Service proxy the rules assumed, and why.
type Assumptions struct {
	CNI       model.Detection `json:"cni"`
	ProxyMode model.Detection `json:"proxy_mode"`
}

// Tool identifies the analyzer that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// BundleInfo identifies what was analysed.
type BundleInfo struct {
	Sources          []string   `json:"sources"`
	FormatVersion    int        `json:"format_version,omitempty"`
	CollectorVersion string     `json:"collector_version,omitempty"`
	CollectedAt      *time.Time `json:"collected_at,omitempty"`
	Cluster          string     `json:"cluster,omitempty"`
	Context          string     `json:"context,omitempty"`
}

// Cluster is the cluster at a glance.
type Cluster struct {
	KubernetesVersion string     `json:"kubernetes_version,omitempty"`
	Nodes             []NodeInfo `json:"nodes"`
	Pods              int        `json:"pods"`
	Services          int        `json:"services"`
}

// NodeInfo is one node at a glance.
type NodeInfo struct {
	Name       string `json:"name"`
	Ready      string `json:"ready"`
	InternalIP string `json:"internal_ip,omitempty"`
	PodCIDR    string `json:"pod_cidr,omitempty"`
	// Captures is how many node captures the bundle holds for it.
	Captures int `json:"captures"`
	// Dataplane summarises its captures; nil when the bundle has none.
	Dataplane *Dataplane `json:"dataplane,omitempty"`
}

// Summary counts findings and outcomes, and states the verdict.
type Summary struct {
	Verdict string `json:"verdict"`
	// RootCause is the fingerprint of the finding the verdict names.
	RootCause string         `json:"root_cause,omitempty"`
	Findings  map[string]int `json:"findings"`
	Rules     map[string]int `json:"rules"`
}

// Build assembles the report. The result's findings are already sorted by the engine.
func Build(b *bundle.Bundle, m *model.Model, res *rules.Result, toolVersion string) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "netsift", Version: toolVersion},
		Bundle:        BundleInfo{Sources: b.Sources},
		Findings:      res.Findings,
		Rules:         res.Outcomes,
		Warnings:      append(append([]finding.InputWarning{}, b.Warnings...), m.Warnings...),
	}
	if r.Findings == nil {
		r.Findings = []finding.Finding{}
	}
	r.Findings = withBundlePath(r.Findings, b.Sources)
	if mf := b.Manifest; mf != nil {
		r.Bundle.FormatVersion = mf.FormatVersion
		r.Bundle.CollectorVersion = mf.CollectorVersion
		r.Bundle.Cluster = mf.Cluster
		r.Bundle.Context = mf.Context
		if !mf.CollectedAt.IsZero() {
			t := mf.CollectedAt.UTC()
			r.Bundle.CollectedAt = &t
		}
		for _, c := range mf.Commands {
			if c.ExitCode != 0 || c.TimedOut {
				r.FailedCommands = append(r.FailedCommands, c)
			}
		}
	}
	for _, t := range res.Traces {
		r.Traces = append(r.Traces, traceOf(t))
	}
	// Failing paths first: they are what the reader came for.
	sort.SliceStable(r.Traces, func(i, j int) bool {
		return r.Traces[i].Verdict != "delivered" && r.Traces[j].Verdict == "delivered"
	})
	r.Cluster = clusterInfo(b, m)
	r.Assumptions = Assumptions{CNI: m.CNI(), ProxyMode: m.ProxyMode()}
	r.Summary = summarize(r)
	return r
}

func clusterInfo(b *bundle.Bundle, m *model.Model) Cluster {
	c := Cluster{KubernetesVersion: m.Version, Pods: len(m.Pods), Services: len(m.Services), Nodes: []NodeInfo{}}
	seen := map[string]bool{}
	for _, n := range m.Nodes {
		ni := NodeInfo{Name: n.Name, Ready: "Unknown", PodCIDR: n.Spec.PodCIDR, Captures: len(b.Dir("nodes/" + n.Name))}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ni.Ready = string(cond.Status)
			}
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && ni.InternalIP == "" {
				ni.InternalIP = a.Address
			}
		}
		seen[n.Name] = true
		c.Nodes = append(c.Nodes, ni)
	}
	// Nodes with captures but no Node object (a node bundle without the cluster bundle).
	for _, name := range b.Nodes() {
		if !seen[name] {
			c.Nodes = append(c.Nodes, NodeInfo{Name: name, Ready: "(no Node object)", Captures: len(b.Dir("nodes/" + name))})
		}
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].Name < c.Nodes[j].Name })
	podCIDRs := map[string]string{}
	for _, n := range m.Nodes {
		if n.Spec.PodCIDR != "" {
			podCIDRs[n.Name] = n.Spec.PodCIDR
		}
	}
	for i := range c.Nodes {
		c.Nodes[i].Dataplane = dataplaneOf(m, c.Nodes[i].Name, podCIDRs)
	}
	return c
}

func summarize(r *Report) Summary {
	s := Summary{
		Findings: map[string]int{string(finding.Critical): 0, string(finding.Warning): 0, string(finding.Info): 0},
		Rules:    map[string]int{string(rules.Pass): 0, string(rules.Fail): 0, string(rules.Skipped): 0, string(rules.Error): 0},
	}
	for _, f := range r.Findings {
		s.Findings[string(f.Severity)]++
	}
	for _, o := range r.Rules {
		s.Rules[string(o.Status)]++
	}
	switch {
	case len(r.Findings) > 0:
		top := r.Findings[0]
		for _, f := range r.Findings {
			if len(f.CausedBy) == 0 {
				top = f
				break
			}
		}
		s.Verdict = string(top.Severity) + ": " + top.Title + " — " + top.Subject.String()
		s.RootCause = top.Fingerprint
	case s.Rules[string(rules.Skipped)]+s.Rules[string(rules.Error)] > 0:
		s.Verdict = "no fault found by the rules that could run; some rules were skipped or failed (see below)"
	default:
		s.Verdict = "no fault found"
	}
	return s
}

// Filter keeps the findings at least as severe as min and recomputes the summary's counts.
// Rule outcomes are kept whole: they say what was checked.
func (r *Report) Filter(min finding.Severity) {
	var kept []finding.Finding
	for _, f := range r.Findings {
		if f.Severity.AtLeast(min) {
			kept = append(kept, f)
		}
	}
	if kept == nil {
		kept = []finding.Finding{}
	}
	r.Findings = kept
	r.Summary = summarize(r)
}

// Worst returns the most severe finding's severity, or "" when there is none.
func (r *Report) Worst() finding.Severity {
	if len(r.Findings) == 0 {
		return ""
	}
	return r.Findings[0].Severity
}

// withBundlePath puts the bundle's path into the netsift commands rules suggest: a rule knows
// the model, not the path it was read from, and writes BUNDLE. With several sources (a cluster
// bundle plus node bundles) the placeholder stays, since those commands take one.
func withBundlePath(fs []finding.Finding, sources []string) []finding.Finding {
	if len(sources) != 1 {
		return fs
	}
	arg := shellWord(sources[0])
	out := make([]finding.Finding, len(fs))
	for i, f := range fs {
		for _, cmd := range []string{"netsift trace ", "netsift policy "} {
			f.Remediation = strings.ReplaceAll(f.Remediation, cmd+"BUNDLE ", cmd+arg+" ")
		}
		out[i] = f
	}
	return out
}

// shellWord quotes s for a POSIX shell unless it is made of characters that need none.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:+@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
