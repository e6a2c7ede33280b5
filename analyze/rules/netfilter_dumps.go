package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iptables"
)

var iptablesBackendMixed = &Rule{
	ID:       "iptables.backend-mixed",
	Severity: finding.Warning,
	Title:    "Kubernetes rules in both iptables-legacy and iptables-nft",
	Inputs:   []Input{{NodeFile: model.CapIPTables}},
	Doc: "Both netfilter backends hold rules: kube-proxy (or the kubelet, or the CNI) writes with " +
		"one iptables binary and something else with the other. Both rule sets filter every " +
		"packet, and each side cannot see the other's: stale KUBE-* rules in one backend keep " +
		"DNATing to dead endpoints, and debugging with the wrong iptables shows nothing.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			legacy, legacyCap := nd.IPTablesLegacy, model.CapIPTablesLegacy
			nft, nftCap := nd.IPTablesNFT, model.CapIPTablesNFT
			if d := nd.IPTables; d != nil {
				switch d.Backend() {
				case "nf_tables":
					if nft == nil {
						nft, nftCap = d, model.CapIPTables
					}
				case "legacy":
					if legacy == nil {
						legacy, legacyCap = d, model.CapIPTables
					}
				}
			}
			if legacy == nil && nft == nil {
				c.NodeLacks(nd, model.CapIPTables)
				continue
			}
			lr, ln := nfKubeRules(legacy)
			nr, nn := nfKubeRules(nft)
			switch {
			case ln > 0 && nn > 0:
				owner := "both (compare their packet counters to see which set the traffic hits first)"
				switch {
				case nfHasServices(nft) && !nfHasServices(legacy):
					owner = "nf_tables (the legacy KUBE-* rules are leftovers)"
				case nfHasServices(legacy) && !nfHasServices(nft):
					owner = "legacy (the nf_tables KUBE-* rules are leftovers)"
				}
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     "kube-rules",
					Message: fmt.Sprintf("Node %s has Kubernetes rules in both iptables backends: %d KUBE-* rules in iptables-legacy and %d in iptables-nft. kube-proxy's current Service rules are in %s. Packets traverse both rule sets, so leftovers DNAT to stale endpoints or drop traffic the live set would pass, and `iptables` shows only one of them.",
						name, ln, nn, owner),
					Evidence:    []finding.Evidence{c.NodeEvidence(nd, legacyCap, lr.Line), c.NodeEvidence(nd, nftCap, nr.Line)},
					Remediation: nfBackendFix(name),
				})
			case nft != nil:
				for _, cm := range nft.Comments {
					if !strings.Contains(cm.Text, "iptables-legacy tables present") {
						continue
					}
					if nn == 0 && ln == 0 && legacy == nil {
						// kube-proxy writes nothing to nf_tables while legacy tables exist: it
						// writes to legacy, and something else (the CNI, firewalld) to nf_tables.
						if !nfAnyRules(nft) {
							break
						}
						c.Report(finding.Finding{
							Subject: nodeSubject(name),
							Key:     "legacy-present",
							Message: fmt.Sprintf("Node %s's nf_tables dump warns that iptables-legacy tables are present, and it holds no KUBE-* rule: kube-proxy writes to the legacy backend while other rules (%s) live in nf_tables. Each tool sees only its half of the firewall.",
								name, nfFirstRuleChain(nft)),
							Evidence:    []finding.Evidence{c.NodeEvidence(nd, nftCap, cm.Line)},
							Remediation: nfBackendFix(name),
						})
					} else if legacy == nil {
						c.Note("node %s: iptables-legacy tables are present besides nf_tables, but the bundle has no iptables-legacy-save.txt to tell whether they hold rules", name)
					}
					break
				}
			}
		}
	},
}

// nfKubeRules counts the rules in KUBE-* chains of a dump and returns the first.
func nfKubeRules(d *iptables.Dump) (*iptables.Rule, int) {
	if d == nil {
		return nil, 0
	}
	var first iptables.Rule
	n := 0
	for _, t := range d.Tables {
		for _, ch := range t.Chains() {
			if !strings.HasPrefix(ch.Name, "KUBE-") {
				continue
			}
			for _, r := range ch.Rules() {
				if n == 0 || r.Line < first.Line {
					first = r
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil, 0
	}
	return &first, n
}

func nfHasServices(d *iptables.Dump) bool {
	if d == nil {
		return false
	}
	t := d.Table("nat")
	return t != nil && t.Chain("KUBE-SERVICES") != nil && t.Chain("KUBE-SERVICES").Len() > 0
}

func nfAnyRules(d *iptables.Dump) bool {
	return nfFirstRuleChain(d) != ""
}

func nfFirstRuleChain(d *iptables.Dump) string {
	for _, t := range d.Tables {
		for _, ch := range t.Chains() {
			if ch.Len() > 0 {
				return t.Name + " " + ch.Name
			}
		}
	}
	return ""
}

func nfBackendFix(node string) string {
	return fmt.Sprintf(`# which backend each tool uses, and what each holds
iptables -V; update-alternatives --display iptables 2>/dev/null
iptables-legacy-save | grep -c '^-A KUBE-'; iptables-nft-save | grep -c '^-A KUBE-'
# make every component use one backend (the host's iptables alternative and kube-proxy's image agree),
# then flush the stale side, e.g. when nf_tables is the one in use:
iptables-legacy -t nat -F; iptables-legacy -t nat -X; iptables-legacy -F; iptables-legacy -X
# and restart kube-proxy on the node so it re-syncs
kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=%s`, node)
}

var iptablesRejectHit = &Rule{
	ID:       "iptables.reject-hit",
	Severity: finding.Warning,
	Title:    "Non-Kubernetes DROP/REJECT rule hits or covers pod/Service traffic",
	Inputs:   []Input{{NodeFile: model.CapIPTables}},
	Doc: "A DROP or REJECT rule on the filter INPUT or FORWARD path that neither kube-proxy nor the " +
		"CNI wrote (firewalld, ufw, hardening scripts, Docker) and whose packet counter is above " +
		"zero, or which matches pod or Service traffic. Ranked by packet counters. Rules in KUBE-*, " +
		"cali-, FLANNEL and CILIUM chains, and drops of conntrack INVALID packets, are left out.",
	Check: func(c *Context) {
		m := c.Model
		cluster, _ := nfClusterCIDRs(m)
		var podNets []netip.Prefix
		for _, cc := range cluster {
			if cc.Prefix.Addr().Is4() {
				podNets = append(podNets, cc.Prefix)
			}
		}
		var svcNets []netip.Prefix
		if s, _ := nfServiceRange(m); len(s) > 0 {
			svcNets = s
		} else {
			for _, s := range m.Services {
				if a, err := netip.ParseAddr(s.Spec.ClusterIP); err == nil && a.Is4() {
					svcNets = append(svcNets, netip.PrefixFrom(a, 32))
				}
			}
		}
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
			type hit struct {
				r      iptables.Rule
				hook   string
				covers string
			}
			var hits []hit
			seen := map[int]bool{} // by line: a rule reachable from both hooks is reported once
			for _, hook := range []string{"INPUT", "FORWARD"} {
				for _, r := range nfReachable(filter, hook) {
					if seen[r.Line] || (r.Target.Name != "DROP" && r.Target.Name != "REJECT") || nfCNIChain(r.Chain) || nfInvalidOnly(r) {
						continue
					}
					covers := ""
					for _, pn := range podNets {
						pkts := []struct {
							what string
							p    nfPacket
						}{{"pod-to-pod traffic", nfPacket{Src: pn, Dst: pn, Proto: "tcp"}}}
						for _, sn := range svcNets {
							pkts = append(pkts, struct {
								what string
								p    nfPacket
							}{"pod-to-Service traffic", nfPacket{Src: pn, Dst: sn, Proto: "tcp"}})
							break
						}
						if hook == "INPUT" {
							pkts = []struct {
								what string
								p    nfPacket
							}{{"traffic from pods to the node", nfPacket{Src: pn, Proto: "tcp", DstLocal: true, OutKnown: true}}}
						}
						for _, pk := range pkts {
							w := &nfWalk{tab: filter, pkt: pk.p, markKnown: true}
							if res, _, _ := w.match(r); res == nfYes || res == nfPartial {
								covers = pk.what
								break
							}
						}
					}
					if r.Packets == 0 && covers == "" {
						continue
					}
					seen[r.Line] = true
					hits = append(hits, hit{r, hook, covers})
				}
			}
			sort.SliceStable(hits, func(i, j int) bool { return hits[i].r.Packets > hits[j].r.Packets })
			for i, h := range hits {
				var why []string
				if h.r.Packets > 0 {
					why = append(why, fmt.Sprintf("it has %s %d packets (%d bytes) since the counters were reset", map[bool]string{true: "rejected", false: "dropped"}[h.r.Target.Name == "REJECT"], h.r.Packets, h.r.Bytes))
				}
				if h.covers != "" {
					why = append(why, "it matches "+h.covers)
				}
				via := ""
				if h.r.Chain != h.hook {
					via = fmt.Sprintf(" (chain %s, reached from %s)", h.r.Chain, h.hook)
				}
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     nfRuleText(h.r),
					Message: fmt.Sprintf("Node %s has a firewall rule that Kubernetes did not write%s: `%s`; %s. It is #%d of %d such rules on this node by packets. If it is not meant to, it silently breaks pod, Service or NodePort traffic.",
						name, via, nfRuleText(h.r), strings.Join(why, ", and "), i+1, len(hits)),
					Evidence: []finding.Evidence{c.NodeEvidence(nd, model.CapIPTables, h.r.Line)},
					Remediation: fmt.Sprintf(`# confirm: watch its counter grow while the failing traffic is retried
iptables -L %[1]s -v -n --line-numbers
# find who owns it (firewalld, ufw, a hardening script) and allow the pod/Service ranges there, e.g.
firewall-cmd --permanent --zone=trusted --add-source=%[2]s && firewall-cmd --reload
# or remove it now
iptables -D %[3]s`, h.r.Chain, nfFirstOr(podNets, "<pod CIDR>"), strings.TrimPrefix(nfRuleText(h.r), "-A ")),
				})
			}
		}
	},
}

func nfFirstOr(ps []netip.Prefix, def string) string {
	if len(ps) > 0 {
		return ps[0].String()
	}
	return def
}

// nfReachable returns the rules of a hook chain and of every user chain reachable from it by
// jumps, in walk order (each chain once).
func nfReachable(t *iptables.Table, hook string) []iptables.Rule {
	var out []iptables.Rule
	visited := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if visited[name] {
			return
		}
		visited[name] = true
		ch := t.Chain(name)
		if ch == nil {
			return
		}
		for _, r := range ch.Rules() {
			out = append(out, r)
			if r.Target.IsChainJump(t) {
				visit(r.Target.Name)
			}
		}
	}
	visit(hook)
	return out
}

// nfInvalidOnly tells whether a rule drops only conntrack INVALID packets (benign hygiene).
func nfInvalidOnly(r iptables.Rule) bool {
	st, neg, ok := r.CTStates()
	return ok && !neg && len(st) == 1 && st[0] == "INVALID"
}
