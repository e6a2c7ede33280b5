package rules

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// correlate links findings that are consequences of others, so the report can name the root
// cause instead of its loudest symptom. The knowledge of which fault causes which lives here,
// in one place, not in the rules.
func correlate(m *model.Model, fs []finding.Finding) {
	type key struct{ id, ns, name string }
	bySubject := map[key]int{}
	byNode := map[string][]int{} // node → indexes of node-level root causes on it
	onNode := map[string][]int{} // node → indexes of every finding on it
	for i, f := range fs {
		bySubject[key{f.ID, f.Subject.Namespace, f.Subject.Name}] = i
		if f.Subject.Node != "" {
			onNode[f.Subject.Node] = append(onNode[f.Subject.Node], i)
		}
		switch f.ID {
		case "cni.pod-crashloop", "node.not-ready", "node.selinux-blocks-cni", "cni.config-missing",
			"sysctl.ip-forward-off", "sysctl.bridge-nf-off", "iptables.forward-drop", "route.podcidr-missing":
			if f.Subject.Node != "" {
				byNode[f.Subject.Node] = append(byNode[f.Subject.Node], i)
			}
		}
	}
	unreachable := map[string]bool{} // nodes whose kubelet stopped posting status (Ready=Unknown)
	for _, n := range m.Nodes {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown {
				unreachable[n.Name] = true
			}
		}
	}
	link := func(i, cause int) {
		if i == cause {
			return
		}
		fp := fs[cause].Fingerprint
		for _, c := range fs[i].CausedBy {
			if c == fp {
				return
			}
		}
		fs[i].CausedBy = append(fs[i].CausedBy, fp)
	}
	// nodeCauses links finding i to the deepest node-level causes on the given nodes: a CNI
	// agent failing explains a NotReady node, which explains its pods.
	nodeCauses := func(i int, nodes map[string]bool) bool {
		linked := false
		for n := range nodes {
			for _, c := range byNode[n] {
				if fs[c].ID != "node.not-ready" || len(byNode[n]) == 1 {
					link(i, c)
					linked = true
				}
			}
		}
		return linked
	}
	for i, f := range fs {
		s := f.Subject
		switch f.ID {
		case "svc.no-endpoints":
			for _, cause := range []string{"svc.selector-mismatch", "svc.targetport-mismatch", "svc.pods-not-ready"} {
				if c, ok := bySubject[key{cause, s.Namespace, s.Name}]; ok {
					link(i, c)
				}
			}
			if c, ok := bySubject[key{"dns.coredns-down", "kube-system", "coredns"}]; ok && isDNSService(m, s) {
				link(i, c)
			}
		case "dns.service-broken":
			if c, ok := bySubject[key{"dns.coredns-down", "kube-system", "coredns"}]; ok && f.Key == "endpoints" {
				link(i, c)
			}
		case "svc.pods-not-ready":
			if c, ok := bySubject[key{"dns.coredns-down", "kube-system", "coredns"}]; ok && isDNSService(m, s) {
				link(i, c)
				continue
			}
			if svc := m.Service(s.Namespace, s.Name); svc != nil {
				nodeCauses(i, nodesOf(m, m.SelectPods(svc.Namespace, svc.Spec.Selector)))
			}
		case "dns.coredns-down":
			// A loop, a denial of its RBAC, or an unreachable API server explain the pods' crashes
			// better than the node they run on.
			linked := false
			if c, ok := bySubject[key{"dns.coredns-loop", "kube-system", "coredns"}]; ok {
				link(i, c)
				linked = true
			}
			for j, g := range fs {
				if (g.ID == "api.rbac-forbidden" && g.Subject.Namespace == "kube-system" && g.Subject.Name == "coredns") ||
					(g.ID == "api.unreachable" && isDNSPod(m, g.Subject)) {
					link(i, j)
					linked = true
				}
			}
			if !linked {
				nodeCauses(i, nodesOf(m, dnsPods(m)))
			}
		case "api.unreachable":
			// The kubernetes Service itself, else what is wrong on the pod's node.
			if c, ok := bySubject[key{"api.service-broken", "default", "kubernetes"}]; ok {
				link(i, c)
			}
			if s.Node != "" {
				nodeCauses(i, map[string]bool{s.Node: true})
				for j, g := range fs {
					if strings.HasPrefix(g.ID, "kube-proxy.") && g.Subject.Node == s.Node {
						link(i, j)
					}
				}
			}
		}
		if s.Node == "" {
			continue
		}
		if unreachable[s.Node] && f.ID != "node.not-ready" {
			// A node whose kubelet stopped reporting explains everything else seen on it:
			// its agents' pods are not Ready because the node is gone, not the reverse.
			for _, c := range onNode[s.Node] {
				if fs[c].ID == "node.not-ready" {
					link(i, c)
				}
			}
			continue
		}
		for _, causeID := range sameNodeCauses[f.ID] {
			if causeID == "cni.pod-crashloop" && f.ID == "node.not-ready" && unreachable[s.Node] {
				continue
			}
			for _, c := range onNode[s.Node] {
				if fs[c].ID == causeID {
					link(i, c)
				}
			}
		}
		switch f.ID {
		case "route.podcidr-missing":
			// Routes to a peer's podCIDR are installed by the CNI agents; an agent failing on
			// any node explains routes missing towards it.
			if len(fs[i].CausedBy) == 0 {
				for j, g := range fs {
					if g.ID == "cni.pod-crashloop" || g.ID == "cni.config-missing" {
						link(i, j)
					}
				}
			}
		case "dns.path-broken":
			for _, cause := range []key{{"dns.coredns-down", "kube-system", "coredns"}, {"dns.service-broken", "kube-system", "kube-dns"}} {
				if c, ok := bySubject[cause]; ok {
					link(i, c)
				}
			}
		}
	}
	reduceToRoots(fs)
}

// reduceToRoots replaces each finding's causes by the root causes they lead to (the findings
// caused by nothing), so a reader is sent straight to what to fix first.
func reduceToRoots(fs []finding.Finding) {
	byFP := make(map[string]int, len(fs))
	for i, f := range fs {
		byFP[f.Fingerprint] = i
	}
	var roots func(i int, seen map[int]bool) []string
	roots = func(i int, seen map[int]bool) []string {
		if seen[i] {
			return nil // a cycle: stop here
		}
		seen[i] = true
		if len(fs[i].CausedBy) == 0 {
			return []string{fs[i].Fingerprint}
		}
		var out []string
		for _, fp := range fs[i].CausedBy {
			if j, ok := byFP[fp]; ok {
				out = append(out, roots(j, seen)...)
			}
		}
		return out
	}
	reduced := make([][]string, len(fs))
	for i := range fs {
		if len(fs[i].CausedBy) == 0 {
			continue
		}
		var list []string
		seen := map[string]bool{}
		for _, fp := range roots(i, map[int]bool{}) {
			if !seen[fp] && fp != fs[i].Fingerprint {
				seen[fp] = true
				list = append(list, fp)
			}
		}
		// Keep report order so "#7 #8" reads naturally.
		sort.Slice(list, func(a, b int) bool { return byFP[list[a]] < byFP[list[b]] })
		reduced[i] = list
	}
	for i := range fs {
		if reduced[i] != nil {
			fs[i].CausedBy = reduced[i]
		}
	}
}

// sameNodeCauses says which faults on a node explain another fault on the same node: the CNI
// agent that cannot install its config explains the missing config, which explains the NotReady
// node and its missing routes; a kube-proxy that is down explains its missing or stale rules.
var sameNodeCauses = map[string][]string{
	"node.not-ready":           {"cni.pod-crashloop", "cni.config-missing"},
	"cni.pod-crashloop":        {"node.selinux-blocks-cni"},
	"cni.config-missing":       {"node.selinux-blocks-cni", "cni.pod-crashloop"},
	"route.podcidr-missing":    {"cni.pod-crashloop", "cni.config-missing", "node.selinux-blocks-cni"},
	"cni.sandbox-failed":       {"cni.config-missing", "cni.ipam-exhausted", "cni.pod-crashloop"},
	"kube-proxy.rules-missing": {"kube-proxy.not-running", "kube-proxy.log-errors"},
	"kube-proxy.rules-stale":   {"kube-proxy.not-running", "kube-proxy.log-errors"},
	"ipvs.no-real-servers":     {"kube-proxy.not-running", "kube-proxy.log-errors"},
	"kube-proxy.not-running":   {"node.not-ready"},
	"kube-proxy.log-errors":    {"api.rbac-forbidden"},
	"dns.path-broken": {"iptables.forward-drop", "sysctl.ip-forward-off", "sysctl.bridge-nf-off",
		"route.podcidr-missing", "cni.encap-blocked", "cni.config-missing", "cni.pod-crashloop",
		"kube-proxy.not-running", "kube-proxy.rules-missing", "kube-proxy.rules-stale", "link.down",
		"route.blackhole", "node.not-ready"},
}

func isDNSService(m *model.Model, s finding.Subject) bool {
	svc := dnsService(m)
	return svc != nil && svc.Namespace == s.Namespace && svc.Name == s.Name
}

// nodesOf returns the nodes of the pods that are not Ready. A pod that could not be scheduled
// because nodes are tainted not-ready or unreachable counts against every NotReady node.
func nodesOf(m *model.Model, pods []*model.Pod) map[string]bool {
	out := map[string]bool{}
	for _, p := range pods {
		if ready, _ := podReady(p); ready {
			continue
		}
		if p.Spec.NodeName != "" {
			out[p.Spec.NodeName] = true
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && (strings.Contains(c.Message, "node.kubernetes.io/not-ready") || strings.Contains(c.Message, "node.kubernetes.io/unreachable")) {
				for _, n := range m.Nodes {
					if !nodeIsReady(n) {
						out[n.Name] = true
					}
				}
			}
		}
	}
	return out
}

func nodeIsReady(n *model.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isDNSPod(m *model.Model, s finding.Subject) bool {
	for _, p := range dnsPods(m) {
		if p.Namespace == s.Namespace && p.Name == s.Name {
			return true
		}
	}
	return false
}
