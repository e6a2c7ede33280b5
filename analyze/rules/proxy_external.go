package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// kubeIPVSDevice is the dummy device kube-proxy's IPVS proxier binds every Service address
// to, so that the kernel accepts packets for them as local and IPVS (on INPUT) sees them.
const kubeIPVSDevice = "kube-ipvs0"

var ipvsVIPNotBound = &Rule{
	ID:       "ipvs.vip-not-bound",
	Severity: finding.Critical,
	Title:    "ClusterIP not bound to kube-ipvs0 on a node (IPVS mode)",
	Inputs:   append(Kinds("Service"), Input{NodeFile: model.CapAddr}),
	Doc: "In IPVS mode kube-proxy adds every ClusterIP as a /32 (/128) address of the kube-ipvs0 " +
		"dummy device. IPVS only sees packets the kernel delivers locally, so a ClusterIP missing " +
		"there is routed out of the node like any foreign address instead, even when its virtual " +
		"server exists: connections to it from that node and its pods time out. Reported per " +
		"node, listing the missing ClusterIPs.",
	Check: func(c *Context) {
		mode, ok := proxyModeFor(c)
		if !ok {
			return
		}
		if mode != "ipvs" {
			c.Note("kube-proxy runs in %s mode: no kube-ipvs0 device to check", mode)
			return
		}
		m := c.Model
		st := proxyState(m)
		// The ClusterIPs to bind, each with the first Service port that carries it.
		var ips []netip.Addr
		byIP := map[netip.Addr][]*svcPort{}
		for _, sp := range st.ports {
			if _, seen := byIP[sp.vip.addr]; !seen {
				ips = append(ips, sp.vip.addr)
			}
			byIP[sp.vip.addr] = append(byIP[sp.vip.addr], sp)
		}
		sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
		for _, nd := range nodesWithData(m) {
			if nd.Addrs == nil {
				c.NodeLacks(nd, model.CapAddr)
				continue
			}
			ix := st.node(nd)
			dev := nd.Addrs.ByName(kubeIPVSDevice)
			if dev == nil && (ix.ipvs == nil || len(ix.ipvs.table.VirtualServers) == 0) {
				c.Note("node %s not checked: neither a %s device nor IPVS virtual servers (see kube-proxy.not-running)", nd.Name, kubeIPVSDevice)
				continue
			}
			bound := map[netip.Addr]bool{}
			if dev != nil {
				for _, a := range dev.Addresses {
					bound[a.Prefix.Addr()] = true
				}
			}
			var items, missingIPs []string
			var ev []finding.Evidence
			withVS := 0
			for _, ip := range ips {
				if bound[ip] {
					continue
				}
				sps := byIP[ip]
				sp := sps[0]
				item := fmt.Sprintf("%s (%s/%s", ip, sp.svc.Namespace, sp.svc.Name)
				if ix.ipvs != nil {
					vs := 0
					for _, p := range sps {
						if v := ix.ipvs.find(p.vip); v != nil {
							vs++
							if withVS == 0 {
								ev = append(ev, c.NodeEvidence(nd, model.CapIPVS, v.Line))
							}
						}
					}
					if vs > 0 {
						withVS++
						item += ", its virtual server exists"
					} else {
						item += ", no virtual server either"
					}
				}
				items = append(items, item+")")
				missingIPs = append(missingIPs, ip.String())
				if len(items) <= 4 {
					ev = append(ev, m.Evidence(sp.svc.Src, "spec", "clusterIP"))
				}
			}
			if len(items) == 0 {
				continue
			}
			var where string
			if dev != nil {
				ev = append([]finding.Evidence{c.readableEvidence(nd, model.CapAddr, dev.Line, ": "+kubeIPVSDevice+":")}, ev...)
				where = fmt.Sprintf("%s on node %s lacks %d ClusterIP(s)", kubeIPVSDevice, nd.Name, len(items))
			} else {
				ev = append([]finding.Evidence{{File: nd.Path(model.CapAddr), Excerpt: "no " + kubeIPVSDevice + " device"}}, ev...)
				where = fmt.Sprintf("Node %s has IPVS virtual servers but no %s device, so none of its %d ClusterIP(s) is bound", nd.Name, kubeIPVSDevice, len(items))
			}
			msg := where + ": " + listMore(items, 8) + ". The kernel routes packets for an unbound ClusterIP out of the node instead of handing them to IPVS, so connections to it from this node and its pods time out."
			if withVS < len(items) {
				msg += " A ClusterIP with no virtual server either was not synced by this node's kube-proxy at all (see kube-proxy.rules-missing), or its Service is newer than the capture."
			}
			c.Report(finding.Finding{
				Subject:     nodeSubject(nd.Name),
				Key:         nd.Name,
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: vipRemediation(m, nd.Name, missingIPs[0]),
			})
		}
	},
}

func vipRemediation(m *model.Model, node, ip string) string {
	pod := "$(kubectl -n kube-system get pods -l k8s-app=kube-proxy --field-selector spec.nodeName=" + node + " -o name)"
	del := "-l k8s-app=kube-proxy --field-selector spec.nodeName=" + node
	if p := kubeProxyPodOn(m, node); p != nil {
		pod, del = p.Name, p.Name
	}
	return fmt.Sprintf(`# on node %[1]s: every ClusterIP should be a /32 of %[2]s
ip addr show dev %[2]s | grep -w %[3]s
# why kube-proxy could not add it ("error bind address: ... to dummy interface")
kubectl -n kube-system logs %[4]s --tail=500 | grep -iE 'bind address|dummy|%[2]s'
# a restarted kube-proxy re-adds every ClusterIP to %[2]s
kubectl -n kube-system delete pod %[5]s`, node, kubeIPVSDevice, ip, pod, del)
}

var svcExternalLocalNoEndpoints = &Rule{
	ID:       "svc.external-local-no-endpoints",
	Severity: finding.Warning,
	Title:    "externalTrafficPolicy: Local Service has no endpoint on a node",
	Inputs:   Kinds("Service", "EndpointSlice", "Node"),
	Doc: "A NodePort or LoadBalancer Service with externalTrafficPolicy: Local is served on a node " +
		"only by endpoints on that node: on the others kube-proxy drops its NodePort and " +
		"LoadBalancer traffic (\"<svc> has no local endpoints\" -j DROP). That is the design, and " +
		"harmless while the load balancer only sends to nodes passing the Service's health check " +
		"node port; it breaks clients that hit any node's NodePort, or a load balancer that " +
		"ignores the health check. Reported per Service and node, while the Service has ready " +
		"endpoints elsewhere (else svc.no-endpoints applies).",
	Check: func(c *Context) {
		m := c.Model
		st := proxyState(m)
		mode := m.ProxyMode().Name
		// The ports of each Service, once (a dual-stack Service has one svcPort per family).
		var services []*model.Service
		ports := map[*model.Service][]*svcPort{}
		for _, sp := range st.ports {
			svc := sp.svc
			if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
				(svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer) {
				continue
			}
			if _, ok := ports[svc]; !ok {
				services = append(services, svc)
			}
			dup := false
			for _, o := range ports[svc] {
				dup = dup || o.index == sp.index
			}
			if !dup {
				ports[svc] = append(ports[svc], sp)
			}
		}
		for _, svc := range services {
			sps := ports[svc]
			// Nodes with a ready endpoint of each port; endpoints without nodeName cannot be placed.
			hasReady, unplaced := false, false
			local := map[string]map[int]bool{} // node → port indexes served locally
			notReadyHere := map[string]bool{}  // nodes with only not-ready local endpoints
			var elsewhere []finding.Evidence   // one ready endpoint, for evidence
			for _, sp := range sps {
				for _, e := range sp.ready {
					ep := e.ep
					hasReady = true
					if ep.NodeName == "" {
						unplaced = true
						continue
					}
					if local[ep.NodeName] == nil {
						local[ep.NodeName] = map[int]bool{}
					}
					local[ep.NodeName][sp.index] = true
					if len(elsewhere) == 0 {
						elsewhere = append(elsewhere, endpointEvidence(m, ep))
					}
				}
				for _, e := range sp.notReady {
					notReadyHere[e.ep.NodeName] = true
				}
			}
			if !hasReady {
				continue // no endpoint anywhere: svc.no-endpoints
			}
			if unplaced {
				c.Note("%s/%s not checked: its endpoints do not say which node they run on (no nodeName)", svc.Namespace, svc.Name)
				continue
			}
			var withLocal []string
			for n := range local {
				withLocal = append(withLocal, n)
			}
			sort.Strings(withLocal)
			for _, node := range m.Nodes {
				var missing []*svcPort
				for _, sp := range sps {
					if sp.port.NodePort != 0 && !local[node.Name][sp.index] {
						missing = append(missing, sp)
					}
				}
				if len(missing) == 0 {
					continue
				}
				if _, excluded := node.Labels["node.kubernetes.io/exclude-from-external-load-balancers"]; excluded && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
					continue // no load balancer sends to it; its NodePort is still open, but rarely used directly
				}
				c.Report(externalLocalFinding(c, svc, node, missing, withLocal, notReadyHere[node.Name], elsewhere, mode))
			}
		}
	},
}

func externalLocalFinding(c *Context, svc *model.Service, node *model.Node, missing []*svcPort, withLocal []string, notReadyHere bool, elsewhere []finding.Evidence, mode string) finding.Finding {
	m := c.Model
	var portsText []string
	ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "externalTrafficPolicy")}
	for _, sp := range missing {
		t := fmt.Sprintf("NodePort %d/%s", sp.port.NodePort, protocolOf(sp.port.Protocol))
		if sp.port.Name != "" {
			t += " (port " + sp.port.Name + ")"
		}
		portsText = append(portsText, t)
		ev = append(ev, m.Evidence(svc.Src, "spec", "ports", itoa(sp.index), "nodePort"))
	}
	var lbIPs []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			lbIPs = append(lbIPs, in.IP)
		} else if in.Hostname != "" {
			lbIPs = append(lbIPs, in.Hostname)
		}
	}
	hc := svc.Spec.HealthCheckNodePort
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && hc != 0 {
		ev = append(ev, m.Evidence(svc.Src, "spec", "healthCheckNodePort"))
	}
	ev = append(ev, elsewhere...)
	// The rule that drops it on this node, when the node's dataplane is in the bundle.
	nd := m.NodeData(node.Name)
	ix := proxyState(m).node(nd)
	dropped := ""
	switch {
	case ix.v4 != nil:
		for _, sp := range missing {
			r := ix.ipt(sp.vip.addr)
			if r == nil || len(r.noLocalEndpoints[sp.name()]) == 0 {
				continue
			}
			rules := r.noLocalEndpoints[sp.name()]
			var packets uint64
			for i, rule := range rules {
				packets += rule.Packets
				if i < 3 {
					ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, rule.Line))
				}
			}
			dropped = fmt.Sprintf(" kube-proxy wrote the DROP rules on this node (%q in chain %s)", rules[0].Comment(), rules[0].Chain)
			if rules[0].Counters {
				dropped += fmt.Sprintf(", which have dropped %d packet(s) so far", packets)
			}
			dropped += "."
			break
		}
	case mode == "ipvs" && ix.ipvs != nil:
		for _, vs := range ix.ipvs.table.VirtualServers {
			if vs.Address.Port() == uint16(missing[0].port.NodePort) && strings.EqualFold(vs.Protocol, string(protocolOf(missing[0].port.Protocol))) && len(vs.RealServers) == 0 {
				ev = append(ev, c.NodeEvidence(nd, model.CapIPVS, vs.Line))
				dropped = fmt.Sprintf(" Its IPVS virtual server %s %s has no real server.", vs.Protocol, vs.Address)
				break
			}
		}
	}
	where := "no node"
	if len(withLocal) > 0 {
		where = strings.Join(withLocal, ", ")
		if len(withLocal) > 6 {
			where = strings.Join(withLocal[:6], ", ") + fmt.Sprintf(" and %d more nodes", len(withLocal)-6)
		}
	}
	msg := fmt.Sprintf("Service %s/%s (type %s) has externalTrafficPolicy: Local and no ready endpoint on node %s, so its %s on this node is dropped", svc.Namespace, svc.Name, svc.Spec.Type, node.Name, strings.Join(portsText, ", "))
	if len(lbIPs) > 0 {
		msg += fmt.Sprintf(", as is load-balancer traffic for %s sent to this node", strings.Join(lbIPs, ", "))
	}
	msg += fmt.Sprintf(". Its ready endpoints run only on %s.", where)
	if notReadyHere {
		msg += " This node has endpoints of it that are not ready."
	}
	msg += dropped
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && hc != 0 {
		msg += fmt.Sprintf(" This is by design: kube-proxy answers 503 on the health check node port %d here, so a load balancer that checks it sends nothing to this node. It breaks clients that connect to this node's NodePort directly, and load balancers that send to every node without checking port %d.", hc, hc)
	} else if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		msg += " The Service records no healthCheckNodePort, so nothing tells a load balancer to avoid this node: connections it sends here get no answer."
	} else {
		msg += " A NodePort Service has no health check to steer clients: anything that connects to this node's NodePort gets no answer."
	}
	addr := nodeAddress(node)
	var rem strings.Builder
	fmt.Fprintf(&rem, "# where the endpoints of %[1]s/%[2]s run (only those nodes answer its NodePort)\nkubectl -n %[1]s get endpointslices -l kubernetes.io/service-name=%[2]s -o wide\n", svc.Namespace, svc.Name)
	if hc != 0 {
		fmt.Fprintf(&rem, "# what the load balancer's health check sees on %[1]s: 503 and \"localEndpoints\": 0 mean \"do not send here\"\ncurl -s http://%[2]s:%[3]d/healthz\n", node.Name, addr, hc)
	}
	fmt.Fprintf(&rem, "# if clients must reach it through every node, let every node forward (the pods then see the node's IP, not the client's)\nkubectl -n %s patch service %s -p '{\"spec\":{\"externalTrafficPolicy\":\"Cluster\"}}'\n", svc.Namespace, svc.Name)
	rem.WriteString("# or keep Local and run an endpoint on every node that receives traffic (a DaemonSet, or more replicas with pod anti-affinity)")
	return finding.Finding{
		Subject:     finding.Subject{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Node: node.Name},
		Key:         node.Name,
		Message:     msg,
		Evidence:    dedupeEvidence(ev),
		Remediation: rem.String(),
	}
}

// nodeAddress is the node's InternalIP (else any address), for commands run against it.
func nodeAddress(n *model.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				return a.Address
			}
		}
	}
	return n.Name
}
