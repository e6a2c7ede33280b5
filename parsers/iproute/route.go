package iproute

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"io"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/netsift/netsift/parsers/diag"
)

// Routes is `ip route show table all` (or `ip -j route show table all`).
//
// The routes are held in chunks of routeChunk, and a chunk that reads the same as the chunk at
// the same place of the last capture parsed with the same RouteCache is that capture's: an IPVS
// node's local table has a host route per ClusterIP, the same on fifty nodes. Use Len, At, All
// and List; shared chunks are never written to.
type Routes struct {
	Format   Format
	Warnings []diag.Warning

	n      int
	chunks [][]Route

	idx    atomic.Pointer[routeIndex] // built on the first Lookup
	covers atomic.Pointer[coverIndex] // built on the first Covering or HasTable
}

// routeChunk routes make a chunk: a few differences between two nodes' routes (their own
// addresses and podCIDR) cost a few chunks each, and the rest is shared. A route is 256 bytes:
// on large, fifty nodes' unshared chunks were 6.4 MB at 256 routes a chunk, 3.6 MB at 64.
const routeChunk = 64

// Len is the number of routes.
func (rs *Routes) Len() int { return rs.n }

// At is route i (0-based), in print order.
func (rs *Routes) At(i int) Route { return rs.chunks[i/routeChunk][i%routeChunk] }

// All yields every route with its index, in print order.
func (rs *Routes) All() iter.Seq2[int, Route] {
	return func(yield func(int, Route) bool) {
		i := 0
		for _, c := range rs.chunks {
			for _, r := range c {
				if !yield(i, r) {
					return
				}
				i++
			}
		}
	}
}

// List is the routes as one slice (a copy).
func (rs *Routes) List() []Route {
	out := make([]Route, 0, rs.n)
	for _, c := range rs.chunks {
		out = append(out, c...)
	}
	return out
}

// MarshalJSON writes the routes as one list.
func (rs *Routes) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Format   Format         `json:"format"`
		Routes   []Route        `json:"routes"`
		Warnings []diag.Warning `json:"warnings,omitempty"`
	}{rs.Format, rs.List(), rs.Warnings})
}

// RouteCache shares routes between the captures parsed with it (see Routes). Safe for
// concurrent use; the zero value is ready.
type RouteCache struct {
	last atomic.Pointer[Routes]
}

// setRoutes puts routes into rs's chunks, taking each chunk that equals ref's at the same place
// from ref, and copying the others at their exact size (routes is scratch: a chunk that kept a
// piece of it would keep all of it).
func (rs *Routes) setRoutes(routes []Route, ref *Routes) {
	rs.n = len(routes)
	rs.chunks = make([][]Route, 0, (len(routes)+routeChunk-1)/routeChunk)
	for k := 0; k*routeChunk < len(routes); k++ {
		part := routes[k*routeChunk : min((k+1)*routeChunk, len(routes))]
		if ref != nil && k < len(ref.chunks) && slices.EqualFunc(part, ref.chunks[k], sameRoute) {
			rs.chunks = append(rs.chunks, ref.chunks[k])
			continue
		}
		rs.chunks = append(rs.chunks, slices.Clone(part))
	}
}

// sameRoute reports whether a and b are equal in every field (TestSameRouteFields checks that
// it looks at each).
func sameRoute(a, b Route) bool {
	return a.Line == b.Line && a.Type == b.Type && a.Dst == b.Dst && a.Gateway == b.Gateway &&
		a.Dev == b.Dev && slices.Equal(a.Flags, b.Flags) && a.Protocol == b.Protocol &&
		a.Scope == b.Scope && a.PrefSrc == b.PrefSrc && a.Table == b.Table && a.Metric == b.Metric &&
		a.Pref == b.Pref && a.MTU == b.MTU &&
		slices.EqualFunc(a.Nexthops, b.Nexthops, func(x, y Nexthop) bool {
			return x.Gateway == y.Gateway && x.Dev == y.Dev && x.Weight == y.Weight && slices.Equal(x.Flags, y.Flags)
		})
}

// Route is one kernel route. Type is "unicast" unless iproute2 printed another
// (local, broadcast, blackhole, unreachable, prohibit, throw, multicast, anycast, nat).
type Route struct {
	Line     int          `json:"line"`
	Type     string       `json:"type"`
	Dst      netip.Prefix `json:"dst"`
	Gateway  netip.Addr   `json:"gateway,omitzero"`
	Dev      string       `json:"dev,omitempty"`
	Flags    []string     `json:"flags,omitempty"` // onlink, linkdown, dead, pervasive, offload…
	Protocol string       `json:"protocol,omitempty"`
	Scope    string       `json:"scope,omitempty"`
	PrefSrc  netip.Addr   `json:"prefsrc,omitzero"`
	Table    string       `json:"table"` // "main" when iproute2 printed none
	Metric   uint32       `json:"metric,omitempty"`
	Pref     string       `json:"pref,omitempty"`
	MTU      int          `json:"mtu,omitempty"`
	Nexthops []Nexthop    `json:"nexthops,omitempty"`
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Gateway netip.Addr `json:"gateway,omitzero"`
	Dev     string     `json:"dev,omitempty"`
	Weight  int        `json:"weight,omitempty"`
	Flags   []string   `json:"flags,omitempty"`
}

// Covers reports whether a packet to addr matches this route's destination.
func (r Route) Covers(addr netip.Addr) bool {
	return r.Dst.IsValid() && r.Dst.Contains(addr.Unmap())
}

// OnLink reports whether the gateway is declared directly reachable on Dev (`onlink`).
func (r Route) OnLink() bool { return hasString(r.Flags, "onlink") }

// Drops reports whether the route discards what it matches (blackhole, unreachable, prohibit).
func (r Route) Drops() bool {
	return r.Type == "blackhole" || r.Type == "unreachable" || r.Type == "prohibit"
}

// InTable yields the routes of one table ("main", "local", "100"…) in print order.
func (rs *Routes) InTable(table string) iter.Seq[Route] {
	return func(yield func(Route) bool) {
		for _, r := range rs.All() {
			if r.Table == table && !yield(r) {
				return
			}
		}
	}
}

// HasTable reports whether any route is in table.
func (rs *Routes) HasTable(table string) bool { return rs.coverIndex().tables[table] != nil }

// Covering yields the routes of table whose destination covers addr, in the order they were
// printed. An IPVS node's local table holds a host route per ClusterIP: those are found by
// address, not by reading them all.
func (rs *Routes) Covering(table string, addr netip.Addr) iter.Seq[Route] {
	return func(yield func(Route) bool) {
		t := rs.coverIndex().tables[table]
		if t == nil {
			return
		}
		host := t.host.find(addr.Unmap())
		wide := t.wide
		for len(host) > 0 || len(wide) > 0 {
			var i int32
			if len(wide) == 0 || len(host) > 0 && host[0].i < wide[0] {
				i, host = host[0].i, host[1:]
			} else {
				i, wide = wide[0], wide[1:]
			}
			if r := rs.At(int(i)); r.Covers(addr) && !yield(r) {
				return
			}
		}
	}
}

// coverIndex has, per table, the positions of its host routes by address and of its other
// routes, each in print order.
type coverIndex struct {
	tables map[string]*coverTable
}

type coverTable struct {
	host addrIndex
	wide []int32
}

// coverIndex is built once, on first use.
func (rs *Routes) coverIndex() *coverIndex {
	if ix := rs.covers.Load(); ix != nil {
		return ix
	}
	ix := &coverIndex{tables: map[string]*coverTable{}}
	for i, r := range rs.All() {
		t := ix.tables[r.Table]
		if t == nil {
			t = &coverTable{}
			ix.tables[r.Table] = t
		}
		if r.Dst.IsValid() && r.Dst.Bits() == r.Dst.Addr().BitLen() {
			t.host = append(t.host, addrPos{r.Dst.Addr(), int32(i)})
		} else {
			t.wide = append(t.wide, int32(i))
		}
	}
	for _, t := range ix.tables {
		t.host = newAddrIndex(t.host)
	}
	rs.covers.Store(ix)
	return ix
}

// Lookup returns the longest-prefix match for addr in table among unicast-like routes, lowest
// metric first on ties; ok is false when nothing matches. Types that end the lookup (blackhole,
// unreachable, prohibit, throw) are returned as they are: the caller decides what they mean.
func (rs *Routes) Lookup(table string, addr netip.Addr) (Route, bool) {
	ix := rs.idx.Load()
	if ix == nil {
		built := rs.index()
		ix = &built
		rs.idx.Store(ix)
	}
	t := (*ix)[table]
	if t == nil {
		return Route{}, false
	}
	a := addr.Unmap()
	if a.Is4() {
		if i, ok := t.lookup4(a.As4()); ok {
			return rs.At(i), true
		}
		return Route{}, false
	}
	for _, bits := range t.bits {
		if bits > a.BitLen() {
			continue // a length of the other family (Prefix would build an error to say so)
		}
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if i, ok := t.v6[p]; ok {
			return rs.At(int(i)), true
		}
	}
	return Route{}, false
}

// routeIndex is, per table, the route Lookup picks for each destination prefix, and the prefix
// lengths present, longest first: a lookup is one search per length, not a scan, so a node
// with a route to each of 2,000 podCIDRs resolves thousands of addresses quickly.
type routeIndex map[string]*tableIndex

// tableIndex holds an IPv4 prefix as a key of 8 bytes (its length, then its address) in a
// sorted slice, searched by halves, with its route's index beside it: 12 bytes a route where a
// map of netip.Prefix took ~80, and an IPVS node has a host route per ClusterIP (fifty nodes'
// 600,000 routes on large-ipvs). IPv6 prefixes, few, are in a map.
type tableIndex struct {
	bits   []int // lengths present, longest first (both families)
	keys4  []uint64
	route4 []int32 // route4[k] is the route of keys4[k]
	v6     map[netip.Prefix]int32
}

func key4(bits int, addr uint32) uint64 { return uint64(bits)<<32 | uint64(addr) }

func (t *tableIndex) lookup4(a [4]byte) (int, bool) {
	addr := binary.BigEndian.Uint32(a[:])
	for _, bits := range t.bits {
		if bits > 32 {
			continue
		}
		var masked uint32
		if bits > 0 {
			masked = addr &^ (1<<(32-bits) - 1)
		}
		if k, ok := slices.BinarySearch(t.keys4, key4(bits, masked)); ok {
			return int(t.route4[k]), true
		}
	}
	return 0, false
}

func (rs *Routes) index() routeIndex {
	type cand struct {
		key    uint64
		metric uint32
		route  int32
	}
	cands := map[string][]cand{}
	ix := routeIndex{}
	for i, r := range rs.All() {
		if !r.Dst.IsValid() || r.Type == "broadcast" || r.Type == "multicast" {
			continue
		}
		t := ix[r.Table]
		if t == nil {
			t = &tableIndex{}
			ix[r.Table] = t
		}
		p := r.Dst.Masked()
		if !slices.Contains(t.bits, p.Bits()) {
			t.bits = append(t.bits, p.Bits())
		}
		if p.Addr().Is4() {
			a := p.Addr().As4()
			cands[r.Table] = append(cands[r.Table], cand{key4(p.Bits(), binary.BigEndian.Uint32(a[:])), r.Metric, int32(i)})
			continue
		}
		if t.v6 == nil {
			t.v6 = map[netip.Prefix]int32{}
		}
		if j, ok := t.v6[p]; ok {
			if r.Metric < rs.At(int(j)).Metric {
				t.v6[p] = int32(i) // on equal metrics the first one printed wins
			}
			continue
		}
		t.v6[p] = int32(i)
	}
	for table, t := range ix {
		slices.SortFunc(t.bits, func(a, b int) int { return b - a })
		cs := cands[table]
		// The lowest metric wins, and on equal metrics the first one printed.
		slices.SortFunc(cs, func(a, b cand) int {
			return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.metric, b.metric), cmp.Compare(a.route, b.route))
		})
		for k, c := range cs {
			if k > 0 && c.key == cs[k-1].key {
				continue
			}
			t.keys4 = append(t.keys4, c.key)
			t.route4 = append(t.route4, c.route)
		}
		t.keys4, t.route4 = slices.Clip(t.keys4), slices.Clip(t.route4)
	}
	return ix
}

var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "blackhole": true, "unreachable": true,
	"prohibit": true, "throw": true, "multicast": true, "anycast": true, "nat": true,
}

// ParseRoutes reads `ip route show table all` in JSON or text form.
func ParseRoutes(r io.Reader) (*Routes, error) {
	return ParseRoutesShared(r, nil)
}

// ParseRoutesShared is ParseRoutes sharing routes with the last capture parsed with c (nil: no
// sharing).
func ParseRoutesShared(r io.Reader, c *RouteCache) (*Routes, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &Routes{Format: format}
	routes := parseRoutes(data, format, func(w diag.Warning) { out.Warnings = append(out.Warnings, w) })
	if c == nil {
		out.setRoutes(routes, nil)
		return out, nil
	}
	out.setRoutes(routes, c.last.Load())
	c.last.Store(out)
	return out, nil
}

// parseRoutes parses every route into one slice, scratch for setRoutes.
func parseRoutes(data []byte, format Format, warn func(diag.Warning)) []Route {
	// Room for every route at once: an IPVS node lists a host route per ClusterIP.
	n := bytes.Count(data, []byte{'\n'}) + 1
	if format == FormatJSON {
		n = bytes.Count(data, []byte(`"dst"`))
	}
	out := make([]Route, 0, n)
	// "default" carries no family: take it from the route's own addresses, else from the routes
	// before it (iproute2 prints all IPv4 tables before IPv6 ones).
	sawV6 := false
	finish := func(rt *Route, dst string) bool {
		v6 := sawV6 || rt.Gateway.Is6() || rt.PrefSrc.Is6() || rt.Pref != ""
		for _, nh := range rt.Nexthops {
			v6 = v6 || nh.Gateway.Is6()
		}
		if rt.Gateway.Is4() || rt.PrefSrc.Is4() {
			v6 = false
		}
		p, err := parsePrefix(dst, v6)
		if err != nil {
			warn(diag.Warnf(rt.Line, "route: bad destination %q", dst))
			return false
		}
		rt.Dst = p
		if p.Addr().Is6() {
			sawV6 = true
		}
		if rt.Type == "" {
			rt.Type = "unicast"
		}
		if rt.Table == "" {
			rt.Table = "main"
		}
		return true
	}
	if format == FormatJSON {
		jsonElements(data, warn, func(o jobj) {
			rt := Route{
				Line:     o.line,
				Type:     keep(o.str("type")),
				Dev:      keep(o.str("dev")),
				Flags:    o.strs("flags"),
				Protocol: keep(o.str("protocol")),
				Scope:    keep(o.str("scope")),
				PrefSrc:  o.addr("prefsrc"),
				Table:    keep(o.str("table")),
				Metric:   uint32(o.uint("metric")),
				Pref:     keep(o.str("pref")),
				Gateway:  jsonGateway(o),
			}
			if m, ok := o.sub("metrics"); ok {
				rt.MTU = int(m.num("mtu"))
			}
			for _, nh := range o.list("nexthops") {
				rt.Nexthops = append(rt.Nexthops, Nexthop{
					Gateway: jsonGateway(nh), Dev: nh.str("dev"), Weight: int(nh.num("weight")), Flags: nh.strs("flags"),
				})
			}
			dst := o.str("dst")
			if dst == "" {
				warn(diag.Warnf(o.line, "route without dst"))
				return
			}
			if finish(&rt, dst) {
				out = append(out, rt)
			}
		})
		return out
	}

	var cur *Route // the route nexthop lines continue
	textLines(data, func(n int, line string) {
		if strings.TrimSpace(line) == "" {
			return
		}
		f := strings.Fields(line)
		if line[0] == ' ' || line[0] == '\t' {
			if f[0] != "nexthop" || cur == nil {
				warn(diag.Warnf(n, "route: unexpected continuation line %q", strings.TrimSpace(line)))
				return
			}
			nh, bad := parseNexthop(f[1:])
			if bad != "" {
				warn(diag.Warnf(n, "route: nexthop: %s", bad))
			}
			cur.Nexthops = append(cur.Nexthops, nh)
			// The family of a "default" multipath route is only known from its nexthops.
			if nh.Gateway.Is6() && cur.Dst.Bits() == 0 && cur.Dst.Addr().Is4() && cur.Gateway == (netip.Addr{}) {
				cur.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
			return
		}
		cur = nil
		rt := Route{Line: n}
		fr := &fieldReader{f: f}
		if routeTypes[fr.peek()] {
			rt.Type = keep(fr.next())
		}
		dst := fr.next()
		if dst == "" {
			warn(diag.Warnf(n, "route: no destination"))
			return
		}
		for fr.more() {
			key := fr.next()
			switch key {
			case "via":
				v := fr.next()
				if v == "inet" || v == "inet6" {
					v = fr.next()
				}
				a, err := netip.ParseAddr(v)
				if err != nil {
					warn(diag.Warnf(n, "route: bad gateway %q", v))
				}
				rt.Gateway = a
			case "dev":
				rt.Dev = keep(fr.next())
			case "proto":
				rt.Protocol = keep(fr.next())
			case "scope":
				rt.Scope = keep(fr.next())
			case "src":
				v := fr.next()
				a, err := netip.ParseAddr(v)
				if err != nil {
					warn(diag.Warnf(n, "route: bad src %q", v))
				}
				rt.PrefSrc = a
			case "table":
				rt.Table = keep(fr.next())
			case "metric":
				v := fr.next()
				m, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					warn(diag.Warnf(n, "route: bad metric %q", v))
				}
				rt.Metric = uint32(m)
			case "pref":
				rt.Pref = keep(fr.next())
			case "mtu":
				v := fr.next()
				if v == "lock" {
					v = fr.next()
				}
				rt.MTU, _ = atoi(v)
			case "onlink", "linkdown", "dead", "pervasive", "offload", "trap", "notify", "rt_offload", "rt_trap", "offload_failed":
				rt.Flags = append(rt.Flags, keep(key))
			case "nexthop":
				// single-line multipath (some iproute2 versions)
				rest := fr.f[fr.i:]
				fr.i = len(fr.f)
				for len(rest) > 0 {
					end := 0
					for end < len(rest) && rest[end] != "nexthop" {
						end++
					}
					nh, bad := parseNexthop(rest[:end])
					if bad != "" {
						warn(diag.Warnf(n, "route: nexthop: %s", bad))
					}
					rt.Nexthops = append(rt.Nexthops, nh)
					if end < len(rest) {
						end++
					}
					rest = rest[end:]
				}
			case "expires", "error", "tos", "dsfield", "realm", "realms", "nhid", "advmss", "hoplimit",
				"initcwnd", "initrwnd", "rto_min", "quickack", "window", "rtt", "rttvar", "ssthresh",
				"cwnd", "reordering", "features", "congctl", "fastopen_no_cookie", "ttl-propagate", "encap", "cache", "from", "iif", "oif", "uid":
				if key != "cache" {
					fr.next()
				}
			default:
				// Unknown words are kept quiet: newer iproute2 adds attributes, and dropping one
				// does not change where a packet goes. A malformed destination is what matters.
			}
		}
		if finish(&rt, dst) {
			out = append(out, rt)
			cur = &out[len(out)-1]
		}
	})
	return out
}

func parseNexthop(f []string) (Nexthop, string) {
	var nh Nexthop
	var bad string
	fr := &fieldReader{f: f}
	for fr.more() {
		switch key := fr.next(); key {
		case "via":
			v := fr.next()
			if v == "inet" || v == "inet6" {
				v = fr.next()
			}
			a, err := netip.ParseAddr(v)
			if err != nil {
				bad = "bad gateway " + strconv.Quote(v)
			}
			nh.Gateway = a
		case "dev":
			nh.Dev = fr.next()
		case "weight":
			nh.Weight, _ = atoi(fr.next())
		case "onlink", "linkdown", "dead", "pervasive":
			nh.Flags = append(nh.Flags, key)
		}
	}
	return nh, bad
}

// jsonGateway reads "gateway" or the RTA_VIA form {"via": {"family": …, "host": …}}.
func jsonGateway(o jobj) netip.Addr {
	if o.has("gateway") {
		return o.addr("gateway")
	}
	if v, ok := o.sub("via"); ok {
		return v.addr("host")
	}
	return netip.Addr{}
}
