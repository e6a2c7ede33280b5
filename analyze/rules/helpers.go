package rules

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// podReady reports the pod's Ready condition, and its index in status.conditions (-1 if absent).
func podReady(p *model.Pod) (bool, int) {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, i
		}
	}
	return false, -1
}

// podProblem explains why a pod is not Ready, in the words `kubectl get pods` and
// `kubectl describe` would use, with the evidence lines that show it.
func podProblem(m *model.Model, p *model.Pod) (string, []finding.Evidence) {
	var why []string
	var ev []finding.Evidence
	if p.DeletionTimestamp != nil {
		why = append(why, "terminating")
		ev = append(ev, m.Evidence(p.Src, "metadata", "deletionTimestamp"))
	}
	if p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodUnknown {
		why = append(why, "phase "+string(p.Status.Phase))
		ev = append(ev, m.Evidence(p.Src, "status", "phase"))
	}
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			why = append(why, fmt.Sprintf("not scheduled: %s", truncate(firstNonEmpty(c.Message, c.Reason), 160)))
			ev = append(ev, m.Evidence(p.Src, "status", "conditions", itoa(i), "message"))
		}
	}
	check := func(list string, statuses []corev1.ContainerStatus, init bool) {
		for i, cs := range statuses {
			base := []string{"status", list, itoa(i)}
			prefix := "container " + cs.Name
			if init {
				prefix = "init container " + cs.Name
			}
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				w := cs.State.Waiting
				msg := fmt.Sprintf("%s %s", prefix, w.Reason)
				if init && w.Reason == "CrashLoopBackOff" {
					msg = fmt.Sprintf("%s Init:CrashLoopBackOff", prefix)
				}
				if cs.RestartCount > 0 {
					msg += fmt.Sprintf(" (%d restarts", cs.RestartCount)
					if t := cs.LastTerminationState.Terminated; t != nil {
						msg += fmt.Sprintf(", last exit code %d", t.ExitCode)
						if t.Reason != "" && t.Reason != "Error" {
							msg += " " + t.Reason
						}
					}
					msg += ")"
				}
				if w.Message != "" && w.Reason != "CrashLoopBackOff" {
					msg += ": " + truncate(w.Message, 160)
				}
				why = append(why, msg)
				ev = append(ev, m.Evidence(p.Src, append(base, "state", "waiting", "reason")...))
			case cs.State.Terminated != nil && !(init && cs.State.Terminated.ExitCode == 0):
				t := cs.State.Terminated
				why = append(why, fmt.Sprintf("%s terminated (%s, exit code %d)", prefix, t.Reason, t.ExitCode))
				ev = append(ev, m.Evidence(p.Src, append(base, "state", "terminated", "exitCode")...))
			case !init && !cs.Ready && cs.State.Running != nil:
				why = append(why, prefix+" running but not ready (readiness probe failing?)")
				ev = append(ev, m.Evidence(p.Src, append(base, "ready")...))
			}
		}
	}
	check("initContainerStatuses", p.Status.InitContainerStatuses, true)
	check("containerStatuses", p.Status.ContainerStatuses, false)
	// Probe failures and scheduling failures are told by events.
	for _, e := range m.EventsFor("Pod", p.Namespace, p.Name) {
		if e.Type == corev1.EventTypeWarning && (e.Reason == "Unhealthy" || e.Reason == "FailedScheduling" || e.Reason == "FailedCreatePodSandBox" || e.Reason == "BackOff") {
			if e.Reason == "FailedScheduling" && strings.Contains(strings.Join(why, " "), "not scheduled") {
				continue // the PodScheduled condition already says it
			}
			if e.Reason == "BackOff" && strings.Contains(strings.Join(why, " "), "CrashLoopBackOff") {
				continue // the container status already says it
			}
			msg := fmt.Sprintf("event %s: %s", e.Reason, truncate(e.Message, 200))
			if e.Count > 1 {
				msg += fmt.Sprintf(" (x%d)", e.Count)
			}
			why = append(why, msg)
			ev = append(ev, m.Evidence(e.Src, "message"))
			break
		}
	}
	if len(why) == 0 {
		if _, i := podReady(p); i >= 0 {
			c := p.Status.Conditions[i]
			why = append(why, strings.TrimSpace("Ready="+string(c.Status)+" "+strings.TrimSpace(c.Reason+" "+c.Message)))
			ev = append(ev, m.Evidence(p.Src, "status", "conditions", itoa(i), "status"))
		} else {
			why = append(why, "no Ready condition")
			ev = append(ev, m.Evidence(p.Src, "status"))
		}
	}
	return strings.Join(dedupe(why), "; "), ev
}

// groupReasons lists pods by identical reason ("a, b: reason; c: other"), at most max groups.
func groupReasons(m *model.Model, pods []*model.Pod, max int) (string, []finding.Evidence) {
	var order []string
	byWhy := map[string][]string{}
	var ev []finding.Evidence
	for _, p := range pods {
		why, pev := podProblem(m, p)
		if _, ok := byWhy[why]; !ok {
			order = append(order, why)
			if len(order) <= max {
				ev = append(ev, pev...)
			}
		}
		byWhy[why] = append(byWhy[why], p.Name)
	}
	var parts []string
	for i, why := range order {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more reasons", len(order)-max))
			break
		}
		names := byWhy[why]
		if len(names) > 3 {
			names = append(names[:3:3], fmt.Sprintf("%d more", len(byWhy[why])-3))
		}
		parts = append(parts, strings.Join(names, ", ")+": "+why)
	}
	return strings.Join(parts, "; "), ev
}

// podLogs reads the logs the collector kept for a pod: logs/<ns>/<pod>/<container>[.previous].log.
func podLogs(b *bundle.Bundle, p *model.Pod) []*bundle.File {
	return b.Dir("logs/" + p.Namespace + "/" + p.Name)
}

// grepLogs returns the evidence of the last lines (up to max) in a pod's logs containing any of
// the needles (case-insensitive), previous logs first since they show why a container died.
func grepLogs(b *bundle.Bundle, p *model.Pod, max int, needles ...string) []finding.Evidence {
	files := podLogs(b, p)
	sort.SliceStable(files, func(i, j int) bool {
		return strings.HasSuffix(files[i].Path, ".previous.log") && !strings.HasSuffix(files[j].Path, ".previous.log")
	})
	var out []finding.Evidence
	for _, f := range files {
		var hits []finding.Evidence
		for n := 1; n <= f.Lines(); n++ {
			l := strings.ToLower(f.Line(n))
			for _, needle := range needles {
				if strings.Contains(l, strings.ToLower(needle)) {
					hits = append(hits, f.Evidence(n))
					break
				}
			}
		}
		if len(hits) > max {
			hits = hits[len(hits)-max:]
		}
		out = append(out, hits...)
		if len(out) >= max {
			return out[:max]
		}
	}
	return out
}

// lastLogLines quotes the last non-empty lines of a container's log (previous run first).
func lastLogLines(b *bundle.Bundle, p *model.Pod, container string, max int) []finding.Evidence {
	for _, name := range []string{container + ".previous.log", container + ".log"} {
		f := b.File("logs/" + p.Namespace + "/" + p.Name + "/" + name)
		if f == nil {
			continue
		}
		var out []finding.Evidence
		for n := f.Lines(); n >= 1 && len(out) < max; n-- {
			if strings.TrimSpace(f.Line(n)) != "" {
				out = append([]finding.Evidence{f.Evidence(n)}, out...)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func podSubject(p *model.Pod) finding.Subject {
	return finding.Subject{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName}
}

func serviceSubject(s *model.Service) finding.Subject {
	return finding.Subject{Kind: "Service", Namespace: s.Namespace, Name: s.Name}
}

func nodeSubject(n string) finding.Subject {
	return finding.Subject{Kind: "Node", Name: n, Node: n}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func itoa(i int) string { return fmt.Sprint(i) }

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// selectorString renders a label map as a kubectl -l argument, keys sorted.
func selectorString(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

// portString renders a Service port as "name 80/TCP→8080".
func portString(p corev1.ServicePort) string {
	s := fmt.Sprintf("%d/%s", p.Port, protocolOf(p.Protocol))
	if p.Name != "" {
		s = p.Name + " " + s
	}
	return s
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
