package rules

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

var netpolDNSBlocked = &Rule{
	ID:       "netpol.dns-blocked",
	Severity: finding.Critical,
	Title:    "NetworkPolicy blocks DNS to kube-dns",
	Inputs:   Kinds("NetworkPolicy", "Pod"),
	Doc: "Pods isolated for egress need a rule allowing UDP and TCP 53 to the cluster DNS pods " +
		"(the destination after kube-proxy's DNAT is a CoreDNS pod, not the ClusterIP); and " +
		"policies isolating the CoreDNS pods for ingress must let them in. Without it every name " +
		"lookup in those pods times out — the classic 'default deny egress' outage. Evaluated " +
		"with the same NetworkPolicy engine as `netsift policy`, per group of pods with identical labels.",
	Check: func(c *Context) {
		m := c.Model
		if len(m.NetworkPolicies) == 0 {
			return
		}
		targets := dnsPods(m)
		if len(targets) == 0 {
			c.Note("no cluster DNS pod in the bundle: DNS reachability not evaluated")
			return
		}
		dst := policy.PodEndpoint(targets[0])
		for _, p := range targets {
			if ok, _ := podReady(p); ok {
				dst = policy.PodEndpoint(p)
				break
			}
		}
		e := policy.New(m)
		isDNS := map[*model.Pod]bool{}
		for _, p := range targets {
			isDNS[p] = true
		}
		for _, g := range podGroups(m) {
			if isDNS[g[0]] {
				continue // CoreDNS asks its upstream, not itself
			}
			src := policy.PodEndpoint(g[0])
			udp := e.Check(src, dst, 53, corev1.ProtocolUDP)
			tcp := e.Check(src, dst, 53, corev1.ProtocolTCP)
			if udp.Allowed && tcp.Allowed {
				continue
			}
			p := g[0]
			blocked := []string{}
			var ev []finding.Evidence
			var why []string
			for _, v := range []policy.Verdict{udp, tcp} {
				if v.Allowed {
					continue
				}
				blocked = append(blocked, v.Protocol)
				for _, side := range []policy.Side{v.Egress, v.Ingress} {
					if !side.Allowed {
						// The UDP and TCP reasons differ only by protocol: say it once.
						r := strings.NewReplacer("allows UDP 53", "allows port 53", "allows TCP 53", "allows port 53").Replace(side.Reason)
						why = append(why, r)
						ev = append(ev, side.Evidence...)
					}
				}
			}
			sev := finding.Critical
			impact := "every name lookup from these pods times out"
			if len(blocked) == 1 && blocked[0] == string(corev1.ProtocolTCP) {
				sev = finding.Warning
				impact = "UDP lookups work, but answers too large for UDP (truncated, retried over TCP) fail"
			}
			if !udp.Enforced {
				sev = finding.Warning
				impact = fmt.Sprintf("the CNI (%s) does not enforce NetworkPolicies today, so nothing breaks yet — it will the day a policy engine is added", firstNonEmpty(udp.CNI, "unknown"))
			}
			names := make([]string, 0, 3)
			for i, q := range g {
				if i == 3 {
					names = append(names, fmt.Sprintf("%d more", len(g)-3))
					break
				}
				names = append(names, q.Name)
			}
			c.Report(finding.Finding{
				Severity: sev,
				Subject:  finding.Subject{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName},
				Key:      p.Namespace + "|" + selectorString(stableLabels(p.Labels)),
				Message: fmt.Sprintf("Pods %s in namespace %s (labels %s) cannot reach the cluster DNS (%s) on %s 53: %s. So %s.",
					strings.Join(names, ", "), p.Namespace, firstNonEmpty(selectorString(stableLabels(p.Labels)), "none"), dst,
					strings.Join(blocked, " and "), strings.Join(dedupe(why), "; "), impact),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# who may talk to the DNS pods, as the policies say:
netsift policy BUNDLE --from '%[1]s/*' --to 'kube-system:k8s-app=kube-dns'
kubectl -n %[1]s get networkpolicies -o wide
# allow DNS egress for every pod of the namespace (bash here-string, one line):
kubectl -n %[1]s apply -f - <<<'{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"allow-dns-egress"},"spec":{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}],"ports":[{"protocol":"UDP","port":53},{"protocol":"TCP","port":53}]}]}}'`, p.Namespace),
			})
		}
	},
}

// stableLabels drops the labels controllers add per revision (pod-template-hash,
// controller-revision-hash): policies never select on them, and they change on every rollout.
func stableLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if k != "pod-template-hash" && k != "controller-revision-hash" && k != "statefulset.kubernetes.io/pod-name" {
			out[k] = v
		}
	}
	return out
}

// podGroups groups live, non-hostNetwork pods by namespace and identical labels: policies see
// them alike, so one check per group is enough.
func podGroups(m *model.Model) [][]*model.Pod {
	groups := map[string][]*model.Pod{}
	for _, p := range m.Pods {
		if !livePodNetwork(p) || len(model.PodIPs(p)) == 0 {
			continue
		}
		k := p.Namespace + "|" + selectorString(stableLabels(p.Labels))
		groups[k] = append(groups[k], p)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]*model.Pod, len(keys))
	for i, k := range keys {
		out[i] = groups[k]
	}
	return out
}
