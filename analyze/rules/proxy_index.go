package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iptables"
	"github.com/netsift/netsift/parsers/ipvsadm"
)

// This file holds what the kube-proxy rules share: the Service ports kube-proxy must program
// (with their ready endpoints resolved to IP:port) and, per node, an index of the dataplane
// kube-proxy wrote. Both are built once per model and reused by every proxy rule, because a
// node can hold 300,000 rules and a cluster 10,000 Services: each rule does map lookups per
// Service port, never a scan of the rules.

// vip is one Service port as the dataplane keys it: ClusterIP, protocol (lower case), port.
type vip struct {
	addr  netip.Addr
	proto string
	port  uint16
}

func (v vip) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(v.addr, v.port), strings.ToUpper(v.proto))
}

// svcPort is one port of one ClusterIP of a Service, with the endpoints kube-proxy must send
// its traffic to.
type svcPort struct {
	svc   *model.Service
	index int // in spec.ports
	port  corev1.ServicePort
	vip   vip
	// ready are the ready endpoints of the address family of the ClusterIP, keyed by the
	// IP:port kube-proxy DNATs to; notReady the others (kube-proxy falls back to serving
	// terminating endpoints when none is ready, so they are not "extra" in that case).
	ready    epSet
	notReady epSet
}

// epSet is a Service port's endpoints by the IP:port kube-proxy DNATs to, sorted by it, each
// pointing into its Service's endpoints (Model.ServiceEndpoints, sized exactly). Ten thousand ports' maps of copies were 15 MB live on
// large for the whole of the rules; 40 bytes an endpoint here.
type epSet []epAt

type epAt struct {
	addr netip.AddrPort
	ep   *model.ServiceEndpoint
}

// find returns the endpoint at a: by a scan of a few, by binary search of more (most ports
// have a handful, and an equality is a fraction of a Compare).
func (s epSet) find(a netip.AddrPort) (*model.ServiceEndpoint, bool) {
	if len(s) <= 8 {
		for i := range s {
			if s[i].addr == a {
				return s[i].ep, true
			}
		}
		return nil, false
	}
	i, ok := slices.BinarySearchFunc(s, a, func(e epAt, a netip.AddrPort) int { return e.addr.Compare(a) })
	if !ok {
		return nil, false
	}
	return s[i].ep, true
}

func (s epSet) has(a netip.AddrPort) bool {
	_, ok := s.find(a)
	return ok
}

// onNode is the endpoints of s on node.
func (s epSet) onNode(node string) epSet {
	var out epSet
	for _, e := range s {
		if e.ep.NodeName == node {
			out = append(out, e)
		}
	}
	return out
}

// name is how kube-proxy names the port in its comments: "ns/svc:port" or "ns/svc".
func (sp *svcPort) name() string {
	s := sp.svc.Namespace + "/" + sp.svc.Name
	if sp.port.Name != "" {
		s += ":" + sp.port.Name
	}
	return s
}

func (sp *svcPort) String() string { return sp.name() + " " + sp.vip.String() }

// localOnly says kube-proxy sends the ClusterIP's traffic only to endpoints on the same node.
func (sp *svcPort) localOnly() bool {
	p := sp.svc.Spec.InternalTrafficPolicy
	return p != nil && *p == corev1.ServiceInternalTrafficPolicyLocal
}

// expected returns the endpoints node should program for this port, and the ones it may
// program without being stale (not-ready endpoints when no endpoint is ready).
// The sets are shared: callers only read them.
func (sp *svcPort) expected(node string) (want, allowed epSet) {
	if !sp.localOnly() {
		// The same on every node: the port's own sets, not a copy for each node.
		if len(sp.ready) == 0 {
			return sp.ready, sp.notReady
		}
		return sp.ready, sp.ready
	}
	want = sp.ready.onNode(node)
	allowed = want
	if len(want) == 0 {
		allowed = sp.notReady.onNode(node)
	}
	return want, allowed
}

// proxyData is the per-model state of the proxy rules.
type proxyData struct {
	ports []*svcPort
	nodes map[string]*nodeIndex
	vips  map[any]map[vip]int32 // iptIndex.clusterIP by KUBE-SERVICES Shape
	ipvs  []*ipvsIndex          // the IPVS indexes other nodes may share (indexIPVS)
}

var proxyCache struct {
	sync.Mutex
	m *model.Model
	d *proxyData
}

// proxyState returns the shared state for m, building it on first use.
func proxyState(m *model.Model) *proxyData {
	proxyCache.Lock()
	defer proxyCache.Unlock()
	if proxyCache.m != m {
		proxyCache.m, proxyCache.d = m, &proxyData{ports: servicePorts(m), nodes: map[string]*nodeIndex{}, vips: map[any]map[vip]int32{}}
	}
	return proxyCache.d
}

// node returns the dataplane index of a node (built once).
func (d *proxyData) node(nd *model.NodeData) *nodeIndex {
	proxyCache.Lock()
	defer proxyCache.Unlock()
	if ix, ok := d.nodes[nd.Name]; ok {
		return ix
	}
	ix := &nodeIndex{v4: indexIPTables(nd.IPTables, d.vips), v6: indexIPTables(nd.IP6Tables, d.vips), ipvs: indexIPVS(nd.IPVS, &d.ipvs)}
	d.nodes[nd.Name] = ix
	return ix
}

// servicePorts lists every Service port kube-proxy programs a ClusterIP rule for: not
// headless, not ExternalName, not handed to another proxy (service-proxy-name label), with a
// parseable ClusterIP.
func servicePorts(m *model.Model) []*svcPort {
	var out []*svcPort
	var seen []endpointSeen
	for _, svc := range m.Services {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		if _, other := svc.Labels["service.kubernetes.io/service-proxy-name"]; other {
			continue // kube-proxy leaves it to another service proxy
		}
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		eps, _ := m.ServiceEndpoints(svc)
		for _, s := range ips {
			ip, err := netip.ParseAddr(s)
			if err != nil { // "None": headless
				continue
			}
			for i, p := range svc.Spec.Ports {
				sp := &svcPort{svc: svc, index: i, port: p,
					vip: vip{addr: ip, proto: strings.ToLower(string(protocolOf(p.Protocol))), port: uint16(p.Port)}}
				seen = seen[:0]
				for k := range eps {
					if a, ok := endpointAddr(eps[k], p); ok && a.Addr().Is4() == ip.Is4() {
						seen = append(seen, endpointSeen{epAt{a, &eps[k]}, eps[k].Ready})
					}
				}
				sp.ready, sp.notReady = splitReady(seen)
				out = append(out, sp)
			}
		}
	}
	return out
}

// endpointSeen is an endpoint of a Service port, in the order the EndpointSlices list them.
type endpointSeen struct {
	epAt
	ready bool
}

// splitReady sorts a port's endpoints into its ready ones and the others, one per IP:port: a
// ready one when any at that IP:port is (the last listed), else the last listed.
func splitReady(seen []endpointSeen) (ready, notReady epSet) {
	slices.SortStableFunc(seen, func(x, y endpointSeen) int { return x.addr.Compare(y.addr) })
	var nr, nn int
	for i := 0; i < len(seen); {
		j, anyReady := i, false
		for ; j < len(seen) && seen[j].addr == seen[i].addr; j++ {
			anyReady = anyReady || seen[j].ready
		}
		if anyReady {
			nr++
		} else {
			nn++
		}
		i = j
	}
	ready, notReady = make(epSet, 0, nr), make(epSet, 0, nn)
	for i := 0; i < len(seen); {
		j, last, lastReady := i, -1, -1
		for ; j < len(seen) && seen[j].addr == seen[i].addr; j++ {
			last = j
			if seen[j].ready {
				lastReady = j
			}
		}
		if lastReady >= 0 {
			ready = append(ready, seen[lastReady].epAt)
		} else {
			notReady = append(notReady, seen[last].epAt)
		}
		i = j
	}
	return ready, notReady
}

// endpointAddr is the IP:port an endpoint serves a Service port on: the endpoint port with the
// Service port's name and protocol, as the endpoint controllers publish it.
func endpointAddr(ep model.ServiceEndpoint, p corev1.ServicePort) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(ep.IP)
	if err != nil {
		return netip.AddrPort{}, false
	}
	for _, ep := range ep.Ports {
		name, proto := "", corev1.ProtocolTCP
		if ep.Name != nil {
			name = *ep.Name
		}
		if ep.Protocol != nil {
			proto = *ep.Protocol
		}
		if name == p.Name && proto == protocolOf(p.Protocol) && ep.Port != nil {
			return netip.AddrPortFrom(ip, uint16(*ep.Port)), true
		}
	}
	return netip.AddrPort{}, false
}

// nodeIndex is one node's Service dataplane, indexed by vip.
type nodeIndex struct {
	v4, v6 *iptIndex
	ipvs   *ipvsIndex
}

func (ix *nodeIndex) ipt(addr netip.Addr) *iptIndex {
	if addr.Is4() {
		return ix.v4
	}
	return ix.v6
}

// iptIndex indexes the Service rules kube-proxy writes in iptables mode.
type iptIndex struct {
	nat *iptables.Table
	// services is nat KUBE-SERVICES; nil when kube-proxy never wrote it.
	services *iptables.Chain
	// clusterIP is where in services the rule is that sends a ClusterIP:port to its
	// KUBE-SVC-/KUBE-SVL- chain (its index: services.Spec, services.Rule). Nodes whose
	// KUBE-SERVICES says the same share the map (ten thousand Services, fifty nodes).
	clusterIP map[vip]int32
	// noEndpoints is the filter rule that REJECTs a ClusterIP:port kube-proxy believes has no
	// endpoints ("ns/svc:port has no endpoints").
	noEndpoints map[vip]iptables.Rule
	// noLocalEndpoints are the rules dropping a Service port's external traffic because the
	// node has no local endpoint (externalTrafficPolicy: Local), keyed by the port's name as in
	// their comment: filter KUBE-EXTERNAL-SERVICES since kube-proxy 1.25, nat KUBE-XLB- before.
	noLocalEndpoints map[string][]iptables.Rule
}

// indexIPTables indexes a dump; shared (nil: none) keeps the clusterIP maps by the
// KUBE-SERVICES chain's Shape, for the next node with the same chain.
func indexIPTables(d *iptables.Dump, shared map[any]map[vip]int32) *iptIndex {
	if d == nil {
		return nil
	}
	ix := &iptIndex{noEndpoints: map[vip]iptables.Rule{}, noLocalEndpoints: map[string][]iptables.Rule{}}
	if ix.nat = d.Table("nat"); ix.nat != nil {
		ix.services = ix.nat.Chain("KUBE-SERVICES")
	}
	ix.clusterIP = clusterIPRules(ix.services, shared)
	noLocal := func(r iptables.Rule) {
		if name, ok := strings.CutSuffix(r.Comment(), " has no local endpoints"); ok && (r.Target.Name == "DROP" || r.Target.Name == "KUBE-MARK-DROP") {
			ix.noLocalEndpoints[name] = append(ix.noLocalEndpoints[name], r)
		}
	}
	if ix.nat != nil {
		for _, ch := range ix.nat.Chains() {
			if strings.HasPrefix(ch.Name, "KUBE-XLB-") {
				for _, r := range ch.Rules() {
					noLocal(r)
				}
			}
		}
	}
	if f := d.Table("filter"); f != nil {
		if ch := f.Chain("KUBE-EXTERNAL-SERVICES"); ch != nil {
			for _, r := range ch.Rules() {
				noLocal(r)
			}
		}
		if ch := f.Chain("KUBE-SERVICES"); ch != nil {
			for _, r := range ch.Rules() {
				if r.Target.Name == "REJECT" && strings.HasSuffix(r.Comment(), " has no endpoints") {
					if k, ok := ruleVIP(r); ok {
						ix.noEndpoints[k] = r
					}
				}
			}
		}
	}
	return ix
}

// clusterIPRules maps each ClusterIP:port to the index of the services rule that jumps to its
// KUBE-SVC-/KUBE-SVL- chain (the first, if several do).
func clusterIPRules(services *iptables.Chain, shared map[any]map[vip]int32) map[vip]int32 {
	if services == nil {
		return map[vip]int32{}
	}
	if m, ok := shared[services.Shape()]; ok {
		return m
	}
	m := map[vip]int32{}
	for i := range services.Len() {
		s := services.Spec(i)
		t := s.Target.Name
		if !strings.HasPrefix(t, "KUBE-SVC-") && !strings.HasPrefix(t, "KUBE-SVL-") {
			continue // masquerade marks, LoadBalancer/external IPs (KUBE-EXT-), nodeports
		}
		if k, ok := ruleVIP(iptables.Rule{Spec: s}); ok {
			if _, dup := m[k]; !dup {
				m[k] = int32(i)
			}
		}
	}
	if shared != nil {
		shared[services.Shape()] = m
	}
	return m
}

// ruleVIP reads '-d IP/32 -p proto --dport N' off a rule.
func ruleVIP(r iptables.Rule) (vip, bool) {
	dst, neg, ok := r.Destination()
	if !ok || neg || dst.Bits() != dst.Addr().BitLen() {
		return vip{}, false
	}
	proto, neg, ok := r.Protocol()
	if !ok || neg {
		return vip{}, false
	}
	ports, neg, ok := r.DPorts()
	if !ok || neg || len(ports) != 1 || ports[0].Lo != ports[0].Hi {
		return vip{}, false
	}
	return vip{addr: dst.Addr(), proto: strings.ToLower(proto), port: ports[0].Lo}, true
}

// dnatTarget is one endpoint a KUBE-SVC chain load-balances to: the DNAT rule (index rule) of
// its KUBE-SEP chain, the chain at position sep of the nat table.
type dnatTarget struct {
	addr      netip.AddrPort
	sep, rule int
}

// line is the DNAT rule's line in nat, the table the target was found in.
func (t dnatTarget) line(nat *iptables.Table) int {
	sep := nat.ChainAt(t.sep)
	return sep.Rule(t.rule).Line
}

// targetsMemo remembers, per nat table layout and KUBE-SERVICES chain, where the DNAT targets
// of each of its ClusterIP rules are (see targets); one per model.
type targetsMemo struct {
	svcs sync.Map // targetsKey → targetSlots
	same sync.Map // [2]*iptables.Table → chainSet (differing)
}

type targetsKey struct{ layout, services any }

// targetSlots holds, per rule of a KUBE-SERVICES chain, what targets found for it.
type targetSlots []atomic.Pointer[svcTargets]

// svcTargets is what targets found on the first node with a layout: the table it read (ref)
// and the targets in it.
type svcTargets struct {
	ref     *iptables.Table
	svc     int
	targets []dnatTarget
}

// slots are the memo's slots for the rules of ix's KUBE-SERVICES chain (nil: no memo). Look
// them up once per node, not once per Service.
func (memo *targetsMemo) slots(ix *iptIndex) targetSlots {
	layout := ix.nat.Layout()
	if memo == nil || layout == nil || ix.services == nil {
		return nil
	}
	key := targetsKey{layout, ix.services.Shape()}
	v, ok := memo.svcs.Load(key)
	if !ok {
		v, _ = memo.svcs.LoadOrStore(key, make(targetSlots, ix.services.Len()))
	}
	return v.(targetSlots)
}

// targets follows the KUBE-SVC-/KUBE-SVL- chain that rule i of KUBE-SERVICES jumps to, to the
// DNAT destinations of its KUBE-SEP chains. Fifty nodes hold the same chains
// (iptables.Chain.SameRules): what the first node's walk found is reused wherever the chains are
// the same, instead of walking ten thousand Services' chains again on every node. Targets are
// by chain position, the same in every table of a layout; slots are memo.slots(ix).
func (ix *iptIndex) targets(i int, slots targetSlots, memo *targetsMemo) []dnatTarget {
	chain := ix.services.Spec(i).Target.Name
	if slots == nil {
		return ix.walkTargets(chain)
	}
	if st := slots[i].Load(); st != nil {
		if st.sameOn(ix.nat, memo) {
			return st.targets
		}
		return ix.walkTargets(chain)
	}
	st := &svcTargets{ref: ix.nat, svc: ix.nat.Pos(chain), targets: ix.walkTargets(chain)}
	slots[i].CompareAndSwap(nil, st)
	return st.targets
}

// differing marks the chains of t that are not the same as in ref (tables of one layout), found
// once per pair of tables: fifty nodes hold nearly the same chains, and checking a Service's
// chains is then a few bit tests instead of reading every chain on every node.
func (tm *targetsMemo) differing(t, ref *iptables.Table) chainSet {
	key := [2]*iptables.Table{t, ref}
	if v, ok := tm.same.Load(key); ok {
		return v.(chainSet)
	}
	diff := make(chainSet, (ref.NumChains()+63)/64)
	for i := range ref.NumChains() {
		if i >= t.NumChains() || !t.SameRulesAt(i, ref) {
			diff[i/64] |= 1 << (i % 64)
		}
	}
	tm.same.Store(key, diff)
	return diff
}

// chainSet is a set of chain positions.
type chainSet []uint64

func (s chainSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

// sameOn reports whether the chains the targets came from are the same on table t.
func (st *svcTargets) sameOn(t *iptables.Table, memo *targetsMemo) bool {
	if st.svc < 0 {
		return false
	}
	if t == st.ref {
		return true
	}
	diff := memo.differing(t, st.ref)
	if diff.has(st.svc) {
		return false
	}
	for _, x := range st.targets {
		if diff.has(x.sep) {
			return false
		}
	}
	return true
}

// walkTargets walks the chains.
func (ix *iptIndex) walkTargets(chain string) []dnatTarget {
	ch := ix.nat.Chain(chain)
	if ch == nil {
		return nil
	}
	var out []dnatTarget
	for _, r := range ch.Rules() {
		if !strings.HasPrefix(r.Target.Name, "KUBE-SEP-") {
			continue
		}
		sep := ix.nat.Chain(r.Target.Name)
		if sep == nil {
			continue
		}
		pos := -1
		for i, sr := range sep.Rules() {
			if !sr.IsDNAT() {
				continue
			}
			if nr, ok := sr.DNAT(); ok && nr.Min.IsValid() {
				if pos < 0 {
					pos = ix.nat.Pos(r.Target.Name)
				}
				out = append(out, dnatTarget{addr: netip.AddrPortFrom(nr.Min, nr.MinPort), sep: pos, rule: i})
			}
		}
	}
	return out
}

// ipvsIndex indexes the virtual servers of a node by vip.
type ipvsIndex struct {
	table *ipvsadm.Table
	// pos is where in table each vip's virtual server is (the first, if several). Nodes whose
	// listings hold the same virtual servers in the same order share the map.
	pos map[vip]int32
}

// find is the node's virtual server for k, or nil.
func (ix *ipvsIndex) find(k vip) *ipvsadm.VirtualServer {
	if i, ok := ix.pos[k]; ok {
		return ix.table.VirtualServers[i]
	}
	return nil
}

// indexIPVS indexes a listing; shared (nil: none) keeps the indexes already built, to reuse one
// when t lists the same virtual servers (the parser shares their specs between nodes).
func indexIPVS(t *ipvsadm.Table, shared *[]*ipvsIndex) *ipvsIndex {
	if t == nil {
		return nil
	}
	if shared != nil {
		for _, o := range *shared {
			if sameVirtualServers(t, o.table) {
				return &ipvsIndex{table: t, pos: o.pos}
			}
		}
	}
	ix := &ipvsIndex{table: t, pos: map[vip]int32{}}
	for i, v := range t.VirtualServers {
		if v.Protocol == "FWM" || !v.Address.IsValid() {
			continue
		}
		k := vip{addr: v.Address.Addr().Unmap(), proto: strings.ToLower(v.Protocol), port: v.Address.Port()}
		if _, dup := ix.pos[k]; !dup {
			ix.pos[k] = int32(i)
		}
	}
	// A few layouts at most: a lagging node's listing is its own, and comparing with every one
	// kept would be quadratic in the nodes.
	if shared != nil && len(*shared) < 4 {
		*shared = append(*shared, ix)
	}
	return ix
}

// sameVirtualServers reports whether a and b hold the same virtual server specs in the same
// order (the same pointers: what the parser shared).
func sameVirtualServers(a, b *ipvsadm.Table) bool {
	if len(a.VirtualServers) != len(b.VirtualServers) {
		return false
	}
	for i, v := range a.VirtualServers {
		if v.VirtualServerSpec != b.VirtualServers[i].VirtualServerSpec {
			return false
		}
	}
	return true
}

// proxyModeFor tells which dataplane the proxy rules read, and whether the cluster relies on
// kube-proxy at all. A note explains a mode the rules cannot check.
func proxyModeFor(c *Context) (mode string, ok bool) {
	m := c.Model
	d := m.ProxyMode()
	switch d.Name {
	case "iptables", "ipvs":
		if m.CNI().Name == "cilium" && len(kubeProxyPods(m)) == 0 && !hasKubeProxyDaemonSet(m) {
			c.Note("Cilium without a kube-proxy DaemonSet or pods: Services are implemented by Cilium's kube-proxy replacement, not checked here")
			return d.Name, false
		}
		return d.Name, true
	case "none":
		c.Note("proxy mode %q (%s): Services are not implemented by kube-proxy", d.Name, strings.Join(d.Why, "; "))
	case "nftables":
		c.Note("kube-proxy runs in nftables mode, whose rules are not checked yet (%s)", strings.Join(d.Why, "; "))
	default:
		c.Skip("the proxy mode (no kube-proxy ConfigMap or flags, and no KUBE-SERVICES rules or IPVS virtual servers on any node)")
	}
	return d.Name, false
}

// kubeProxyPods are the kube-proxy pods (DaemonSet or static), by node.
func kubeProxyPods(m *model.Model) map[string][]*model.Pod {
	out := map[string][]*model.Pod{}
	for _, p := range m.PodsIn("kube-system") {
		if isKubeProxyPod(p) {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

func isKubeProxyPod(p *model.Pod) bool {
	return p.Labels["k8s-app"] == "kube-proxy" || strings.HasPrefix(p.Name, "kube-proxy-")
}

func hasKubeProxyDaemonSet(m *model.Model) bool {
	return kubeProxyDaemonSet(m) != nil
}

func kubeProxyDaemonSet(m *model.Model) *model.DaemonSet {
	for _, ds := range m.DaemonSets {
		if ds.Namespace == "kube-system" && strings.HasPrefix(ds.Name, "kube-proxy") {
			return ds
		}
	}
	return nil
}

// kubeProxyPodOn returns the pod to name in commands for a node: its Ready kube-proxy pod,
// else any of its kube-proxy pods, else nil.
func kubeProxyPodOn(m *model.Model, node string) *model.Pod {
	pods := kubeProxyPods(m)[node]
	for _, p := range pods {
		if ok, _ := podReady(p); ok {
			return p
		}
	}
	if len(pods) > 0 {
		return pods[0]
	}
	return nil
}

// restartKubeProxy is the remediation tail shared by the dataplane rules: read the log of the
// node's kube-proxy, then restart it so it rewrites every rule from the API server's state.
func restartKubeProxy(m *model.Model, node string) string {
	if p := kubeProxyPodOn(m, node); p != nil {
		return fmt.Sprintf(`# why kube-proxy on %[1]s stopped syncing (look for iptables-restore / IPVS / apiserver errors)
kubectl -n kube-system logs %[2]s --tail=200 | grep -iE 'error|fail|forbidden|refused'
# a restarted kube-proxy rewrites every Service rule from the API server's current state
kubectl -n kube-system delete pod %[2]s`, node, p.Name)
	}
	return fmt.Sprintf(`# why kube-proxy on %[1]s stopped syncing (look for iptables-restore / IPVS / apiserver errors)
kubectl -n kube-system logs $(kubectl -n kube-system get pods -l k8s-app=kube-proxy --field-selector spec.nodeName=%[1]s -o name) --tail=200 | grep -iE 'error|fail|forbidden|refused'
# a restarted kube-proxy rewrites every Service rule from the API server's current state
kubectl -n kube-system delete pod -l k8s-app=kube-proxy --field-selector spec.nodeName=%[1]s`, node)
}

// endpointEvidence quotes where an endpoint's address is published.
func endpointEvidence(m *model.Model, ep *model.ServiceEndpoint) finding.Evidence {
	path := append([]string{}, ep.Path...)
	if len(path) > 0 && path[0] == "endpoints" {
		path = append(path, "addresses", "0")
	} else {
		path = append(path, "ip")
	}
	return m.Evidence(ep.Src, path...)
}

// listMore joins at most max items and says how many more there are.
func listMore(items []string, max int) string {
	if len(items) > max {
		return strings.Join(items[:max], "; ") + fmt.Sprintf("; and %d more", len(items)-max)
	}
	return strings.Join(items, "; ")
}

func sortedAddrs[V any](m map[netip.AddrPort]V) []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Compare(out[j]) < 0 })
	return out
}

// nodesWithData lists the nodes the bundle knows, with their parsed captures.
func nodesWithData(m *model.Model) []*model.NodeData {
	var out []*model.NodeData
	for _, n := range m.NodeNames() {
		out = append(out, m.NodeData(n))
	}
	return out
}
