package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/parsers/iptables"
)

// nfTri is how far a rule's matches hold for a packet class: for none of it, for an unknowable
// part (a match netsift cannot evaluate offline: ipsets, unknown modules), for a known part
// (a port, a sub-range), or for all of it. Combining matches keeps the weakest.
type nfTri int

const (
	nfNo nfTri = iota
	nfUnknown
	nfPartial
	nfYes
)

func nfMin(a, b nfTri) nfTri {
	if a < b {
		return a
	}
	return b
}

func nfNot(t nfTri, neg bool) nfTri {
	if !neg {
		return t
	}
	switch t {
	case nfYes:
		return nfNo
	case nfNo:
		return nfYes
	}
	return t
}

// nfPacket is a class of packets walked through a netfilter chain: the first packet of a flow
// (conntrack NEW, no mark, no connmark), from any address of Src to any of Dst.
type nfPacket struct {
	Src, Dst netip.Prefix
	Proto    string // tcp, udp, 4 (IPIP)
	DPort    uint16 // 0: any
	// InIfs/OutIfs are the devices the packet can arrive on / leave by; nil means unknown.
	// IfsKnown says the lists are complete (an empty list then means "no such device": the
	// in-interface of a locally generated packet).
	InIfs, OutIfs      []string
	InKnown, OutKnown  bool
	SrcLocal, DstLocal bool
	Desc               string // how the message names the packet class
}

// nfMaybe is a rule that accepts part of the packet class, or might accept it.
type nfMaybe struct {
	Rule iptables.Rule
	Kind nfTri
	Why  string
}

type nfVerdict int

const (
	nfFell nfVerdict = iota // fell off the end or RETURNed
	nfAccept
	nfDrop
)

// nfWalk follows one packet class through a table's chains from a builtin chain, as the kernel
// does: rules in order, jumps into user chains, RETURN, goto, MARK; the first definite
// ACCEPT/DROP/REJECT ends it, else the policy applies. Conditions it cannot settle never end
// the walk: they are kept as "maybe" so the caller can say what it could not decide.
type nfWalk struct {
	tab *iptables.Table
	pkt nfPacket

	mark      uint32
	markKnown bool

	Final      *iptables.Rule    // the rule that decided; nil when the policy did
	Last       *iptables.Rule    // the last rule whose matches were consulted unconditionally
	Maybe      []nfMaybe         // ACCEPTs for part of the packets, or unknowable
	Stateful   []nfMaybe         // ACCEPTs that need state the first packet lacks
	EmptyJumps []*iptables.Chain // user chains jumped into that hold no rule
	Entered    []*iptables.Chain // user chains jumped into unconditionally
	steps      int
	matches    iptables.MatchBuf // room for the matches of the rule being evaluated
}

func nfWalkChain(tab *iptables.Table, chain string, pkt nfPacket) (nfVerdict, *nfWalk) {
	w := &nfWalk{tab: tab, pkt: pkt, markKnown: true}
	c := tab.Chain(chain)
	if c == nil {
		return nfAccept, w
	}
	v := w.chain(c, 0, nfYes)
	if v == nfFell {
		if c.Policy == "DROP" {
			v = nfDrop
		} else {
			v = nfAccept
		}
	}
	return v, w
}

func (w *nfWalk) chain(c *iptables.Chain, depth int, cond nfTri) nfVerdict {
	for _, r := range c.Rules() {
		w.steps++
		if w.steps > 100000 {
			return nfFell
		}
		res, why, stateOnly := w.match(r)
		definite := cond == nfYes
		if definite && depth == 0 {
			last := r
			w.Last = &last
		}
		if res == nfNo {
			if stateOnly && definite && r.Target.Name == "ACCEPT" {
				w.Stateful = append(w.Stateful, nfMaybe{Rule: r, Kind: nfNo, Why: why})
			}
			continue
		}
		kind := nfMin(res, cond)
		full := kind == nfYes
		t := r.Target
		switch {
		case t.Name == "ACCEPT":
			if full {
				w.Final = &r
				return nfAccept
			}
			w.Maybe = append(w.Maybe, nfMaybe{Rule: r, Kind: kind, Why: why})
		case t.Name == "DROP" || t.Name == "REJECT":
			if full {
				w.Final = &r
				return nfDrop
			}
		case t.Name == "RETURN":
			if full {
				return nfFell
			}
		case t.Name == "MARK":
			if v, m, ok := t.MarkOp(); ok && full {
				w.mark = (w.mark &^ m) ^ v
			} else {
				w.markKnown = false
			}
		case t.IsChainJump(w.tab):
			if depth > 40 {
				continue
			}
			sub := w.tab.Chain(t.Name)
			if full {
				w.Entered = append(w.Entered, sub)
				if sub.Len() == 0 {
					w.EmptyJumps = append(w.EmptyJumps, sub)
				}
			}
			v := w.chain(sub, depth+1, kind)
			if full && v != nfFell {
				return v
			}
			if full && t.Goto {
				return nfFell
			}
		}
	}
	return nfFell
}

// match evaluates a rule's matches for the walk's packet. stateOnly is true when the rule fails
// only on conntrack state or marks, i.e. it would match a later packet of the same flow.
func (w *nfWalk) match(r iptables.Rule) (res nfTri, why string, stateOnly bool) {
	p := w.pkt
	res = nfYes
	var whys []string
	failState, failOther := false, false
	add := func(t nfTri, reason string, state bool) {
		if t == nfNo {
			if state {
				failState = true
			} else {
				failOther = true
			}
		}
		if t != nfYes && reason != "" {
			whys = append(whys, reason)
		}
		res = nfMin(res, t)
	}
	for _, m := range r.MatchesIn(&w.matches) {
		val := ""
		if len(m.Values) > 0 {
			val = m.Values[0]
		}
		switch {
		case m.Module == "" && (m.Option == "-s" || m.Option == "-d"):
			pp := p.Src
			if m.Option == "-d" {
				pp = p.Dst
			}
			x, err := iptables.ParsePrefix(val)
			if err != nil {
				add(nfUnknown, "address "+val+" not understood", false)
				continue
			}
			t := nfNot(nfPrefixMatch(x, pp), m.Negated)
			add(t, fmt.Sprintf("applies only to part of it (%s %s%s)", m.Option, nfNeg(m.Negated), val), false)
		case m.Module == "" && (m.Option == "-i" || m.Option == "-o"):
			set, known := p.InIfs, p.InKnown
			if m.Option == "-o" {
				set, known = p.OutIfs, p.OutKnown
			}
			t := nfNot(nfIfaceMatch(val, set, known), m.Negated)
			add(t, fmt.Sprintf("depends on the device (%s %s%s)", m.Option, nfNeg(m.Negated), val), false)
		case m.Module == "" && m.Option == "-p":
			add(nfNot(nfProtoMatch(val, p.Proto), m.Negated), "", false)
		case m.Module == "" && m.Option == "-f":
			add(nfNot(nfNo, m.Negated), "", false)
		case (m.Module == "tcp" || m.Module == "udp" || m.Module == "sctp") && (m.Option == "--dport" || m.Option == "--destination-port"),
			m.Module == "multiport" && (m.Option == "--dports" || m.Option == "--destination-ports"):
			add(nfNot(nfPortMatch(val, p.DPort), m.Negated), "only for destination port "+nfNeg(m.Negated)+val, false)
		case m.Module == "multiport" && m.Option == "--ports":
			t := nfPortMatch(val, p.DPort)
			if t == nfNo {
				t = nfPartial
			}
			add(nfNot(t, m.Negated), "only for port "+nfNeg(m.Negated)+val, false)
		case (m.Module == "tcp" || m.Module == "udp" || m.Module == "sctp") && (m.Option == "--sport" || m.Option == "--source-port"),
			m.Module == "multiport" && (m.Option == "--sports" || m.Option == "--source-ports"):
			add(nfPartial, "only for source port "+nfNeg(m.Negated)+val, false)
		case m.Module == "tcp" && m.Option == "--syn":
			add(nfNot(nfYes, m.Negated), "", false)
		case (m.Module == "tcp" || m.Module == "udp" || m.Module == "sctp" || m.Module == "icmp") && m.Option == "":
		case (m.Module == "conntrack" && m.Option == "--ctstate") || (m.Module == "state" && m.Option == "--state"):
			t := nfNo
			for _, s := range strings.Split(val, ",") {
				if s == "NEW" {
					t = nfYes
				}
			}
			add(nfNot(t, m.Negated), "needs conntrack state "+nfNeg(m.Negated)+val+", which the first packet of a connection does not have", true)
		case m.Module == "mark" && m.Option == "--mark", m.Module == "connmark" && m.Option == "--mark":
			v, mask, ok := iptables.ParseMark(val)
			cur, known := w.mark, w.markKnown
			if m.Module == "connmark" {
				cur, known = 0, true
			}
			switch {
			case !ok || !known:
				add(nfUnknown, "depends on packet mark "+val, false)
			default:
				t := nfNo
				if cur&mask == v {
					t = nfYes
				}
				add(nfNot(t, m.Negated), fmt.Sprintf("needs %s %s%s, which plain pod traffic does not carry", m.Module, nfNeg(m.Negated), val), true)
			}
		case m.Module == "addrtype" && (m.Option == "--src-type" || m.Option == "--dst-type"):
			local := p.SrcLocal
			if m.Option == "--dst-type" {
				local = p.DstLocal
			}
			t := nfUnknown
			switch val {
			case "LOCAL":
				t = nfNo
				if local {
					t = nfYes
				}
			case "UNICAST":
				t = nfYes
			case "BROADCAST", "MULTICAST", "ANYCAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT":
				t = nfNo
			}
			add(nfNot(t, m.Negated), "depends on address type "+val, false)
		case m.Module == "addrtype", m.Module == "comment":
		case m.Module == "pkttype":
			add(nfNot(map[bool]nfTri{true: nfYes, false: nfNo}[strings.EqualFold(val, "unicast")], m.Negated), "", false)
		case m.Module == "limit", m.Module == "hashlimit", m.Module == "statistic", m.Module == "connlimit":
			add(nfPartial, "rate-limited or sampled ("+m.Module+")", false)
		case m.Module == "set":
			add(nfUnknown, "depends on ipset "+val+", whose members netsift does not evaluate", false)
		default:
			mod := m.Module
			if mod == "" {
				mod = m.Option
			}
			add(nfUnknown, "uses match "+mod+", which netsift cannot evaluate offline", false)
		}
	}
	if len(r.Unparsed()) > 0 && res != nfNo {
		add(nfUnknown, "has options netsift does not understand ("+strings.Join(r.Unparsed(), " ")+")", false)
	}
	return res, strings.Join(dedupe(whys), "; "), res == nfNo && failState && !failOther
}

func nfNeg(b bool) string {
	if b {
		return "! "
	}
	return ""
}

func nfPrefixMatch(x, p netip.Prefix) nfTri {
	if !p.IsValid() {
		return nfUnknown
	}
	if x.Addr().Is4() != p.Addr().Is4() {
		return nfNo
	}
	switch {
	case x.Bits() <= p.Bits() && x.Contains(p.Addr()):
		return nfYes
	case !x.Overlaps(p):
		return nfNo
	}
	return nfPartial
}

// nfNonPodDevice names devices no pod packet crosses when the real device list is unknown.
func nfNonPodDevice(name string) bool {
	for _, p := range []string{"docker", "br-", "virbr", "lo"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func nfIfaceMatch(pattern string, set []string, known bool) nfTri {
	if !known && len(set) == 0 {
		if nfNonPodDevice(strings.TrimSuffix(pattern, "+")) {
			return nfNo
		}
		return nfUnknown
	}
	hit := 0
	for _, d := range set {
		if d == pattern || (strings.HasSuffix(pattern, "+") && strings.HasPrefix(d, strings.TrimSuffix(pattern, "+"))) {
			hit++
		}
	}
	switch {
	case hit == 0 && !known && !nfNonPodDevice(strings.TrimSuffix(pattern, "+")):
		return nfUnknown
	case hit == 0:
		return nfNo
	case hit == len(set):
		return nfYes
	}
	return nfPartial
}

var nfProtoNumbers = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "4": "4", "ipip": "4", "ipencap": "4", "ipv4": "4", "47": "gre", "50": "esp", "132": "sctp"}

func nfProtoMatch(rule, pkt string) nfTri {
	rule = strings.ToLower(rule)
	if n, ok := nfProtoNumbers[rule]; ok {
		rule = n
	}
	if rule == "all" || rule == "0" || rule == pkt {
		return nfYes
	}
	return nfNo
}

func nfPortMatch(val string, port uint16) nfTri {
	prs, ok := iptables.ParsePorts(val)
	if !ok {
		return nfUnknown
	}
	if port == 0 {
		return nfPartial
	}
	for _, pr := range prs {
		if pr.Contains(port) {
			return nfYes
		}
	}
	return nfNo
}

// nfRuleText is a rule's text without its counters: a stable key and a readable quote.
func nfRuleText(r iptables.Rule) string {
	s := strings.TrimSpace(r.Raw())
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			s = strings.TrimSpace(s[i+1:])
		}
	}
	return s
}
