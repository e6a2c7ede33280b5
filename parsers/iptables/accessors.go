package iptables

import (
	"net/netip"
	"strconv"
	"strings"
)

// Find returns the first match with the given module and option ("" module for the builtin
// options -s -d -p -i -o -f).
func (r Rule) Find(module, option string) (Match, bool) {
	if c, ok := r.find(module, option); ok {
		return c.m.match(), true
	}
	return Match{}, false
}

// find is Find without making the Match: c.m is it.
func (r Rule) find(module, option string) (matchCursor, bool) {
	for c := r.cursor(); c.advance(); {
		if c.m.Module == module && c.m.Option == option {
			return c, true
		}
	}
	return matchCursor{}, false
}

// HasModule reports whether the rule loads the match module ('-m name').
func (r Rule) HasModule(module string) bool {
	for c := r.cursor(); c.advance(); {
		if c.m.Module == module {
			return true
		}
	}
	return false
}

// Source is the -s prefix. ok is false when the rule has no -s or its value is not an
// address or prefix.
func (r Rule) Source() (p netip.Prefix, negated, ok bool) { return r.prefix("-s") }

// Destination is the -d prefix; see Source.
func (r Rule) Destination() (p netip.Prefix, negated, ok bool) { return r.prefix("-d") }

func (r Rule) prefix(opt string) (netip.Prefix, bool, bool) {
	c, found := r.find("", opt)
	m := &c.m
	if !found || m.n() != 1 {
		return netip.Prefix{}, false, false
	}
	p, err := ParsePrefix(m.value(0))
	if err != nil {
		return netip.Prefix{}, m.Negated, false
	}
	return p, m.Negated, true
}

// ParsePrefix parses an address as iptables prints it: "10.0.0.0/8", a bare address (a /32 or
// /128), or a dotted netmask "10.0.0.0/255.0.0.0" (contiguous masks only).
func ParsePrefix(s string) (netip.Prefix, error) {
	addr, mask, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !hasMask {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if bits, err := strconv.Atoi(mask); err == nil {
		return a.Prefix(bits)
	}
	m, err := netip.ParseAddr(mask)
	if err != nil || m.BitLen() != a.BitLen() {
		return netip.Prefix{}, &prefixError{s}
	}
	b := m.AsSlice()
	bits, seenZero := 0, false
	for _, x := range b {
		for k := 7; k >= 0; k-- {
			if x&(1<<k) != 0 {
				if seenZero {
					return netip.Prefix{}, &prefixError{s}
				}
				bits++
			} else {
				seenZero = true
			}
		}
	}
	return a.Prefix(bits)
}

type prefixError struct{ s string }

func (e *prefixError) Error() string { return "iptables: bad address/mask " + strconv.Quote(e.s) }

// Protocol is the -p value ("tcp", "udp", "6", ...).
func (r Rule) Protocol() (proto string, negated, ok bool) { return r.single("", "-p") }

// InInterface is the -i value (a trailing '+' is a wildcard).
func (r Rule) InInterface() (name string, negated, ok bool) { return r.single("", "-i") }

// OutInterface is the -o value.
func (r Rule) OutInterface() (name string, negated, ok bool) { return r.single("", "-o") }

func (r Rule) single(module, opt string) (string, bool, bool) {
	c, found := r.find(module, opt)
	m := &c.m
	if !found || m.n() != 1 {
		return "", false, false
	}
	return m.value(0), m.Negated, true
}

// Comment is the text of '-m comment --comment', or "".
func (r Rule) Comment() string {
	for c := r.cursor(); c.advance(); {
		if m := &c.m; m.Module == "comment" && m.Option == "--comment" && m.n() > 0 {
			return m.value(0)
		}
	}
	return ""
}

// PortRange is an inclusive port range; a single port has Lo == Hi.
type PortRange struct {
	Lo uint16 `json:"lo"`
	Hi uint16 `json:"hi"`
}

// Contains reports whether port lies in the range.
func (pr PortRange) Contains(port uint16) bool { return pr.Lo <= port && port <= pr.Hi }

// ParsePorts parses "80", "1000:2000", ":1024", "1024:", or a multiport list "80,443,8000:8080".
func ParsePorts(s string) ([]PortRange, bool) {
	var out []PortRange
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		var pr PortRange
		var ok bool
		if pr.Lo, ok = parsePort(lo, 0); !ok {
			return nil, false
		}
		pr.Hi = pr.Lo
		if isRange {
			if pr.Hi, ok = parsePort(hi, 65535); !ok || pr.Hi < pr.Lo {
				return nil, false
			}
		} else if lo == "" {
			return nil, false
		}
		out = append(out, pr)
	}
	return out, len(out) > 0
}

func parsePort(s string, empty uint16) (uint16, bool) {
	if s == "" {
		return empty, true
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// DPorts is the destination-port condition: '--dport' of tcp/udp/sctp, or '--dports' /
// '--ports' of multiport. ok is false when the rule has none or it does not parse.
func (r Rule) DPorts() (ports []PortRange, negated, ok bool) {
	return r.ports("--dport", "--destination-port", "--dports", "--destination-ports")
}

// SPorts is the source-port condition; see DPorts.
func (r Rule) SPorts() (ports []PortRange, negated, ok bool) {
	return r.ports("--sport", "--source-port", "--sports", "--source-ports")
}

// Ports is multiport's '--ports' (source or destination port).
func (r Rule) Ports() (ports []PortRange, negated, ok bool) {
	return r.ports("", "", "--ports", "")
}

func (r Rule) ports(single, singleLong, multi, multiLong string) ([]PortRange, bool, bool) {
	for c := r.cursor(); c.advance(); {
		m := &c.m
		var want bool
		switch m.Module {
		case "tcp", "udp", "sctp", "udplite":
			want = single != "" && (m.Option == single || m.Option == singleLong)
		case "multiport":
			want = m.Option == multi || (multiLong != "" && m.Option == multiLong)
		}
		if !want {
			continue
		}
		if m.n() != 1 {
			return nil, m.Negated, false
		}
		p, ok := ParsePorts(m.value(0))
		return p, m.Negated, ok
	}
	return nil, false, false
}

// Probability is the '-m statistic --mode random --probability P' value.
func (r Rule) Probability() (float64, bool) {
	if mode, _, _ := r.single("statistic", "--mode"); mode != "random" {
		return 0, false
	}
	s, _, ok := r.single("statistic", "--probability")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// Nth is '-m statistic --mode nth --every N --packet P'.
func (r Rule) Nth() (every, packet int, ok bool) {
	if mode, _, _ := r.single("statistic", "--mode"); mode != "nth" {
		return 0, 0, false
	}
	e, _, ok1 := r.single("statistic", "--every")
	p, _, ok2 := r.single("statistic", "--packet")
	if !ok1 {
		return 0, 0, false
	}
	every, err := strconv.Atoi(e)
	if err != nil {
		return 0, 0, false
	}
	if ok2 {
		if packet, err = strconv.Atoi(p); err != nil {
			return 0, 0, false
		}
	}
	return every, packet, true
}

// SetMatch is one '-m set [!] --match-set NAME src,dst' condition.
type SetMatch struct {
	Name    string
	Flags   []string // "src"/"dst" per dimension of the set
	Negated bool
}

// MatchSets lists the rule's ipset conditions in order.
func (r Rule) MatchSets() []SetMatch {
	var out []SetMatch
	for c := r.cursor(); c.advance(); {
		m := &c.m
		if m.Module != "set" || (m.Option != "--match-set" && m.Option != "--set") || m.n() < 2 {
			continue
		}
		out = append(out, SetMatch{Name: m.value(0), Flags: strings.Split(m.value(1), ","), Negated: m.Negated})
	}
	return out
}

// Mark is '-m mark --mark value[/mask]'; mask is 0xffffffff when absent.
func (r Rule) Mark() (value, mask uint32, negated, ok bool) {
	s, neg, found := r.single("mark", "--mark")
	if !found {
		return 0, 0, false, false
	}
	v, m, ok := ParseMark(s)
	return v, m, neg, ok
}

// ParseMark parses "value[/mask]" (hex or decimal); the mask defaults to 0xffffffff.
func ParseMark(s string) (value, mask uint32, ok bool) {
	vs, ms, hasMask := strings.Cut(s, "/")
	v, err := strconv.ParseUint(vs, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mask = 0xffffffff
	if hasMask {
		m, err := strconv.ParseUint(ms, 0, 32)
		if err != nil {
			return 0, 0, false
		}
		mask = uint32(m)
	}
	return uint32(v), mask, true
}

// CTStates is '-m conntrack --ctstate' or '-m state --state', split on commas.
func (r Rule) CTStates() (states []string, negated, ok bool) {
	s, neg, found := r.single("conntrack", "--ctstate")
	if !found {
		s, neg, found = r.single("state", "--state")
	}
	if !found {
		return nil, false, false
	}
	return strings.Split(s, ","), neg, true
}

// SrcType is '-m addrtype --src-type' (e.g. LOCAL).
func (r Rule) SrcType() (typ string, negated, ok bool) { return r.single("addrtype", "--src-type") }

// DstType is '-m addrtype --dst-type'.
func (r Rule) DstType() (typ string, negated, ok bool) { return r.single("addrtype", "--dst-type") }

// Option returns the values of the target option name and whether it is present.
func (t Target) Option(name string) ([]string, bool) {
	for _, o := range t.Options {
		if o.Name == name {
			return o.Values, true
		}
	}
	return nil, false
}

func (t Target) single(name string) (string, bool) {
	v, ok := t.Option(name)
	if !ok || len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// NATRange is a DNAT/SNAT '--to-destination'/'--to-source' value: addresses Min..Max (Max ==
// Min for one address; both invalid when only ports are given) and ports MinPort..MaxPort (0
// when the rule keeps the packet's port).
type NATRange struct {
	Min, Max         netip.Addr
	MinPort, MaxPort uint16
}

// ToDestination is the DNAT '--to-destination' value.
func (t Target) ToDestination() (NATRange, bool) { return t.natRange("--to-destination") }

// ToSource is the SNAT '--to-source' value.
func (t Target) ToSource() (NATRange, bool) { return t.natRange("--to-source") }

// ToPorts is the MASQUERADE/REDIRECT '--to-ports' value.
func (t Target) ToPorts() (PortRange, bool) {
	s, ok := t.single("--to-ports")
	if !ok {
		return PortRange{}, false
	}
	lo, hi, isRange := strings.Cut(s, "-")
	var pr PortRange
	if pr.Lo, ok = parsePort(lo, 0); !ok || lo == "" {
		return PortRange{}, false
	}
	pr.Hi = pr.Lo
	if isRange {
		if pr.Hi, ok = parsePort(hi, 0); !ok || hi == "" || pr.Hi < pr.Lo {
			return PortRange{}, false
		}
	}
	return pr, true
}

func (t Target) natRange(opt string) (NATRange, bool) {
	s, ok := t.single(opt)
	if !ok {
		return NATRange{}, false
	}
	return ParseNATRange(s)
}

// ParseNATRange parses "10.0.0.1", "10.0.0.1:80", "10.0.0.1-10.0.0.5:80-90", ":80",
// "[fd00::1]:80" and "fd00::1".
func ParseNATRange(s string) (NATRange, bool) {
	var r NATRange
	addrs, ports := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return r, false
		}
		addrs, ports = s[1:end], s[end+1:]
		if ports != "" {
			if ports[0] != ':' {
				return r, false
			}
			ports = ports[1:]
			if ports == "" {
				return r, false
			}
		}
	case strings.Count(s, ":") == 1:
		addrs, ports, _ = strings.Cut(s, ":")
		if ports == "" {
			return r, false
		}
	}
	if addrs != "" {
		lo, hi, isRange := strings.Cut(addrs, "-")
		var err error
		if r.Min, err = netip.ParseAddr(lo); err != nil {
			return NATRange{}, false
		}
		r.Max = r.Min
		if isRange {
			if r.Max, err = netip.ParseAddr(hi); err != nil || r.Max.Less(r.Min) || r.Max.BitLen() != r.Min.BitLen() {
				return NATRange{}, false
			}
		}
	}
	if ports != "" {
		lo, hi, isRange := strings.Cut(ports, "-")
		var ok bool
		if r.MinPort, ok = parsePort(lo, 0); !ok || lo == "" {
			return NATRange{}, false
		}
		r.MaxPort = r.MinPort
		if isRange {
			if r.MaxPort, ok = parsePort(hi, 0); !ok || hi == "" || r.MaxPort < r.MinPort {
				return NATRange{}, false
			}
		}
	}
	if !r.Min.IsValid() && r.MinPort == 0 {
		return NATRange{}, false
	}
	return r, true
}

// RandomFully reports MASQUERADE/SNAT '--random-fully'.
func (t Target) RandomFully() bool { _, ok := t.Option("--random-fully"); return ok }

// RejectWith is the REJECT '--reject-with' value; iptables' default when absent is
// icmp-port-unreachable.
func (t Target) RejectWith() string {
	if s, ok := t.single("--reject-with"); ok {
		return s
	}
	return "icmp-port-unreachable"
}

// MarkOp is the effect of a MARK target in XMARK form: new = (old &^ mask) ^ value.
// --set-xmark, --set-mark, --or-mark, --and-mark and --xor-mark are all normalised to it, as
// the kernel does.
func (t Target) MarkOp() (value, mask uint32, ok bool) {
	if t.Name != "MARK" && t.Name != "CONNMARK" {
		return 0, 0, false
	}
	for _, o := range t.Options {
		if len(o.Values) != 1 {
			continue
		}
		v, m, ok := ParseMark(o.Values[0])
		if !ok {
			return 0, 0, false
		}
		switch o.Name {
		case "--set-xmark":
			return v, m, true
		case "--set-mark":
			return v, m | v, true
		case "--or-mark":
			return v, v, true
		case "--and-mark":
			return 0, ^v, true
		case "--xor-mark":
			return v, 0, true
		}
	}
	return 0, 0, false
}

// IsChainJump reports whether the target is a user chain of the table rather than a builtin
// target.
func (t Target) IsChainJump(tab *Table) bool {
	return t.Name != "" && !isBuiltinTarget(t.Name) && tab.Chain(t.Name) != nil
}
