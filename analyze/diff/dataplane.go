package diff

import (
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/conntrack"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/iptables"
	"github.com/netsift/netsift/parsers/ipvsadm"
	"github.com/netsift/netsift/parsers/sysctl"
)

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }

// compareDataplane diffs every node's captures. Nodes are ordered by their most important
// change, so the node where traffic most likely broke comes first.
func compareDataplane(om, nm *model.Model, elapsed float64) []NodeDiff {
	// A node is in a bundle when the bundle holds captures of it: a node the manifest or a Node
	// object names but whose dataplane was not collected has nothing to compare.
	captured := func(m *model.Model) map[string]bool {
		out := map[string]bool{}
		for _, n := range m.NodeNames() {
			if len(m.Bundle.Dir("nodes/"+n)) > 0 {
				out[n] = true
			}
		}
		return out
	}
	inOld, inNew := captured(om), captured(nm)
	names := keyedUnion(inOld, inNew)
	all := make([]NodeDiff, len(names))
	// Nodes are independent: compare them on every CPU. NodeData parses on first use and
	// caches in the model, so it is fetched here, before the workers only read it.
	pairs := make([][2]*model.NodeData, len(names))
	for i, name := range names {
		if inOld[name] && inNew[name] {
			pairs[i] = [2]*model.NodeData{om.NodeData(name), nm.NodeData(name)}
		}
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Go(func() {
			for i := range work {
				name := names[i]
				nd := NodeDiff{Node: name, Presence: Both, Changes: []Change{}}
				switch {
				case !inNew[name]:
					nd.Presence = OldOnly
				case !inOld[name]:
					nd.Presence = NewOnly
				default:
					nd.Changes = compareNode(pairs[i][0], pairs[i][1], elapsed)
				}
				all[i] = nd
			}
		})
	}
	for i := range names {
		work <- i
	}
	close(work)
	wg.Wait()
	out := []NodeDiff{}
	for _, nd := range all {
		if nd.Presence != Both || len(nd.Changes) > 0 {
			out = append(out, nd)
		}
	}
	rank := func(n NodeDiff) int {
		if n.Presence != Both {
			return -1
		}
		return n.Changes[0].Rank
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func compareNode(o, n *model.NodeData, elapsed float64) []Change {
	var cs []Change
	for _, d := range []struct {
		label  string
		od, nd *iptables.Dump
	}{
		{"iptables", o.IPTables, n.IPTables},
		{"iptables-legacy", o.IPTablesLegacy, n.IPTablesLegacy},
		{"iptables-nft", o.IPTablesNFT, n.IPTablesNFT},
		{"ip6tables", o.IP6Tables, n.IP6Tables},
	} {
		if d.od != nil && d.nd != nil {
			cs = append(cs, compareDump(d.label, d.od, d.nd, elapsed)...)
		} else if (d.od == nil) != (d.nd == nil) {
			cs = append(cs, captureChange(d.label, d.od != nil))
		}
	}
	switch {
	case o.IPVS != nil && n.IPVS != nil:
		cs = append(cs, compareIPVS(o.IPVS, n.IPVS)...)
	case (o.IPVS == nil) != (n.IPVS == nil):
		cs = append(cs, captureChange("ipvs", o.IPVS != nil))
	}
	if o.Routes != nil && n.Routes != nil {
		cs = append(cs, compareRoutes(o.Routes, n.Routes)...)
	}
	if o.Sysctl != nil && n.Sysctl != nil {
		cs = append(cs, compareSysctls(o.Sysctl, n.Sysctl)...)
	}
	cs = append(cs, compareLinks(o, n)...)
	if o.Conntrack != nil && n.Conntrack != nil {
		cs = append(cs, compareConntrack(o.Conntrack, n.Conntrack, elapsed)...)
	}
	sortChanges(cs)
	return cs
}

// captureChange says a whole capture is present on one side only: its content is not listed,
// for the same reason a missing node's is not.
func captureChange(label string, inOld bool) Change {
	c := Change{Kind: "capture", Subject: label, Op: Added, Rank: 5}
	if inOld {
		c.Op = Removed
	}
	return c
}

// --- IPVS ---

func vsKey(v *ipvsadm.VirtualServer) string {
	if v.Protocol == "FWM" {
		return fmt.Sprintf("FWM %d", v.FWMark)
	}
	return v.Protocol + " " + v.AddressText
}

func vsSettings(v *ipvsadm.VirtualServer) string {
	s := v.Scheduler
	if v.Persistent {
		s += fmt.Sprintf(" persistent %d", v.Timeout)
	}
	if len(v.Flags) > 0 {
		s += " " + strings.Join(v.Flags, ",")
	}
	return s
}

func compareIPVS(o, n *ipvsadm.Table) []Change {
	index := func(t *ipvsadm.Table) map[string]*ipvsadm.VirtualServer {
		out := map[string]*ipvsadm.VirtualServer{}
		for _, v := range t.VirtualServers {
			out[vsKey(v)] = v
		}
		return out
	}
	ov, nv := index(o), index(n)
	var cs []Change
	for _, k := range keyedUnion(ov, nv) {
		a, b := ov[k], nv[k]
		subject := "ipvs " + k
		switch {
		case a == nil:
			cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Added, New: vsSettings(b), Rank: 4})
			continue
		case b == nil:
			cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Removed, Old: vsSettings(a), Rank: 2})
			continue
		}
		if sa, sb := vsSettings(a), vsSettings(b); sa != sb {
			cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Changed, Field: "scheduler", Old: sa, New: sb, Rank: 3})
		}
		real := func(v *ipvsadm.VirtualServer) map[string]string {
			out := map[string]string{}
			for _, r := range v.RealServers {
				out[r.AddressText] = fmt.Sprintf("%s weight %d", r.Forward, r.Weight)
			}
			return out
		}
		ar, br := real(a), real(b)
		for _, rk := range keyedUnion(ar, br) {
			x, inA := ar[rk]
			y, inB := br[rk]
			switch {
			case !inA:
				cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Added, Field: "real server " + rk, New: y, Rank: 4})
			case !inB:
				cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Removed, Field: "real server " + rk, Old: x, Rank: 2})
			case x != y:
				cs = append(cs, Change{Kind: "ipvs", Subject: subject, Op: Changed, Field: "real server " + rk, Old: x, New: y, Rank: 2})
			}
		}
	}
	return cs
}

// --- routes ---

// routeText is a route as `ip route` would print it, without its line number, so the same
// route reads the same in both captures.
func routeText(r iproute.Route) string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	if r.Dst.IsValid() {
		b.WriteString(r.Dst.String())
	} else {
		b.WriteString("default")
	}
	if r.Gateway.IsValid() {
		b.WriteString(" via " + r.Gateway.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Table != "" && r.Table != "main" {
		b.WriteString(" table " + r.Table)
	}
	if r.Protocol != "" {
		b.WriteString(" proto " + r.Protocol)
	}
	if r.Scope != "" {
		b.WriteString(" scope " + r.Scope)
	}
	if r.PrefSrc.IsValid() {
		b.WriteString(" src " + r.PrefSrc.String())
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.MTU != 0 {
		fmt.Fprintf(&b, " mtu %d", r.MTU)
	}
	for _, h := range r.Nexthops {
		b.WriteString(" nexthop")
		if h.Gateway.IsValid() {
			b.WriteString(" via " + h.Gateway.String())
		}
		if h.Dev != "" {
			b.WriteString(" dev " + h.Dev)
		}
		if h.Weight != 0 {
			fmt.Fprintf(&b, " weight %d", h.Weight)
		}
	}
	for _, f := range r.Flags {
		b.WriteString(" " + f)
	}
	return b.String()
}

func compareRoutes(o, n *iproute.Routes) []Change {
	count := func(rs *iproute.Routes) map[string]int {
		out := map[string]int{}
		for _, r := range rs.All() {
			out[routeText(r)]++
		}
		return out
	}
	oc, nc := count(o), count(n)
	var cs []Change
	for _, k := range keyedUnion(oc, nc) {
		for i := oc[k]; i < nc[k]; i++ {
			cs = append(cs, Change{Kind: "route", Subject: "route", Op: Added, New: k, Rank: 3})
		}
		for i := nc[k]; i < oc[k]; i++ {
			cs = append(cs, Change{Kind: "route", Subject: "route", Op: Removed, Old: k, Rank: 1})
		}
	}
	return cs
}

// --- sysctls ---

// volatileSysctls change on every read; they are never a change.
var volatileSysctls = []string{
	"kernel.random.", "fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state",
	"kernel.ns_last_pid", "kernel.pty.nr", "fs.quota.", "net.netfilter.nf_conntrack_count",
	"kernel.sched_domain.", "fs.aio-nr", "kernel.tainted", "net.netfilter.nf_conntrack_events_retry_timeout",
}

// keySysctls are the parameters networking faults are made of; their changes rank high.
var keySysctls = []string{
	".forwarding", "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-", ".rp_filter", "net.netfilter.nf_conntrack_max",
	".route_localnet", "net.ipv4.conf.all.proxy_arp", "net.ipv4.ip_local_port_range", ".disable_ipv6",
}

// podDevicePrefixes name per-pod devices, which come and go with pods: their appearing or
// disappearing is pod churn, not a change of the node.
var podDevicePrefixes = []string{"veth", "cali", "lxc", "tap", "vnet", "azv", "eni", "gke", "weavewait"}

func podDevice(name string) bool {
	for _, p := range podDevicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sysctlDevice returns the device of a per-device key (net.ipv4.conf.<dev>.<param>), or "".
func sysctlDevice(key string) string {
	for _, p := range []string{"net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh."} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			if i := strings.LastIndexByte(rest, '.'); i > 0 {
				return rest[:i]
			}
		}
	}
	return ""
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func sysctlRank(key string) int {
	for _, k := range keySysctls {
		if strings.HasPrefix(k, ".") && strings.HasSuffix(key, k) || strings.HasPrefix(key, k) {
			return 1
		}
	}
	return 5
}

func compareSysctls(o, n *sysctl.Sysctls) []Change {
	index := func(s *sysctl.Sysctls) map[string]string {
		out := map[string]string{}
		for _, e := range s.Entries {
			if !hasAnyPrefix(e.Key, volatileSysctls) {
				out[e.Key] = strings.Join(strings.Fields(e.Value), " ")
			}
		}
		return out
	}
	ov, nv := index(o), index(n)
	var cs []Change
	for _, k := range keyedUnion(ov, nv) {
		a, inOld := ov[k]
		b, inNew := nv[k]
		if inOld && inNew {
			if a != b {
				cs = append(cs, Change{Kind: "sysctl", Subject: k, Op: Changed, Old: a, New: b, Rank: sysctlRank(k)})
			}
			continue
		}
		if sysctlDevice(k) != "" {
			// A device's keys come and go with the device, which the link changes report.
			continue
		}
		c := Change{Kind: "sysctl", Subject: k, Op: Added, New: b, Rank: sysctlRank(k) + 1}
		if inOld {
			c.Op, c.New, c.Old = Removed, "", a
		}
		cs = append(cs, c)
	}
	return cs
}

// --- links ---

type linkState struct {
	mtu    int
	state  string
	up     bool
	master string
	kind   string
	addrs  string
}

func linksOf(nd *model.NodeData) map[string]*linkState {
	out := map[string]*linkState{}
	if nd.Links != nil {
		for _, l := range nd.Links.Links {
			out[l.Name] = &linkState{mtu: l.MTU, state: l.OperState, up: l.Up(), master: l.Master, kind: l.Kind}
		}
	}
	if nd.Addrs != nil {
		for _, i := range nd.Addrs.Interfaces {
			ls := out[i.Name]
			if ls == nil {
				ls = &linkState{mtu: i.MTU, state: i.State, up: i.Up(), master: i.Master}
				out[i.Name] = ls
			}
			var a []string
			for _, ad := range i.Addresses {
				a = append(a, ad.Prefix.String())
			}
			ls.addrs = sortedJoin(a)
		}
	}
	return out
}

func compareLinks(o, n *model.NodeData) []Change {
	if (o.Links == nil && o.Addrs == nil) || (n.Links == nil && n.Addrs == nil) {
		return nil
	}
	ol, nl := linksOf(o), linksOf(n)
	var cs []Change
	for _, name := range keyedUnion(ol, nl) {
		a, b := ol[name], nl[name]
		subject := "link " + name
		switch {
		case a == nil || b == nil:
			if podDevice(name) {
				continue
			}
			c := Change{Kind: "link", Subject: subject, Op: Added, Rank: 3}
			if b == nil {
				c.Op, c.Rank = Removed, 1
			}
			cs = append(cs, c)
			continue
		}
		if a.mtu != b.mtu {
			cs = append(cs, Change{Kind: "link", Subject: subject, Op: Changed, Field: "mtu", Old: strconv.Itoa(a.mtu), New: strconv.Itoa(b.mtu), Rank: 1})
		}
		if a.up != b.up {
			rank := 3
			if !b.up {
				rank = 1
			}
			cs = append(cs, Change{Kind: "link", Subject: subject, Op: Changed, Field: "UP flag", Old: fmt.Sprint(a.up), New: fmt.Sprint(b.up), Rank: rank})
		}
		if a.state != b.state {
			rank := 3
			if b.state == "DOWN" || b.state == "LOWERLAYERDOWN" {
				rank = 1
			}
			cs = append(cs, Change{Kind: "link", Subject: subject, Op: Changed, Field: "state", Old: a.state, New: b.state, Rank: rank})
		}
		if a.master != b.master {
			cs = append(cs, Change{Kind: "link", Subject: subject, Op: Changed, Field: "master", Old: a.master, New: b.master, Rank: 2})
		}
		if a.addrs != b.addrs && !podDevice(name) {
			cs = append(cs, Change{Kind: "link", Subject: subject, Op: Changed, Field: "addresses", Old: a.addrs, New: b.addrs, Rank: 2})
		}
	}
	return cs
}

// --- conntrack ---

// conntrackTroubles are the conntrack counters whose growth means lost or refused connections.
var conntrackTroubles = map[string]int{"drop": 2, "early_drop": 2, "insert_failed": 2, "invalid": 4, "error": 4, "icmp_error": 4}

func compareConntrack(o, n *conntrack.Stats, elapsed float64) []Change {
	var cs []Change
	for _, k := range keyedUnion(conntrackTroubles, map[string]bool{}) {
		a, okA := o.Total(k)
		b, okB := n.Total(k)
		if okA && okB && b > a {
			cs = append(cs, grew("conntrack", "conntrack", k, a, b, elapsed, conntrackTroubles[k]))
		}
	}
	return cs
}
