package rules

import (
	"net/netip"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iproute"
)

// netfilterRules is this file's part of the catalogue; registry.go lists it.
var netfilterRules = []*Rule{
	iptablesForwardDrop,
	routePodCIDRMissing,
	cniCIDROverlap,
	cniEncapBlocked,
	routeBlackhole,
	iptablesBackendMixed,
	iptablesRejectHit,
}

// nfCIDR is a pod address range with its owner and where the bundle states it.
type nfCIDR struct {
	Node   string // "" for a cluster-wide range
	Prefix netip.Prefix
	// Ev quotes where the range is written. It is looked up only when a finding cites it: a
	// 2,000-node cluster's podCIDRs are checked on every node but rarely quoted.
	Ev   func() finding.Evidence
	What string // "podCIDR of node worker-1", "Calico IPPool default-ipv4-ippool"…
}

// nfNodePodCIDRs returns every node's spec.podCIDRs (or spec.podCIDR), in node order.
func nfNodePodCIDRs(m *model.Model) []nfCIDR {
	var out []nfCIDR
	for _, n := range m.Nodes {
		if len(n.Spec.PodCIDRs) > 0 {
			for i, s := range n.Spec.PodCIDRs {
				if p, err := netip.ParsePrefix(s); err == nil {
					out = append(out, nfCIDR{Node: n.Name, Prefix: p.Masked(), Ev: func() finding.Evidence { return m.Evidence(n.Src, "spec", "podCIDRs", itoa(i)) }, What: "podCIDR of node " + n.Name})
				}
			}
			continue
		}
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			out = append(out, nfCIDR{Node: n.Name, Prefix: p.Masked(), Ev: func() finding.Evidence { return m.Evidence(n.Src, "spec", "podCIDR") }, What: "podCIDR of node " + n.Name})
		}
	}
	return out
}

// nfCalicoBlocks returns Calico IPAM blocks with a host affinity: with Calico IPAM they, not
// spec.podCIDR, say which node owns which pod addresses.
func nfCalicoBlocks(m *model.Model) []nfCIDR {
	var out []nfCIDR
	for _, o := range m.Others {
		if o.GetKind() != "IPAMBlock" {
			continue
		}
		cidr, _, _ := unstructured.NestedString(o.Object, "spec", "cidr")
		aff, _, _ := unstructured.NestedString(o.Object, "spec", "affinity")
		node, ok := strings.CutPrefix(aff, "host:")
		p, err := netip.ParsePrefix(cidr)
		if !ok || err != nil {
			continue
		}
		out = append(out, nfCIDR{Node: node, Prefix: p.Masked(), Ev: func() finding.Evidence { return m.Evidence(o.Src, "spec", "cidr") }, What: "Calico IPAM block of node " + node})
	}
	return out
}

// nfIPPools returns the enabled Calico IPPools.
func nfIPPools(m *model.Model) []nfCIDR {
	var out []nfCIDR
	for _, o := range m.Others {
		if o.GetKind() != "IPPool" {
			continue
		}
		if d, ok := o.Object["spec"].(map[string]any); ok && d["disabled"] == true {
			continue
		}
		cidr, _, _ := unstructured.NestedString(o.Object, "spec", "cidr")
		if p, err := netip.ParsePrefix(cidr); err == nil {
			out = append(out, nfCIDR{Prefix: p.Masked(), Ev: func() finding.Evidence { return m.Evidence(o.Src, "spec", "cidr") }, What: "Calico IPPool " + o.GetName()})
		}
	}
	return out
}

// nfPeerCIDRs returns the per-node pod ranges: Calico IPAM blocks when the bundle has them,
// else the nodes' podCIDRs.
func nfPeerCIDRs(m *model.Model) []nfCIDR {
	return memoize(m, "nfPeerCIDRs", func() []nfCIDR {
		if b := nfCalicoBlocks(m); len(b) > 0 {
			return b
		}
		return nfNodePodCIDRs(m)
	})
}

// nfClusterCIDRs returns the cluster's pod range: kube-proxy's clusterCIDR, else the IPPools,
// else the union of the node podCIDRs; and says where it came from.
func nfClusterCIDRs(m *model.Model) ([]nfCIDR, string) {
	if kp := m.KubeProxyConfig(); kp != nil && kp.ClusterCIDR != "" {
		var out []nfCIDR
		for _, s := range strings.Split(kp.ClusterCIDR, ",") {
			if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
				out = append(out, nfCIDR{Prefix: p.Masked(), Ev: func() finding.Evidence { return m.KubeProxyEvidence(kp, "clusterCIDR") }, What: "kube-proxy clusterCIDR"})
			}
		}
		if len(out) > 0 {
			return out, "kube-proxy clusterCIDR"
		}
	}
	if pools := nfIPPools(m); len(pools) > 0 {
		return pools, "Calico IPPools"
	}
	return nfNodePodCIDRs(m), "node podCIDRs"
}

// nfNodeIP returns a node's InternalIP (the first IPv4 one, else the first), and its index in
// status.addresses.
func nfNodeIP(n *model.Node) (netip.Addr, int) {
	var best netip.Addr
	idx := -1
	for i, a := range n.Status.Addresses {
		if a.Type != "InternalIP" {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		if !best.IsValid() || (ip.Is4() && !best.Is4()) {
			best, idx = ip, i
		}
	}
	return best, idx
}

// nfNodeByIP maps every InternalIP to its node.
func nfNodeIPs(m *model.Model) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, n := range m.Nodes {
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" || a.Type == "ExternalIP" {
				if ip, err := netip.ParseAddr(a.Address); err == nil {
					out[ip] = n.Name
				}
			}
		}
	}
	return out
}

// nfLookup resolves addr on a node as the kernel would for forwarded traffic: the policy
// rules without source, mark or interface conditions in priority order (or local, then main
// when the bundle has no ip rule capture), the longest prefix in each table, `throw` and
// suppress_prefixlength moving on. rule is the ip rule line that decided, when it was an action
// (prohibit, unreachable, blackhole) rather than a table.
func nfLookup(nd *model.NodeData, addr netip.Addr) (rt iproute.Route, ok bool, rule *iproute.Rule) {
	if nd.Routes == nil {
		return rt, false, nil
	}
	if nd.Rules == nil || len(nd.Rules.Rules) == 0 {
		for _, t := range []string{"local", "main"} {
			if r, ok := nd.Routes.Lookup(t, addr); ok && r.Type != "throw" {
				return r, true, nil
			}
		}
		return rt, false, nil
	}
	rules := append([]iproute.Rule(nil), nd.Rules.Rules...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	for i := range rules {
		ru := &rules[i]
		if ru.Not || ru.FwMark != nil || ru.IIF != "" || ru.OIF != "" || (ru.From.IsValid() && ru.From.Bits() > 0) {
			continue
		}
		if ru.To.IsValid() && !ru.To.Contains(addr) {
			continue
		}
		switch ru.Action {
		case "lookup":
			r, ok := nd.Routes.Lookup(ru.Table, addr)
			if !ok || r.Type == "throw" {
				continue
			}
			if ru.SuppressPrefixLength != nil && r.Dst.Bits() <= *ru.SuppressPrefixLength {
				continue
			}
			return r, true, nil
		case "blackhole", "unreachable", "prohibit":
			return iproute.Route{Type: ru.Action, Line: ru.Line}, true, ru
		}
	}
	return rt, false, nil
}

// nfHost returns the first host address of a prefix (the network address itself for /31, /32).
func nfHost(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if p.Bits() < a.BitLen()-1 {
		return a.Next()
	}
	return a
}

// nfTunnelDevice tells whether a device is an overlay tunnel or CNI device, by name or kind.
func nfTunnelDevice(nd *model.NodeData, dev string) bool {
	for _, p := range []string{"flannel", "tunl", "vxlan", "cilium_", "weave", "wg", "wireguard", "genev", "antrea-", "ovn", "kube-ipvs", "nodelocaldns", "cali", "cni", "cbr", "kube-bridge", "vx-"} {
		if strings.HasPrefix(dev, p) {
			return true
		}
	}
	if nd.Links != nil {
		if l := nd.Links.ByName(dev); l != nil {
			switch l.Kind {
			case "vxlan", "ipip", "geneve", "wireguard", "bridge", "gre", "sit", "ip6tnl":
				return true
			}
		}
	}
	return false
}
