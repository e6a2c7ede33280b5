package report

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// Dataplane is one node's captured dataplane at a glance: what an engineer would look at first
// with `iptables-save`, `ipvsadm -Ln`, `ip route` and `sysctl` on the node.
type Dataplane struct {
	// Chains counts chains and rules per iptables table ("nat": {chains, rules}).
	Tables []TableCount `json:"tables,omitempty"`
	// Drops are the DROP/REJECT rules (and DROP policies) that have counted packets, most first.
	Drops []Counted `json:"drops,omitempty"`
	// IPVS counts virtual servers, and lists those with no real server.
	IPVSServices int      `json:"ipvs_services,omitempty"`
	IPVSEmpty    []string `json:"ipvs_empty,omitempty"`
	// PeerRoutes says how many other nodes' podCIDRs the main table routes, of how many.
	PeerRoutes int `json:"peer_routes"`
	Peers      int `json:"peers"`
	// Sysctls are the keys that decide pod networking, as captured.
	Sysctls []finding.Evidence `json:"sysctls,omitempty"`
}

// TableCount is one iptables table's size.
type TableCount struct {
	Table  string `json:"table"`
	Chains int    `json:"chains"`
	Rules  int    `json:"rules"`
}

// Counted is a rule (or chain policy) with its packet counter.
type Counted struct {
	Evidence finding.Evidence `json:"evidence"`
	Packets  uint64           `json:"packets"`
}

var keySysctls = []string{
	"net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.ipv4.conf.all.rp_filter",
	"net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max",
}

// dataplaneOf summarises a node's captures; nil when the bundle has none for it.
func dataplaneOf(m *model.Model, name string, podCIDRs map[string]string) *Dataplane {
	nd := m.NodeData(name)
	d := &Dataplane{}
	empty := true
	if nd.IPTables != nil {
		empty = false
		f := m.Bundle.File(nd.Path(model.CapIPTables))
		for _, t := range nd.IPTables.Tables {
			tc := TableCount{Table: t.Name, Chains: t.NumChains()}
			for _, c := range t.Chains() {
				tc.Rules += c.Len()
				if pk, _ := c.Counters(); c.Policy == "DROP" && pk > 0 && f != nil {
					d.Drops = append(d.Drops, Counted{f.Evidence(c.Line()), pk})
				}
				if f == nil || !c.HasTarget("DROP", "REJECT") {
					continue
				}
				for _, r := range c.Rules() {
					if (r.Target.Name == "DROP" || r.Target.Name == "REJECT") && r.Packets > 0 {
						d.Drops = append(d.Drops, Counted{f.Evidence(r.Line), r.Packets})
					}
				}
			}
			d.Tables = append(d.Tables, tc)
		}
		sort.SliceStable(d.Drops, func(i, j int) bool { return d.Drops[i].Packets > d.Drops[j].Packets })
		if len(d.Drops) > 5 {
			d.Drops = d.Drops[:5]
		}
	}
	if nd.IPVS != nil {
		empty = false
		for _, vs := range nd.IPVS.VirtualServers {
			d.IPVSServices++
			if len(vs.RealServers) == 0 {
				d.IPVSEmpty = append(d.IPVSEmpty, fmt.Sprintf("%s %s", vs.Protocol, vs.AddressText))
			}
		}
	}
	if nd.Routes != nil {
		empty = false
		for node, cidr := range podCIDRs {
			if node == name {
				continue
			}
			d.Peers++
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				continue
			}
			if r, ok := nd.Routes.Lookup("main", p.Addr()); ok && r.Dst.Bits() > 0 && !r.Drops() {
				d.PeerRoutes++
			}
		}
	}
	if nd.Sysctl != nil {
		empty = false
		f := m.Bundle.File(nd.Path(model.CapSysctl))
		for _, k := range keySysctls {
			if e, ok := nd.Sysctl.Get(k); ok && f != nil {
				d.Sysctls = append(d.Sysctls, f.Evidence(e.Line))
			}
		}
	}
	if empty {
		return nil
	}
	return d
}

// tablesText is "nat 12 chains/88 rules, filter 9/31".
func tablesText(d *Dataplane) string {
	var parts []string
	for _, t := range d.Tables {
		parts = append(parts, fmt.Sprintf("%s %d chains/%d rules", t.Table, t.Chains, t.Rules))
	}
	if len(parts) == 0 {
		return "no iptables capture"
	}
	return strings.Join(parts, ", ")
}

func ipvsText(d *Dataplane) string {
	switch {
	case d.IPVSServices == 0:
		return ""
	case len(d.IPVSEmpty) == 0:
		return fmt.Sprintf("%d virtual servers, all with real servers", d.IPVSServices)
	}
	return fmt.Sprintf("%d virtual servers, %d without real servers: %s", d.IPVSServices, len(d.IPVSEmpty), strings.Join(d.IPVSEmpty, ", "))
}

func routesText(d *Dataplane) string {
	if d.Peers == 0 {
		return ""
	}
	return fmt.Sprintf("routes to %d of %d other nodes' podCIDRs", d.PeerRoutes, d.Peers)
}

func countedEvidence(cs []Counted) []finding.Evidence {
	out := make([]finding.Evidence, len(cs))
	for i, c := range cs {
		out[i] = c.Evidence
	}
	return out
}
