package trace

import (
	"fmt"
	"net/netip"

	"github.com/netsift/netsift/analyze/model"
)

// Policy evaluates NetworkPolicies for the trace: egress at the source pod toward the real
// (post-DNAT) destination, ingress at the destination pod from the real (post-SNAT) source.
type Policy interface {
	Egress(from *model.Pod, dst netip.Addr, port uint16, proto string) PolicyDecision
	Ingress(src netip.Addr, to *model.Pod, port uint16, proto string) PolicyDecision
}

// PolicyDecision is one direction's answer.
type PolicyDecision struct {
	Allowed bool
	// Enforced is false when the CNI does not enforce NetworkPolicies: a denial is then only
	// what the policies say, and the packet passes.
	Enforced bool
	CNI      string
	Reason   string
	Evidence *RuleRef
}

// egress checks NetworkPolicy egress at the source pod, once, with the packet's destination as
// it is now (after the source node's DNAT). It ends the path and returns false on a denial.
func (t *tracer) egress(p *path) bool {
	if p.srcPod == nil || p.egressed {
		return true
	}
	p.egressed = true
	if t.req.Policy == nil {
		p.add(Hop{Node: p.node, Stage: "netpol-egress", Verdict: "not-evaluated", Note: "NetworkPolicy not evaluated"})
		return true
	}
	d := t.req.Policy.Egress(p.srcPod, p.pk.dst, p.pk.dport, p.pk.proto)
	return t.policyHop(p, "netpol-egress", d)
}

// ingress checks NetworkPolicy ingress at the destination pod.
func (t *tracer) ingress(p *path, pod *model.Pod) bool {
	if t.req.Policy == nil {
		p.add(Hop{Node: p.node, Stage: "netpol-ingress", Verdict: "not-evaluated", Note: "NetworkPolicy not evaluated"})
		return true
	}
	d := t.req.Policy.Ingress(p.pk.src, pod, p.pk.dport, p.pk.proto)
	return t.policyHop(p, "netpol-ingress", d)
}

func (t *tracer) policyHop(p *path, stage string, d PolicyDecision) bool {
	h := Hop{Node: p.node, Stage: stage, Verdict: "allow", Rule: d.Evidence, Note: d.Reason}
	if d.Allowed {
		p.add(h)
		return true
	}
	if !d.Enforced {
		cni := d.CNI
		if cni == "" {
			cni = "the CNI"
		}
		h.Note = fmt.Sprintf("%s — but %s does not enforce NetworkPolicies, so the packet passes", d.Reason, cni)
		p.add(h)
		return true
	}
	h.Verdict = "deny"
	p.fail(Dropped, h)
	return false
}
