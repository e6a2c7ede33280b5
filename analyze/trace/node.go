package trace

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/iptables"
	"github.com/netsift/netsift/parsers/ipvsadm"
	"github.com/netsift/netsift/parsers/sysctl"
)

// tracer holds one trace's state.
type tracer struct {
	m      *model.Model
	req    Request
	proto  string
	target endpoint
	paths  int // branches created

	matches iptables.MatchBuf // room for the matches of the rule being evaluated
}

// each applies f to the in-flight paths and keeps the finished ones.
func each(ps []*path, f func(*path) []*path) []*path {
	var out []*path
	for _, p := range ps {
		if p.verdict != "" {
			out = append(out, p)
			continue
		}
		out = append(out, f(p)...)
	}
	return out
}

// arrive handles a packet entering p.node on p.pk.inIf: from a pod, the wire or a tunnel.
func (t *tracer) arrive(p *path) []*path {
	if ps, ok := t.bridged(p); ok {
		return ps
	}
	return each(t.hook([]*path{p}, "PREROUTING"), t.routeIn)
}

// bridged handles a pod's packet to a pod of its own bridge: the bridge switches it, and
// iptables sees it only when br_netfilter calls it (bridge-nf-call-iptables = 1).
func (t *tracer) bridged(p *path) ([]*path, bool) {
	if p.srcPod == nil || p.nodeHops > 0 || p.pk.dnatted {
		return nil, false
	}
	nd := t.m.NodeData(p.node)
	if nd.Routes == nil {
		return nil, false
	}
	r, ok := nd.Routes.Lookup("main", p.pk.dst)
	if !ok || r.Gateway.IsValid() || r.Dev != p.pk.inIf || !t.isBridge(nd, r.Dev) {
		return nil, false
	}
	dstPod := t.localPod(p.node, p.pk.dst)
	if dstPod == nil {
		return nil, false
	}
	callIPT, e, known := int64(0), sysctl.Entry{}, false
	if nd.Sysctl != nil {
		callIPT, e, known = nd.Sysctl.Int("net.bridge.bridge-nf-call-iptables")
	}
	hop := Hop{Node: p.node, Stage: "bridge", Verdict: "forward", Rule: t.ref(nd, model.CapRoute, r.Line),
		Note: fmt.Sprintf("same bridge %s: switched, not routed", r.Dev)}
	p.pk.outIf = r.Dev
	if !known || callIPT != 1 {
		if known {
			hop.Rule = t.ref(nd, model.CapSysctl, e.Line)
		}
		hop.Note += "; bridge-nf-call-iptables is not 1: iptables does not see the packet"
		p.add(hop)
		return t.deliverPod(p, dstPod), true
	}
	p.add(hop)
	ps := t.hook([]*path{p}, "PREROUTING")
	return each(ps, func(q *path) []*path {
		if q.pk.dst != dstPod.ip() {
			return t.routeIn(q) // DNAT sent it elsewhere: br_netfilter routes it
		}
		out := t.hook(t.hook([]*path{q}, "FORWARD"), "POSTROUTING")
		return each(out, func(q *path) []*path { return t.deliverPod(q, dstPod) })
	}), true
}

// routeIn is the input routing decision of an arrived packet, after PREROUTING.
func (t *tracer) routeIn(p *path) []*path {
	if !t.egress(p) {
		return []*path{p}
	}
	rd, ok := t.route(p)
	if !ok {
		return []*path{p}
	}
	if rd.local {
		p.pk.outIf = ""
		ps := t.hook([]*path{p}, "INPUT")
		return each(ps, t.localIn)
	}
	if !t.forwarding(p, rd) {
		return []*path{p}
	}
	p.pk.outIf = rd.r.Dev
	ps := t.hook(t.hook([]*path{p}, "FORWARD"), "POSTROUTING")
	return each(ps, func(q *path) []*path { return t.nextHop(q, rd) })
}

// localOut handles a packet a process of p.node sends: route, OUTPUT, (re-route after DNAT),
// POSTROUTING.
func (t *tracer) localOut(p *path) []*path {
	rd, ok := t.route(p)
	if !ok {
		return []*path{p}
	}
	nd := t.m.NodeData(p.node)
	if strings.HasPrefix(t.req.From, "node/") || !p.pk.src.IsValid() {
		if rd.r.PrefSrc.IsValid() {
			p.pk.src = rd.r.PrefSrc
		} else if a, ok := t.ifaceAddr(nd, rd.r.Dev); ok && !rd.local {
			p.pk.src = a
		}
	}
	p.pk.inIf = ""
	p.pk.outIf = rd.r.Dev
	if rd.local {
		p.pk.outIf = "lo"
	}
	before := p.pk.dst
	ps := t.hook([]*path{p}, "OUTPUT")
	return each(ps, func(q *path) []*path {
		rd := rd
		if q.pk.dst != before {
			var ok bool
			if rd, ok = t.route(q); !ok {
				return []*path{q}
			}
			q.pk.outIf = rd.r.Dev
			if rd.local {
				q.pk.outIf = "lo"
			}
		}
		if rd.local {
			if vs := t.virtualServer(q); vs != nil {
				return t.ipvs(q, vs) // IPVS catches local traffic at LOCAL_OUT
			}
			ps := t.hook(t.hook([]*path{q}, "POSTROUTING"), "INPUT")
			return each(ps, t.deliverLocal)
		}
		ps := t.hook([]*path{q}, "POSTROUTING")
		return each(ps, func(q *path) []*path { return t.nextHop(q, rd) })
	})
}

// localIn handles a packet accepted by INPUT: IPVS, or a local process.
func (t *tracer) localIn(p *path) []*path {
	if vs := t.virtualServer(p); vs != nil {
		return t.ipvs(p, vs)
	}
	return t.deliverLocal(p)
}

func (t *tracer) virtualServer(p *path) *ipvsadm.VirtualServer {
	nd := t.m.NodeData(p.node)
	if nd.IPVS == nil {
		return nil
	}
	if vs := nd.IPVS.Find(p.pk.proto, netip.AddrPortFrom(p.pk.dst, p.pk.dport)); vs != nil {
		return vs
	}
	if p.pk.mark != 0 {
		return nd.IPVS.FindFWMark(p.pk.mark)
	}
	return nil
}

// ipvs sends the packet to each real server of vs with weight > 0; none is where it dies.
func (t *tracer) ipvs(p *path, vs *ipvsadm.VirtualServer) []*path {
	nd := t.m.NodeData(p.node)
	var live []*ipvsadm.RealServer
	for _, rs := range vs.RealServers {
		if rs.Weight > 0 {
			live = append(live, rs)
		}
	}
	if len(live) == 0 {
		note := "IPVS virtual server has no real server: the kernel answers ICMP port unreachable"
		if len(vs.RealServers) > 0 {
			note = fmt.Sprintf("IPVS virtual server's %d real servers all have weight 0 (terminating): no new connection is scheduled", len(vs.RealServers))
		}
		p.fail(Rejected, Hop{Node: p.node, Stage: "ipvs", Verdict: "reject", Rule: t.ref(nd, model.CapIPVS, vs.Line), Note: note})
		return []*path{p}
	}
	var out []*path
	for i, rs := range live {
		q := p
		if i < len(live)-1 {
			q = p.clone()
			t.paths++
		}
		q.pk.dst = rs.Address.Addr()
		if rs.Address.Port() != 0 {
			q.pk.dport = rs.Address.Port()
		}
		q.pk.dnatted = true
		q.dnat = hostPort(q.pk.dst, q.pk.dport)
		note := fmt.Sprintf("IPVS %s %s → real server %s (%s)", vs.Protocol, vs.AddressText, q.dnat, rs.Forward)
		if len(live) > 1 {
			note += fmt.Sprintf("; %d of %d", i+1, len(live))
		}
		q.add(Hop{Node: q.node, Stage: "ipvs", Verdict: "dnat", Rule: t.ref(nd, model.CapIPVS, rs.Line), Note: note})
		out = append(out, t.ipvsOut(q)...)
	}
	return out
}

// ipvsOut routes a packet IPVS rewrote and sends it through POSTROUTING.
func (t *tracer) ipvsOut(p *path) []*path {
	rd, ok := t.route(p)
	if !ok {
		return []*path{p}
	}
	if rd.local {
		return t.deliverLocal(p)
	}
	p.pk.outIf = rd.r.Dev
	ps := t.hook([]*path{p}, "POSTROUTING")
	return each(ps, func(q *path) []*path { return t.nextHop(q, rd) })
}

// routeDecision is the result of the routing lookup.
type routeDecision struct {
	local bool
	r     iproute.Route
	table string
}

var defaultRules = []iproute.Rule{
	{Priority: 0, Action: "lookup", Table: "local"},
	{Priority: 32766, Action: "lookup", Table: "main"},
	{Priority: 32767, Action: "lookup", Table: "default"},
}

func normTable(s string) string {
	switch s {
	case "", "254":
		return "main"
	case "255":
		return "local"
	case "253":
		return "default"
	}
	return s
}

// route is the kernel's routing decision for the packet on p.node: ip rules by priority, each
// rule's table by longest prefix. It ends the path (and returns false) when there is no route,
// or the route discards the packet.
func (t *tracer) route(p *path) (routeDecision, bool) {
	nd := t.m.NodeData(p.node)
	dst := p.pk.dst
	if nd.Routes == nil {
		p.fail(Unknown, Hop{Node: p.node, Stage: "routing", Verdict: "unknown",
			Rule: &RuleRef{File: nd.Path(model.CapRoute) + ".txt", Text: "(no ip-route capture)"},
			Note: "the node's routes were not captured: " + t.m.Bundle.Capture(nd.Path(model.CapRoute)+".txt").Why()})
		return routeDecision{}, false
	}
	rules := defaultRules
	rulesCaptured := nd.Rules != nil && len(nd.Rules.Rules) > 0
	if rulesCaptured {
		rules = append([]iproute.Rule(nil), nd.Rules.Rules...)
		sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	}
	ruleRef := func(ru iproute.Rule) *RuleRef {
		if !rulesCaptured {
			return nil
		}
		return t.ref(nd, model.CapRule, ru.Line)
	}
	hasLocal := nd.Routes.HasTable("local")
	var tables []string
	for i := 0; i < len(rules); i++ {
		ru := rules[i]
		if !t.ruleMatches(ru, p) {
			continue
		}
		switch ru.Action {
		case "lookup", "":
			table := normTable(ru.Table)
			tables = append(tables, table)
			if table == "local" && !hasLocal {
				// The capture lacks the local table: the node's own addresses are what it holds.
				if nd.Addrs != nil {
					if ifc := nd.Addrs.Owner(dst); ifc != nil || dst.IsLoopback() {
						h := Hop{Node: p.node, Stage: "routing", Verdict: "local", Note: dst.String() + " is an address of this node"}
						if ifc != nil {
							h.Rule = t.addrRef(nd, ifc, dst)
							h.Note += " (" + ifc.Name + ")"
						}
						p.add(h)
						return routeDecision{local: true, table: "local", r: iproute.Route{Dev: "lo"}}, true
					}
				}
				continue
			}
			r, ok := nd.Routes.Lookup(table, dst)
			if !ok || r.Type == "throw" {
				continue
			}
			if ru.SuppressPrefixLength != nil && r.Dst.Bits() <= *ru.SuppressPrefixLength {
				continue
			}
			return t.useRoute(p, nd, r, table)
		case "goto":
			for j := i + 1; j < len(rules); j++ {
				if rules[j].Priority >= ru.Goto {
					i = j - 1
					break
				}
			}
		case "nop":
		case "blackhole":
			p.fail(Dropped, Hop{Node: p.node, Stage: "routing", Verdict: "drop", Rule: ruleRef(ru), Note: "ip rule blackhole"})
			return routeDecision{}, false
		case "unreachable":
			p.fail(NoRoute, Hop{Node: p.node, Stage: "routing", Verdict: "no-route", Rule: ruleRef(ru), Note: "ip rule unreachable"})
			return routeDecision{}, false
		case "prohibit":
			p.fail(Rejected, Hop{Node: p.node, Stage: "routing", Verdict: "reject", Rule: ruleRef(ru), Note: "ip rule prohibit"})
			return routeDecision{}, false
		default:
			p.fail(Unknown, Hop{Node: p.node, Stage: "routing", Verdict: "unknown", Rule: ruleRef(ru), Note: "ip rule action " + ru.Action + " is not simulated"})
			return routeDecision{}, false
		}
	}
	f := nd.Path(model.CapRoute)
	if bf := t.m.Bundle.File(f + ".json"); bf != nil {
		f = bf.Path
	} else if bf := t.m.Bundle.File(f + ".txt"); bf != nil {
		f = bf.Path
	}
	p.fail(NoRoute, Hop{Node: p.node, Stage: "routing", Verdict: "no-route",
		Rule: &RuleRef{File: f, Text: fmt.Sprintf("(no route to %s in table %s)", dst, strings.Join(dedupe(tables), ", "))},
		Note: fmt.Sprintf("no route to %s", dst)})
	return routeDecision{}, false
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (t *tracer) useRoute(p *path, nd *model.NodeData, r iproute.Route, table string) (routeDecision, bool) {
	ref := t.ref(nd, model.CapRoute, r.Line)
	h := Hop{Node: p.node, Stage: "routing", Rule: ref}
	switch r.Type {
	case "local":
		h.Verdict, h.Note = "local", p.pk.dst.String()+" is local to this node"
		if r.Dev != "" {
			h.Note += " (" + r.Dev + ")"
		}
		p.add(h)
		return routeDecision{local: true, r: r, table: table}, true
	case "blackhole":
		h.Verdict, h.Note = "drop", "blackhole route"
		p.fail(Dropped, h)
		return routeDecision{}, false
	case "unreachable":
		h.Verdict, h.Note = "no-route", "unreachable route: the sender gets ICMP host unreachable"
		p.fail(NoRoute, h)
		return routeDecision{}, false
	case "prohibit":
		h.Verdict, h.Note = "reject", "prohibit route: the sender gets ICMP administratively prohibited"
		p.fail(Rejected, h)
		return routeDecision{}, false
	case "", "unicast":
	default:
		h.Verdict, h.Note = "unknown", "route type "+r.Type+" is not simulated"
		p.fail(Unknown, h)
		return routeDecision{}, false
	}
	if r.Dev == "" && len(r.Nexthops) > 0 {
		// A multipath route: the first next hop stands for all (the choice is a hash).
		r.Gateway, r.Dev = r.Nexthops[0].Gateway, r.Nexthops[0].Dev
	}
	h.Verdict = "route"
	if r.Gateway.IsValid() {
		h.Note = fmt.Sprintf("via %s dev %s", r.Gateway, r.Dev)
	} else {
		h.Note = "directly on " + r.Dev
	}
	if table != "main" {
		h.Note += " (table " + table + ")"
	}
	p.add(h)
	return routeDecision{r: r, table: table}, true
}

func (t *tracer) ruleMatches(ru iproute.Rule, p *path) bool {
	ok := true
	if ru.From.IsValid() && !ru.From.Contains(p.pk.src) {
		ok = false
	}
	if ru.To.IsValid() && !ru.To.Contains(p.pk.dst) {
		ok = false
	}
	if !ru.MatchesMark(p.pk.mark) {
		ok = false
	}
	if ru.IIF != "" {
		in := p.pk.inIf
		if in == "" {
			in = "lo" // locally generated packets carry iif lo
		}
		if ru.IIF != in {
			ok = false
		}
	}
	if ru.OIF != "" {
		ok = false // only sockets bound to a device match oif
	}
	if ru.Not {
		return !ok
	}
	return ok
}

// addrRef cites the ip-addr line of addr on ifc.
func (t *tracer) addrRef(nd *model.NodeData, ifc *iproute.Interface, a netip.Addr) *RuleRef {
	for _, ad := range ifc.Addresses {
		if ad.Prefix.Addr() == a {
			return t.ref(nd, model.CapAddr, ad.Line)
		}
	}
	return t.ref(nd, model.CapAddr, ifc.Line)
}

// forwarding checks that the node forwards packets arriving on p.pk.inIf
// (net.ipv4.conf.<dev>.forwarding, which net.ipv4.ip_forward sets for every device).
func (t *tracer) forwarding(p *path, rd routeDecision) bool {
	nd := t.m.NodeData(p.node)
	if nd.Sysctl == nil || !p.pk.dst.Is4() {
		return true
	}
	s := nd.Sysctl
	dev := p.pk.inIf
	var (
		v   int64
		e   sysctl.Entry
		ok  bool
		key string
	)
	for _, k := range []string{sysctl.DeviceKey("net.ipv4.conf", dev, "forwarding"), "net.ipv4.conf." + dev + ".forwarding", "net.ipv4.conf.all.forwarding", "net.ipv4.ip_forward"} {
		if dev == "" || dev == "?" {
			if strings.Contains(k, "conf."+dev+".") || strings.Contains(k, "conf./") {
				continue
			}
		}
		if v, e, ok = s.Int(k); ok {
			key = k
			break
		}
	}
	if !ok || v != 0 {
		return true
	}
	cite := e
	if ipf, ef, ok := s.Int("net.ipv4.ip_forward"); ok && ipf == 0 {
		cite = ef
	}
	p.fail(Dropped, Hop{Node: p.node, Stage: "routing", Verdict: "drop", Rule: t.ref(nd, model.CapSysctl, cite.Line),
		Note: fmt.Sprintf("forwarding is disabled (%s = 0): the node does not route the packet from %s to %s", key, orDash(dev), rd.r.Dev)})
	return false
}

func orDash(s string) string {
	if s == "" || s == "?" {
		return "?"
	}
	return s
}

// nextHop sends the packet out of p.node along rd: to a local pod, or to the node that owns
// the next hop, where the trace continues.
func (t *tracer) nextHop(p *path, rd routeDecision) []*path {
	nd := t.m.NodeData(p.node)
	hopIP := p.pk.dst
	if rd.r.Gateway.IsValid() {
		hopIP = rd.r.Gateway
	} else if pod := t.localPod(p.node, p.pk.dst); pod != nil && !t.isUplink(nd, rd.r.Dev) {
		return t.deliverPod(p, pod)
	}
	next, inIf, why := t.owner(p.node, hopIP, p.pk.dst, rd.r.Dev)
	if next == "" {
		note := fmt.Sprintf("next hop %s (dev %s) is no node of the bundle: the packet leaves the cluster's view", hopIP, rd.r.Dev)
		if pod := t.podAnywhere(p.pk.dst); pod != nil {
			note = fmt.Sprintf("%s is pod %s/%s on %s, but this node sends it to %s (dev %s), which no node owns", p.pk.dst, pod.Namespace, pod.Name, pod.Spec.NodeName, hopIP, rd.r.Dev)
			p.fail(Dropped, Hop{Node: p.node, Stage: "next-hop", Verdict: "drop", Rule: t.ref(nd, model.CapRoute, rd.r.Line), Note: note})
			return []*path{p}
		}
		p.fail(Unknown, Hop{Node: p.node, Stage: "next-hop", Verdict: "unknown", Rule: t.ref(nd, model.CapRoute, rd.r.Line), Note: note})
		return []*path{p}
	}
	if p.nodeHops >= maxNodeHops {
		p.fail(Unknown, Hop{Node: p.node, Stage: "next-hop", Verdict: "unknown", Note: fmt.Sprintf("more than %d nodes crossed: a routing loop", maxNodeHops)})
		return []*path{p}
	}
	p.add(Hop{Node: p.node, Stage: "next-hop", Verdict: "forward", Note: fmt.Sprintf("to node %s (%s), arriving on %s", next, why, orDash(inIf))})
	p.nodeHops++
	p.node = next
	p.pk.inIf = inIf
	if p.pk.inIf == "" {
		p.pk.inIf = "?"
	}
	p.pk.outIf = ""
	return t.arrive(p)
}

// owner finds the node a packet for hopIP goes to, and the device it arrives on there.
func (t *tracer) owner(from string, hopIP, dst netip.Addr, dev string) (node, inIf, why string) {
	for _, n := range t.m.NodeNames() {
		if n == from {
			continue
		}
		nd := t.m.NodeData(n)
		if nd.Addrs != nil {
			if ifc := nd.Addrs.Owner(hopIP); ifc != nil {
				return n, ifc.Name, fmt.Sprintf("%s owns %s", ifc.Name, hopIP)
			}
		}
	}
	if nn := t.m.NodeByIP(hopIP.String()); nn != nil && nn.Name != from {
		return nn.Name, t.devOwning(nn.Name, hopIP), "its InternalIP " + hopIP.String()
	}
	if t.isTunnel(t.m.NodeData(from), dev) {
		for _, n := range t.m.Nodes {
			if n.Name == from {
				continue
			}
			for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
				if pf, err := netip.ParsePrefix(c); err == nil && pf.Contains(dst) {
					in := dev
					if nd := t.m.NodeData(n.Name); nd.Addrs != nil && nd.Addrs.ByName(dev) == nil {
						in = "?"
					}
					return n.Name, in, fmt.Sprintf("tunnel %s, podCIDR %s", dev, pf)
				}
			}
		}
	}
	if pod := t.podAnywhere(hopIP); pod != nil && pod.Spec.NodeName != from {
		return pod.Spec.NodeName, t.devTo(pod.Spec.NodeName, hopIP), "pod " + pod.Namespace + "/" + pod.Name + " runs there"
	}
	return "", "", ""
}

func (t *tracer) devOwning(node string, a netip.Addr) string {
	nd := t.m.NodeData(node)
	if nd.Addrs != nil {
		if ifc := nd.Addrs.Owner(a); ifc != nil {
			return ifc.Name
		}
	}
	return ""
}

// localPod is the running, non-hostNetwork pod with IP a scheduled on node, or nil.
func (t *tracer) localPod(node string, a netip.Addr) *podRef {
	for _, p := range t.m.PodsByIP(a.String()) {
		if p.Spec.NodeName == node && !p.Spec.HostNetwork && !finished(p) {
			return &podRef{p}
		}
	}
	return nil
}

func (t *tracer) podAnywhere(a netip.Addr) *model.Pod {
	for _, p := range t.m.PodsByIP(a.String()) {
		if !p.Spec.HostNetwork && !finished(p) {
			return p
		}
	}
	return nil
}

func finished(p *model.Pod) bool {
	return p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed"
}

type podRef struct{ *model.Pod }

func (p *podRef) ip() netip.Addr { a, _ := podIP(p.Pod); return a }

// Device classes, by link kind when ip-link was captured, else by the names CNIs use.
var tunnelPrefixes = []string{"flannel.", "flannel-wg", "vxlan", "tunl", "cilium_vxlan", "cilium_geneve", "genev", "wg", "weave", "antrea-tun", "ovn", "ipip", "gre", "tun"}

func (t *tracer) isTunnel(nd *model.NodeData, dev string) bool {
	if nd.Links != nil {
		if l := nd.Links.ByName(dev); l != nil && l.Kind != "" {
			switch l.Kind {
			case "vxlan", "ipip", "gre", "geneve", "wireguard", "sit", "ip6tnl", "gretap":
				return true
			}
			return false
		}
	}
	for _, pf := range tunnelPrefixes {
		if strings.HasPrefix(dev, pf) {
			return true
		}
	}
	return false
}

func (t *tracer) isBridge(nd *model.NodeData, dev string) bool {
	if nd.Links != nil {
		if l := nd.Links.ByName(dev); l != nil && l.Kind != "" {
			return l.Kind == "bridge"
		}
	}
	return dev == "cni0" || dev == "cbr0" || dev == "docker0" || strings.HasPrefix(dev, "br")
}

// isUplink: a device a pod cannot sit behind (the node's physical NIC or a tunnel).
func (t *tracer) isUplink(nd *model.NodeData, dev string) bool {
	if t.isTunnel(nd, dev) {
		return true
	}
	for _, pf := range []string{"eth", "ens", "enp", "eno", "bond"} {
		if strings.HasPrefix(dev, pf) {
			return true
		}
	}
	return false
}

// deliverLocal ends a packet at a process of p.node.
func (t *tracer) deliverLocal(p *path) []*path {
	nd := t.m.NodeData(p.node)
	if t.target.svc != nil && !p.pk.dnatted {
		note := fmt.Sprintf("nothing translated %s: it reached node %s's own stack", hostPort(p.pk.dst, p.pk.dport), p.node)
		if nd.Addrs != nil {
			if ifc := nd.Addrs.Owner(p.pk.dst); ifc != nil && ifc.Name == "kube-ipvs0" {
				note = fmt.Sprintf("%s is bound on kube-ipvs0 but IPVS has no virtual server %s %s", p.pk.dst, strings.ToUpper(p.pk.proto), hostPort(p.pk.dst, p.pk.dport))
				if nd.IPVS == nil {
					note += " (no ipvsadm capture)"
					p.fail(Unknown, Hop{Node: p.node, Stage: "ipvs", Verdict: "unknown", Note: note})
					return []*path{p}
				}
				p.fail(Rejected, Hop{Node: p.node, Stage: "ipvs", Verdict: "reject", Rule: &RuleRef{File: nd.Path(model.CapIPVS), Text: "(no virtual server " + hostPort(p.pk.dst, p.pk.dport) + ")"}, Note: note})
				return []*path{p}
			}
		}
		p.fail(Unknown, Hop{Node: p.node, Stage: "deliver", Verdict: "unknown", Note: note + "; only a process listening there could answer"})
		return []*path{p}
	}
	p.deliver(Hop{Node: p.node, Stage: "deliver", Verdict: "delivered", Note: fmt.Sprintf("to a process of node %s listening on %s %s", p.node, strings.ToUpper(p.pk.proto), hostPort(p.pk.dst, p.pk.dport))})
	return []*path{p}
}

// deliverPod ends a packet at a pod of p.node, after its NetworkPolicy ingress.
func (t *tracer) deliverPod(p *path, pod *podRef) []*path {
	if !t.ingress(p, pod.Pod) {
		return []*path{p}
	}
	note := fmt.Sprintf("to pod %s/%s (%s)", pod.Namespace, pod.Name, hostPort(p.pk.dst, p.pk.dport))
	if !declaresPort(pod.Pod, p.pk.dport, p.pk.proto) {
		note += fmt.Sprintf("; no container declares %s port %d (declaring is optional)", strings.ToUpper(p.pk.proto), p.pk.dport)
	}
	if p.pk.src != t.originalSrc(p) {
		note += "; the pod sees source " + p.pk.src.String()
	}
	p.deliver(Hop{Node: p.node, Stage: "deliver", Verdict: "delivered", Note: note})
	return []*path{p}
}

func (t *tracer) originalSrc(p *path) netip.Addr {
	if p.srcPod != nil {
		a, _ := podIP(p.srcPod)
		return a
	}
	return p.pk.src // not tracked for other sources; masquerade is reported separately
}

func declaresPort(p *model.Pod, port uint16, proto string) bool {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if uint16(cp.ContainerPort) == port && protoOf(cp.Protocol) == proto {
				return true
			}
		}
	}
	return false
}
