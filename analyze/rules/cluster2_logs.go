package rules

import (
	"strings"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// podLog is one container log the collector kept: logs/<ns>/<pod>/<container>[.previous].log.
type podLog struct {
	File                      *bundle.File
	Namespace, Pod, Container string
	Previous                  bool
}

// allPodLogs lists every container log of the bundle, in path order.
func allPodLogs(b *bundle.Bundle) []podLog {
	var out []podLog
	for _, f := range b.Dir("logs") {
		parts := strings.Split(strings.TrimPrefix(f.Path, "logs/"), "/")
		if len(parts) != 3 || !strings.HasSuffix(parts[2], ".log") {
			continue
		}
		c := strings.TrimSuffix(parts[2], ".log")
		prev := strings.HasSuffix(c, ".previous")
		out = append(out, podLog{File: f, Namespace: parts[0], Pod: parts[1], Container: strings.TrimSuffix(c, ".previous"), Previous: prev})
	}
	return out
}

// subject names the pod a log belongs to, with its node when the model knows the pod.
func (l podLog) subject(m *model.Model) finding.Subject {
	s := finding.Subject{Kind: "Pod", Namespace: l.Namespace, Name: l.Pod}
	if p := c2PodNamed(m, l.Namespace, l.Pod); p != nil {
		s.Node = p.Spec.NodeName
	}
	return s
}

func c2PodNamed(m *model.Model, ns, name string) *model.Pod {
	for _, p := range m.PodsIn(ns) {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// unescapeLog undoes the quoting of klog's structured values (err="... \"x\" ...") so one
// pattern reads both plain and structured log lines.
func unescapeLog(s string) string {
	return strings.ReplaceAll(s, `\"`, `"`)
}
