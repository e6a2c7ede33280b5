package rules

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iptables"
)

var kubeProxyNotRunning = &Rule{
	ID:       "kube-proxy.not-running",
	Severity: finding.Critical,
	Title:    "kube-proxy is not running on a node",
	Inputs:   Kinds("Pod", "Node"),
	Doc: "Where the cluster relies on kube-proxy (not Cilium's kube-proxy replacement), every " +
		"node needs a Ready kube-proxy pod and the dataplane it writes: the nat KUBE-SERVICES " +
		"chain in iptables mode, IPVS virtual servers (and the kube-ipvs0 device) in IPVS mode. " +
		"Without it, no ClusterIP works from that node.",
	Check: func(c *Context) {
		mode, ok := proxyModeFor(c)
		if !ok {
			return
		}
		m := c.Model
		st := proxyState(m)
		pods := kubeProxyPods(m)
		ds := kubeProxyDaemonSet(m)
		// Pods are only expected where kube-proxy runs as pods: a cluster running it as a
		// systemd service has none anywhere.
		expectPods := ds != nil || len(pods) > 0
		known := map[string]bool{}
		for _, n := range m.Nodes {
			known[n.Name] = true
		}
		for _, name := range m.NodeNames() {
			var why []string
			var ev []finding.Evidence
			if expectPods && known[name] {
				w, e := kubeProxyPodProblem(m, name, pods[name], ds)
				why, ev = append(why, w...), append(ev, e...)
			}
			nd := m.NodeData(name)
			w, e := dataplaneAbsent(c, nd, st.node(nd), mode)
			why, ev = append(why, w...), append(ev, e...)
			if len(why) == 0 {
				continue
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("kube-proxy (%s mode) is not working on node %s: %s. No ClusterIP works from this node: pods there cannot reach Services, DNS included.",
					mode, name, strings.Join(why, "; ")),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# the kube-proxy pod of the node, and why it is not Ready
kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide --field-selector spec.nodeName=%[1]s
kubectl -n kube-system describe $(kubectl -n kube-system get pods -l k8s-app=kube-proxy --field-selector spec.nodeName=%[1]s -o name)
kubectl -n kube-system logs $(kubectl -n kube-system get pods -l k8s-app=kube-proxy --field-selector spec.nodeName=%[1]s -o name) --previous --tail=100
# on the node: the rules it should have written
iptables-save -t nat | grep -c KUBE-SERVICES; ipvsadm -Ln | head
# restart it (the DaemonSet recreates the pod)
kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=%[1]s`, name),
			})
		}
	},
}

// kubeProxyPodProblem says why a node has no healthy kube-proxy pod, or nothing when it has one.
func kubeProxyPodProblem(m *model.Model, node string, pods []*model.Pod, ds *model.DaemonSet) ([]string, []finding.Evidence) {
	for _, p := range pods {
		if isReady(p) {
			return nil, nil
		}
	}
	if len(pods) > 0 {
		p := pods[0]
		why, ev := podProblem(m, p)
		return []string{fmt.Sprintf("its pod %s is not Ready (%s)", p.Name, why)}, ev
	}
	n := m.Node(node)
	if ds != nil && n != nil {
		// A DaemonSet that does not target the node (Windows nodes, a pool without kube-proxy)
		// is not a missing pod.
		if sel := ds.Spec.Template.Spec.NodeSelector; len(sel) > 0 && !labels.SelectorFromSet(sel).Matches(labels.Set(n.Labels)) {
			return nil, nil
		}
		ev := []finding.Evidence{m.Evidence(n.Src, "metadata", "name"), m.Evidence(ds.Src, "status", "numberReady")}
		return []string{fmt.Sprintf("DaemonSet kube-system/%s has no pod on it (%d desired, %d ready cluster-wide)",
			ds.Name, ds.Status.DesiredNumberScheduled, ds.Status.NumberReady)}, ev
	}
	if n != nil {
		return []string{"no kube-proxy pod runs on it, while other nodes have one"}, []finding.Evidence{m.Evidence(n.Src, "metadata", "name")}
	}
	return nil, nil
}

// dataplaneAbsent says whether the rules kube-proxy writes are missing from a node altogether.
func dataplaneAbsent(c *Context, nd *model.NodeData, ix *nodeIndex, mode string) ([]string, []finding.Evidence) {
	switch mode {
	case "iptables":
		if nd.IPTables == nil {
			c.NodeLacks(nd, model.CapIPTables)
			return nil, nil
		}
		if ix.v4.services != nil && ix.v4.services.Len() > 0 {
			return nil, nil
		}
		why := "its iptables nat table has no KUBE-SERVICES rules"
		var ev []finding.Evidence
		switch {
		case ix.v4.services != nil:
			why = "its nat KUBE-SERVICES chain is declared but empty"
			ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, ix.v4.services.Line()))
		case ix.v4.nat != nil:
			ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, ix.v4.nat.Line))
		default:
			why = "its iptables dump has no nat table"
			ev = append(ev, finding.Evidence{File: nd.Path(model.CapIPTables), Excerpt: "no *nat table"})
		}
		// The rules may be in the other backend: kube-proxy and the node's iptables disagree.
		for _, other := range []struct {
			d   *iptables.Dump
			cap string
		}{{nd.IPTablesLegacy, model.CapIPTablesLegacy}, {nd.IPTablesNFT, model.CapIPTablesNFT}} {
			if o := indexIPTables(other.d, nil); o != nil && o.services != nil && o.services.Len() > 0 {
				why += fmt.Sprintf(", but %s has them: kube-proxy writes to the other iptables backend than the node's iptables-save shows (see iptables.backend-mixed)", other.cap)
				ev = append(ev, c.NodeEvidence(nd, other.cap, o.services.Rule(0).Line))
				break
			}
		}
		return []string{why}, ev
	case "ipvs":
		if nd.IPVS == nil {
			c.NodeLacks(nd, model.CapIPVS)
			return nil, nil
		}
		if len(nd.IPVS.VirtualServers) > 0 {
			return nil, nil
		}
		if nd.Links != nil && nd.Links.ByName("kube-ipvs0") != nil || nd.Addrs != nil && nd.Addrs.ByName("kube-ipvs0") != nil {
			return nil, nil
		}
		ev := []finding.Evidence{{File: nd.Path(model.CapIPVS), Excerpt: "no IPVS virtual server"}}
		if f := c.Model.Bundle.File(nd.Path(model.CapIPVS)); f != nil && f.Lines() > 0 {
			ev = []finding.Evidence{f.Evidence(1)}
		}
		return []string{"IPVS has no virtual servers and there is no kube-ipvs0 device"}, ev
	}
	return nil, nil
}
