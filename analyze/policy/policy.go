// Package policy owns NetworkPolicy semantics: whether one connection between two endpoints is
// allowed under a bundle's networking.k8s.io/v1 NetworkPolicies (with the policy and rule that
// allow it, or the policies that isolate the pod), and the connectivity between every pair of
// pod groups. It is the engine `netsift trace` and `netsift policy` share.
//
// Where the API leaves the behaviour to the implementation, this package chooses:
//   - ipBlock selects IP addresses, whatever they belong to: a pod's IP (its first status.podIPs
//     entry) is matched by ipBlock peers as an external IP is, as Calico, Antrea and kube-router
//     do. (Cilium matches ipBlock only for addresses outside the cluster; the API docs allow both.)
//   - hostNetwork pods are node traffic: no policy selects them, and podSelector/
//     namespaceSelector peers do not match them; an ipBlock holding their (node) IP does.
//   - A named port is resolved on the destination pod's containers, for ingress and for egress,
//     by name and protocol; a destination that is not a pod, or a pod without that port name,
//     is not matched by it.
package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// Dir is a direction of traffic as a NetworkPolicy sees it from the pod it selects.
type Dir int

const (
	Ingress Dir = iota
	Egress
)

func (d Dir) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

func (d Dir) policyType() networkingv1.PolicyType {
	if d == Egress {
		return networkingv1.PolicyTypeEgress
	}
	return networkingv1.PolicyTypeIngress
}

// Engine answers NetworkPolicy questions about one model. Build it once with New; it is
// read-only afterwards.
type Engine struct {
	m        *model.Model
	policies []*compiled            // by namespace/name
	byNS     map[string][]*compiled // policies of a namespace
	nsLabels map[string]labels.Set
	nrules   int // rules compiled, each with a distinct id

	// CNI is the detected network plugin; Enforced is false when it does not enforce
	// NetworkPolicies (flannel, bridge…): the policies then say what would be allowed, and the
	// dataplane lets everything through.
	CNI      string
	Enforced bool

	// Warnings name the policy fields that could not be compiled (a malformed selector or
	// CIDR); such a peer or selector matches nothing.
	Warnings []finding.InputWarning
}

type compiled struct {
	np       *model.NetworkPolicy
	ref      string // namespace/name
	selector labels.Selector
	types    [2]bool    // by Dir
	rules    [2][]*rule // by Dir
}

type rule struct {
	id       int
	index    int // position in spec.ingress / spec.egress
	allPeers bool
	peers    []peer
	allPorts bool
	ports    []port
	static   PortSet // the rule's ports when none is named
	named    bool
}

type peer struct {
	invalid bool
	podSel  labels.Selector // nil: any pod (of the namespaces selected)
	nsSel   labels.Selector // nil: the policy's namespace
	cidr    netip.Prefix    // valid for an ipBlock peer
	except  []netip.Prefix
}

type port struct {
	proto  corev1.Protocol
	name   string // a named port, resolved on the destination pod
	lo, hi uint16
}

// New compiles the model's NetworkPolicies.
func New(m *model.Model) *Engine {
	e := &Engine{m: m, byNS: map[string][]*compiled{}, nsLabels: map[string]labels.Set{}}
	if m.Bundle != nil {
		cni := m.CNI()
		e.CNI, e.Enforced = cni.Name, cni.EnforcesNetworkPolicy()
	}
	for _, ns := range m.Namespaces {
		set := labels.Set{}
		for k, v := range ns.Labels {
			set[k] = v
		}
		// The API server sets this label on every namespace (since 1.21); bundles of hand-made
		// objects may lack it.
		set["kubernetes.io/metadata.name"] = ns.Name
		e.nsLabels[ns.Name] = set
	}
	for _, np := range m.NetworkPolicies {
		e.policies = append(e.policies, e.compile(np))
	}
	sort.SliceStable(e.policies, func(i, j int) bool { return e.policies[i].ref < e.policies[j].ref })
	for _, p := range e.policies {
		e.byNS[p.np.Namespace] = append(e.byNS[p.np.Namespace], p)
	}
	return e
}

func (e *Engine) warn(np *model.NetworkPolicy, format string, args ...any) {
	e.Warnings = append(e.Warnings, finding.InputWarning{File: np.Src.File, Line: np.Src.Line,
		Message: fmt.Sprintf("NetworkPolicy %s/%s: ", np.Namespace, np.Name) + fmt.Sprintf(format, args...)})
}

func (e *Engine) selector(np *model.NetworkPolicy, what string, ls *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		e.warn(np, "%s: %v; it matches nothing", what, err)
		return labels.Nothing()
	}
	return sel
}

func (e *Engine) compile(np *model.NetworkPolicy) *compiled {
	c := &compiled{np: np, ref: model.Key(np.Namespace, np.Name)}
	spec := &np.Spec
	c.selector = e.selector(np, "spec.podSelector", &spec.PodSelector)
	if len(spec.PolicyTypes) == 0 {
		c.types[Ingress] = true
		c.types[Egress] = len(spec.Egress) > 0
	}
	for _, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			c.types[Ingress] = true
		case networkingv1.PolicyTypeEgress:
			c.types[Egress] = true
		default:
			e.warn(np, "unknown policyType %q ignored", t)
		}
	}
	for i, r := range spec.Ingress {
		c.rules[Ingress] = append(c.rules[Ingress], e.compileRule(np, fmt.Sprintf("spec.ingress[%d]", i), i, r.From, r.Ports))
	}
	for i, r := range spec.Egress {
		c.rules[Egress] = append(c.rules[Egress], e.compileRule(np, fmt.Sprintf("spec.egress[%d]", i), i, r.To, r.Ports))
	}
	return c
}

func (e *Engine) compileRule(np *model.NetworkPolicy, where string, index int, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *rule {
	r := &rule{id: e.nrules, index: index, allPeers: len(peers) == 0, allPorts: len(ports) == 0}
	e.nrules++
	for i, p := range peers {
		what := fmt.Sprintf("%s peer %d", where, i)
		var cp peer
		switch {
		case p.IPBlock != nil:
			pfx, err := netip.ParsePrefix(p.IPBlock.CIDR)
			if err != nil {
				e.warn(np, "%s: ipBlock cidr: %v; it matches nothing", what, err)
				cp.invalid = true
				break
			}
			cp.cidr = pfx.Masked()
			for _, x := range p.IPBlock.Except {
				xp, err := netip.ParsePrefix(x)
				if err != nil {
					e.warn(np, "%s: ipBlock except %q: %v; ignored", what, x, err)
					continue
				}
				cp.except = append(cp.except, xp.Masked())
			}
		case p.PodSelector == nil && p.NamespaceSelector == nil:
			e.warn(np, "%s: no podSelector, namespaceSelector or ipBlock; it matches nothing", what)
			cp.invalid = true
		default:
			if p.PodSelector != nil {
				cp.podSel = e.selector(np, what+" podSelector", p.PodSelector)
			}
			if p.NamespaceSelector != nil {
				cp.nsSel = e.selector(np, what+" namespaceSelector", p.NamespaceSelector)
			}
		}
		r.peers = append(r.peers, cp)
	}
	if r.allPorts {
		r.static = AllConnections()
	}
	for i, p := range ports {
		cp := port{proto: corev1.ProtocolTCP, lo: 0, hi: 65535}
		if p.Protocol != nil && *p.Protocol != "" {
			cp.proto = *p.Protocol
		}
		if protoIndex(cp.proto) < 0 {
			e.warn(np, "%s port %d: unknown protocol %q; it matches nothing", where, i, cp.proto)
			continue
		}
		switch {
		case p.Port == nil:
		case p.Port.Type == intstr.String:
			cp.name = p.Port.StrVal
			r.named = true
		default:
			n := p.Port.IntVal
			if n < 1 || n > 65535 {
				e.warn(np, "%s port %d: port %d out of range; it matches nothing", where, i, n)
				continue
			}
			cp.lo, cp.hi = uint16(n), uint16(n)
			if p.EndPort != nil {
				if *p.EndPort < n || *p.EndPort > 65535 {
					e.warn(np, "%s port %d: endPort %d invalid for port %d; only port %d used", where, i, *p.EndPort, n, n)
				} else {
					cp.hi = uint16(*p.EndPort)
				}
			}
		}
		r.ports = append(r.ports, cp)
		if cp.name == "" {
			r.static.Add(cp.proto, cp.lo, cp.hi)
		}
	}
	return r
}

// view is what the semantics need to know of one end of a connection.
type view struct {
	pod      *model.Pod // nil for an external IP
	ns       string
	labels   labels.Set
	nsLabels labels.Set
	// selectable is true for a pod that policies select and pod peers match: not hostNetwork.
	selectable bool
	ip         netip.Addr
}

func (e *Engine) podView(p *model.Pod, ip netip.Addr) view {
	if !ip.IsValid() {
		ip = podIP(p)
	}
	return view{pod: p, ns: p.Namespace, labels: labels.Set(p.Labels), nsLabels: e.namespaceLabels(p.Namespace),
		selectable: !p.Spec.HostNetwork, ip: ip}
}

func (e *Engine) namespaceLabels(ns string) labels.Set {
	if l, ok := e.nsLabels[ns]; ok {
		return l
	}
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

func podIP(p *model.Pod) netip.Addr {
	for _, s := range model.PodIPs(p) {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// isolating returns the policies that select v and have the policyType of d.
func (e *Engine) isolating(v view, d Dir) []*compiled {
	if !v.selectable {
		return nil
	}
	var out []*compiled
	for _, p := range e.byNS[v.ns] {
		if p.types[d] && p.selector.Matches(v.labels) {
			out = append(out, p)
		}
	}
	return out
}

// peerMatches reports whether a rule's peers admit the other end v.
func (r *rule) peerMatches(pol *compiled, v view) bool {
	if r.allPeers {
		return true
	}
	for i := range r.peers {
		if r.peers[i].matches(pol, v) {
			return true
		}
	}
	return false
}

func (p *peer) matches(pol *compiled, v view) bool {
	switch {
	case p.invalid:
		return false
	case p.cidr.IsValid():
		if !v.ip.IsValid() || !p.cidr.Contains(v.ip) {
			return false
		}
		for _, x := range p.except {
			if x.Contains(v.ip) {
				return false
			}
		}
		return true
	case !v.selectable:
		return false
	}
	if p.nsSel == nil {
		if v.ns != pol.np.Namespace {
			return false
		}
	} else if !p.nsSel.Matches(v.nsLabels) {
		return false
	}
	return p.podSel == nil || p.podSel.Matches(v.labels)
}

// portsTo returns the connections the rule's ports allow to the destination dst; named ports
// are resolved on dst's containers.
func (r *rule) portsTo(dst view) PortSet {
	if !r.named {
		return r.static
	}
	s := r.static
	for _, p := range r.ports {
		if p.name == "" || dst.pod == nil {
			continue
		}
		for _, n := range namedPort(dst.pod, p.name, p.proto) {
			s.Add(p.proto, n, n)
		}
	}
	return s
}

// namedPort returns the container ports of pod named name with protocol proto.
func namedPort(pod *model.Pod, name string, proto corev1.Protocol) []uint16 {
	var out []uint16
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				p := cp.Protocol
				if p == "" {
					p = corev1.ProtocolTCP
				}
				if cp.Name == name && p == proto && cp.ContainerPort > 0 && cp.ContainerPort <= 65535 {
					out = append(out, uint16(cp.ContainerPort))
				}
			}
		}
	}
	return out
}

// Endpoint is one end of a connection: a pod, or an IP that is not a pod's.
type Endpoint struct {
	Pod *model.Pod
	// IP is the address the connection uses. For a pod it defaults to its first pod IP.
	IP netip.Addr
}

// PodEndpoint is a pod, at its first pod IP.
func PodEndpoint(p *model.Pod) Endpoint { return Endpoint{Pod: p} }

// IPEndpoint is an address outside the pods (a node, a client outside the cluster).
func IPEndpoint(a netip.Addr) Endpoint { return Endpoint{IP: a.Unmap()} }

// EndpointFor returns the pod that owns ip (a running pod that is not hostNetwork), or ip as an
// external endpoint.
func (e *Engine) EndpointFor(ip netip.Addr) Endpoint {
	ip = ip.Unmap()
	if e.m != nil {
		for _, p := range e.m.PodsByIP(ip.String()) {
			if !p.Spec.HostNetwork && !terminated(p) {
				return Endpoint{Pod: p, IP: ip}
			}
		}
	}
	return IPEndpoint(ip)
}

func terminated(p *model.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// String names the endpoint as ns/name or as its IP.
func (ep Endpoint) String() string {
	if ep.Pod != nil {
		return model.Key(ep.Pod.Namespace, ep.Pod.Name)
	}
	if ep.IP.IsValid() {
		return ep.IP.String()
	}
	return "<nowhere>"
}

func (e *Engine) view(ep Endpoint) view {
	if ep.Pod != nil {
		return e.podView(ep.Pod, ep.IP)
	}
	return view{ip: ep.IP}
}

// RuleRef names one rule of a policy: spec.ingress[Rule] or spec.egress[Rule].
type RuleRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Direction string `json:"direction"`
	Rule      int    `json:"rule"`
}

func (r RuleRef) String() string {
	return fmt.Sprintf("%s/%s %s[%d]", r.Namespace, r.Name, r.Direction, r.Rule)
}

// Side is the verdict of one direction: egress at the source pod, or ingress at the destination.
type Side struct {
	Direction string `json:"direction"`
	// Pod is the pod the direction is checked at (ns/name); empty when that end is not a pod.
	Pod string `json:"pod,omitempty"`
	// Isolated is true when a policy selecting the pod has this policyType; IsolatedBy names them.
	Isolated   bool     `json:"isolated"`
	IsolatedBy []string `json:"isolated_by,omitempty"`
	Allowed    bool     `json:"allowed"`
	// AllowedBy is the first rule (policies by namespace/name, rules in order) that allows the
	// connection, when the pod is isolated.
	AllowedBy *RuleRef           `json:"allowed_by,omitempty"`
	Reason    string             `json:"reason"`
	Evidence  []finding.Evidence `json:"evidence,omitempty"`
}

// Verdict is the NetworkPolicy answer for one connection.
type Verdict struct {
	Allowed  bool   `json:"allowed"`
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
	Egress   Side   `json:"egress"`
	Ingress  Side   `json:"ingress"`
	// Enforced is false when the CNI does not enforce NetworkPolicies: Allowed is then what the
	// policies say, while the dataplane lets the packet through whatever they say.
	Enforced bool   `json:"enforced"`
	CNI      string `json:"cni,omitempty"`
}

// Check evaluates a connection from src to dst on port/proto (proto "" is TCP): egress at src
// when it is a pod, ingress at dst when it is a pod. It is allowed when both directions are.
func (e *Engine) Check(src, dst Endpoint, port uint16, proto corev1.Protocol) Verdict {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	sv, dv := e.view(src), e.view(dst)
	v := Verdict{Protocol: string(proto), Port: port, Enforced: e.Enforced, CNI: e.CNI}
	v.Egress = e.side(Egress, src, sv, dst, dv, port, proto)
	v.Ingress = e.side(Ingress, dst, dv, src, sv, port, proto)
	v.Allowed = v.Egress.Allowed && v.Ingress.Allowed
	return v
}

// Egress evaluates only the egress side of a connection, at src (the trace asks each direction
// at its own hop, with the destination as it is after DNAT).
func (e *Engine) Egress(src, dst Endpoint, port uint16, proto corev1.Protocol) Side {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return e.side(Egress, src, e.view(src), dst, e.view(dst), port, proto)
}

// Ingress evaluates only the ingress side of a connection, at dst.
func (e *Engine) Ingress(src, dst Endpoint, port uint16, proto corev1.Protocol) Side {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return e.side(Ingress, dst, e.view(dst), src, e.view(src), port, proto)
}

// side evaluates direction d at the pod `at`, whose peer is `other`; dst is always the
// connection's destination (named ports resolve there).
func (e *Engine) side(d Dir, at Endpoint, av view, other Endpoint, ov view, port uint16, proto corev1.Protocol) Side {
	s := Side{Direction: d.String(), Allowed: true}
	dst := av
	if d == Egress {
		dst = ov
	}
	if at.Pod == nil {
		s.Reason = fmt.Sprintf("%s is not a pod: no NetworkPolicy applies to its %s", at, d)
		return s
	}
	s.Pod = at.String()
	if !av.selectable {
		s.Reason = fmt.Sprintf("%s is a hostNetwork pod: NetworkPolicies do not select it (its traffic is the node's)", s.Pod)
		return s
	}
	iso := e.isolating(av, d)
	if len(iso) == 0 {
		s.Reason = fmt.Sprintf("%s is not isolated for %s: no NetworkPolicy selecting it has policyType %s", s.Pod, d, d.policyType())
		return s
	}
	s.Isolated = true
	for _, p := range iso {
		s.IsolatedBy = append(s.IsolatedBy, p.ref)
	}
	for _, p := range iso {
		for _, r := range p.rules[d] {
			if r.peerMatches(p, ov) && r.portsTo(dst).Contains(proto, port) {
				s.AllowedBy = &RuleRef{Namespace: p.np.Namespace, Name: p.np.Name, Direction: d.String(), Rule: r.index}
				s.Reason = "allowed by " + s.AllowedBy.String()
				if e.m != nil && e.m.Bundle != nil {
					s.Evidence = append(s.Evidence, e.m.Evidence(p.np.Src, "spec", "podSelector"))
					s.Evidence = append(s.Evidence, e.m.EvidenceLines(p.np.Src, 12, "spec", d.String(), fmt.Sprint(r.index))...)
				}
				return s
			}
		}
	}
	s.Allowed = false
	word := map[Dir]string{Ingress: "from", Egress: "to"}[d]
	s.Reason = fmt.Sprintf("%s is isolated for %s by %s and no policy allows %s %d %s %s",
		s.Pod, d, joinAnd(s.IsolatedBy), proto, port, word, other)
	if e.m != nil && e.m.Bundle != nil {
		for i, p := range iso {
			if i == 5 {
				break
			}
			s.Evidence = append(s.Evidence, e.m.Evidence(p.np.Src, "spec", "podSelector"))
			if len(p.rules[d]) == 0 {
				s.Evidence = append(s.Evidence, e.m.Evidence(p.np.Src, "spec", "policyTypes"))
			} else {
				s.Evidence = append(s.Evidence, e.m.Evidence(p.np.Src, "spec", d.String()))
			}
		}
	}
	return s
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
