package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iptables"
)

var cniEncapBlocked = &Rule{
	ID:       "cni.encap-blocked",
	Severity: finding.Critical,
	Title:    "The overlay's protocol is blocked between nodes",
	Inputs:   []Input{{NodeFile: model.CapIPTables}},
	Doc: "The overlay carries every cross-node pod packet: VXLAN (flannel UDP 8472, Calico " +
		"4789, Cilium 8472), Geneve (UDP 6081), IPIP (IP protocol 4), BGP (TCP 179) for Calico's " +
		"routes, WireGuard (UDP 51820/51821). The node's filter INPUT and OUTPUT chains are walked " +
		"for that protocol between the node and its peers' InternalIPs; a DROP/REJECT (firewalld, " +
		"ufw, hardening chains) or a DROP policy reached first is reported, ranked by its -c " +
		"packet counter. CNI agents logging `BGP not established` or VXLAN errors are reported too.",
	Check: func(c *Context) {
		m := c.Model
		cni := m.CNI()
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
			for _, e := range nfOverlays(m, nd, cni) {
				nfEncapNode(c, nd, filter, e)
			}
		}
		nfEncapLogs(c)
	},
}

// nfEncap is one protocol an overlay needs between nodes.
type nfEncap struct {
	Proto string // udp, tcp, 4
	Port  uint16
	Name  string // "flannel VXLAN"
	Why   string // how netsift knows the overlay uses it
}

func (e nfEncap) String() string {
	if e.Proto == "4" {
		return "IP protocol 4 (IPIP)"
	}
	return fmt.Sprintf("%s %d", strings.ToUpper(e.Proto), e.Port)
}

// nfOverlays returns the protocols the node's overlay needs: from its tunnel devices when the
// bundle has ip -d link, else from the detected CNI and its backend.
func nfOverlays(m *model.Model, nd *model.NodeData, cni model.Detection) []nfEncap {
	var out []nfEncap
	add := func(e nfEncap) {
		for _, o := range out {
			if o.Proto == e.Proto && o.Port == e.Port {
				return
			}
		}
		out = append(out, e)
	}
	if nd.Links != nil {
		for _, l := range nd.Links.Links {
			switch {
			case l.Kind == "vxlan" && l.Tunnel != nil && l.Tunnel.DstPort > 0:
				add(nfEncap{"udp", uint16(l.Tunnel.DstPort), cni.Name + " VXLAN", fmt.Sprintf("device %s is VXLAN dstport %d", l.Name, l.Tunnel.DstPort)})
			case l.Kind == "vxlan":
				add(nfEncap{"udp", nfVXLANPort(m, cni, l.Name), cni.Name + " VXLAN", "device " + l.Name + " is VXLAN"})
			case l.Kind == "geneve" || strings.HasPrefix(l.Name, "genev_sys") || l.Name == "cilium_geneve":
				add(nfEncap{"udp", 6081, cni.Name + " Geneve", "device " + l.Name + " is Geneve"})
			case l.Kind == "ipip" && l.Name == "tunl0" && cni.Name == "calico", l.Kind == "ipip" && l.Name != "tunl0":
				add(nfEncap{"4", 0, cni.Name + " IPIP", "device " + l.Name + " is IPIP"})
			case l.Name == "wireguard.cali":
				add(nfEncap{"udp", 51820, "Calico WireGuard", "device wireguard.cali"})
			case l.Name == "flannel-wg":
				add(nfEncap{"udp", 51820, "flannel WireGuard", "device flannel-wg"})
			}
		}
		if (cni.Name == "calico" || cni.Name == "canal") && nd.Links.ByName("tunl0") != nil && nfCalicoBGP(nd) {
			add(nfEncap{"tcp", 179, "Calico BGP", "routes with proto bird"})
		}
		if len(out) > 0 || cni.Name == "unknown" {
			return out
		}
	}
	backend := cni.Detail
	switch cni.Name {
	case "flannel", "canal":
		switch backend {
		case "", "vxlan":
			add(nfEncap{"udp", nfVXLANPort(m, cni, "flannel.1"), "flannel VXLAN", "flannel backend " + firstNonEmpty(backend, "vxlan, the default")})
		case "wireguard":
			add(nfEncap{"udp", 51820, "flannel WireGuard", "flannel backend wireguard"})
		case "ipip":
			add(nfEncap{"4", 0, "flannel IPIP", "flannel backend ipip"})
		case "udp":
			add(nfEncap{"udp", 8285, "flannel UDP", "flannel backend udp"})
		}
	case "calico":
		switch backend {
		case "vxlan":
			add(nfEncap{"udp", 4789, "Calico VXLAN", "device vxlan.calico"})
		case "ipip":
			add(nfEncap{"4", 0, "Calico IPIP", "device tunl0"})
			add(nfEncap{"tcp", 179, "Calico BGP", "Calico IPIP mode distributes routes by BGP"})
		default:
			if nfCalicoBGP(nd) {
				add(nfEncap{"tcp", 179, "Calico BGP", "routes with proto bird"})
			}
		}
	case "cilium":
		switch backend {
		case "vxlan":
			add(nfEncap{"udp", nfVXLANPort(m, cni, "cilium_vxlan"), "Cilium VXLAN", "device cilium_vxlan"})
		case "geneve":
			add(nfEncap{"udp", 6081, "Cilium Geneve", "device cilium_geneve"})
		}
	case "weave":
		add(nfEncap{"tcp", 6783, "Weave control", "weave"})
		add(nfEncap{"udp", 6784, "Weave fastdp", "weave"})
	case "antrea", "kube-ovn":
		add(nfEncap{"udp", 6081, cni.Name + " Geneve", cni.Name + " defaults to Geneve"})
	}
	return out
}

func nfCalicoBGP(nd *model.NodeData) bool {
	if nd.Routes == nil {
		return false
	}
	for _, r := range nd.Routes.All() {
		if r.Protocol == "bird" {
			return true
		}
	}
	return false
}

// nfVXLANPort is the VXLAN UDP port: the device's dstport when captured, flannel's Backend.Port,
// else the CNI's default.
func nfVXLANPort(m *model.Model, cni model.Detection, dev string) uint16 {
	for _, name := range m.NodeNames() {
		if l := m.NodeData(name).Links; l != nil {
			if d := l.ByName(dev); d != nil && d.Tunnel != nil && d.Tunnel.DstPort > 0 {
				return uint16(d.Tunnel.DstPort)
			}
		}
	}
	if cni.Name == "flannel" || cni.Name == "canal" {
		for _, cm := range m.ConfigMaps {
			var nc struct {
				Backend struct {
					Port int `json:"Port"`
				} `json:"Backend"`
			}
			if conf, ok := cm.Data["net-conf.json"]; ok && json.Unmarshal([]byte(conf), &nc) == nil && nc.Backend.Port > 0 {
				return uint16(nc.Backend.Port)
			}
		}
		return 8472
	}
	if cni.Name == "calico" {
		return 4789
	}
	return 8472
}

type nfBlock struct {
	chain string
	rule  *iptables.Rule // nil: the chain's DROP policy
	pol   *iptables.Chain
	peers []string
}

func (b nfBlock) packets() uint64 {
	if b.rule != nil {
		return b.rule.Packets
	}
	pk, _ := b.pol.Counters()
	return pk
}

func nfEncapNode(c *Context, nd *model.NodeData, filter *iptables.Table, e nfEncap) {
	m := c.Model
	var self netip.Addr
	if n := m.Node(nd.Name); n != nil {
		self, _ = nfNodeIP(n)
	}
	selfP := netip.Prefix{}
	if self.IsValid() {
		selfP = netip.PrefixFrom(self, self.BitLen())
	}
	var blocks []nfBlock
	seen := map[string]int{}
	peers := 0
	for _, n := range m.Nodes {
		if n.Name == nd.Name {
			continue
		}
		ip, _ := nfNodeIP(n)
		if !ip.IsValid() || (self.IsValid() && ip.Is4() != self.Is4()) {
			continue
		}
		if peers++; peers > 50 {
			break
		}
		peerP := netip.PrefixFrom(ip, ip.BitLen())
		var up []string
		if r, ok, _ := nfLookup(nd, ip); ok && r.Dev != "" {
			up = []string{r.Dev}
		}
		for _, dir := range []struct {
			chain string
			pkt   nfPacket
		}{
			{"INPUT", nfPacket{Src: peerP, Dst: selfP, Proto: e.Proto, DPort: e.Port, InIfs: up, InKnown: len(up) > 0, OutKnown: true, DstLocal: true}},
			{"OUTPUT", nfPacket{Src: selfP, Dst: peerP, Proto: e.Proto, DPort: e.Port, OutIfs: up, OutKnown: len(up) > 0, InKnown: true, SrcLocal: true}},
		} {
			v, w := nfWalkChain(filter, dir.chain, dir.pkt)
			if v != nfDrop {
				continue
			}
			if w.Final == nil {
				unknown := false
				for _, mb := range w.Maybe {
					unknown = unknown || mb.Kind == nfUnknown
				}
				if unknown {
					c.Note("node %s: %s from/to node %s reaches the %s DROP policy unless a rule netsift cannot evaluate accepts it — not reported", nd.Name, e, n.Name, dir.chain)
					continue
				}
			}
			k := dir.chain
			if w.Final != nil {
				k = fmt.Sprint(w.Final.Line)
			}
			if i, ok := seen[k]; ok {
				blocks[i].peers = append(blocks[i].peers, n.Name)
				continue
			}
			seen[k] = len(blocks)
			blocks = append(blocks, nfBlock{chain: dir.chain, rule: w.Final, pol: filter.Chain(dir.chain), peers: []string{n.Name}})
		}
	}
	if len(blocks) == 0 {
		return
	}
	sort.SliceStable(blocks, func(i, j int) bool { return blocks[i].packets() > blocks[j].packets() })
	var parts []string
	var ev []finding.Evidence
	for _, b := range blocks {
		dir := "arriving from"
		if b.chain == "OUTPUT" {
			dir = "sent to"
		}
		who := "node " + b.peers[0]
		if len(b.peers) > 1 {
			who = "nodes " + strings.Join(b.peers[:min(len(b.peers), 5)], ", ")
			if len(b.peers) > 5 {
				who += fmt.Sprintf(" and %d more", len(b.peers)-5)
			}
		}
		if b.rule != nil {
			parts = append(parts, fmt.Sprintf("`%s` (%d packets so far) %s it for packets %s %s", nfRuleText(*b.rule), b.rule.Packets, nfVerb(b.rule.Target.Name), dir, who))
			ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, b.rule.Line))
		} else {
			parts = append(parts, fmt.Sprintf("the %s policy DROP (%d packets so far) drops it for packets %s %s: no rule accepts it first", b.chain, b.packets(), dir, who))
			ev = append(ev, c.NodeEvidence(nd, model.CapIPTables, b.pol.Line()))
		}
	}
	msg := fmt.Sprintf("Node %s's firewall blocks %s, which %s needs between nodes (known from: %s): %s. Every packet between pods on this node and pods on other nodes travels in it, so cross-node pod traffic (and Services backed by remote pods) times out.",
		nd.Name, e, e.Name, e.Why, strings.Join(parts, "; "))
	c.Report(finding.Finding{
		Subject:     nodeSubject(nd.Name),
		Key:         e.String(),
		Message:     msg,
		Evidence:    dedupeEvidence(ev),
		Remediation: nfEncapFix(e, blocks),
	})
}

func nfVerb(target string) string {
	if target == "REJECT" {
		return "rejects"
	}
	return "drops"
}

func nfEncapFix(e nfEncap, blocks []nfBlock) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# confirm: the counters of the blocking rule grow while pods on two nodes talk\niptables -L %s -v -n --line-numbers\n", blocks[0].chain)
	if e.Proto == "4" {
		b.WriteString("# open IPIP between the nodes (firewalld, then plain iptables)\nfirewall-cmd --permanent --add-protocol=ipip && firewall-cmd --reload\niptables -I INPUT -p 4 -j ACCEPT\niptables -I OUTPUT -p 4 -j ACCEPT\n")
	} else {
		fmt.Fprintf(&b, "# open %s between the nodes (firewalld, ufw, or plain iptables; restrict -s to the node subnet)\nfirewall-cmd --permanent --add-port=%d/%s && firewall-cmd --reload\nufw allow %d/%s\niptables -I INPUT -p %s --dport %d -j ACCEPT\n",
			e, e.Port, e.Proto, e.Port, e.Proto, e.Proto, e.Port)
	}
	b.WriteString("# if the underlay itself (cloud security group, physical firewall) cannot carry it, pick a CNI backend it does carry (e.g. flannel host-gw on one L2 segment)")
	return b.String()
}

// nfEncapLogs reports CNI agents that log that their overlay does not work.
func nfEncapLogs(c *Context) {
	m := c.Model
	for _, p := range m.Pods {
		cni, ok := model.CNIAgentOf(p)
		if !ok {
			continue
		}
		var ev []finding.Evidence
		what := ""
		for _, f := range podLogs(m.Bundle, p) {
			for i := 1; i <= f.Lines(); i++ {
				l := f.Line(i)
				low := strings.ToLower(l)
				switch {
				case strings.Contains(l, "BGP not established"):
					what = "BGP sessions to its peers are not established (TCP 179 blocked, or peers misconfigured): no routes to other nodes' pods"
				case strings.Contains(low, "vxlan") && (strings.Contains(low, "error") || strings.Contains(low, "failed") || strings.HasPrefix(l, "E")):
					what = "its VXLAN device or routes failed"
				default:
					continue
				}
				ev = append(ev, f.Evidence(i))
			}
		}
		for _, e := range m.EventsFor("Pod", p.Namespace, p.Name) {
			if strings.Contains(e.Message, "BGP not established") {
				what = "BGP sessions to its peers are not established (TCP 179 blocked, or peers misconfigured): no routes to other nodes' pods"
				ev = append(ev, m.Evidence(e.Src, "message"))
			}
		}
		if len(ev) == 0 {
			continue
		}
		if len(ev) > 3 {
			ev = ev[len(ev)-3:]
		}
		node := firstNonEmpty(p.Spec.NodeName, "?")
		c.Report(finding.Finding{
			Subject:  nodeSubject(node),
			Key:      "log:" + p.Name,
			Message:  fmt.Sprintf("The %s agent %s/%s on node %s reports that %s. Latest: %s", cni, p.Namespace, p.Name, node, what, truncate(ev[len(ev)-1].Excerpt, 240)),
			Evidence: ev,
			Remediation: fmt.Sprintf(`kubectl -n %[1]s logs %[2]s --all-containers --tail=100
# calico: BGP state per peer (inside the calico-node pod)
kubectl -n %[1]s exec %[2]s -c calico-node -- birdcl show protocols 2>/dev/null || true
# then check the node firewall and security groups for TCP 179 / the overlay port between the nodes`, p.Namespace, p.Name),
		})
	}
}
