package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/ipvsadm"
)

// The three dataplane-versus-API rules (rules-missing, rules-stale, ipvs.no-real-servers)
// report one finding per node, listing the Service ports concerned. A node's kube-proxy is
// one process syncing every Service: when it falls behind, hundreds of Services go wrong on
// that node at once, and the fix (read its log, restart it) is per node. One finding per
// Service would bury that single cause under as many findings as Services, and per Service
// and node would multiply it again by the node count.

// nodeDataplane is what a proxy rule reads on one node, or nil with a note when it cannot.
type nodeDataplane struct {
	nd  *model.NodeData
	ix  *nodeIndex
	cap string // model.CapIPTables or model.CapIPVS
}

// dataplanes returns the nodes a dataplane rule can check in the given mode. A node lacking the
// capture is noted; a node whose kube-proxy dataplane is absent altogether is noted and left to
// kube-proxy.not-running, which says so once instead of listing every Service.
func dataplanes(c *Context, mode string) []nodeDataplane {
	st := proxyState(c.Model)
	var out []nodeDataplane
	for _, nd := range nodesWithData(c.Model) {
		ix := st.node(nd)
		switch mode {
		case "iptables":
			if ix.v4 == nil {
				c.NodeLacks(nd, model.CapIPTables)
				continue
			}
			if ix.v4.services == nil || ix.v4.services.Len() == 0 {
				c.Note("node %s not checked: no KUBE-SERVICES rules in its nat table at all (see kube-proxy.not-running)", nd.Name)
				continue
			}
			out = append(out, nodeDataplane{nd: nd, ix: ix, cap: model.CapIPTables})
		case "ipvs":
			if ix.ipvs == nil {
				c.NodeLacks(nd, model.CapIPVS)
				continue
			}
			if len(ix.ipvs.table.VirtualServers) == 0 {
				c.Note("node %s not checked: no IPVS virtual servers at all (see kube-proxy.not-running)", nd.Name)
				continue
			}
			out = append(out, nodeDataplane{nd: nd, ix: ix, cap: model.CapIPVS})
		}
	}
	return out
}

var kubeProxyRulesMissing = &Rule{
	ID:       "kube-proxy.rules-missing",
	Severity: finding.Critical,
	Title:    "Service has no kube-proxy rule on a node",
	Inputs:   Kinds("Service", "EndpointSlice"), // the capture needed depends on the mode: dataplanes() notes nodes lacking it
	Doc: "Every Service port with ready endpoints must have a rule on every node: in iptables " +
		"mode a nat KUBE-SERVICES rule matching -d ClusterIP/32 -p proto --dport port, in IPVS " +
		"mode a virtual server ClusterIP:port. Without it, connections to the ClusterIP from " +
		"that node leave unrouted and time out. Reported per node, listing the Service ports.",
	Check: func(c *Context) {
		mode, ok := proxyModeFor(c)
		if !ok {
			return
		}
		m := c.Model
		st := proxyState(m)
		nodes := dataplanes(c, mode)
		missingOn := map[*svcPort]int{}
		type miss struct {
			sp     *svcPort
			reject string // evidence line of a "has no endpoints" REJECT, if any
		}
		perNode := make([][]miss, len(nodes))
		for i, dp := range nodes {
			for _, sp := range st.ports {
				if want, _ := sp.expected(dp.nd.Name); len(want) == 0 {
					continue // no ready endpoint: kube-proxy rightly REJECTs (svc.no-endpoints)
				}
				switch mode {
				case "iptables":
					ix := dp.ix.ipt(sp.vip.addr)
					if ix == nil {
						continue // an IPv6 ClusterIP and no ip6tables capture
					}
					if _, ok := ix.clusterIP[sp.vip]; ok {
						continue
					}
					mi := miss{sp: sp}
					if r, ok := ix.noEndpoints[sp.vip]; ok {
						mi.reject = r.Raw()
					}
					perNode[i] = append(perNode[i], mi)
				case "ipvs":
					if dp.ix.ipvs.find(sp.vip) != nil {
						continue
					}
					perNode[i] = append(perNode[i], miss{sp: sp})
				}
				missingOn[sp]++
			}
		}
		for i, dp := range nodes {
			misses := perNode[i]
			if len(misses) == 0 {
				continue
			}
			nd := dp.nd
			var items []string
			var ev []finding.Evidence
			everywhere, rejected := 0, 0
			for j, mi := range misses {
				sp := mi.sp
				want, _ := sp.expected(nd.Name)
				item := fmt.Sprintf("%s (ClusterIP %s, %d ready endpoint(s))", sp.name(), sp.vip, len(want))
				if mi.reject != "" {
					item += ", REJECTed as \"has no endpoints\""
					rejected++
				}
				if missingOn[sp] == len(nodes) && len(nodes) > 1 {
					everywhere++
				}
				items = append(items, item)
				if j < 4 {
					ev = append(ev, m.Evidence(sp.svc.Src, "spec", "clusterIP"), m.Evidence(sp.svc.Src, "spec", "ports", itoa(sp.index), "port"))
					if len(want) > 0 {
						ev = append(ev, endpointEvidence(m, want[0].ep))
					}
				}
			}
			var confirm string
			switch dp.cap {
			case model.CapIPTables:
				ix := dp.ix.v4
				ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, ix.services.Line()))
				for _, mi := range misses {
					if r, ok := dp.ix.ipt(mi.sp.vip.addr).noEndpoints[mi.sp.vip]; ok {
						ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, r.Line))
						break
					}
				}
				confirm = fmt.Sprintf("# on node %s: the nat rule for the ClusterIP should be there\niptables-save -t nat | grep -- '-d %s/%d'",
					nd.Name, misses[0].sp.vip.addr, misses[0].sp.vip.addr.BitLen())
			case model.CapIPVS:
				ev = append(ev, finding.Evidence{File: nd.Path(model.CapIPVS),
					Excerpt: fmt.Sprintf("no virtual server %s %s", strings.ToUpper(misses[0].sp.vip.proto), netip.AddrPortFrom(misses[0].sp.vip.addr, misses[0].sp.vip.port))})
				confirm = fmt.Sprintf("# on node %s: the virtual server for the ClusterIP should be there\nipvsadm -Ln -t %s",
					nd.Name, netip.AddrPortFrom(misses[0].sp.vip.addr, misses[0].sp.vip.port))
				if misses[0].sp.vip.proto == "udp" {
					confirm = strings.Replace(confirm, "ipvsadm -Ln -t", "ipvsadm -Ln -u", 1)
				}
			}
			msg := fmt.Sprintf("Node %s has no %s rule for %d Service port(s) with ready endpoints, so connections from this node to these ClusterIPs reach no pod: %s.",
				nd.Name, modeWord(mode), len(misses), listMore(items, 8))
			switch {
			case everywhere == len(misses):
				msg += " No checked node has them: kube-proxy is not receiving these Services anywhere (API access, RBAC), or they were created after the node captures were taken."
			case everywhere == 0 && len(nodes) > 1:
				msg += " Other nodes have them: kube-proxy on this node stopped syncing."
			}
			if rejected > 0 {
				msg += " A REJECT \"has no endpoints\" means this node's kube-proxy last saw the Service without endpoints and has not synced since."
			}
			c.Report(finding.Finding{
				Subject:     nodeSubject(nd.Name),
				Key:         nd.Name,
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: confirm + "\n" + restartKubeProxy(m, nd.Name),
			})
		}
	},
}

func modeWord(mode string) string {
	if mode == "ipvs" {
		return "IPVS"
	}
	return "iptables"
}

var kubeProxyRulesStale = &Rule{
	ID:       "kube-proxy.rules-stale",
	Severity: finding.Critical,
	Title:    "kube-proxy rules on a node point at the wrong endpoints",
	Inputs:   Kinds("Service", "EndpointSlice"), // the capture needed depends on the mode: dataplanes() notes nodes lacking it
	Doc: "The DNAT targets of a Service's KUBE-SVC chain (iptables) or the real servers of its " +
		"virtual server (IPVS) must be its ready endpoints. Extra ones send a share of the " +
		"connections to pods that are gone or not ready; missing ones leave new pods without " +
		"traffic. Extra endpoints are told apart: deleted pod, not-Ready pod, other pod. IPVS " +
		"real servers at weight 0 are draining (graceful termination), not stale.",
	Check: func(c *Context) {
		mode, ok := proxyModeFor(c)
		if !ok {
			return
		}
		m := c.Model
		st := proxyState(m)
		tmemo := memoize(m, "kube-proxy.rules-stale targets", func() *targetsMemo { return &targetsMemo{} })
		for _, dp := range dataplanes(c, mode) {
			nd := dp.nd
			var items []string
			var ev []finding.Evidence
			deleted := 0
			var slotsOf *iptIndex // the index slots are for
			var slots targetSlots
			for _, sp := range st.ports {
				want, allowed := sp.expected(nd.Name)
				var programmed map[netip.AddrPort]int // address → evidence line
				// the rule or virtual server's line, for evidence only
				var anchor func() int
				switch mode {
				case "iptables":
					ix := dp.ix.ipt(sp.vip.addr)
					if ix == nil {
						continue
					}
					i, ok := ix.clusterIP[sp.vip]
					if !ok {
						continue // kube-proxy.rules-missing
					}
					if slotsOf != ix {
						slotsOf, slots = ix, tmemo.slots(ix)
					}
					ts := ix.targets(int(i), slots, tmemo)
					if agrees(ts, targetAddr, want, allowed) {
						continue // the common case, checked without building maps
					}
					anchor = func() int { return ix.services.Rule(int(i)).Line }
					programmed = map[netip.AddrPort]int{}
					for _, t := range ts {
						programmed[t.addr] = t.line(ix.nat)
					}
				case "ipvs":
					vs := dp.ix.ipvs.find(sp.vip)
					if vs == nil || len(vs.RealServers) == 0 {
						continue // rules-missing, ipvs.no-real-servers
					}
					if agrees(vs.RealServers, realServerAddr, want, allowed) {
						continue
					}
					anchor = func() int { return vs.Line }
					programmed = map[netip.AddrPort]int{}
					for _, rs := range vs.RealServers {
						if !allowed.has(rs.Address) && rs.Weight == 0 {
							continue // draining after the endpoint went away
						}
						programmed[rs.Address] = rs.Line
					}
				}
				var extra, missing []string
				var lines []int
				var missEv []finding.Evidence
				for _, a := range sortedAddrs(programmed) {
					if allowed.has(a) {
						continue
					}
					why := whoIs(m, sp, a)
					if strings.HasPrefix(why, "no pod") {
						deleted++
					}
					extra = append(extra, a.String()+" ("+why+")")
					lines = append(lines, programmed[a])
				}
				for _, e := range want {
					if _, ok := programmed[e.addr]; !ok {
						missing = append(missing, e.addr.String())
						if len(missing) == 1 {
							missEv = append(missEv, endpointEvidence(m, e.ep))
						}
					}
				}
				if len(extra) == 0 && len(missing) == 0 {
					continue
				}
				item := fmt.Sprintf("%s (ClusterIP %s)", sp.name(), sp.vip)
				if len(extra) > 0 {
					item += " sends to " + strings.Join(extra, ", ") + ", not a ready endpoint"
				}
				if len(missing) > 0 {
					if len(extra) > 0 {
						item += ", and"
					}
					item += " lacks ready endpoint(s) " + strings.Join(missing, ", ")
				}
				items = append(items, item)
				if len(items) <= 4 {
					ev = append(ev, c.NodeEvidence(nd, dp.cap, anchor()))
					for i, l := range lines {
						if i == 3 {
							break
						}
						ev = append(ev, c.NodeEvidence(nd, dp.cap, l))
					}
					ev = append(ev, missEv...)
				}
			}
			if len(items) == 0 {
				continue
			}
			msg := fmt.Sprintf("Node %s's %s rules disagree with the Services' ready endpoints for %d Service port(s): %s.",
				nd.Name, modeWord(mode), len(items), listMore(items, 8))
			if deleted > 0 {
				msg += " Endpoints whose pod no longer exists mean this node's kube-proxy stopped syncing before they were deleted: connections picked for them hang or are refused."
			} else {
				msg += " Connections from this node go to endpoints the API no longer lists, or never reach the new ones: kube-proxy on this node is not keeping up with EndpointSlice changes."
			}
			msg += " (If the endpoints changed within seconds of collection, re-collect before acting.)"
			var confirm string
			if mode == "ipvs" {
				confirm = fmt.Sprintf("# on node %s: compare the real servers with the EndpointSlices\nipvsadm -Ln\nkubectl get endpointslices -A -o wide", nd.Name)
			} else {
				confirm = fmt.Sprintf("# on node %s: compare the DNAT targets with the EndpointSlices\niptables-save -t nat | grep -- '--to-destination'\nkubectl get endpointslices -A -o wide", nd.Name)
			}
			c.Report(finding.Finding{
				Subject:     nodeSubject(nd.Name),
				Key:         nd.Name,
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: confirm + "\n" + restartKubeProxy(m, nd.Name),
			})
		}
	},
}

// whoIs says what an address programmed for a Service port is, when it is not a ready
// endpoint: the pod gone, the pod not Ready or terminating, or some other pod.
func whoIs(m *model.Model, sp *svcPort, a netip.AddrPort) string {
	if ep, ok := sp.notReady.find(a); ok {
		if ep.Pod != "" {
			return "pod " + ep.Pod + ", listed but not ready"
		}
		return "listed but not ready"
	}
	if _, ok := m.Has("Pod"); !ok {
		return "not a listed endpoint; pods not in the bundle"
	}
	pods := m.PodsByIP(a.Addr().String())
	if len(pods) == 0 {
		return "no pod has this IP any more: a deleted pod"
	}
	p := pods[0]
	switch {
	case p.DeletionTimestamp != nil:
		return "pod " + p.Namespace + "/" + p.Name + ", terminating"
	case !isReady(p):
		return "pod " + p.Namespace + "/" + p.Name + ", not Ready"
	}
	return "pod " + p.Namespace + "/" + p.Name + ", not selected by the Service"
}

func isReady(p *model.Pod) bool {
	ok, _ := podReady(p)
	return ok
}

var ipvsNoRealServers = &Rule{
	ID:       "ipvs.no-real-servers",
	Severity: finding.Critical,
	Title:    "IPVS virtual server has no real servers while the Service has ready endpoints",
	Inputs:   Kinds("Service", "EndpointSlice"), // ipvsadm.txt only matters in IPVS mode: the check says so per node
	Doc: "In IPVS mode kube-proxy adds a Service's ready endpoints as real servers of its " +
		"virtual server. A virtual server with none while the EndpointSlices list ready " +
		"endpoints means kube-proxy failed to program them on that node: the ClusterIP " +
		"accepts the SYN and nothing answers.",
	Check: func(c *Context) {
		mode, ok := proxyModeFor(c)
		if !ok {
			return
		}
		if mode != "ipvs" {
			c.Note("kube-proxy runs in %s mode: no IPVS virtual servers to check", mode)
			return
		}
		m := c.Model
		st := proxyState(m)
		for _, dp := range dataplanes(c, mode) {
			nd := dp.nd
			var items []string
			var ev []finding.Evidence
			for _, sp := range st.ports {
				vs := dp.ix.ipvs.find(sp.vip)
				if vs == nil || len(vs.RealServers) > 0 {
					continue
				}
				want, _ := sp.expected(nd.Name)
				if len(want) == 0 {
					continue
				}
				var names []string
				for i, e := range want {
					if i == 4 {
						names = append(names, fmt.Sprintf("and %d more", len(want)-4))
						break
					}
					names = append(names, e.addr.String())
				}
				items = append(items, fmt.Sprintf("%s (virtual server %s %s; ready endpoints %s)",
					sp.name(), vs.Protocol, vs.Address, strings.Join(names, ", ")))
				if len(items) <= 5 {
					ev = append(ev, c.NodeEvidence(nd, model.CapIPVS, vs.Line), endpointEvidence(m, want[0].ep))
				}
			}
			if len(items) == 0 {
				continue
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(nd.Name),
				Key:     nd.Name,
				Message: fmt.Sprintf("Node %s has IPVS virtual servers without any real server for %d Service port(s) whose EndpointSlices list ready endpoints: %s. Connections to these ClusterIPs from this node are accepted by IPVS and then go nowhere; kube-proxy on this node failed to add the endpoints.",
					nd.Name, len(items), listMore(items, 8)),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf("# on node %s: the virtual servers listed above have no '->' lines\nipvsadm -Ln\n", nd.Name) +
					restartKubeProxy(m, nd.Name),
			})
		}
	},
}

// agrees reports whether what a node programs for a Service port (DNAT targets, IPVS real
// servers) is all allowed and covers every wanted endpoint: the common case, told without the
// maps the report needs. addrOf gives an entry's address, and whether it is draining (an IPVS
// real server at weight 0, which need not be allowed).
func agrees[T any](xs []T, addrOf func(T) (a netip.AddrPort, draining bool), want, allowed epSet) bool {
	n := 0
	for _, x := range xs {
		a, draining := addrOf(x)
		if !allowed.has(a) {
			if draining {
				continue
			}
			return false
		}
		n++
	}
	if n < len(want) {
		return false
	}
	if len(want) > 16 {
		seen := make(map[netip.AddrPort]bool, len(xs))
		for _, x := range xs {
			a, _ := addrOf(x)
			seen[a] = true
		}
		for _, e := range want {
			if !seen[e.addr] {
				return false
			}
		}
		return true
	}
	for _, e := range want {
		a := e.addr
		found := false
		for _, x := range xs {
			if b, _ := addrOf(x); b == a {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func targetAddr(t dnatTarget) (netip.AddrPort, bool) { return t.addr, false }

func realServerAddr(rs *ipvsadm.RealServer) (netip.AddrPort, bool) {
	return rs.Address, rs.Weight == 0
}
