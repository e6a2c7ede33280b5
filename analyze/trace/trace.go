// Package trace simulates one packet through the dataplane a bundle captured: NetworkPolicy
// egress, each node's netfilter chains (iptables-save) or IPVS, its routing (ip rule, tables,
// longest prefix), the next node, NetworkPolicy ingress, the pod. It says where the packet dies
// and quotes the rule, route or sysctl line that kills it; where it meets something it cannot
// evaluate it says so (verdict unknown) instead of guessing.
//
// The walk follows kube-proxy's own test tracer: every branch a statistic rule can take is
// followed, so every DNAT candidate is traced to its end.
package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netsift/netsift/analyze/model"
)

// Verdict is how a trace (or one of its candidates) ends.
type Verdict string

const (
	Delivered Verdict = "delivered"
	Dropped   Verdict = "dropped"
	Rejected  Verdict = "rejected"
	NoRoute   Verdict = "no-route"
	Unknown   Verdict = "unknown"
)

// Failed reports whether the verdict is a definite failure (not delivered, not unknown).
func (v Verdict) Failed() bool { return v == Dropped || v == Rejected || v == NoRoute }

// RuleRef is the line of the bundle a hop rests on: an iptables rule, a chain policy, a route,
// an IPVS server, a sysctl, a NetworkPolicy. Line 0 cites the whole file (an absence).
type RuleRef struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// Location is "file:line", or the file alone for line 0.
func (r RuleRef) Location() string {
	if r.Line == 0 {
		return r.File
	}
	return r.File + ":" + strconv.Itoa(r.Line)
}

// Hop is one step of the packet: a matched rule, a routing decision, a policy check.
type Hop struct {
	Node    string   `json:"node"`
	Stage   string   `json:"stage"` // "nat/PREROUTING", "filter/FORWARD", "routing", "ipvs", "netpol-egress", "deliver"…
	Verdict string   `json:"verdict"`
	Rule    *RuleRef `json:"rule,omitempty"`
	Note    string   `json:"note,omitempty"`
}

// Candidate is one path the packet can take when the rules pick among several endpoints
// (statistic branches, IPVS real servers): its destination after DNAT and how it ends.
type Candidate struct {
	Destination string  `json:"destination"`
	Verdict     Verdict `json:"verdict"`
	Masquerade  bool    `json:"masquerade"`
	Hops        []Hop   `json:"hops"`
	FailedAt    *Hop    `json:"failed_at"`
}

// Result is a trace, in the schema of DESIGN.md. With several candidates, Hops and FailedAt are
// those of the first failing candidate (or the first, when all are delivered), and Verdict is
// delivered only when every candidate is.
type Result struct {
	From       string      `json:"from"`
	To         string      `json:"to"`
	Protocol   string      `json:"protocol"`
	Verdict    Verdict     `json:"verdict"`
	Hops       []Hop       `json:"hops"`
	DNAT       []string    `json:"dnat"`
	Masquerade bool        `json:"masquerade"`
	FailedAt   *Hop        `json:"failed_at"`
	Candidates []Candidate `json:"candidates,omitempty"`
	// Error says why the trace could not start (an unknown pod, a Service without that port).
	Error string `json:"error,omitempty"`
}

// Failing returns the candidates that do not end delivered.
func (r *Result) Failing() []Candidate {
	var out []Candidate
	for _, c := range r.Candidates {
		if c.Verdict != Delivered {
			out = append(out, c)
		}
	}
	return out
}

// Request is what to trace. From and To are "ns/pod", "node/NAME", "svc/ns/name[:port]"
// (To only) or an IP; To may carry ":PORT" (a number, or a Service port name).
type Request struct {
	From, To string
	// Port overrides the port in To; 0 keeps it.
	Port int
	// Protocol is tcp (default), udp or sctp.
	Protocol string
	// Node is where the packet of a From IP that belongs to no pod or node arrives (from
	// outside, or from a local process when it is one of that node's addresses or loopback).
	Node string
	// Policy evaluates NetworkPolicies; nil leaves the NetworkPolicy hops "not evaluated".
	Policy Policy
}

// maxPaths bounds the branches one trace may follow; kube-proxy's rules branch once per
// endpoint, so this is only hit by pathological rule sets.
const maxPaths = 1024

// maxNodeHops bounds how many nodes a packet may cross before the trace calls it a loop.
const maxNodeHops = 8

// maxDepth bounds nested chain jumps (the kernel's own limit is in the same range).
const maxDepth = 64

// Trace follows the packet of req through the model's captured dataplane.
func Trace(m *model.Model, req Request) *Result {
	proto := strings.ToLower(req.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	res := &Result{From: req.From, To: req.To, Protocol: proto, Hops: []Hop{}, DNAT: []string{}}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		res.Verdict, res.Error = Unknown, fmt.Sprintf("protocol %q: want tcp, udp or sctp", req.Protocol)
		return res
	}
	t := &tracer{m: m, req: req, proto: proto}
	dst, err := t.resolveTo(req.To, req.Port)
	if err != nil {
		res.Verdict, res.Error = Unknown, err.Error()
		return res
	}
	src, err := t.resolveFrom(req.From, req.Node)
	if err != nil {
		res.Verdict, res.Error = Unknown, err.Error()
		return res
	}
	if src.ip.Is4() != dst.ip.Is4() {
		res.Verdict, res.Error = Unknown, fmt.Sprintf("%s is %s and %s is not: no single-stack path", src.ip, family(src.ip), dst.ip)
		return res
	}
	t.target = dst
	res.To, res.Protocol = dst.label, t.proto
	if !src.local && src.inIf == "" {
		src.inIf = "?" // the arrival device is not known: rules on -i cannot be evaluated
	}
	p := &path{
		node:   src.node,
		srcPod: src.pod,
		failed: -1,
		pk: packet{
			src: src.ip, dst: dst.ip, sport: 40000, dport: dst.port, proto: t.proto,
			origDst: dst.ip, origDport: dst.port,
		},
	}
	var paths []*path
	if src.local {
		paths = t.localOut(p)
	} else {
		p.pk.inIf = src.inIf
		paths = t.arrive(p)
	}
	t.assemble(res, paths)
	return res
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// assemble turns the finished paths into the result.
func (t *tracer) assemble(res *Result, paths []*path) {
	seen := map[string]bool{}
	var rep *path
	var firstUnknown *path
	all := true
	for _, p := range paths {
		if p.verdict == "" { // cannot happen; be safe
			p.verdict = Unknown
		}
		if p.dnat != "" && !seen[p.dnat] {
			seen[p.dnat] = true
			res.DNAT = append(res.DNAT, p.dnat)
		}
		if p.masq {
			res.Masquerade = true
		}
		if p.verdict != Delivered {
			all = false
			if p.verdict.Failed() && rep == nil {
				rep = p
			}
			if p.verdict == Unknown && firstUnknown == nil {
				firstUnknown = p
			}
		}
	}
	if rep == nil {
		rep = firstUnknown
	}
	if rep == nil && len(paths) > 0 {
		rep = paths[0]
	}
	if rep == nil {
		res.Verdict = Unknown
		return
	}
	res.Hops = rep.hops
	res.FailedAt = rep.failedHop()
	res.Verdict = rep.verdict
	if all {
		res.Verdict = Delivered
	}
	if len(paths) > 1 {
		same := map[string]bool{}
		for _, p := range paths {
			// Session affinity branches repeat an endpoint the statistic branches reach too.
			key := p.destination() + "\x00" + string(p.verdict)
			if same[key] {
				continue
			}
			same[key] = true
			res.Candidates = append(res.Candidates, Candidate{
				Destination: p.destination(), Verdict: p.verdict, Masquerade: p.masq,
				Hops: p.hops, FailedAt: p.failedHop(),
			})
		}
	}
}

// path is one branch of the packet's walk.
type path struct {
	node     string
	pk       packet
	hops     []Hop
	verdict  Verdict // "" while the packet is in flight
	failed   int     // index of the failing hop, -1
	dnat     string  // "ip:port" after DNAT or IPVS
	masq     bool
	srcPod   *model.Pod
	egressed bool // NetworkPolicy egress checked
	nodeHops int
}

func (p *path) clone() *path {
	c := *p
	c.hops = append([]Hop(nil), p.hops...)
	return &c
}

func (p *path) add(h Hop) { p.hops = append(p.hops, h) }

// fail ends the path with verdict v at hop h.
func (p *path) fail(v Verdict, h Hop) {
	p.add(h)
	p.verdict, p.failed = v, len(p.hops)-1
}

func (p *path) deliver(h Hop) {
	p.add(h)
	p.verdict = Delivered
}

func (p *path) failedHop() *Hop {
	if p.failed < 0 || p.failed >= len(p.hops) {
		return nil
	}
	h := p.hops[p.failed]
	return &h
}

func (p *path) destination() string {
	if p.dnat != "" {
		return p.dnat
	}
	return hostPort(p.pk.origDst, p.pk.origDport)
}

func hostPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

// packet is what the rules look at.
type packet struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        string
	mark, ctmark uint32
	inIf, outIf  string
	// origDst/origDport are the destination before any DNAT (conntrack's original tuple).
	origDst   netip.Addr
	origDport uint16
	dnatted   bool
	snatted   bool
	untracked bool
}
