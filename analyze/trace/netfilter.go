package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/ipset"
	"github.com/netsift/netsift/parsers/iptables"
)

// Hook chains and the tables that register on them, in the kernel's priority order.
var hookTables = map[string][]string{
	"PREROUTING":  {"raw", "mangle", "nat"},
	"INPUT":       {"mangle", "filter", "security", "nat"},
	"FORWARD":     {"mangle", "filter", "security"},
	"OUTPUT":      {"raw", "mangle", "nat", "filter", "security"},
	"POSTROUTING": {"mangle", "nat"},
}

// outcome is how a walk through a chain ends.
type outcome int

const (
	fallThrough outcome = iota // end of chain (or RETURN): the caller continues
	accepted
	dropped
	rejected
	unknown
)

// branch is one way a chain walk ends: the path (possibly rewritten) and its outcome.
type branch struct {
	p   *path
	out outcome
}

// dumps returns the iptables captures whose rules the node's kernel runs: iptables-save, or,
// without it, both backends' saves (legacy and nft tables are hooked side by side).
func dumps(nd *model.NodeData) []capturedDump {
	if nd.IPTables != nil {
		return []capturedDump{{nd.IPTables, model.CapIPTables}}
	}
	var out []capturedDump
	if nd.IPTablesLegacy != nil {
		out = append(out, capturedDump{nd.IPTablesLegacy, model.CapIPTablesLegacy})
	}
	if nd.IPTablesNFT != nil {
		out = append(out, capturedDump{nd.IPTablesNFT, model.CapIPTablesNFT})
	}
	return out
}

type capturedDump struct {
	*iptables.Dump
	cap string
}

// hook runs the tables of one netfilter hook over the in-flight paths.
func (t *tracer) hook(ps []*path, hook string) []*path {
	var out []*path
	for _, p := range ps {
		if p.verdict != "" {
			out = append(out, p)
			continue
		}
		out = append(out, t.hookOne(p, hook)...)
	}
	return out
}

func (t *tracer) hookOne(p *path, hook string) []*path {
	nd := t.m.NodeData(p.node)
	ds := dumps(nd)
	if len(ds) == 0 {
		p.fail(Unknown, Hop{Node: p.node, Stage: "netfilter", Verdict: "unknown",
			Rule: &RuleRef{File: nd.Path(model.CapIPTables), Text: "(no iptables-save capture)"},
			Note: "the node's netfilter rules were not captured: " + t.m.Bundle.Capture(nd.Path(model.CapIPTables)).Why()})
		return []*path{p}
	}
	ps := []*path{p}
	for _, tname := range hookTables[hook] {
		for _, d := range ds {
			tab := d.Table(tname)
			if tab == nil {
				continue
			}
			ch := tab.Chain(hook)
			if ch == nil {
				continue
			}
			var next []*path
			for _, q := range ps {
				if q.verdict != "" || (tname == "nat" && q.pk.untracked) {
					next = append(next, q)
					continue
				}
				next = append(next, t.table(nfx{nd, tab, d.cap}, ch, q)...)
			}
			ps = next
		}
	}
	return ps
}

// table walks one table's hook chain and applies its policy.
func (t *tracer) table(x nfx, ch *iptables.Chain, p *path) []*path {
	nd, tab := x.nd, x.tab
	stage := tab.Name + "/" + ch.Name
	var out []*path
	for _, b := range t.walk(x, ch, 0, p, []string{ch.Name}) {
		q := b.p
		switch b.out {
		case fallThrough:
			ref := t.ref(nd, x.cap, ch.Line())
			if ch.Policy == "DROP" {
				q.fail(Dropped, Hop{Node: q.node, Stage: stage, Verdict: "drop", Rule: ref,
					Note: fmt.Sprintf("no rule accepted the packet: chain %s policy DROP", ch.Name)})
			} else if ch.Len() > 0 && tab.Name == "filter" {
				q.add(Hop{Node: q.node, Stage: stage, Verdict: "accept", Rule: ref, Note: "policy " + ch.Policy})
			}
		}
		out = append(out, q)
	}
	return out
}

// walk evaluates chain ch from rule index i. Forks at statistic rules: the branch where the rule
// matches comes first (rule order), then the branch where it does not.
func (t *tracer) walk(x nfx, ch *iptables.Chain, i int, p *path, stack []string) []branch {
	nd, tab := x.nd, x.tab
	stage := tab.Name + "/" + stack[0]
	// A walk resumes after a matched rule: RulesFrom decodes the rules before i again, which
	// costs less than a rule's matching.
	for i, r := range ch.RulesFrom(i) {
		if noopTarget[r.Target.Name] {
			continue // counting/logging rules change nothing, whatever they match
		}
		res, why := t.match(nd, r, &p.pk, tab.Name)
		hop := func(verdict, note string) Hop {
			return Hop{Node: p.node, Stage: stage, Verdict: verdict, Rule: x.ruleRef(r), Note: note}
		}
		switch res {
		case no:
			continue
		case unk:
			p.fail(Unknown, hop("unknown", "cannot evaluate: "+why))
			return []branch{{p, unknown}}
		case fork:
			if t.paths >= maxPaths {
				p.fail(Unknown, hop("unknown", fmt.Sprintf("more than %d branches: trace stopped", maxPaths)))
				return []branch{{p, unknown}}
			}
			t.paths++
			taken := p.clone()
			rest := p
			out := t.apply(x, ch, i, r, taken, stack, why)
			return append(out, t.walk(x, ch, i+1, rest, stack)...)
		}
		return t.apply(x, ch, i, r, p, stack, "")
	}
	return []branch{{p, fallThrough}}
}

// noopTarget are targets that neither end the walk nor change the packet.
var noopTarget = map[string]bool{
	"": true, "LOG": true, "NFLOG": true, "ULOG": true, "TRACE": true, "AUDIT": true,
	"CHECKSUM": true, "TCPMSS": true, "CLASSIFY": true, "DSCP": true, "TOS": true, "TTL": true,
	"HL": true, "ECN": true, "IDLETIMER": true, "LED": true, "SECMARK": true, "CONNSECMARK": true,
	"RATEEST": true, "TCPOPTSTRIP": true, "SET": true,
}

// apply runs the target of matched rule r (index i of ch) and continues the walk.
func (t *tracer) apply(x nfx, ch *iptables.Chain, i int, r iptables.Rule, p *path, stack []string, branchNote string) []branch {
	nd, tab := x.nd, x.tab
	stage := tab.Name + "/" + stack[0]
	hop := func(verdict, note string) Hop {
		if branchNote != "" {
			if note != "" {
				note += "; "
			}
			note += branchNote
		}
		return Hop{Node: p.node, Stage: stage, Verdict: verdict, Rule: x.ruleRef(r), Note: note}
	}
	tg := r.Target
	cont := func() []branch { return t.walk(x, ch, i+1, p, stack) }
	switch {
	case tg.Name == "ACCEPT":
		p.add(hop("accept", ""))
		return []branch{{p, accepted}}
	case tg.Name == "DROP":
		p.fail(Dropped, hop("drop", ""))
		return []branch{{p, dropped}}
	case tg.Name == "REJECT":
		p.fail(Rejected, hop("reject", "rejected with "+tg.RejectWith()))
		return []branch{{p, rejected}}
	case tg.Name == "RETURN":
		if branchNote != "" {
			p.add(hop("return", ""))
		}
		return []branch{{p, fallThrough}}
	case tg.IsChainJump(tab):
		for k, s := range stack {
			if s == tg.Name {
				loop := strings.Join(append(append([]string{}, stack[k:]...), tg.Name), " -> ")
				p.fail(Unknown, hop("unknown", "chain loop "+loop+" (the kernel refuses such a rule set)"))
				return []branch{{p, unknown}}
			}
		}
		if len(stack) >= maxDepth {
			p.fail(Unknown, hop("unknown", fmt.Sprintf("more than %d nested jumps", maxDepth)))
			return []branch{{p, unknown}}
		}
		verb := "jump"
		if tg.Goto {
			verb = "goto"
		}
		p.add(hop(verb, ""))
		mark := len(p.hops)
		sub := t.walk(x, tab.Chain(tg.Name), 0, p, append(stack[:len(stack):len(stack)], tg.Name))
		var out []branch
		for _, b := range sub {
			if b.out == fallThrough && len(b.p.hops) == mark && branchNote == "" {
				// Nothing in the chain matched: the jump is no part of the packet's story.
				b.p.hops = b.p.hops[:mark-1]
			}
			if b.out != fallThrough || tg.Goto {
				out = append(out, b) // a goto's chain returns to our caller
				continue
			}
			out = append(out, t.walk(x, ch, i+1, b.p, stack)...)
		}
		return out
	case tg.Name == "MARK":
		v, mask, ok := tg.MarkOp()
		if !ok {
			p.fail(Unknown, hop("unknown", "cannot evaluate the MARK target's options"))
			return []branch{{p, unknown}}
		}
		p.pk.mark = (p.pk.mark &^ mask) ^ v
		p.add(hop("mark", fmt.Sprintf("mark is now %#x", p.pk.mark)))
		return cont()
	case tg.Name == "CONNMARK":
		switch {
		case hasOpt(tg, "--save-mark") && len(tg.Options) == 1:
			p.pk.ctmark = p.pk.mark
		case hasOpt(tg, "--restore-mark") && len(tg.Options) == 1:
			p.pk.mark = p.pk.ctmark
		default:
			v, mask, ok := tg.MarkOp()
			if !ok {
				p.fail(Unknown, hop("unknown", "cannot evaluate the CONNMARK target's options"))
				return []branch{{p, unknown}}
			}
			p.pk.ctmark = (p.pk.ctmark &^ mask) ^ v
		}
		p.add(hop("connmark", fmt.Sprintf("mark %#x, connection mark %#x", p.pk.mark, p.pk.ctmark)))
		return cont()
	case tg.Name == "NOTRACK" || (tg.Name == "CT" && hasOpt(tg, "--notrack")):
		p.pk.untracked = true
		p.add(hop("notrack", "connection not tracked: the nat table is skipped"))
		return cont()
	case tg.Name == "CT":
		return cont() // zones and helpers do not change where the packet goes
	case tg.Name == "DNAT":
		nr, ok := tg.ToDestination()
		if !ok || !nr.Min.IsValid() {
			p.fail(Unknown, hop("unknown", "cannot evaluate the DNAT target's --to-destination"))
			return []branch{{p, unknown}}
		}
		note := ""
		if nr.Max != nr.Min || nr.MaxPort != nr.MinPort {
			note = "a range: the first address/port is traced"
		}
		p.pk.dst = nr.Min
		if nr.MinPort != 0 {
			p.pk.dport = nr.MinPort
		}
		p.pk.dnatted = true
		p.dnat = hostPort(p.pk.dst, p.pk.dport)
		p.add(hop("dnat", joinNote("DNAT to "+p.dnat, note)))
		return []branch{{p, accepted}}
	case tg.Name == "REDIRECT":
		a, ok := t.ifaceAddr(nd, p.pk.inIf)
		if p.pk.inIf == "" {
			a, ok = netip.MustParseAddr("127.0.0.1"), true
		}
		if !ok {
			p.fail(Unknown, hop("unknown", "REDIRECT: the address of "+p.pk.inIf+" is not known"))
			return []branch{{p, unknown}}
		}
		p.pk.dst = a
		if pr, ok := tg.ToPorts(); ok {
			p.pk.dport = pr.Lo
		}
		p.pk.dnatted = true
		p.dnat = hostPort(p.pk.dst, p.pk.dport)
		p.add(hop("redirect", "REDIRECT to the node itself, "+p.dnat))
		return []branch{{p, accepted}}
	case tg.Name == "SNAT":
		nr, ok := tg.ToSource()
		if !ok || !nr.Min.IsValid() {
			p.fail(Unknown, hop("unknown", "cannot evaluate the SNAT target's --to-source"))
			return []branch{{p, unknown}}
		}
		p.pk.src, p.pk.snatted, p.masq = nr.Min, true, true
		p.add(hop("snat", "source rewritten to "+nr.Min.String()))
		return []branch{{p, accepted}}
	case tg.Name == "MASQUERADE":
		note := "source rewritten to the address of " + p.pk.outIf
		if a, ok := t.ifaceAddr(nd, p.pk.outIf); ok {
			p.pk.src = a
			note += " (" + a.String() + ")"
		}
		p.pk.snatted, p.masq = true, true
		p.add(hop("masquerade", note))
		return []branch{{p, accepted}}
	}
	p.fail(Unknown, hop("unknown", "target "+tg.Name+" is not simulated"))
	return []branch{{p, unknown}}
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

func hasOpt(tg iptables.Target, name string) bool {
	_, ok := tg.Option(name)
	return ok
}

// ifaceAddr is the first address of the packet's family on a device of the node.
func (t *tracer) ifaceAddr(nd *model.NodeData, dev string) (netip.Addr, bool) {
	if nd.Addrs == nil || dev == "" {
		return netip.Addr{}, false
	}
	if i := nd.Addrs.ByName(dev); i != nil {
		for _, a := range i.Addresses {
			if a.Prefix.Addr().Is4() && !a.Secondary {
				return a.Prefix.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// tri is a match result: the packet matches, does not, the rule branches (statistic), or the
// engine cannot tell.
type tri int

const (
	yes tri = iota
	no
	unk
	fork
)

// match evaluates every condition of r. A condition that is false decides (all are ANDed),
// whatever the others are; otherwise one the engine cannot evaluate makes the rule unknown.
func (t *tracer) match(nd *model.NodeData, r iptables.Rule, pk *packet, table string) (tri, string) {
	var unknownWhy, forkWhy string
	statistic := false
	for _, m := range r.MatchesIn(&t.matches) {
		if m.Module == "statistic" {
			statistic = true
			continue
		}
		ok, why := t.cond(nd, m, pk)
		switch ok {
		case no:
			return no, ""
		case fork:
			statistic, forkWhy = true, why
		case unk:
			if unknownWhy == "" {
				unknownWhy = why
			}
		}
	}
	if unknownWhy != "" {
		return unk, unknownWhy
	}
	if len(r.Unparsed()) > 0 {
		return unk, "the parser did not understand " + strconv.Quote(strings.Join(r.Unparsed(), " "))
	}
	if forkWhy != "" {
		return fork, forkWhy
	}
	if statistic {
		if prob, ok := r.Probability(); ok {
			switch {
			case prob >= 1:
				return yes, ""
			case prob <= 0:
				return no, ""
			}
			return fork, fmt.Sprintf("statistic random %g: one branch of several", prob)
		}
		if every, packet, ok := r.Nth(); ok {
			if every <= 1 {
				return yes, ""
			}
			return fork, fmt.Sprintf("statistic nth: every %d packet %d", every, packet)
		}
		return unk, "statistic match in an unknown mode"
	}
	return yes, ""
}

func boolTri(b, negated bool) tri {
	if b != negated {
		return yes
	}
	return no
}

var protoNumbers = map[string]string{"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "ipv6-icmp"}

// cond evaluates one condition.
func (t *tracer) cond(nd *model.NodeData, m iptables.Match, pk *packet) (tri, string) {
	what := condText{m}
	val := ""
	if len(m.Values) == 1 {
		val = m.Values[0]
	}
	switch m.Module {
	case "":
		switch m.Option {
		case "-s", "-d":
			pf, err := iptables.ParsePrefix(val)
			if err != nil {
				return unk, what.String() + " " + val
			}
			a := pk.src
			if m.Option == "-d" {
				a = pk.dst
			}
			return boolTri(pf.Contains(a), m.Negated), ""
		case "-p":
			v := strings.ToLower(val)
			if n, ok := protoNumbers[v]; ok {
				v = n
			}
			if v == "all" || v == "0" {
				return boolTri(true, m.Negated), ""
			}
			return boolTri(v == pk.proto, m.Negated), ""
		case "-i", "-o":
			dev := pk.inIf
			if m.Option == "-o" {
				dev = pk.outIf
			}
			if dev == "?" {
				return unk, what.String() + " " + val + ": the packet's device is not known"
			}
			return boolTri(ifaceMatch(val, dev), m.Negated), ""
		case "-f":
			return boolTri(false, m.Negated), ""
		case "-4":
			return boolTri(pk.dst.Is4(), m.Negated), ""
		case "-6":
			return boolTri(pk.dst.Is6(), m.Negated), ""
		}
	case "comment", "nfacct":
		return yes, ""
	case "tcp", "udp", "sctp", "udplite":
		if m.Module != pk.proto {
			return no, ""
		}
		switch m.Option {
		case "":
			return yes, ""
		case "--dport", "--destination-port", "--sport", "--source-port":
			port := pk.dport
			if m.Option == "--sport" || m.Option == "--source-port" {
				port = pk.sport
			}
			return portsTri(val, port, m.Negated, what)
		case "--syn":
			return boolTri(true, m.Negated), "" // the first packet of a TCP connection
		case "--tcp-flags":
			if len(m.Values) != 2 {
				return unk, what.String()
			}
			mask, comp := tcpFlags(m.Values[0]), tcpFlags(m.Values[1])
			return boolTri(mask&flagSYN == comp&flagSYN && comp&^flagSYN&mask == 0, m.Negated), ""
		}
	case "multiport":
		switch m.Option {
		case "--dports", "--destination-ports":
			return portsTri(val, pk.dport, m.Negated, what)
		case "--sports", "--source-ports":
			return portsTri(val, pk.sport, m.Negated, what)
		case "--ports":
			a, _ := portsTri(val, pk.dport, false, what)
			b, _ := portsTri(val, pk.sport, false, what)
			return boolTri(a == yes || b == yes, m.Negated), ""
		}
	case "mark", "connmark":
		if m.Option != "--mark" {
			break
		}
		v, mask, ok := iptables.ParseMark(val)
		if !ok {
			return unk, what.String() + " " + val
		}
		cur := pk.mark
		if m.Module == "connmark" {
			cur = pk.ctmark
		}
		return boolTri(cur&mask == v, m.Negated), ""
	case "conntrack", "state":
		switch m.Option {
		case "--ctstate", "--state":
			in := false
			for _, s := range strings.Split(val, ",") {
				switch strings.ToUpper(s) {
				case "NEW":
					in = in || !pk.untracked
				case "UNTRACKED":
					in = in || pk.untracked
				case "DNAT":
					in = in || (pk.dnatted && m.Module == "conntrack")
				case "SNAT":
					in = in || (pk.snatted && m.Module == "conntrack")
				case "ESTABLISHED", "RELATED", "INVALID":
				default:
					return unk, what.String() + " " + val
				}
			}
			return boolTri(in, m.Negated), ""
		case "--ctorigdst", "--ctorigsrc":
			pf, err := iptables.ParsePrefix(val)
			if err != nil {
				return unk, what.String() + " " + val
			}
			a := pk.origDst
			if m.Option == "--ctorigsrc" {
				a = pk.src
				if pk.snatted {
					return unk, what.String() + " after SNAT"
				}
			}
			return boolTri(pf.Contains(a), m.Negated), ""
		case "--ctorigdstport":
			return portsTri(val, pk.origDport, m.Negated, what)
		case "--ctproto":
			return boolTri(strings.EqualFold(val, pk.proto) || protoNumbers[val] == pk.proto, m.Negated), ""
		case "--ctdir":
			return boolTri(strings.EqualFold(val, "ORIGINAL"), m.Negated), ""
		}
	case "addrtype":
		switch m.Option {
		case "--src-type", "--dst-type":
			a := pk.dst
			if m.Option == "--src-type" {
				a = pk.src
			}
			typ := t.addrType(nd, a)
			if typ == "" {
				return unk, what.String() + " " + val + ": the node's addresses were not captured"
			}
			in := false
			for _, s := range strings.Split(val, ",") {
				switch s = strings.ToUpper(s); s {
				case "LOCAL", "UNICAST", "BROADCAST", "MULTICAST":
					in = in || s == typ
				default:
					return unk, what.String() + " " + val
				}
			}
			return boolTri(in, m.Negated), ""
		}
	case "set":
		switch m.Option {
		case "--match-set", "--set":
			if len(m.Values) < 2 {
				return unk, what.String()
			}
			name := m.Values[0]
			if nd.IPSets == nil {
				return unk, "set " + name + ": no ipset capture"
			}
			s := nd.IPSets.Set(name)
			if s == nil {
				return unk, "set " + name + " is not in the ipset capture"
			}
			in, err := s.Match(ipset.Packet{Src: pk.src, Dst: pk.dst, Protocol: pk.proto, SrcPort: pk.sport, DstPort: pk.dport}, strings.Split(m.Values[1], ","))
			if err != nil {
				return unk, err.Error()
			}
			return boolTri(in, m.Negated), ""
		case "--return-nomatch", "--update-counters", "--update-subcounters":
			return yes, ""
		}
	case "pkttype":
		if m.Option == "--pkt-type" {
			return boolTri(strings.EqualFold(val, "unicast") == !pk.dst.IsMulticast(), m.Negated), ""
		}
	case "iprange":
		if m.Option == "--src-range" || m.Option == "--dst-range" {
			lo, hi, ok := strings.Cut(val, "-")
			a1, e1 := netip.ParseAddr(lo)
			a2, e2 := netip.ParseAddr(hi)
			if !ok || e1 != nil || e2 != nil {
				return unk, what.String() + " " + val
			}
			a := pk.dst
			if m.Option == "--src-range" {
				a = pk.src
			}
			return boolTri(!a.Less(a1) && !a2.Less(a), m.Negated), ""
		}
	case "recent":
		switch m.Option {
		case "--rcheck", "--update":
			// Session affinity: a client the list remembers goes to its endpoint, a new one
			// does not. Both happen; the remembered endpoint is one of the others anyway.
			if m.Negated {
				return unk, what.String()
			}
			return fork, "session affinity (recent " + m.Option + "): a returning client"
		case "--set", "--remove", "--name", "--seconds", "--reap", "--mask", "--rsource", "--rdest", "--hitcount", "--rttl":
			return yes, ""
		}
	case "icmp", "icmp6", "icmpv6":
		return no, "" // only TCP, UDP and SCTP are traced
	}
	return unk, strings.TrimSpace(what.String() + " " + strings.Join(m.Values, " "))
}

func portsTri(val string, port uint16, negated bool, what condText) (tri, string) {
	prs, ok := iptables.ParsePorts(val)
	if !ok {
		return unk, what.String() + " " + val
	}
	in := false
	for _, pr := range prs {
		in = in || pr.Contains(port)
	}
	return boolTri(in, negated), ""
}

// condText describes a condition for a note, built only when one is needed.
type condText struct{ m iptables.Match }

func (c condText) String() string {
	s := strings.TrimSpace(c.m.Module + " " + c.m.Option)
	if c.m.Negated {
		s = "! " + s
	}
	return s
}

func ifaceMatch(pattern, dev string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(dev, p)
	}
	return pattern == dev
}

const flagSYN = 1 << 1

func tcpFlags(s string) uint8 {
	var f uint8
	for _, w := range strings.Split(strings.ToUpper(s), ",") {
		switch w {
		case "FIN":
			f |= 1
		case "SYN":
			f |= flagSYN
		case "RST":
			f |= 4
		case "PSH":
			f |= 8
		case "ACK":
			f |= 16
		case "URG":
			f |= 32
		case "ALL":
			f |= 63
		}
	}
	return f
}

// addrType is the kernel's address type of a as the node sees it: LOCAL when the node owns
// it, MULTICAST, BROADCAST, else UNICAST. "" when the node's addresses were not captured.
func (t *tracer) addrType(nd *model.NodeData, a netip.Addr) string {
	switch {
	case a.IsMulticast():
		return "MULTICAST"
	case a.IsLoopback():
		return "LOCAL"
	}
	if nd.Routes != nil {
		for r := range nd.Routes.Covering("local", a) {
			switch r.Type {
			case "local":
				return "LOCAL"
			case "broadcast":
				if r.Dst.Bits() == a.BitLen() {
					return "BROADCAST"
				}
			}
		}
	}
	if nd.Addrs == nil {
		if nd.Routes != nil && nd.Routes.HasTable("local") {
			return "UNICAST"
		}
		return ""
	}
	if nd.Addrs.Owner(a) != nil {
		return "LOCAL"
	}
	if a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "BROADCAST"
	}
	return "UNICAST"
}

// nfx is where a chain walk is: the node, the table, and the capture the table came from.
type nfx struct {
	nd  *model.NodeData
	tab *iptables.Table
	cap string
}

// ruleRef cites an iptables rule.
func (x nfx) ruleRef(r iptables.Rule) *RuleRef {
	return &RuleRef{File: x.nd.Path(x.cap), Line: r.Line, Text: strings.TrimSpace(r.Raw())}
}

// ref cites line n of a node capture as it stands in the bundle.
func (t *tracer) ref(nd *model.NodeData, capture string, n int) *RuleRef {
	p := nd.Path(capture)
	if f := t.m.Bundle.File(p); f != nil && n > 0 {
		return &RuleRef{File: f.Path, Line: n, Text: strings.TrimSpace(f.Line(n))}
	}
	return &RuleRef{File: p, Line: n}
}
