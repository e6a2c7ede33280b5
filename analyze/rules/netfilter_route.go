package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iproute"
)

var routePodCIDRMissing = &Rule{
	ID:       "route.podcidr-missing",
	Severity: finding.Critical,
	Title:    "Node has no route (or a wrong one) to another node's pod network",
	Inputs:   append(Kinds("Node"), Input{NodeFile: model.CapRoute}),
	Doc: "Every node must route every other node's podCIDR (or Calico IPAM block): via that " +
		"node's InternalIP (host-gw), via a tunnel device with onlink (flannel VXLAN, Calico " +
		"IPIP/VXLAN), by BGP (proto bird), or by a covering route on a tunnel or bridge. A route " +
		"via another node's IP, through a DOWN device, or a blackhole is as bad as none. Node " +
		"condition NetworkUnavailable=True and kube-controller-manager's `Could not create " +
		"route` are reported too. Cilium (eBPF/native routing) needs no per-node routes and is " +
		"not checked.",
	Check: func(c *Context) {
		m := c.Model
		cni := m.CNI()
		peers := nfPeerCIDRs(m)
		nodeIPs := nfNodeIPs(m)
		ownerOf := func(a netip.Addr) (string, bool) {
			for _, pc := range peers {
				if pc.Prefix.Contains(a) {
					return pc.Node, true
				}
			}
			return "", false
		}
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Routes == nil {
				c.NodeLacks(nd, model.CapRoute)
				continue
			}
			if cni.Name == "cilium" {
				c.Note("node %s: routes not checked: Cilium routes pod traffic in eBPF or its tunnel without per-node routes", name)
				continue
			}
			var problems, missing []string
			var bad []nfCIDR
			var ev []finding.Evidence
			viaDefault := 0
			checked := 0
			for _, pc := range peers {
				if pc.Node == name || !pc.Prefix.Addr().Is4() {
					continue
				}
				checked++
				var peerIP netip.Addr
				if n := m.Node(pc.Node); n != nil {
					peerIP, _ = nfNodeIP(n)
				}
				probe := nfHost(pc.Prefix)
				r, ok, ipRule := nfLookup(nd, probe)
				routeEv := func() finding.Evidence {
					if ipRule != nil {
						return c.NodeEvidence(nd, model.CapRule, ipRule.Line)
					}
					return c.NodeEvidence(nd, model.CapRoute, r.Line)
				}
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("no route to %s (%s)", pc.Prefix, pc.What))
					missing = append(missing, pc.Prefix.String())
					bad = append(bad, pc)
					ev = append(ev, pc.Ev())
				case r.Drops():
					problems = append(problems, fmt.Sprintf("%s (%s) hits the %s route `%s`", pc.Prefix, pc.What, r.Type, routeEv().Excerpt))
					bad = append(bad, pc)
					ev = append(ev, routeEv(), pc.Ev())
				case r.Dst.Bits() == 0:
					viaDefault++
					problems = append(problems, fmt.Sprintf("no route to %s (%s)", pc.Prefix, pc.What))
					missing = append(missing, pc.Prefix.String())
					bad = append(bad, pc)
					ev = append(ev, pc.Ev())
				default:
					if why := nfWrongRoute(nd, r, pc, peerIP, nodeIPs, ownerOf); why != "" {
						problems = append(problems, fmt.Sprintf("%s (%s) is routed by `%s`: %s", pc.Prefix, pc.What, nfRouteText(c, nd, r), why))
						bad = append(bad, pc)
						ev = append(ev, routeEv(), pc.Ev())
					}
				}
			}
			if len(problems) == 0 {
				continue
			}
			if len(missing) > 0 {
				ex := "(no route to " + strings.Join(missing[:min(len(missing), 6)], ", ")
				if len(missing) > 6 {
					ex += fmt.Sprintf(" and %d more", len(missing)-6)
				}
				if viaDefault > 0 {
					ex += "; only the default route matches"
				}
				ev = append([]finding.Evidence{{File: nd.Path(model.CapRoute), Excerpt: ex + ")"}}, ev...)
			}
			if viaDefault == checked && (cni.Name == "unknown" || cni.Name == "bridge" || cni.Name == "ptp") {
				c.Note("node %s routes no other node's podCIDR except by its default route; with CNI %q the cloud's route tables may carry them (not reported)", name, cni.Name)
				continue
			}
			if viaDefault > 0 {
				problems = append(problems, "where only the default route matches, the packets go to the gateway, which knows no pod network")
			}
			msg := fmt.Sprintf("Node %s cannot route to the pods of %d other node(s): %s. Pods on %s cannot reach those pods (and Services backed by them) — connections time out or fail with `no route to host`.",
				name, len(bad), strings.Join(problems[:min(len(problems), 5)], "; "), name)
			if len(problems) > 5 {
				msg = strings.Replace(msg, ". Pods on", fmt.Sprintf("; and %d more. Pods on", len(problems)-5), 1)
			}
			msg += " " + nfRouteOwner(cni)
			c.Report(finding.Finding{
				Subject:     nodeSubject(name),
				Key:         "routes",
				Message:     msg,
				Evidence:    dedupeEvidence(ev[:min(len(ev), 8)]),
				Remediation: nfRouteFix(m, cni, name, bad),
			})
		}
		nfNetworkUnavailable(c)
		nfRouteControllerLog(c)
	},
}

func nfGatewayOf(r iproute.Route) string {
	if r.Gateway.IsValid() {
		return r.Gateway.String()
	}
	return "on " + r.Dev
}

// nfRouteText quotes a route as the capture has it (the trimmed line of the text form).
func nfRouteText(c *Context, nd *model.NodeData, r iproute.Route) string {
	e := c.NodeEvidence(nd, model.CapRoute, r.Line)
	if e.Excerpt != "" && !strings.HasPrefix(e.Excerpt, "{") {
		return e.Excerpt
	}
	s := r.Dst.String()
	if r.Type != "unicast" {
		s = r.Type + " " + s
	}
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// nfWrongRoute says what is wrong with the route a node uses towards a peer's pod range, or "".
func nfWrongRoute(nd *model.NodeData, r iproute.Route, pc nfCIDR, peerIP netip.Addr, nodeIPs map[netip.Addr]string, ownerOf func(netip.Addr) (string, bool)) string {
	if r.Protocol == "bird" || r.Protocol == "bgp" || r.Protocol == "zebra" {
		if dev := nfDownDevice(nd, r); dev != "" {
			return "its device " + dev + " is DOWN"
		}
		return "" // BGP-learned: the peer that announced it knows best
	}
	if dev := nfDownDevice(nd, r); dev != "" {
		return "its device " + dev + " is DOWN"
	}
	if nd.Links != nil && r.Dev != "" && nd.Links.ByName(r.Dev) == nil {
		return "its device " + r.Dev + " does not exist on the node"
	}
	gws := []netip.Addr{r.Gateway}
	for _, nh := range r.Nexthops {
		gws = append(gws, nh.Gateway)
	}
	for _, gw := range gws {
		if !gw.IsValid() {
			continue
		}
		if peerIP.IsValid() && gw == peerIP {
			continue
		}
		if pc.Prefix.Contains(gw) {
			continue // flannel VXLAN: the peer's VTEP address, the first of its podCIDR
		}
		if other, ok := nodeIPs[gw]; ok {
			return fmt.Sprintf("it goes via %s, the address of node %s, not of %s", gw, other, pc.Node)
		}
		if other, ok := ownerOf(gw); ok && nfTunnelDevice(nd, r.Dev) {
			return fmt.Sprintf("it goes via %s, in the pod range of node %s, not of %s", gw, other, pc.Node)
		}
		if nfTunnelDevice(nd, r.Dev) {
			return fmt.Sprintf("it goes via %s on the tunnel %s, which is not node %s's address (%s)", gw, r.Dev, pc.Node, peerIP)
		}
		return fmt.Sprintf("it goes via %s, which is not node %s's address (%s) nor any node's", gw, pc.Node, peerIP)
	}
	return ""
}

// nfDownDevice returns the route's device when the capture shows it down (linkdown flag, or
// the link without UP), else "".
func nfDownDevice(nd *model.NodeData, r iproute.Route) string {
	if r.Dev == "" {
		return ""
	}
	for _, f := range r.Flags {
		if f == "linkdown" || f == "dead" {
			return r.Dev
		}
	}
	if nd.Links != nil {
		if l := nd.Links.ByName(r.Dev); l != nil && !l.Up() {
			return r.Dev
		}
	}
	return ""
}

// nfRouteOwner says who should have installed the routes, for the detected CNI.
func nfRouteOwner(cni model.Detection) string {
	switch cni.Name {
	case "flannel", "canal":
		return fmt.Sprintf("flanneld (backend %s) installs these routes from the other nodes' flannel annotations: check the flannel pod on this node.", firstNonEmpty(cni.Detail, "vxlan"))
	case "calico":
		return "calico-node installs these routes (BIRD for BGP/IPIP, Felix for VXLAN): check calico-node on this node and its BGP peers."
	case "weave":
		return "weave installs a route for the whole pod range: check the weave pod on this node."
	}
	return fmt.Sprintf("The CNI (%s) or the cloud route controller installs these routes.", cni.Name)
}

func nfRouteFix(m *model.Model, cni model.Detection, node string, peers []nfCIDR) string {
	var b strings.Builder
	b.WriteString("# on the node: what routes it has to the pod networks\nip route show table all | grep -v '^local\\|^broadcast'\n")
	switch cni.Name {
	case "flannel", "canal":
		if p := nfCNIAgentOn(m, node, ""); p != nil {
			fmt.Fprintf(&b, "# flanneld re-installs the routes when it restarts; read its log first\nkubectl -n %s logs %s --all-containers --tail=50\nkubectl -n %s delete pod %s\n", p.Namespace, p.Name, p.Namespace, p.Name)
		} else {
			b.WriteString("kubectl get pods -A -o wide | grep flannel\n")
		}
	case "calico":
		b.WriteString("# BGP sessions (run in the calico-node pod of the node)\ncalicoctl node status\n")
	}
	// A host-gw style route to one peer, as an example of the manual fix.
	for _, pc := range peers {
		if pc.Node == node {
			continue
		}
		if n := m.Node(pc.Node); n != nil {
			if ip, _ := nfNodeIP(n); ip.IsValid() {
				fmt.Fprintf(&b, "# stopgap only if the nodes share an L2 segment (host-gw style): route the peer's podCIDR via its InternalIP\nip route replace %s via %s\n", pc.Prefix, ip)
				break
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// nfNetworkUnavailable reports nodes whose NetworkUnavailable condition is True.
func nfNetworkUnavailable(c *Context) {
	m := c.Model
	for _, n := range m.Nodes {
		for i, cond := range n.Status.Conditions {
			if cond.Type != corev1.NodeNetworkUnavailable || cond.Status != corev1.ConditionTrue {
				continue
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(n.Name),
				Key:     "NetworkUnavailable",
				Message: fmt.Sprintf("Node %s reports NetworkUnavailable=True (%s): the routes for its pod network were never set up, so pods elsewhere cannot reach its pods. The CNI agent (or the cloud route controller) clears this condition once it has configured the node.",
					n.Name, strings.TrimSpace(firstNonEmpty(cond.Reason+": "+cond.Message, cond.Reason))),
				Evidence: []finding.Evidence{m.Evidence(n.Src, "status", "conditions", itoa(i), "status"), m.Evidence(n.Src, "status", "conditions", itoa(i), "reason")},
				Remediation: fmt.Sprintf(`kubectl get node %[1]s -o jsonpath='{.status.conditions[?(@.type=="NetworkUnavailable")]}'
# the CNI agent on the node sets the condition to False once its routes are in place
kubectl get pods -A -o wide --field-selector spec.nodeName=%[1]s | grep -i 'flannel\|calico\|cilium\|weave'`, n.Name),
			})
		}
	}
}

var nfRouteFailure = regexp.MustCompile(`Could not create route\b.*?\bfor node (\S+)`)

// nfRouteControllerLog reports kube-controller-manager's route controller failures.
func nfRouteControllerLog(c *Context) {
	m := c.Model
	type hit struct {
		ev finding.Evidence
		n  int
	}
	byNode := map[string]*hit{}
	var order []string
	for _, path := range m.Bundle.Paths() {
		if !strings.HasPrefix(path, "logs/kube-system/kube-controller-manager") {
			continue
		}
		f := m.Bundle.File(path)
		for i := 1; i <= f.Lines(); i++ {
			line := f.Line(i)
			if !strings.Contains(line, "Could not create route") {
				continue
			}
			node := "?"
			if sm := nfRouteFailure.FindStringSubmatch(line); sm != nil {
				node = strings.Trim(sm[1], `"':,`)
			}
			h := byNode[node]
			if h == nil {
				h = &hit{}
				byNode[node] = h
				order = append(order, node)
			}
			h.ev = f.Evidence(i) // keep the latest
			h.n++
		}
	}
	sort.Strings(order)
	for _, node := range order {
		h := byNode[node]
		subj := nodeSubject(node)
		if node == "?" {
			subj = finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "kube-controller-manager"}
		}
		c.Report(finding.Finding{
			Subject: subj,
			Key:     "route-controller",
			Message: fmt.Sprintf("kube-controller-manager's route controller failed to create the cloud route for node %s's podCIDR (%d time(s) in the log; the latest: %s). Without it the cloud network drops packets to that node's pods.",
				node, h.n, truncate(h.ev.Excerpt, 240)),
			Evidence: []finding.Evidence{h.ev},
			Remediation: `# the route controller's errors, and the cloud provider's route table
kubectl -n kube-system logs -l component=kube-controller-manager --tail=200 | grep -i route
# check the cloud credentials/quotas the error names, then let the controller retry (it does every 10s)`,
		})
	}
}

var routeBlackhole = &Rule{
	ID:       "route.blackhole",
	Severity: finding.Critical,
	Title:    "Blackhole/unreachable/prohibit route covers pod, Service or node addresses",
	Inputs:   []Input{{NodeFile: model.CapRoute}},
	Doc: "A route of type blackhole, unreachable or prohibit (or an ip rule with that action) " +
		"that is the route the kernel picks for another node's pod range, this node's own pods, " +
		"a Service ClusterIP or a node address. Calico's blackholes for its own IPAM blocks are " +
		"fine: its per-pod routes are more specific, so they are never picked for a live pod.",
	Check: func(c *Context) {
		m := c.Model
		type target struct {
			addr netip.Addr
			what string
		}
		var common []target
		for _, pc := range nfPeerCIDRs(m) {
			common = append(common, target{nfHost(pc.Prefix), fmt.Sprintf("pods of node %s (%s)", pc.Node, pc.Prefix)})
		}
		svcSeen := map[string]bool{}
		for _, s := range m.Services {
			ip := s.Spec.ClusterIP
			if ip == "" || ip == "None" || svcSeen[ip] {
				continue
			}
			svcSeen[ip] = true
			if a, err := netip.ParseAddr(ip); err == nil {
				common = append(common, target{a, fmt.Sprintf("Service %s/%s (%s)", s.Namespace, s.Name, ip)})
			}
		}
		for _, n := range m.Nodes {
			if ip, _ := nfNodeIP(n); ip.IsValid() {
				common = append(common, target{ip, fmt.Sprintf("node %s (%s)", n.Name, ip)})
			}
		}
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Routes == nil {
				c.NodeLacks(nd, model.CapRoute)
				continue
			}
			targets := append([]target(nil), common...)
			for _, p := range m.PodsOn(name) {
				if p.Spec.HostNetwork || p.Status.PodIP == "" {
					continue
				}
				if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
					targets = append(targets, target{a, fmt.Sprintf("pod %s/%s (%s) on this node", p.Namespace, p.Name, a)})
				}
			}
			// Probe inside every drop route too, so a blackhole for part of a range is seen.
			for _, r := range nd.Routes.All() {
				if !r.Drops() || !r.Dst.Addr().Is4() {
					continue
				}
				probe := nfHost(r.Dst)
				for _, pc := range nfPeerCIDRs(m) {
					if pc.Prefix.Contains(probe) {
						targets = append(targets, target{probe, fmt.Sprintf("pods of node %s (%s)", pc.Node, pc.Prefix)})
					}
				}
			}
			type hit struct {
				key   string
				del   string
				probe netip.Addr
				ev    finding.Evidence
				text  string
				whats []string
			}
			hits := map[string]*hit{}
			var keys []string
			for _, t := range targets {
				if !t.addr.Is4() && !t.addr.Is6() {
					continue
				}
				r, ok, ipRule := nfLookup(nd, t.addr)
				if !ok || !r.Drops() {
					continue
				}
				var key, text, del string
				var ev finding.Evidence
				if ipRule != nil {
					ev = c.NodeEvidence(nd, model.CapRule, ipRule.Line)
					key, text = fmt.Sprintf("rule %d %s", ipRule.Priority, ipRule.Action), ev.Excerpt
					del = fmt.Sprintf("ip rule del priority %d", ipRule.Priority)
				} else {
					ev = c.NodeEvidence(nd, model.CapRoute, r.Line)
					key, text = fmt.Sprintf("%s %s table %s", r.Type, r.Dst, r.Table), nfRouteText(c, nd, r)
					del = fmt.Sprintf("ip route del %s %s table %s", r.Type, r.Dst, r.Table)
				}
				h := hits[key]
				if h == nil {
					h = &hit{key: key, ev: ev, text: text, del: del, probe: t.addr}
					hits[key] = h
					keys = append(keys, key)
				}
				h.whats = append(h.whats, t.what)
			}
			sort.Strings(keys)
			for _, k := range keys {
				h := hits[k]
				whats := dedupe(h.whats)
				list := strings.Join(whats[:min(len(whats), 4)], ", ")
				if len(whats) > 4 {
					list += fmt.Sprintf(" and %d more", len(whats)-4)
				}
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     k,
					Message: fmt.Sprintf("Node %s discards traffic to %s: the route it picks is `%s`, which drops the packets (blackhole silently; unreachable/prohibit with an ICMP error). Connections from this node and its pods fail.",
						name, list, h.text),
					Evidence: []finding.Evidence{h.ev},
					Remediation: fmt.Sprintf(`# on the node: which route wins, and who added it (proto field)
ip route get %s
ip route show table all type blackhole; ip route show table all type unreachable; ip route show table all type prohibit
# remove it if nothing should own it (then find the agent or script that adds it)
%s`, h.probe, h.del),
				})
			}
		}
	},
}
