package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netsift/netsift/analyze/model"
)

// Selector picks the endpoints of a connectivity listing. Parse it with ParseSelector.
type Selector struct {
	Namespace string          // "" or "*": any namespace
	Pod       string          // one pod by name
	Labels    labels.Selector // nil: any labels
	Pods      bool            // pods are selected
	External  bool            // the external IP ranges are selected
}

// ParseSelector reads "" (every pod and the external ranges), "external", "ns/*", "ns/pod", or
// "ns:label=value,..." (a label selector in kubectl syntax); ns may be "*" for any namespace.
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Selector{Pods: true, External: true}, nil
	case "external":
		return Selector{External: true}, nil
	}
	if ns, sel, ok := strings.Cut(s, ":"); ok && !strings.Contains(ns, "/") {
		ls, err := labels.Parse(sel)
		if err != nil {
			return Selector{}, fmt.Errorf("selector %q: %v", s, err)
		}
		if ns == "" {
			return Selector{}, fmt.Errorf("selector %q: no namespace before ':' (use '*:' for any)", s)
		}
		return Selector{Namespace: ns, Labels: ls, Pods: true}, nil
	}
	if ns, pod, ok := strings.Cut(s, "/"); ok && ns != "" && pod != "" && !strings.Contains(pod, "/") {
		if pod == "*" {
			pod = ""
		}
		return Selector{Namespace: ns, Pod: pod, Pods: true}, nil
	}
	return Selector{}, fmt.Errorf("selector %q: want ns/*, ns/pod, ns:label=value,... or external", s)
}

func (s Selector) matches(p *model.Pod) bool {
	switch {
	case !s.Pods:
		return false
	case s.Namespace != "" && s.Namespace != "*" && p.Namespace != s.Namespace:
		return false
	case s.Pod != "" && p.Name != s.Pod:
		return false
	}
	return s.Labels == nil || s.Labels.Matches(labels.Set(p.Labels))
}

// Peer is one endpoint of the connectivity listing: a group of pods of one namespace with
// identical labels (and identical named ports and ipBlock standing), or an external IP range.
type Peer struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Pods      []string          `json:"pods,omitempty"`
	// IPRange is an external range: a cell of the IP space cut at every ipBlock boundary, so
	// every address in it is treated alike by every policy.
	IPRange string `json:"ip_range,omitempty"`
}

// Connection is what Sources[From] may open to Destinations[To].
type Connection struct {
	From, To int
	Allowed  PortSet
}

// Connectivity is the listing of allowed connections between selected endpoints. Pairs not
// listed have no allowed connection.
type Connectivity struct {
	Sources, Destinations []Peer
	Connections           []Connection
	Enforced              bool
	CNI                   string
}

// group is a set of endpoints the policies cannot tell apart.
type group struct {
	key      string
	pods     []*model.Pod
	v        view
	external bool
	rng      netipx.IPRange
	rules    []boundRule // the rules of the isolating policies, for the direction asked
	isolated bool
}

type boundRule struct {
	pol *compiled
	r   *rule
}

// Connectivity computes, for every ordered pair of selected endpoints, the connections the
// policies allow. hostNetwork pods and finished pods are left out (the former are node traffic,
// covered by the external ranges that hold their node's IP).
func (e *Engine) Connectivity(from, to Selector) *Connectivity {
	cells := e.cells()
	var fromPods, toPods []*model.Pod
	if e.m != nil {
		for _, p := range e.m.Pods {
			if p.Spec.HostNetwork || terminated(p) {
				continue
			}
			if from.matches(p) {
				fromPods = append(fromPods, p)
			}
			if to.matches(p) {
				toPods = append(toPods, p)
			}
		}
	}
	srcs := e.groups(fromPods, cells, from.External)
	dsts := e.groups(toPods, cells, to.External)
	for _, g := range srcs {
		g.bind(e, Egress)
	}
	for _, g := range dsts {
		g.bind(e, Ingress)
	}
	out := &Connectivity{Enforced: e.Enforced, CNI: e.CNI,
		Sources: peers(srcs), Destinations: peers(dsts)}

	// Peer matches are cached per rule and group: each is computed once, not once per pair.
	dstMatch := make([][]int8, e.nrules)
	srcMatch := make([][]int8, e.nrules)
	match := func(cache [][]int8, b boundRule, gs []*group, i int) bool {
		c := cache[b.r.id]
		if c == nil {
			c = make([]int8, len(gs))
			cache[b.r.id] = c
		}
		if c[i] == 0 {
			c[i] = -1
			if b.r.peerMatches(b.pol, gs[i].v) {
				c[i] = 1
			}
		}
		return c[i] == 1
	}
	for si, s := range srcs {
		for di, d := range dsts {
			if s.external && d.external {
				continue
			}
			if s.key == d.key && len(s.pods) == 1 && len(d.pods) == 1 {
				continue // a pod to itself does not cross a policy
			}
			eg := AllConnections()
			if s.isolated {
				eg = PortSet{}
				for _, b := range s.rules {
					if match(dstMatch, b, dsts, di) {
						eg.Union(b.r.portsTo(d.v))
						if eg.all {
							break
						}
					}
				}
				if eg.IsEmpty() {
					continue
				}
			}
			ig := AllConnections()
			if d.isolated {
				ig = PortSet{}
				for _, b := range d.rules {
					if match(srcMatch, b, srcs, si) {
						ig.Union(b.r.portsTo(d.v))
						if ig.all {
							break
						}
					}
				}
			}
			if allowed := Intersect(eg, ig); !allowed.IsEmpty() {
				out.Connections = append(out.Connections, Connection{From: si, To: di, Allowed: allowed})
			}
		}
	}
	return out
}

func (g *group) bind(e *Engine, d Dir) {
	if g.external {
		return
	}
	iso := e.isolating(g.v, d)
	g.isolated = len(iso) > 0
	for _, p := range iso {
		for _, r := range p.rules[d] {
			g.rules = append(g.rules, boundRule{p, r})
		}
	}
}

// cells cuts the IP space at every ipBlock boundary (cidr and except): the start of each cell,
// sorted, per family. Two addresses of one cell are matched by exactly the same ipBlocks.
type cellSet struct{ starts []netip.Addr }

func (e *Engine) cells() *cellSet {
	pts := map[netip.Addr]bool{netip.IPv4Unspecified(): true}
	v6 := false
	add := func(p netip.Prefix) {
		pts[p.Addr()] = true
		if next := netipx.PrefixLastIP(p).Next(); next.IsValid() {
			pts[next] = true
		}
		if p.Addr().Is6() {
			v6 = true
		}
	}
	for _, p := range e.policies {
		for _, rs := range p.rules {
			for _, r := range rs {
				for _, pr := range r.peers {
					if pr.cidr.IsValid() {
						add(pr.cidr)
						for _, x := range pr.except {
							add(x)
						}
					}
				}
			}
		}
	}
	if e.m != nil && !v6 {
		for _, p := range e.m.Pods {
			if ip := podIP(p); ip.Is6() {
				v6 = true
				break
			}
		}
	}
	if v6 {
		pts[netip.IPv6Unspecified()] = true
	}
	c := &cellSet{}
	for a := range pts {
		c.starts = append(c.starts, a)
	}
	slices.SortFunc(c.starts, func(a, b netip.Addr) int { return a.Compare(b) })
	return c
}

// index returns the cell holding ip, or -1.
func (c *cellSet) index(ip netip.Addr) int {
	if !ip.IsValid() {
		return -1
	}
	i, found := slices.BinarySearchFunc(c.starts, ip, func(a, b netip.Addr) int { return a.Compare(b) })
	if !found {
		i--
	}
	return i
}

// rangeOf returns the addresses of cell i.
func (c *cellSet) rangeOf(i int) netipx.IPRange {
	from := c.starts[i]
	var to netip.Addr
	if i+1 < len(c.starts) && c.starts[i+1].BitLen() == from.BitLen() {
		to = c.starts[i+1].Prev()
	} else if from.Is4() {
		to = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	} else {
		to = netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
	}
	return netipx.IPRangeFrom(from, to)
}

// hashLabels are set by controllers on every pod of a revision; they are left out of a group's
// name unless two groups would otherwise read alike.
var hashLabels = map[string]bool{"pod-template-hash": true, "controller-revision-hash": true, "pod-template-generation": true}

// groups partitions pods into groups the policies cannot tell apart — same namespace, labels,
// named ports and ipBlock cell — and appends the external cells when asked.
func (e *Engine) groups(pods []*model.Pod, cells *cellSet, external bool) []*group {
	byKey := map[string]*group{}
	var out []*group
	for _, p := range pods {
		ip := podIP(p)
		key := p.Namespace + "\x00" + labels.Set(p.Labels).String() + "\x00" + portNames(p) + "\x00" + fmt.Sprint(cells.index(ip))
		g := byKey[key]
		if g == nil {
			g = &group{key: key, v: e.podView(p, ip)}
			byKey[key] = g
			out = append(out, g)
		}
		g.pods = append(g.pods, p)
	}
	names := groupNames(out)
	sort.SliceStable(out, func(i, j int) bool { return names[out[i]] < names[out[j]] })
	if external {
		for i := range cells.starts {
			r := cells.rangeOf(i)
			out = append(out, &group{key: "cell\x00" + r.String(), external: true, rng: r, v: view{ip: r.From()}})
		}
	}
	return out
}

// portNames is the signature of a pod's named container ports, which named policy ports
// resolve against.
func portNames(p *model.Pod) string {
	var names []string
	for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				if cp.Name != "" {
					names = append(names, fmt.Sprintf("%s/%s=%d", cp.Name, cp.Protocol, cp.ContainerPort))
				}
			}
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// groupNames names each pod group: ns/pod for one pod, ns/[labels] (N pods) for more.
func groupNames(gs []*group) map[*group]string {
	short := map[*group]string{}
	seen := map[string]int{}
	for _, g := range gs {
		if len(g.pods) == 1 {
			continue
		}
		l := labels.Set{}
		for k, v := range g.pods[0].Labels {
			if !hashLabels[k] {
				l[k] = v
			}
		}
		short[g] = g.v.ns + "/" + l.String()
		seen[short[g]]++
	}
	names := map[*group]string{}
	for _, g := range gs {
		p := g.pods[0]
		if len(g.pods) == 1 {
			names[g] = model.Key(p.Namespace, p.Name)
			continue
		}
		l := short[g]
		if seen[l] > 1 {
			l = g.v.ns + "/" + labels.Set(p.Labels).String()
		}
		ns, ls, _ := strings.Cut(l, "/")
		if ls == "" {
			ls = "no labels"
		}
		names[g] = fmt.Sprintf("%s/[%s] (%d pods)", ns, ls, len(g.pods))
	}
	// Groups with identical labels that differ in named ports or ipBlock cell: name a pod.
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for g, n := range names {
		if count[n] > 1 {
			names[g] = strings.TrimSuffix(n, " pods)") + " pods, " + g.pods[0].Name + "…)"
		}
	}
	return names
}

func peers(gs []*group) []Peer {
	names := groupNames(gs[:podGroups(gs)])
	out := make([]Peer, len(gs))
	for i, g := range gs {
		if g.external {
			name := g.rng.String()
			if p, ok := g.rng.Prefix(); ok {
				name = p.String()
			}
			out[i] = Peer{Name: name, IPRange: name}
			continue
		}
		pods := make([]string, len(g.pods))
		for j, p := range g.pods {
			pods[j] = p.Name
		}
		sort.Strings(pods)
		out[i] = Peer{Name: names[g], Namespace: g.v.ns, Labels: g.pods[0].Labels, Pods: pods}
	}
	return out
}

func podGroups(gs []*group) int {
	n := 0
	for n < len(gs) && !gs[n].external {
		n++
	}
	return n
}
