package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/model"
)

// endpoint is one end of the trace, resolved against the model.
type endpoint struct {
	label string
	ip    netip.Addr
	port  uint16
	node  string
	pod   *model.Pod
	svc   *model.Service
	local bool   // a process on node (node/NAME, a hostNetwork pod, one of the node's addresses)
	inIf  string // where an arriving packet enters node
}

// splitPort cuts ":PORT" off an endpoint; IPv6 literals need brackets to carry a port.
func splitPort(s string) (string, string) {
	if strings.HasPrefix(s, "[") {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().String(), strconv.Itoa(int(ap.Port()))
		}
		return strings.Trim(s, "[]"), ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s, "" // a bare address, IPv6 included
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i < strings.LastIndexByte(s, '/') {
		return s, ""
	}
	return s[:i], s[i+1:]
}

func parsePort(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil && n > 0
}

func (t *tracer) resolveTo(s string, override int) (endpoint, error) {
	name, portS := splitPort(strings.TrimSpace(s))
	if override > 0 {
		portS = strconv.Itoa(override)
	}
	var ep endpoint
	switch {
	case strings.HasPrefix(name, "svc/"):
		ns, svcName, ok := strings.Cut(strings.TrimPrefix(name, "svc/"), "/")
		if !ok || ns == "" || svcName == "" {
			return ep, fmt.Errorf("destination %q: want svc/NAMESPACE/NAME[:PORT]", s)
		}
		svc := t.m.Service(ns, svcName)
		if svc == nil {
			return ep, fmt.Errorf("Service %s/%s is not in the bundle", ns, svcName)
		}
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil {
			return ep, fmt.Errorf("Service %s/%s has no ClusterIP (%q)", ns, svcName, svc.Spec.ClusterIP)
		}
		sp, err := t.servicePort(svc, portS)
		if err != nil {
			return ep, err
		}
		ep = endpoint{ip: ip, port: uint16(sp.Port), svc: svc}
		ep.label = fmt.Sprintf("svc/%s/%s:%d (%s)", ns, svcName, sp.Port, netip.AddrPortFrom(ip, uint16(sp.Port)))
		return ep, nil
	case strings.HasPrefix(name, "node/"):
		n := strings.TrimPrefix(name, "node/")
		ip, ok := t.nodeIP(n)
		if !ok {
			return ep, fmt.Errorf("node %q has no InternalIP in the bundle", n)
		}
		ep = endpoint{ip: ip, node: n}
	case strings.Count(name, "/") == 1:
		p, err := t.pod(name)
		if err != nil {
			return ep, err
		}
		ip, ok := podIP(p)
		if !ok {
			return ep, fmt.Errorf("pod %s has no IP (phase %s)", name, p.Status.Phase)
		}
		ep = endpoint{ip: ip, node: p.Spec.NodeName, pod: p}
		if portS != "" {
			if _, ok := parsePort(portS); !ok {
				port, err := t.containerPort(p, portS)
				if err != nil {
					return ep, err
				}
				portS = strconv.Itoa(int(port))
			}
		} else if port, err := t.containerPort(p, ""); err == nil {
			portS = strconv.Itoa(int(port))
		}
	default:
		ip, err := netip.ParseAddr(name)
		if err != nil {
			return ep, fmt.Errorf("destination %q: want ns/pod, node/NAME, svc/ns/name or an IP", s)
		}
		ep = endpoint{ip: ip.Unmap()}
		if ps := t.m.PodsByIP(ep.ip.String()); len(ps) > 0 && !ps[0].Spec.HostNetwork {
			ep.pod, ep.node = ps[0], ps[0].Spec.NodeName
		}
	}
	if portS == "" {
		return ep, fmt.Errorf("destination %q needs a port (%s:PORT)", s, name)
	}
	port, ok := parsePort(portS)
	if !ok {
		return ep, fmt.Errorf("destination %q: bad port %q", s, portS)
	}
	ep.port = port
	ep.label = name + ":" + strconv.Itoa(int(port))
	if name != ep.ip.String() {
		ep.label += " (" + hostPort(ep.ip, port) + ")"
	}
	return ep, nil
}

// servicePort picks the Service port by name or number; with none given, the only port, or
// the first of the trace's protocol. Without an explicit --proto, the port's protocol is used.
func (t *tracer) servicePort(svc *model.Service, want string) (corev1.ServicePort, error) {
	var cands []corev1.ServicePort
	for _, sp := range svc.Spec.Ports {
		switch {
		case want == "":
			cands = append(cands, sp)
		case sp.Name == want || strconv.Itoa(int(sp.Port)) == want:
			cands = append(cands, sp)
		}
	}
	if len(cands) == 0 {
		return corev1.ServicePort{}, fmt.Errorf("Service %s/%s has no port %q", svc.Namespace, svc.Name, want)
	}
	pick := cands[0]
	for _, sp := range cands {
		if protoOf(sp.Protocol) == t.proto {
			pick = sp
			break
		}
	}
	if t.req.Protocol == "" {
		t.proto = protoOf(pick.Protocol)
	}
	return pick, nil
}

func protoOf(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}

// containerPort resolves a named (or, with "", the first) container port of the trace's
// protocol.
func (t *tracer) containerPort(p *model.Pod, name string) (uint16, error) {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if protoOf(cp.Protocol) != t.proto {
				continue
			}
			if name == "" || cp.Name == name {
				return uint16(cp.ContainerPort), nil
			}
		}
	}
	if name == "" {
		return 0, fmt.Errorf("pod %s/%s declares no %s port", p.Namespace, p.Name, t.proto)
	}
	return 0, fmt.Errorf("pod %s/%s has no %s port named %q", p.Namespace, p.Name, t.proto, name)
}

func (t *tracer) pod(key string) (*model.Pod, error) {
	ns, name, _ := strings.Cut(key, "/")
	for _, p := range t.m.PodsIn(ns) {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s is not in the bundle", key)
}

func podIP(p *model.Pod) (netip.Addr, bool) {
	for _, s := range model.PodIPs(p) {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func (t *tracer) nodeIP(name string) (netip.Addr, bool) {
	n := t.m.Node(name)
	if n == nil {
		return netip.Addr{}, false
	}
	for _, typ := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == typ {
				if ip, err := netip.ParseAddr(a.Address); err == nil {
					return ip.Unmap(), true
				}
			}
		}
	}
	return netip.Addr{}, false
}

func (t *tracer) resolveFrom(s, node string) (endpoint, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "svc/"):
		return endpoint{}, fmt.Errorf("source %q: a Service sends nothing; trace from one of its pods", s)
	case strings.HasPrefix(s, "node/"):
		n := strings.TrimPrefix(s, "node/")
		ip, ok := t.nodeIP(n)
		if !ok {
			if nd := t.m.NodeData(n); nd.Addrs == nil {
				return endpoint{}, fmt.Errorf("node %q has no InternalIP and no ip-addr capture in the bundle", n)
			}
		}
		return endpoint{label: s, ip: ip, node: n, local: true}, nil
	case strings.Count(s, "/") == 1:
		p, err := t.pod(s)
		if err != nil {
			return endpoint{}, err
		}
		ip, ok := podIP(p)
		if !ok {
			return endpoint{}, fmt.Errorf("pod %s has no IP (phase %s)", s, p.Status.Phase)
		}
		if p.Spec.NodeName == "" {
			return endpoint{}, fmt.Errorf("pod %s is not scheduled on a node", s)
		}
		if p.Spec.HostNetwork {
			return endpoint{label: s, ip: ip, node: p.Spec.NodeName, local: true}, nil
		}
		return endpoint{label: s, ip: ip, node: p.Spec.NodeName, pod: p, inIf: t.devTo(p.Spec.NodeName, ip)}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("source %q: want ns/pod, node/NAME or an IP", s)
	}
	ip = ip.Unmap()
	for _, p := range t.m.PodsByIP(ip.String()) {
		if p.Spec.NodeName != "" && !p.Spec.HostNetwork && (node == "" || node == p.Spec.NodeName) {
			return endpoint{label: s, ip: ip, node: p.Spec.NodeName, pod: p, inIf: t.devTo(p.Spec.NodeName, ip)}, nil
		}
	}
	if n := t.m.NodeByIP(ip.String()); n != nil && (node == "" || node == n.Name) {
		return endpoint{label: s, ip: ip, node: n.Name, local: true}, nil
	}
	if node == "" {
		return endpoint{}, fmt.Errorf("source %s belongs to no pod or node of the bundle: say with --node on which node its packet arrives", s)
	}
	if t.m.Node(node) == nil && len(t.m.Bundle.Dir("nodes/"+node)) == 0 {
		return endpoint{}, fmt.Errorf("node %q is not in the bundle", node)
	}
	nd := t.m.NodeData(node)
	if ip.IsLoopback() || (nd.Addrs != nil && nd.Addrs.Owner(ip) != nil) {
		return endpoint{label: s, ip: ip, node: node, local: true}, nil
	}
	return endpoint{label: s, ip: ip, node: node, inIf: t.devTo(node, ip)}, nil
}

// devTo is the device a node routes addr through (main table): a pod's veth or bridge, the
// uplink for an outside client. "" when the node has no route capture or no route.
func (t *tracer) devTo(node string, addr netip.Addr) string {
	nd := t.m.NodeData(node)
	if nd.Routes == nil {
		return ""
	}
	if r, ok := nd.Routes.Lookup("main", addr); ok {
		return r.Dev
	}
	return ""
}
