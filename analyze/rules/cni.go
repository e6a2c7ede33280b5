package rules

import (
	"fmt"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// cniLogCauses are log lines that say why a CNI agent fails.
var cniLogCauses = []string{
	"permission denied", "error", "failed", "fatal", "forbidden", "pod cidr not assigned",
	"no such file", "cannot", "can't",
}

var cniPodCrashloop = &Rule{
	ID:       "cni.pod-crashloop",
	Severity: finding.Critical,
	Title:    "CNI agent pod not Ready or crash-looping",
	Inputs:   Kinds("Pod"),
	Doc: "The CNI agent (flannel, calico, cilium, weave, canal, kube-ovn, antrea…) on a node is " +
		"not Ready, in CrashLoopBackOff or Init:CrashLoopBackOff: pods on that node get no network " +
		"(sandbox creation fails) or lose routes to other nodes. The failing container's last " +
		"log lines are quoted.",
	Check: func(c *Context) {
		m := c.Model
		for _, p := range m.Pods {
			cni, ok := cniAgentPod(p)
			if !ok {
				continue
			}
			if ready, _ := podReady(p); ready {
				continue
			}
			why, ev := podProblem(m, p)
			failing := failingContainer(p)
			logs := grepLogs(m.Bundle, p, 3, cniLogCauses...)
			if len(logs) == 0 && failing != "" {
				logs = lastLogLines(m.Bundle, p, failing, 3)
			}
			ev = append(ev, logs...)
			msg := fmt.Sprintf("%s agent %s/%s on node %s is not Ready: %s.", cni, p.Namespace, p.Name, firstNonEmpty(p.Spec.NodeName, "(unscheduled)"), why)
			fix := ""
			for _, l := range logs {
				if strings.Contains(strings.ToLower(l.Excerpt), "permission denied") && strings.Contains(l.Excerpt, "/etc/cni") {
					msg += " Its installer cannot write /etc/cni/net.d (Permission denied): on SELinux-enforcing nodes this is the classic cause (see node.selinux-blocks-cni)."
					fix = "\n# SELinux blocking the CNI installer:\ngetenforce; setenforce 0   # and SELINUX=permissive in /etc/selinux/config, or relabel /etc/cni/net.d"
					break
				}
			}
			if len(logs) == 0 && len(podLogs(m.Bundle, p)) == 0 {
				msg += " (The bundle has no logs for this pod.)"
			}
			container := failing
			if container == "" && len(p.Spec.Containers) > 0 {
				container = p.Spec.Containers[0].Name
			}
			c.Report(finding.Finding{
				Subject:  podSubject(p),
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl -n %[1]s describe pod %[2]s
kubectl -n %[1]s logs %[2]s -c %[3]s --previous`, p.Namespace, p.Name, container) + fix,
			})
		}
	},
}

// failingContainer names the first container (init containers first) that is waiting or
// terminated with an error.
func failingContainer(p *model.Pod) string {
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.State.Waiting != nil || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0) {
			return cs.Name
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil || cs.State.Terminated != nil || !cs.Ready {
			return cs.Name
		}
	}
	return ""
}

// cniAgentPod narrows model.CNIAgentOf, which matches by name prefix: a pod owned by something
// other than a DaemonSet (a Deployment's "flannel-exporter") is not an agent, and an unowned pod
// is one only in a system or CNI namespace.
func cniAgentPod(p *model.Pod) (string, bool) {
	cni, ok := model.CNIAgentOf(p)
	if !ok {
		return "", false
	}
	owned := false
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return cni, true
		}
		owned = true
	}
	if owned {
		return "", false
	}
	ns := p.Namespace
	if ns == "kube-system" || strings.Contains(ns, cni) || strings.Contains(ns, "cni") {
		return cni, true
	}
	return "", false
}
