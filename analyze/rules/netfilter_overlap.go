package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

var cniCIDROverlap = &Rule{
	ID:       "cni.cidr-overlap",
	Severity: finding.Critical,
	Title:    "Pod CIDR overlaps the node network, the Service CIDR or another node's podCIDR",
	Inputs:   Kinds("Node"),
	Doc: "The pod ranges (kube-proxy clusterCIDR, node podCIDRs, Calico IPPools) must not overlap " +
		"the node network (InternalIPs, the subnets of the nodes' own interfaces), the Service " +
		"range (kube-apiserver --service-cluster-ip-range, else the Services' ClusterIPs), nor " +
		"each other between nodes: overlapping addresses are routed to the wrong place.",
	Check: func(c *Context) {
		m := c.Model
		podCIDRs := nfNodePodCIDRs(m)
		cluster, _ := nfClusterCIDRs(m)
		var pods []nfCIDR
		seen := map[string]bool{}
		for _, list := range [][]nfCIDR{cluster, podCIDRs, nfIPPools(m)} {
			for _, pc := range list {
				k := pc.Prefix.String() + "|" + pc.What
				if !seen[k] {
					seen[k] = true
					pods = append(pods, pc)
				}
			}
		}
		if len(pods) == 0 {
			c.Note("no pod range known (no kube-proxy clusterCIDR, node podCIDR or IPPool): nothing to compare")
			return
		}
		overlapping := newOverlapIndex(pods).overlapping
		describe := func(list []nfCIDR) (string, []finding.Evidence) {
			var parts []string
			var ev []finding.Evidence
			for i, pc := range list {
				if i == 3 {
					parts = append(parts, fmt.Sprintf("and %d more", len(list)-3))
					break
				}
				parts = append(parts, fmt.Sprintf("%s %s", pc.What, pc.Prefix))
				ev = append(ev, pc.Ev())
			}
			return strings.Join(parts, ", "), ev
		}

		// The node network, per node.
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			var own []netip.Prefix
			for _, pc := range nfPeerCIDRs(m) {
				if pc.Node == name {
					own = append(own, pc.Prefix)
				}
			}
			type net struct {
				p    netip.Prefix
				what string
				ev   func() finding.Evidence // looked up only when quoted
			}
			var nets []net
			if nd.Addrs != nil {
				for _, iface := range nd.Addrs.Interfaces {
					if iface.Name == "lo" || strings.HasPrefix(iface.Name, "veth") || nfTunnelDevice(nd, iface.Name) {
						continue
					}
					for _, a := range iface.Addresses {
						if a.Scope == "host" || a.Scope == "link" || a.Prefix.Addr().IsLinkLocalUnicast() || a.Prefix.Addr().IsLoopback() {
							continue
						}
						if nfContainedIn(a.Prefix.Addr(), own) {
							continue // the node's own pod gateway
						}
						nets = append(nets, net{a.Prefix.Masked(), fmt.Sprintf("subnet %s of %s (%s)", a.Prefix.Masked(), iface.Name, a.Prefix), func() finding.Evidence {
							return c.readableEvidence(nd, model.CapAddr, a.Line, inetWord(a.Prefix)+" "+a.Prefix.String())
						}})
					}
				}
			} else if nd.Routes == nil && m.Node(name) == nil {
				c.NodeLacks(nd, model.CapAddr)
			}
			if n := m.Node(name); n != nil {
				for i, a := range n.Status.Addresses {
					if a.Type != "InternalIP" && a.Type != "ExternalIP" {
						continue
					}
					if ip, err := netip.ParseAddr(a.Address); err == nil {
						nets = append(nets, net{netip.PrefixFrom(ip, ip.BitLen()), string(a.Type) + " " + ip.String(), func() finding.Evidence {
							return m.Evidence(n.Src, "status", "addresses", itoa(i), "address")
						}})
					}
				}
			}
			var parts []string
			var ev []finding.Evidence
			reported := map[string]bool{}
			onlyProxy := true // every overlap is with kube-proxy's clusterCIDR alone
			for _, x := range nets {
				hit := overlapping(x.p)
				if len(hit) == 0 || reported[x.p.String()] {
					continue
				}
				for _, h := range hit {
					onlyProxy = onlyProxy && h.What == "kube-proxy clusterCIDR"
				}
				dup := false
				for _, y := range nets {
					dup = dup || (reported[y.p.String()] && y.p.Bits() < x.p.Bits() && y.p.Contains(x.p.Addr()))
				}
				if dup {
					continue // the InternalIP inside a subnet already named
				}
				reported[x.p.String()] = true
				d, pev := describe(hit)
				parts = append(parts, fmt.Sprintf("the node's %s overlaps %s", x.what, d))
				ev = append(ev, x.ev())
				ev = append(ev, pev...)
			}
			if len(parts) == 0 {
				continue
			}
			effect := "Packets for those addresses are routed to pods (or to the host) instead of where they belong: node-to-node traffic, the API server or pods breaks for the overlapping part."
			if onlyProxy {
				// kube-proxy uses clusterCIDR only to tell pod sources from others.
				effect = "kube-proxy takes those addresses for pods: it does not masquerade Service traffic from them (its rule `! -s <clusterCIDR> -j KUBE-MARK-MASQ`), so a client on the node network that reaches a Service through a node gets the reply straight from the pod, from an address it did not call, and drops it. If this is also the cluster's pod range, nodes can be given podCIDRs inside the node network."
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Key:     "node-network",
				Message: fmt.Sprintf("On node %s the pod network overlaps the node network: %s. %s",
					name, strings.Join(parts, "; "), effect),
				Evidence:    dedupeEvidence(ev),
				Remediation: nfOverlapFix(),
			})
		}

		// The Service range.
		if svcNets, ev := nfServiceRange(m); len(svcNets) > 0 {
			var parts []string
			var all []finding.Evidence
			for _, s := range svcNets {
				if hit := overlapping(s); len(hit) > 0 {
					d, pev := describe(hit)
					parts = append(parts, fmt.Sprintf("the Service range %s overlaps %s", s, d))
					all = append(all, ev)
					all = append(all, pev...)
				}
			}
			if len(parts) > 0 {
				c.Report(finding.Finding{
					Subject: finding.Subject{Kind: "Cluster", Name: "service-cidr"},
					Key:     "service-cidr",
					Message: fmt.Sprintf("%s. kube-proxy DNATs or steers every packet to such an address as Service traffic, so pods given those addresses are unreachable, and Services whose ClusterIP is also a pod IP misbehave.",
						nfCapitalize(strings.Join(parts, "; "))),
					Evidence:    dedupeEvidence(all),
					Remediation: nfOverlapFix(),
				})
			}
		} else {
			var parts []string
			var ev []finding.Evidence
			for _, s := range m.Services {
				a, err := netip.ParseAddr(s.Spec.ClusterIP)
				if err != nil {
					continue
				}
				hit := overlapping(netip.PrefixFrom(a, a.BitLen()))
				if len(hit) == 0 {
					continue
				}
				d, pev := describe(hit)
				parts = append(parts, fmt.Sprintf("Service %s/%s ClusterIP %s lies in %s", s.Namespace, s.Name, a, d))
				ev = append(ev, m.Evidence(s.Src, "spec", "clusterIP"))
				ev = append(ev, pev...)
			}
			if len(parts) > 0 {
				c.Report(finding.Finding{
					Subject: finding.Subject{Kind: "Cluster", Name: "service-cidr"},
					Key:     "service-cidr",
					Message: fmt.Sprintf("The Service range overlaps the pod range: %s. kube-proxy treats packets to these addresses as Service traffic, so a pod holding one is unreachable.",
						strings.Join(parts[:min(len(parts), 4)], "; ")),
					Evidence:    dedupeEvidence(ev[:min(len(ev), 8)]),
					Remediation: nfOverlapFix(),
				})
			}
		}

		// Node podCIDRs between themselves.
		for i := range podCIDRs {
			for j := 0; j < i; j++ {
				a, b := podCIDRs[i], podCIDRs[j]
				if a.Node == b.Node || !a.Prefix.Overlaps(b.Prefix) {
					continue
				}
				c.Report(finding.Finding{
					Subject: nodeSubject(a.Node),
					Key:     "podcidr:" + b.Node,
					Message: fmt.Sprintf("Node %s's podCIDR %s overlaps node %s's podCIDR %s: both nodes hand out the same pod addresses, and routes to one node's pods send packets to the other.",
						a.Node, a.Prefix, b.Node, b.Prefix),
					Evidence: []finding.Evidence{a.Ev(), b.Ev()},
					Remediation: `kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR
# podCIDRs are immutable: drain and delete one node, then re-join it so the node IPAM controller assigns a free range
# (check kube-controller-manager --cluster-cidr / --node-cidr-mask-size, or the CNI's IPAM, for why it gave a duplicate)`,
				})
			}
		}
	},
}

func nfContainedIn(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func nfCapitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// nfServiceRange reads kube-apiserver's --service-cluster-ip-range from its pod, with the line.
func nfServiceRange(m *model.Model) ([]netip.Prefix, finding.Evidence) {
	for _, p := range m.PodsIn("kube-system") {
		if !strings.HasPrefix(p.Name, "kube-apiserver") {
			continue
		}
		for ci, ctr := range p.Spec.Containers {
			for _, list := range []struct {
				field string
				vals  []string
			}{{"command", ctr.Command}, {"args", ctr.Args}} {
				for ai, a := range list.vals {
					v, ok := strings.CutPrefix(a, "--service-cluster-ip-range=")
					if !ok {
						continue
					}
					var out []netip.Prefix
					for _, s := range strings.Split(v, ",") {
						if pr, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
							out = append(out, pr.Masked())
						}
					}
					return out, m.Evidence(p.Src, "spec", "containers", itoa(ci), list.field, itoa(ai))
				}
			}
		}
	}
	return nil, finding.Evidence{}
}

func nfOverlapFix() string {
	return `# the ranges in play
kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR,IP:.status.addresses[0].address
kubectl -n kube-system get configmap kube-proxy -o yaml | grep -i clustercidr
kubectl -n kube-system get pod -l component=kube-apiserver -o yaml | grep service-cluster-ip-range
# there is no in-place fix: re-plan the pod range (CNI config, kube-controller-manager --cluster-cidr,
# kube-proxy clusterCIDR) to a block used nowhere on the node network or by Services, then roll the nodes`
}

// inetWord is how `ip addr` names an address's family.
func inetWord(p netip.Prefix) string {
	if p.Addr().Is6() && !p.Addr().Is4In6() {
		return "inet6"
	}
	return "inet"
}

// overlapIndex finds which of a list of ranges overlap a prefix without comparing it with each:
// a 2,000-node cluster's podCIDRs checked against every node's networks and every Service's
// ClusterIP were ~20 million comparisons (0.7 s of CPU on large). Two prefixes overlap when one
// holds the other's first address: the ranges holding x's are found by x's first address cut
// to each length the list has, the ranges whose first address x holds by a binary search of
// them sorted by it.
type overlapIndex struct {
	list    []nfCIDR
	byStart []int32 // indexes into list, by the range's first address
	exact   map[netip.Prefix][]int32
	lengths []int // the prefix lengths in list, each once
}

func newOverlapIndex(list []nfCIDR) *overlapIndex {
	x := &overlapIndex{list: list, exact: map[netip.Prefix][]int32{}}
	seen := map[int]bool{}
	for i, pc := range list {
		p := pc.Prefix.Masked()
		if !p.IsValid() {
			continue
		}
		x.byStart = append(x.byStart, int32(i))
		x.exact[p] = append(x.exact[p], int32(i))
		if !seen[p.Bits()] {
			seen[p.Bits()] = true
			x.lengths = append(x.lengths, p.Bits())
		}
	}
	slices.SortStableFunc(x.byStart, func(a, b int32) int {
		return x.list[a].Prefix.Masked().Addr().Compare(x.list[b].Prefix.Masked().Addr())
	})
	return x
}

// overlapping is the ranges of the list that overlap p, in the list's order.
func (x *overlapIndex) overlapping(p netip.Prefix) []nfCIDR {
	p = p.Masked()
	if !p.IsValid() {
		return nil
	}
	var hit []int32
	// Ranges that hold p's first address.
	for _, bits := range x.lengths {
		if bits > p.Addr().BitLen() {
			continue
		}
		if q, err := p.Addr().Prefix(bits); err == nil {
			hit = append(hit, x.exact[q]...)
		}
	}
	// Ranges whose first address p holds.
	start := p.Addr()
	i, _ := slices.BinarySearchFunc(x.byStart, start, func(k int32, a netip.Addr) int {
		return x.list[k].Prefix.Masked().Addr().Compare(a)
	})
	for ; i < len(x.byStart) && p.Contains(x.list[x.byStart[i]].Prefix.Masked().Addr()); i++ {
		hit = append(hit, x.byStart[i])
	}
	if len(hit) == 0 {
		return nil
	}
	slices.Sort(hit)
	hit = slices.Compact(hit)
	out := make([]nfCIDR, len(hit))
	for k, i := range hit {
		out[k] = x.list[i]
	}
	return out
}
