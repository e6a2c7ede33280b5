// Package finding is the vocabulary of a diagnosis: findings with their evidence, and warnings
// about inputs that could not be read. Rules produce these values; every report renders them.
package finding

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Severity says how urgently a finding needs attention.
type Severity string

const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Rank orders severities: lower is more severe. Unknown severities sort last.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	case Info:
		return 2
	}
	return 3
}

// ParseSeverity accepts critical, warning (or warn) and info, in any case.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit":
		return Critical, nil
	case "warning", "warn":
		return Warning, nil
	case "info":
		return Info, nil
	}
	return "", fmt.Errorf("unknown severity %q (want critical, warning or info)", s)
}

// AtLeast reports whether s is as severe as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() <= min.Rank() }

// Subject is what a finding is about: a Kubernetes object, a node, or a device on a node.
type Subject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Node      string `json:"node,omitempty"`
}

func (s Subject) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	if s.Namespace != "" || s.Name != "" {
		b.WriteByte(' ')
		if s.Namespace != "" {
			b.WriteString(s.Namespace)
			b.WriteByte('/')
		}
		b.WriteString(s.Name)
	}
	if s.Node != "" && !(s.Kind == "Node" && s.Name == s.Node) {
		b.WriteString(" on node ")
		b.WriteString(s.Node)
	}
	return b.String()
}

// Evidence is one line of the bundle that supports a finding, quoted as it stands in the file.
type Evidence struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Excerpt string `json:"excerpt"`
}

func (e Evidence) Location() string {
	if e.Line == 0 {
		return e.File
	}
	return fmt.Sprintf("%s:%d", e.File, e.Line)
}

// Finding is one diagnosed fault. Remediation is a shell snippet: commands to confirm and fix,
// with "# " comment lines explaining them, so it can be pasted as it is.
type Finding struct {
	ID          string     `json:"id"`
	Severity    Severity   `json:"severity"`
	Title       string     `json:"title"`
	Subject     Subject    `json:"subject"`
	Message     string     `json:"message"`
	Evidence    []Evidence `json:"evidence"`
	Remediation string     `json:"remediation,omitempty"`
	// CausedBy lists the fingerprints of findings this one is a consequence of (a Service
	// without endpoints because its pods' node has no network). The verdict is the first
	// finding that is caused by nothing else.
	CausedBy []string `json:"caused_by,omitempty"`
	// Key distinguishes findings of one rule on one subject (a port, a device); it is part of
	// the fingerprint, so it must not contain line numbers or other volatile values.
	Key         string `json:"-"`
	Fingerprint string `json:"fingerprint"`
}

// ComputeFingerprint derives the stable identity diff and suppressions match on:
// the rule ID, the subject and the normalized key — never line numbers or message text.
func (f *Finding) ComputeFingerprint() {
	h := sha256.New()
	for _, part := range []string{f.ID, f.Subject.Kind, f.Subject.Namespace, f.Subject.Name, f.Subject.Node, strings.ToLower(strings.TrimSpace(f.Key))} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	f.Fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
}

// InputWarning is a problem with an input: a file that could not be read or parsed, in whole or
// at one line. The analysis goes on without that part.
type InputWarning struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (w InputWarning) String() string {
	switch {
	case w.File == "":
		return w.Message
	case w.Line == 0:
		return w.File + ": " + w.Message
	}
	return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Message)
}

// Stage is where in an engineer's debugging order a finding belongs:
// pods → Service → Endpoints → kube-proxy → node → CNI → DNS → API access.
type Stage int

const (
	StagePods Stage = iota
	StageService
	StageEndpoints
	StageKubeProxy
	StageNode
	StageCNI
	StageDNS
	StageAPI
)

var stageNames = [...]string{"pods", "Service", "Endpoints", "kube-proxy", "node", "CNI", "DNS", "API access"}

func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "other"
}

// stageByID places rules whose prefix alone would put them in the wrong stage.
var stageByID = map[string]Stage{
	"svc.no-endpoints":                StageEndpoints,
	"svc.pods-not-ready":              StageEndpoints,
	"svc.external-local-no-endpoints": StageEndpoints,
	"api.service-broken":              StageService,
	"iptables.backend-mixed":          StageKubeProxy,
	"hairpin.disabled":                StageNode,
}

var stageByPrefix = map[string]Stage{
	"pod": StagePods, "svc": StageService, "ingress": StageService,
	"kube-proxy": StageKubeProxy, "ipvs": StageKubeProxy,
	"node": StageNode, "sysctl": StageNode, "route": StageNode, "link": StageNode,
	"conntrack": StageNode, "iptables": StageNode,
	"cni": StageCNI, "netpol": StageCNI,
	"dns": StageDNS, "api": StageAPI,
}

// StageOf returns the debugging stage of a rule ID.
func StageOf(id string) Stage {
	if s, ok := stageByID[id]; ok {
		return s
	}
	prefix, _, _ := strings.Cut(id, ".")
	if s, ok := stageByPrefix[prefix]; ok {
		return s
	}
	return StageAPI + 1
}

// Sort orders findings as the report presents them: most severe first, then in debugging
// order, then by rule and subject so the output is stable.
func Sort(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		if sa, sb := StageOf(a.ID), StageOf(b.ID); sa != sb {
			return sa < sb
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if as, bs := a.Subject.String(), b.Subject.String(); as != bs {
			return as < bs
		}
		return a.Key < b.Key
	})
}
