package rules

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// networkReasons mark a NotReady node whose cause is the network plugin.
var networkReasons = []string{"NetworkPluginNotReady", "cni plugin not initialized", "network plugin is not ready", "NetworkReady=false"}

var nodeNotReady = &Rule{
	ID:       "node.not-ready",
	Severity: finding.Critical,
	Title:    "Node is not Ready",
	Inputs:   Kinds("Node"),
	Doc: "A node whose Ready condition is not True runs no new pods and may lose its endpoints. " +
		"Network causes (CNI not initialized, NetworkUnavailable) are named first.",
	Check: func(c *Context) {
		m := c.Model
		for _, n := range m.Nodes {
			var ready *corev1.NodeCondition
			idx := -1
			for i := range n.Status.Conditions {
				if n.Status.Conditions[i].Type == corev1.NodeReady {
					ready, idx = &n.Status.Conditions[i], i
				}
			}
			var ev []finding.Evidence
			var msg string
			unknown, network := false, false
			switch {
			case ready == nil:
				msg = fmt.Sprintf("Node %s reports no Ready condition (the kubelet never registered its status).", n.Name)
				ev = append(ev, m.Evidence(n.Src, "status", "conditions"))
			case ready.Status == corev1.ConditionTrue:
				continue
			default:
				msg = fmt.Sprintf("Node %s is Ready=%s: %s.", n.Name, ready.Status, strings.TrimRight(strings.TrimSpace(firstNonEmpty(ready.Message, ready.Reason, "no reason given")), "."))
				ev = append(ev, m.Evidence(n.Src, "status", "conditions", itoa(idx), "status"), m.Evidence(n.Src, "status", "conditions", itoa(idx), "message"))
				if ready.Status == corev1.ConditionUnknown {
					unknown = true
					msg += " The node controller has not heard from its kubelet: the node is down, the kubelet stopped, or it cannot reach the API server. Its pods are marked not Ready and are evicted after the toleration (300 s by default)."
				}
				if isNetworkCause(ready.Message + " " + ready.Reason) {
					network = true
					msg += " The cause is the network plugin: no CNI configuration is installed on the node, or its agent is failing (see cni.pod-crashloop, cni.config-missing)."
				}
			}
			for i, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeNetworkUnavailable && cond.Status == corev1.ConditionTrue {
					msg += fmt.Sprintf(" NetworkUnavailable=True (%s): the routes for its pod network are not set up.", firstNonEmpty(cond.Message, cond.Reason))
					ev = append(ev, m.Evidence(n.Src, "status", "conditions", itoa(i), "status"))
				}
			}
			c.Report(finding.Finding{
				Subject:     nodeSubject(n.Name),
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: nodeNotReadyRemediation(n.Name, unknown, network),
			})
		}
	},
}

func isNetworkCause(s string) bool {
	for _, r := range networkReasons {
		if strings.Contains(s, r) {
			return true
		}
	}
	return false
}

var podDuplicateIP = &Rule{
	ID:       "pod.duplicate-ip",
	Severity: finding.Critical,
	Title:    "Two running pods share an IP",
	Inputs:   Kinds("Pod"),
	Doc: "Two live pods (not hostNetwork) with one IP mean overlapping IPAM ranges or a leaked " +
		"allocation: traffic for one reaches the other, or neither.",
	Check: func(c *Context) {
		m := c.Model
		seen := map[string]bool{}
		for _, p := range m.Pods {
			for _, ip := range model.PodIPs(p) {
				if seen[ip] || !livePodNetwork(p) {
					continue
				}
				var same []*model.Pod
				for _, o := range m.PodsByIP(ip) {
					if livePodNetwork(o) {
						same = append(same, o)
					}
				}
				if len(same) < 2 {
					continue
				}
				seen[ip] = true
				var names []string
				var ev []finding.Evidence
				for _, o := range same {
					names = append(names, fmt.Sprintf("%s/%s on %s", o.Namespace, o.Name, firstNonEmpty(o.Spec.NodeName, "?")))
					ev = append(ev, m.Evidence(o.Src, "status", "podIP"))
				}
				c.Report(finding.Finding{
					Subject:  podSubject(same[0]),
					Key:      ip,
					Message:  fmt.Sprintf("IP %s is held by %d running pods: %s. Overlapping IPAM ranges (node podCIDRs, IPPools) or a leaked host-local allocation.", ip, len(same), strings.Join(names, ", ")),
					Evidence: ev,
					Remediation: fmt.Sprintf(`kubectl get pods -A -o wide --field-selector status.podIP=%s
kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR
# host-local IPAM state on each node: ls /var/lib/cni/networks/*/`, ip),
				})
			}
		}
	},
}

// livePodNetwork: a pod that holds its own IP now (running or starting, not hostNetwork).
func livePodNetwork(p *model.Pod) bool {
	return !p.Spec.HostNetwork && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// nodeNotReadyRemediation: what to run for a NotReady node, by what its condition says.
func nodeNotReadyRemediation(node string, unknown, network bool) string {
	r := fmt.Sprintf("kubectl describe node %s\n# on the node:\nsystemctl status kubelet; journalctl -u kubelet --since -1h | tail -50", node)
	switch {
	case unknown:
		r += "\n# the kubelet is silent: is the node up, and can it reach the API server?\njournalctl -u kubelet --since -1h | grep -iE 'unable to register|connection refused|i/o timeout|certificate' | tail -20\nsystemctl restart kubelet"
	case network:
		r += "\n# the CNI: its config and binaries, and the agent pod on this node\nls -l /etc/cni/net.d /opt/cni/bin\n" + fmt.Sprintf("kubectl get pods -A -o wide --field-selector spec.nodeName=%s | grep -iE 'flannel|calico|cilium|weave|canal|ovn|antrea'", node)
	}
	return r
}
