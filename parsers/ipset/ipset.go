// Package ipset parses 'ipset list' and 'ipset save' output into sets with their type, header
// options and members (each with its line number), and answers whether a packet matches a set
// the way '-m set --match-set NAME dst,dst' does, for the set types kube-proxy and the CNIs use.
package ipset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/netsift/netsift/parsers/diag"
)

// Sets is one capture.
type Sets struct {
	Sets []*Set `json:"sets"`
}

// Set is one ipset.
type Set struct {
	Name     string   `json:"name"`
	Line     int      `json:"line"` // the "Name:" or "create" line
	Type     string   `json:"type"` // "hash:ip,port", "bitmap:port", ...
	Revision int      `json:"revision,omitempty"`
	Header   []Option `json:"header,omitempty"` // creation options in order
	// Only 'ipset list' prints these; -1 when the capture does not say.
	SizeInMemory int       `json:"size_in_memory"`
	References   int       `json:"references"`
	Entries      int       `json:"entries"` // "Number of entries"
	Members      []*Member `json:"members"`
}

// Option is one header option ("family inet", "comment").
type Option struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Member is one entry of a set.
type Member struct {
	Line    int      `json:"line"`
	Elem    string   `json:"elem"`              // "10.96.0.1,tcp:443"
	Options []Option `json:"options,omitempty"` // timeout, packets, bytes, comment, ...
	Nomatch bool     `json:"nomatch,omitempty"`
	parts   []part   // the parsed element, one per dimension; nil if it did not parse
}

// part is one dimension of an element: an address/prefix, or a protocol and port range.
type part struct {
	prefix   netip.Prefix
	proto    string
	lo, hi   uint16
	isPort   bool
	anyProto bool // bitmap:port entries carry no protocol
}

// Set returns the set with the given name, or nil.
func (s *Sets) Set(name string) *Set {
	for _, x := range s.Sets {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// Option returns the value of a header option and whether it is present.
func (s *Set) Option(name string) (string, bool) {
	for _, o := range s.Header {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

// Family is "inet" or "inet6" (the default, inet, when the header does not say).
func (s *Set) Family() string {
	if f, ok := s.Option("family"); ok {
		return f
	}
	return "inet"
}

// Dimensions are the parts of the set's type after the method: "hash:ip,port,ip" gives
// [ip port ip].
func (s *Set) Dimensions() []string {
	_, dims, ok := strings.Cut(s.Type, ":")
	if !ok || dims == "" {
		return nil
	}
	return strings.Split(dims, ",")
}

// headerFlags are the header options that take no value.
var headerFlags = map[string]bool{"comment": true, "counters": true, "skbinfo": true, "forceadd": true}

// memberFlags are the member options that take no value.
var memberFlags = map[string]bool{"nomatch": true}

// Parse reads 'ipset list' or 'ipset save' output (detected per line, so a concatenation of
// both also parses). Malformed lines become warnings; the error is non-nil only when reading r
// fails.
func Parse(r io.Reader) (*Sets, []diag.Warning, error) {
	return ParseShared(r, nil)
}

// Cache shares members between the captures parsed with it. Every node's kube-proxy (IPVS mode)
// keeps the same sets, with a member per Service port: a member listed the same as in the last
// capture, at the same place, is that capture's, not a copy. Shared members must not be
// modified. Safe for concurrent use; the zero value is ready.
type Cache struct {
	last atomic.Pointer[Sets]
}

// ParseShared is Parse sharing members with the last capture parsed with c (nil: no sharing).
func ParseShared(r io.Reader, c *Cache) (*Sets, []diag.Warning, error) {
	p := &parser{out: &Sets{Sets: []*Set{}}}
	if c != nil {
		p.ref = c.last.Load()
		defer func() {
			if p.err == nil {
				c.last.Store(p.out)
			}
		}()
	}
	return p.parse(r)
}

func (p *parser) parse(r io.Reader) (*Sets, []diag.Warning, error) {
	br := bufio.NewReader(r)
	n := 0
	for {
		s, err := br.ReadString('\n')
		if len(s) > 0 {
			n++
			p.line(n, strings.TrimRight(s, "\r\n"))
		}
		if err != nil {
			p.finish()
			if !errors.Is(err, io.EOF) {
				p.err = err
				return p.out, p.warns, err
			}
			return p.out, p.warns, nil
		}
	}
}

type parser struct {
	out     *Sets
	warns   []diag.Warning
	cur     *Set // set whose 'ipset list' block is being read
	members bool // after "Members:"
	err     error

	ref    *Sets // the last capture parsed with the Cache
	refOf  *Set  // the set refSet was found for
	refSet *Set  // ref's set of refOf's name
}

func (p *parser) warn(n int, format string, args ...any) {
	p.warns = append(p.warns, diag.Warnf(n, format, args...))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func (p *parser) finish() {
	if p.cur != nil && p.cur.Entries >= 0 && p.cur.Entries != len(p.cur.Members) {
		p.warn(p.cur.Line, "set %q says %d entries but lists %d", p.cur.Name, p.cur.Entries, len(p.cur.Members))
	}
	p.cur, p.members = nil, false
}

func (p *parser) newSet(n int, name string) *Set {
	s := &Set{Name: name, Line: n, SizeInMemory: -1, References: -1, Entries: -1, Members: []*Member{}}
	if old := p.out.Set(name); old != nil {
		p.warn(n, "set %q defined twice (first at line %d)", name, old.Line)
	}
	p.out.Sets = append(p.out.Sets, s)
	return s
}

func (p *parser) line(n int, s string) {
	t := strings.TrimSpace(s)
	if t == "" {
		// A blank line ends a list block's members.
		if p.cur != nil && p.members {
			p.finish()
		}
		return
	}
	if key, val, ok := strings.Cut(t, ":"); ok && isListKey(key) && !(p.members && key != "Name") {
		p.listHeader(n, key, strings.TrimSpace(val))
		return
	}
	if p.cur != nil && p.members {
		p.member(n, p.cur, t)
		return
	}
	f := fields(t)
	switch f[0] {
	case "create", "-N", "-exist":
		p.finish()
		if len(f) < 3 {
			p.warn(n, "create without a name and type")
			return
		}
		set := p.newSet(n, f[1])
		set.Type = f[2]
		set.Header = p.options(n, f[3:], headerFlags)
		set.Entries = -1
	case "add", "-A":
		p.finish()
		if len(f) < 3 {
			p.warn(n, "add without a set name and element")
			return
		}
		set := p.out.Set(f[1])
		if set == nil {
			p.warn(n, "add to set %q that was not created", f[1])
			return
		}
		p.member(n, set, strings.Join(f[2:], " "))
	default:
		p.warn(n, "unrecognised line %q", clip(t))
	}
}

func isListKey(k string) bool {
	switch k {
	case "Name", "Type", "Revision", "Header", "Size in memory", "References", "Number of entries", "Members":
		return true
	}
	return false
}

func (p *parser) listHeader(n int, key, val string) {
	if key == "Name" {
		p.finish()
		if val == "" {
			p.warn(n, "set without a name")
		}
		p.cur = p.newSet(n, val)
		return
	}
	if p.cur == nil {
		p.warn(n, "%q before any \"Name:\" line", key)
		return
	}
	atoi := func() int {
		v, err := strconv.Atoi(val)
		if err != nil {
			p.warn(n, "bad %s %q", key, val)
			return -1
		}
		return v
	}
	switch key {
	case "Type":
		p.cur.Type = val
	case "Revision":
		p.cur.Revision = atoi()
	case "Header":
		p.cur.Header = p.options(n, fields(val), headerFlags)
	case "Size in memory":
		p.cur.SizeInMemory = atoi()
	case "References":
		p.cur.References = atoi()
	case "Number of entries":
		p.cur.Entries = atoi()
	case "Members":
		p.members = true
	}
}

// options parses "name [value]" pairs; names in flags take no value.
func (p *parser) options(n int, f []string, flags map[string]bool) []Option {
	var out []Option
	for i := 0; i < len(f); i++ {
		if flags[f[i]] {
			out = append(out, Option{Name: f[i]})
			continue
		}
		if i+1 >= len(f) {
			p.warn(n, "option %q without a value", f[i])
			out = append(out, Option{Name: f[i]})
			break
		}
		out = append(out, Option{Name: f[i], Value: f[i+1]})
		i++
	}
	return out
}

// fields splits on blanks, keeping a double-quoted value (a comment) as one field without its
// quotes.
func fields(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				out = append(out, s[i+1:])
				break
			}
			out = append(out, s[i+1:i+1+end])
			i += end + 2
			continue
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		out = append(out, s[start:i])
	}
	return out
}

func (p *parser) member(n int, set *Set, text string) {
	f := fields(text)
	if len(f) == 0 {
		return
	}
	if len(f) == 1 {
		if rm := p.refMember(set, n); rm != nil && rm.Elem == f[0] {
			set.Members = append(set.Members, rm)
			return
		}
	}
	m := &Member{Line: n, Elem: f[0]}
	for _, o := range p.options(n, f[1:], memberFlags) {
		if o.Name == "nomatch" {
			m.Nomatch = true
			continue
		}
		m.Options = append(m.Options, o)
	}
	parts, err := parseElem(set, m.Elem)
	if err != nil {
		p.warn(n, "set %q member %q: %v", set.Name, clip(m.Elem), err)
	}
	m.parts = parts
	set.Members = append(set.Members, m)
}

// refMember is the last capture's member at the place of the one on line n of set, when it is
// a plain member (no options) that parsed, on the same line of a set of the same name and type:
// it is then what this one parses to if its element is the same.
func (p *parser) refMember(set *Set, n int) *Member {
	if p.ref == nil {
		return nil
	}
	if p.refOf != set {
		p.refOf, p.refSet = set, p.ref.Set(set.Name)
	}
	rs := p.refSet
	if rs == nil || rs.Type != set.Type || len(set.Members) >= len(rs.Members) {
		return nil
	}
	rm := rs.Members[len(set.Members)]
	if rm.Line != n || rm.Options != nil || rm.Nomatch || rm.parts == nil {
		return nil
	}
	return rm
}

// parseElem parses an element against the set's dimensions.
func parseElem(set *Set, elem string) ([]part, error) {
	dims := set.Dimensions()
	if len(dims) == 0 {
		return nil, fmt.Errorf("set type %q unknown", set.Type)
	}
	bitmap := strings.HasPrefix(set.Type, "bitmap:")
	vals := strings.Split(elem, ",")
	if len(vals) != len(dims) {
		return nil, fmt.Errorf("%d parts for type %s", len(vals), set.Type)
	}
	parts := make([]part, len(dims))
	for i, d := range dims {
		v := vals[i]
		switch d {
		case "ip", "net":
			pf, err := parseAddr(v)
			if err != nil {
				return nil, err
			}
			parts[i] = part{prefix: pf}
		case "port":
			pt, err := parsePortPart(v, bitmap)
			if err != nil {
				return nil, err
			}
			parts[i] = pt
		default:
			return nil, fmt.Errorf("dimension %q not supported", d)
		}
	}
	return parts, nil
}

func parseAddr(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, err
		}
		return pf.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePortPart parses "tcp:443", "udp:53", "443" (TCP unless a bitmap, which has no
// protocol) and ranges "tcp:80-90".
func parsePortPart(v string, bitmap bool) (part, error) {
	pt := part{isPort: true, proto: "tcp", anyProto: bitmap}
	if proto, port, ok := strings.Cut(v, ":"); ok {
		pt.proto, pt.anyProto, v = proto, false, port
	}
	lo, hi, isRange := strings.Cut(v, "-")
	l, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		if pt.proto == "icmp" || pt.proto == "icmpv6" || pt.proto == "icmp6" {
			return pt, nil // ICMP type names; kept, never match a port
		}
		return part{}, fmt.Errorf("bad port %q", lo)
	}
	pt.lo, pt.hi = uint16(l), uint16(l)
	if isRange {
		h, err := strconv.ParseUint(hi, 10, 16)
		if err != nil || h < l {
			return part{}, fmt.Errorf("bad port range %q", v)
		}
		pt.hi = uint16(h)
	}
	return pt, nil
}

// Packet is what a set match looks at.
type Packet struct {
	Src, Dst         netip.Addr
	Protocol         string // "tcp", "udp", "sctp"
	SrcPort, DstPort uint16
}

// Match reports whether the packet is in the set, with flags as given to --match-set ("src",
// "dst" per dimension, e.g. [dst dst] for KUBE-CLUSTER-IP). A nomatch entry that is the most
// specific match excludes the packet, as in hash:net sets. The error says why the set cannot be
// evaluated (unsupported type or dimension, too few flags, unparsed members); a tracer should
// report that rather than guess.
func (s *Set) Match(pk Packet, flags []string) (bool, error) {
	dims := s.Dimensions()
	if len(dims) == 0 {
		return false, fmt.Errorf("ipset %s: type %q not supported", s.Name, s.Type)
	}
	for _, d := range dims {
		if d != "ip" && d != "net" && d != "port" {
			return false, fmt.Errorf("ipset %s: dimension %q not supported", s.Name, d)
		}
	}
	if len(flags) < len(dims) {
		return false, fmt.Errorf("ipset %s: %d flags for %d dimensions", s.Name, len(flags), len(dims))
	}
	netmask := -1
	if v, ok := s.Option("netmask"); ok {
		if nm, err := strconv.Atoi(v); err == nil {
			netmask = nm
		}
	}
	best, bestLen, found := (*Member)(nil), -1, false
	var skipped int
	for _, m := range s.Members {
		if m.parts == nil {
			skipped++
			continue
		}
		specificity, ok := 0, true
		for i, pt := range m.parts {
			src := flags[i] == "src"
			if pt.isPort {
				port := pk.DstPort
				if src {
					port = pk.SrcPort
				}
				if (!pt.anyProto && !strings.EqualFold(pt.proto, pk.Protocol)) || port < pt.lo || port > pt.hi {
					ok = false
					break
				}
				continue
			}
			a := pk.Dst
			if src {
				a = pk.Src
			}
			if netmask >= 0 && dims[i] == "ip" {
				if pa, err := a.Prefix(netmask); err == nil {
					a = pa.Addr()
				}
			}
			if !pt.prefix.Contains(a) {
				ok = false
				break
			}
			specificity += pt.prefix.Bits()
		}
		if ok && specificity > bestLen {
			best, bestLen, found = m, specificity, true
		}
	}
	if found {
		return !best.Nomatch, nil
	}
	if skipped > 0 {
		return false, fmt.Errorf("ipset %s: %d members could not be parsed", s.Name, skipped)
	}
	return false, nil
}

// Contains is Match with the usual kube-proxy flags: every dimension taken from the
// destination except a third address dimension, which is the source (KUBE-LOOP-BACK's
// "dst,dst,src").
func (s *Set) Contains(pk Packet) (bool, error) {
	dims := s.Dimensions()
	flags := make([]string, len(dims))
	for i := range flags {
		flags[i] = "dst"
		if i == 2 {
			flags[i] = "src"
		}
	}
	return s.Match(pk, flags)
}
