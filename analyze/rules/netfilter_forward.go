package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iptables"
)

var iptablesForwardDrop = &Rule{
	ID:       "iptables.forward-drop",
	Severity: finding.Critical,
	Title:    "FORWARD policy DROP drops pod traffic",
	Inputs:   []Input{{NodeFile: model.CapIPTables}},
	Doc: "The filter FORWARD policy is DROP (Docker ≥ 1.13 sets it when it starts) and no rule " +
		"accepts the first packet of a connection between pods before the policy applies. The " +
		"check walks FORWARD in order, following jumps into KUBE-FORWARD, FLANNEL-FWD, " +
		"cali-FORWARD, DOCKER-USER… with RETURN semantics, for packets between the node's " +
		"podCIDR and the cluster CIDR. Rules needing conntrack state or marks the first packet " +
		"lacks do not count; rules netsift cannot evaluate (ipsets, unknown matches) count as " +
		"\"may accept\" and keep the rule silent, with a note.",
	Check: func(c *Context) {
		m := c.Model
		cluster, clusterFrom := nfClusterCIDRs(m)
		peerCIDRs := nfPeerCIDRs(m)
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.IPTables == nil {
				c.NodeLacks(nd, model.CapIPTables)
				continue
			}
			filter := nd.IPTables.Table("filter")
			if filter == nil {
				continue
			}
			fwd := filter.Chain("FORWARD")
			if fwd == nil || fwd.Policy != "DROP" {
				continue
			}
			var own, peers []netip.Prefix
			for _, pc := range peerCIDRs {
				if pc.Node == name {
					own = append(own, pc.Prefix)
				} else {
					peers = append(peers, pc.Prefix)
				}
			}
			nfForwardDropNode(c, nd, filter, fwd, own, peers, cluster, clusterFrom)
		}
	},
}

// nfPodPackets builds the packet classes a node forwards for pods: from its own pod range to
// the rest of the cluster's, and back.
func nfPodPackets(nd *model.NodeData, local, peers []netip.Prefix, cluster []nfCIDR) []nfPacket {
	var others []netip.Prefix
	for _, cc := range cluster {
		if cc.Prefix.Addr().Is4() {
			others = append(others, cc.Prefix)
		}
	}
	var locals []netip.Prefix
	for _, l := range local {
		if l.Addr().Is4() {
			locals = append(locals, l)
		}
	}
	if len(locals) == 0 {
		locals = others
	} else if len(peers) > 0 && !nfAnyContains(others, locals) {
		others = peers // the cluster range is the podCIDRs themselves
	}
	if len(others) == 0 {
		others = locals
	}
	if len(locals) == 0 && len(others) == 0 {
		// The bundle says nothing of the pod network (a node bundle alone, no CNI config): what
		// any forwarded packet meets is still the answer, and must not pass silently.
		any := netip.MustParsePrefix("0.0.0.0/0")
		locals, others = []netip.Prefix{any}, []netip.Prefix{any}
	}
	if len(others) > 16 {
		others = others[:16]
	}
	localIfs, remoteIfs := nfPodDevices(nd, locals, peers)
	known := len(localIfs) > 0 && len(remoteIfs) > 0
	var out []nfPacket
	for _, l := range locals {
		for _, o := range others {
			out = append(out,
				nfPacket{Src: l, Dst: o, Proto: "tcp", InIfs: localIfs, OutIfs: remoteIfs, InKnown: known, OutKnown: known,
					Desc: "out"},
				nfPacket{Src: o, Dst: l, Proto: "tcp", InIfs: remoteIfs, OutIfs: localIfs, InKnown: known, OutKnown: known,
					Desc: "in"})
		}
	}
	return out
}

func nfAnyContains(outer, inner []netip.Prefix) bool {
	for _, o := range outer {
		for _, i := range inner {
			if o.Bits() < i.Bits() && o.Contains(i.Addr()) {
				return true
			}
		}
	}
	return false
}

// nfPodDevices returns the devices a node's routes send its own pods' traffic to (cni0,
// cali*…) and the devices towards the other pod ranges (flannel.1, tunl0, eth0…).
func nfPodDevices(nd *model.NodeData, locals, peers []netip.Prefix) (local, remote []string) {
	if nd.Routes == nil {
		return nil, nil
	}
	seen := map[string]bool{}
	for r := range nd.Routes.InTable("main") {
		if r.Dev == "" || r.Drops() {
			continue
		}
		for _, l := range locals {
			if l.Bits() <= r.Dst.Bits() && l.Contains(r.Dst.Addr()) && !seen["l"+r.Dev] {
				seen["l"+r.Dev] = true
				local = append(local, r.Dev)
			}
		}
	}
	for _, o := range peers {
		probe := nfHost(o)
		r, ok, _ := nfLookup(nd, probe)
		if !ok {
			continue
		}
		devs := []string{r.Dev}
		for _, nh := range r.Nexthops {
			devs = append(devs, nh.Dev)
		}
		for _, d := range devs {
			if d != "" && !seen["r"+d] {
				seen["r"+d] = true
				remote = append(remote, d)
			}
		}
	}
	return local, remote
}

func nfForwardDropNode(c *Context, nd *model.NodeData, filter *iptables.Table, fwd *iptables.Chain, local, peers []netip.Prefix, cluster []nfCIDR, clusterFrom string) {
	m := c.Model
	capPath := model.CapIPTables
	dirs := map[string]bool{}
	var locs, rems []string
	var walk *nfWalk
	for _, pkt := range nfPodPackets(nd, local, peers, cluster) {
		v, w := nfWalkChain(filter, "FORWARD", pkt)
		if v != nfDrop {
			continue
		}
		if w.Final == nil {
			var unknown []nfMaybe
			for _, mb := range w.Maybe {
				if mb.Kind == nfUnknown {
					unknown = append(unknown, mb)
				}
			}
			if len(unknown) > 0 {
				c.Note("node %s: filter FORWARD policy is DROP; pod traffic %s may be accepted by %s (line %d), which %s — not reported",
					nd.Name, nfPacketText(pkt), nd.Path(capPath), unknown[0].Rule.Line, unknown[0].Why)
				continue
			}
		}
		dirs[pkt.Desc] = true
		l, o := pkt.Src, pkt.Dst
		if pkt.Desc == "in" {
			l, o = o, l
		}
		locs, rems = append(locs, l.String()), append(rems, o.String())
		if walk == nil {
			walk = w
		}
	}
	if walk == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Node %s drops forwarded pod traffic: the filter FORWARD policy is DROP", nd.Name)
	if pk, _ := fwd.Counters(); pk > 0 {
		fmt.Fprintf(&b, " (it has dropped %d packets since the counters were reset)", pk)
	}
	if walk.Final != nil {
		fmt.Fprintf(&b, ", and the rule `%s` drops the packets before anything accepts them", nfRuleText(*walk.Final))
	} else {
		b.WriteString(" and no rule before it accepts new connections")
	}
	dir := "in both directions"
	switch {
	case !dirs["in"]:
		dir = "from its pods outward"
	case !dirs["out"]:
		dir = "towards its pods"
	}
	rl := dedupe(rems)
	remote := strings.Join(rl[:min(len(rl), 4)], ", ")
	if len(rl) > 4 {
		remote += fmt.Sprintf(" and %d more", len(rl)-4)
	}
	if remote == "0.0.0.0/0" {
		b.WriteString(" for any forwarded traffic (the bundle does not say which addresses are pods: no Node podCIDRs, kube-proxy clusterCIDR or CNI config).")
	} else {
		fmt.Fprintf(&b, " between its pods (%s) and the other pods (%s, from %s), %s.", strings.Join(dedupe(locs), ", "), remote, clusterFrom, dir)
	}
	ev := []finding.Evidence{c.NodeEvidence(nd, capPath, fwd.Line())}
	if walk.Last != nil && walk.Final == nil {
		fmt.Fprintf(&b, " The last FORWARD rule before the policy is `%s`.", nfRuleText(*walk.Last))
		ev = append(ev, c.NodeEvidence(nd, capPath, walk.Last.Line))
	} else if walk.Final != nil {
		ev = append(ev, c.NodeEvidence(nd, capPath, walk.Final.Line))
	}
	flannelEmpty := false
	var gone []string
	for _, ch := range walk.Entered {
		if !nfAcceptChain(ch.Name) || nfHasAccept(ch) {
			continue
		}
		if ch.Len() == 0 {
			gone = append(gone, ch.Name+" is empty")
		} else {
			gone = append(gone, ch.Name+" holds no ACCEPT rule")
		}
		ev = append(ev, c.NodeEvidence(nd, capPath, ch.Line()))
		flannelEmpty = flannelEmpty || strings.HasPrefix(ch.Name, "FLANNEL")
	}
	if len(gone) > 0 {
		fmt.Fprintf(&b, " %s: the ACCEPT rules kube-proxy and the CNI keep there for pod traffic are gone (flushed by an iptables restore, a firewall service, or an agent that is not running).",
			strings.Join(dedupe(gone), ", "))
	}
	for _, st := range walk.Stateful[:min(len(walk.Stateful), 2)] {
		fmt.Fprintf(&b, " `%s` does not help: it %s.", nfRuleText(st.Rule), st.Why)
		ev = append(ev, c.NodeEvidence(nd, capPath, st.Rule.Line))
	}
	for _, mb := range walk.Maybe {
		if mb.Kind == nfPartial {
			fmt.Fprintf(&b, " `%s` accepts only part of it: %s.", nfRuleText(mb.Rule), mb.Why)
			ev = append(ev, c.NodeEvidence(nd, capPath, mb.Rule.Line))
			break
		}
	}
	docker := nfHasDockerChains(filter)
	if docker {
		b.WriteString(" Docker's chains are present: dockerd (≥ 1.13) sets the FORWARD policy to DROP every time it starts.")
	}
	b.WriteString(" Pods on this node cannot reach pods on other nodes, nor be reached from them (Service traffic to them included); connections time out.")

	fix := fmt.Sprintf(`# confirm: the policy and the packets it dropped (first line), then the rules before it
iptables -L FORWARD -v -n --line-numbers | head -20
# fix now: let forwarded pod traffic through
iptables -P FORWARD ACCEPT`)
	if docker {
		fix += `
# keep it: dockerd sets DROP again on every start, so add a drop-in that resets it
mkdir -p /etc/systemd/system/docker.service.d
printf '[Service]\nExecStartPost=/sbin/iptables -P FORWARD ACCEPT\n' > /etc/systemd/system/docker.service.d/10-forward-accept.conf
systemctl daemon-reload && systemctl restart docker`
	} else {
		fix += `
# keep it: find what sets the policy at boot
grep -rn 'FORWARD DROP\|-P FORWARD' /etc/sysconfig/iptables /etc/iptables/ /etc/systemd/system/ 2>/dev/null`
	}
	if flannelEmpty {
		if p := nfCNIAgentOn(m, nd.Name, "flannel"); p != nil {
			fix += fmt.Sprintf(`
# flannel re-creates its FLANNEL-FWD ACCEPT rules when its pod on the node restarts
kubectl -n %s delete pod %s`, p.Namespace, p.Name)
		}
	}
	c.Report(finding.Finding{
		Subject:     nodeSubject(nd.Name),
		Key:         "FORWARD",
		Message:     b.String(),
		Evidence:    dedupeEvidence(ev),
		Remediation: fix,
	})
}

// nfAcceptChain names the chains where kube-proxy and CNIs accept forwarded pod traffic.
func nfAcceptChain(name string) bool {
	switch name {
	case "KUBE-FORWARD", "FLANNEL-FWD", "cali-FORWARD", "CILIUM_FORWARD", "ANTREA-FORWARD", "KUBE-ROUTER-FORWARD", "WEAVE-NPC-EGRESS":
		return true
	}
	return false
}

func nfHasAccept(ch *iptables.Chain) bool {
	for _, r := range ch.Rules() {
		if r.Target.Name == "ACCEPT" {
			return true
		}
	}
	return false
}

// nfCNIChain tells whether a chain belongs to kube-proxy or a CNI plugin.
func nfCNIChain(name string) bool {
	for _, p := range []string{"KUBE-", "FLANNEL", "cali-", "CILIUM", "WEAVE", "ANTREA", "OVN", "KUBE-ROUTER"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func nfHasDockerChains(t *iptables.Table) bool {
	for _, ch := range t.Chains() {
		if strings.HasPrefix(ch.Name, "DOCKER") {
			return true
		}
	}
	return false
}

// nfCNIAgentOn returns the CNI agent pod of the given CNI running on a node, or nil.
func nfCNIAgentOn(m *model.Model, node, cni string) *model.Pod {
	for _, p := range m.PodsOn(node) {
		if got, ok := model.CNIAgentOf(p); ok && (cni == "" || got == cni) {
			return p
		}
	}
	return nil
}

func nfPacketText(p nfPacket) string {
	return fmt.Sprintf("from %s to %s", p.Src, p.Dst)
}
