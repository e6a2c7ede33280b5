package trace

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

// DefaultPolicy is the analyzer's NetworkPolicy engine (analyze/policy) as the trace's Policy.
// Build it once per model and reuse it across traces: it compiles every policy.
func DefaultPolicy(m *model.Model) Policy { return engine{policy.New(m)} }

type engine struct{ e *policy.Engine }

func (a engine) Egress(from *model.Pod, dst netip.Addr, port uint16, proto string) PolicyDecision {
	src := policy.PodEndpoint(from)
	if ip, ok := podIP(from); ok {
		src.IP = ip
	}
	v := a.e.Check(src, a.e.EndpointFor(dst), port, corev1.Protocol(strings.ToUpper(proto)))
	return decision(v, v.Egress)
}

func (a engine) Ingress(src netip.Addr, to *model.Pod, port uint16, proto string) PolicyDecision {
	dst := policy.PodEndpoint(to)
	if ip, ok := podIP(to); ok {
		dst.IP = ip
	}
	v := a.e.Check(a.e.EndpointFor(src), dst, port, corev1.Protocol(strings.ToUpper(proto)))
	return decision(v, v.Ingress)
}

func decision(v policy.Verdict, s policy.Side) PolicyDecision {
	d := PolicyDecision{Allowed: s.Allowed, Enforced: v.Enforced, CNI: v.CNI, Reason: s.Reason}
	if len(s.Evidence) > 0 {
		e := s.Evidence[0]
		d.Evidence = &RuleRef{File: e.File, Line: e.Line, Text: e.Excerpt}
	}
	return d
}
