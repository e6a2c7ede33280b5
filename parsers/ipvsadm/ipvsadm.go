// Package ipvsadm parses 'ipvsadm -Ln' output, and its --stats, --rate, --thresholds,
// --persistent-conn and --exact variants, into virtual servers and their real servers, each
// with its line number and raw text.
package ipvsadm

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/netsift/netsift/parsers/diag"
)

// Table is one ipvsadm listing.
type Table struct {
	Version string `json:"version,omitempty"` // "1.2.1" from the header
	Size    int    `json:"size,omitempty"`    // connection hash table size
	// Columns are the virtual-server columns after "Prot LocalAddress:Port" ("Scheduler",
	// "Flags" for a plain listing; "Conns", "InPkts", ... for --stats; "CPS", ... for --rate).
	Columns []string `json:"columns,omitempty"`
	// RealServerColumns are the columns after "-> RemoteAddress:Port".
	RealServerColumns []string         `json:"real_server_columns,omitempty"`
	VirtualServers    []*VirtualServer `json:"virtual_servers"`
}

// VirtualServer is one service line ("TCP  10.96.0.1:443 rr") and the real servers under it:
// what the line says of the service (VirtualServerSpec, shared by every node's listing that
// says the same) and the node's own line, counters and real servers.
type VirtualServer struct {
	Line int `json:"line"`
	*VirtualServerSpec
	Stats       *Stats        `json:"stats,omitempty"`
	Rate        *Rate         `json:"rate,omitempty"`
	RealServers []*RealServer `json:"real_servers"`
}

// VirtualServerSpec is a virtual server's address and configuration.
type VirtualServerSpec struct {
	Protocol string `json:"protocol"` // TCP, UDP, SCTP or FWM
	// Address is the service address; invalid for FWM services and for names ipvsadm resolved
	// (listings without -n), which are kept in AddressText.
	Address     netip.AddrPort `json:"address"`
	AddressText string         `json:"address_text"`
	FWMark      uint32         `json:"fwmark,omitempty"`
	IPv6        bool           `json:"ipv6,omitempty"` // an FWM service of the IPv6 family
	Scheduler   string         `json:"scheduler,omitempty"`
	Persistent  bool           `json:"persistent,omitempty"`
	Timeout     int            `json:"timeout,omitempty"` // persistence timeout, seconds
	Netmask     string         `json:"netmask,omitempty"` // persistence granularity
	PE          string         `json:"pe,omitempty"`      // persistence engine
	OnePacket   bool           `json:"one_packet,omitempty"`
	Flags       []string       `json:"flags,omitempty"` // scheduler flags and anything else
}

func (a *VirtualServerSpec) equal(b *VirtualServerSpec) bool {
	return a.Protocol == b.Protocol && a.Address == b.Address && a.AddressText == b.AddressText &&
		a.FWMark == b.FWMark && a.IPv6 == b.IPv6 && a.Scheduler == b.Scheduler &&
		a.Persistent == b.Persistent && a.Timeout == b.Timeout && a.Netmask == b.Netmask &&
		a.PE == b.PE && a.OnePacket == b.OnePacket && slices.Equal(a.Flags, b.Flags)
}

// RealServer is one '  -> addr:port ...' line: what it says of the server (RealServerSpec,
// shared by every node's listing that says the same) and the node's own line and counters.
type RealServer struct {
	Line int `json:"line"`
	*RealServerSpec
	ActiveConn  uint64 `json:"active_conn"`
	InActConn   uint64 `json:"inact_conn"`
	PersistConn uint64 `json:"persist_conn,omitempty"`
	Stats       *Stats `json:"stats,omitempty"`
	Rate        *Rate  `json:"rate,omitempty"`
}

// RealServerSpec is a real server's address and configuration.
type RealServerSpec struct {
	Address     netip.AddrPort `json:"address"`
	AddressText string         `json:"address_text"`
	Forward     string         `json:"forward,omitempty"` // Masq, Route, Tunnel, Local
	TunnelInfo  string         `json:"tunnel_info,omitempty"`
	Weight      int            `json:"weight"`
	UThreshold  uint64         `json:"uthreshold,omitempty"`
	LThreshold  uint64         `json:"lthreshold,omitempty"`
}

// Stats are the --stats columns. ipvsadm prints large values with a K/M/G/T suffix (powers of
// 1000, rounded down) unless --exact is given; the values here are multiplied back out.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// Rate are the --rate columns (per second).
type Rate struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"in_pps"`
	OutPPS uint64 `json:"out_pps"`
	InBPS  uint64 `json:"in_bps"`
	OutBPS uint64 `json:"out_bps"`
}

// Find returns the virtual server for protocol ("TCP", "UDP", "SCTP"; case-insensitive) and
// address, or nil.
func (t *Table) Find(protocol string, addr netip.AddrPort) *VirtualServer {
	for _, vs := range t.VirtualServers {
		if strings.EqualFold(vs.Protocol, protocol) && vs.Address == addr {
			return vs
		}
	}
	return nil
}

// FindFWMark returns the firewall-mark virtual server for mark, or nil.
func (t *Table) FindFWMark(mark uint32) *VirtualServer {
	for _, vs := range t.VirtualServers {
		if vs.Protocol == "FWM" && vs.FWMark == mark {
			return vs
		}
	}
	return nil
}

// Parse reads ipvsadm -L output. Malformed lines become warnings; the error is non-nil only when
// reading r fails.
func Parse(r io.Reader) (*Table, []diag.Warning, error) {
	return ParseShared(r, nil)
}

// Cache shares what the listings parsed with it have in common. Every node's kube-proxy lists
// the same virtual servers and real servers (a large cluster: tens of thousands per node, fifty
// nodes); only their connection counters are the node's own. A server parsed the same as the
// last listing's at the same place (same line, same values) is that listing's, not a copy, and
// a virtual server whose real servers are all shared is shared whole. Shared servers must not
// be modified. Safe for concurrent use; the zero value is ready.
type Cache struct {
	// OmitCounters leaves out of the listings parsed with the Cache what changes from node to
	// node and second to second: connection counts (ActiveConn, InActConn, PersistConn) and
	// --stats and --rate (Stats and Rate are nil). They are checked as they are read (a
	// malformed one warns), then dropped, so that every node listing the same servers shares
	// them whole: a model whose rules read no counter (the analysis) need not hold fifty nodes'
	// copies of fifty thousand real servers.
	OmitCounters bool

	last atomic.Pointer[Table]
}

// ParseShared is Parse sharing servers and strings with the last listing parsed with c (nil: no
// sharing).
func ParseShared(r io.Reader, c *Cache) (*Table, []diag.Warning, error) {
	t, warns, err := parse(r, c)
	if c != nil && err == nil {
		c.last.Store(t)
	}
	return t, warns, err
}

func parse(r io.Reader, c *Cache) (*Table, []diag.Warning, error) {
	p := &parser{t: &Table{VirtualServers: []*VirtualServer{}}, strs: map[string]string{}}
	if c != nil {
		p.ref, p.omitCounters = c.last.Load(), c.OmitCounters
	}
	defer p.endVirtualServer()
	br := bufio.NewReader(r)
	n := 0
	for {
		s, err := br.ReadString('\n')
		if len(s) > 0 {
			n++
			p.line(n, strings.TrimRight(s, "\r\n"))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return p.t, p.warns, err
			}
			return p.t, p.warns, nil
		}
	}
}

type parser struct {
	t     *Table
	warns []diag.Warning
	vs    *VirtualServer
	strs  map[string]string // the listing's words: protocols, schedulers, forwarding methods

	// The last listing parsed with the Cache, and its virtual server at the place of vs.
	ref   *Table
	refVS *VirtualServer
	spec  RealServerSpec    // the real server being read
	vspec VirtualServerSpec // the virtual server being read

	omitCounters bool // Cache.OmitCounters
}

func (p *parser) warn(n int, format string, args ...any) {
	p.warns = append(p.warns, diag.Warnf(n, format, args...))
}

func (p *parser) line(n int, s string) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return
	}
	switch {
	case strings.HasPrefix(s, "IP Virtual Server version "):
		p.header(n, s)
	case f[0] == "Prot" && len(f) >= 2 && f[1] == "LocalAddress:Port":
		p.t.Columns = append([]string{}, f[2:]...)
	case f[0] == "->" && len(f) >= 2 && f[1] == "RemoteAddress:Port":
		p.t.RealServerColumns = append([]string{}, f[2:]...)
	case f[0] == "->":
		p.realServer(n, s, f[1:])
	case isProto(f[0]):
		p.virtualServer(n, s, f)
	default:
		p.warn(n, "unrecognised line %q", clip(strings.TrimSpace(s)))
	}
}

// keep returns the listing's one copy of a word taken from a line, so that the line can go.
func (p *parser) keep(s string) string {
	if v, ok := p.strs[s]; ok {
		return v
	}
	s = strings.Clone(s)
	p.strs[s] = s
	return s
}

// same returns ref when s is the same text (the last listing's copy of an address at the same
// place), and a copy of s otherwise: addresses are too many to look up, and nearly all are where
// the last listing had them.
func same(s, ref string) string {
	if s == ref {
		return ref
	}
	return strings.Clone(s)
}

// endVirtualServer replaces the virtual server just read by the last listing's at its place
// when the two are the same, real servers included.
func (p *parser) endVirtualServer() {
	vs, ref := p.vs, p.refVS
	p.vs, p.refVS = nil, nil
	if vs == nil || ref == nil || !sameVirtualServer(vs, ref) {
		return
	}
	p.t.VirtualServers[len(p.t.VirtualServers)-1] = ref
}

// sameVirtualServer: pointers are compared, and are the same when what they point to is
// (virtualServer and realServer share them then).
func sameVirtualServer(a, b *VirtualServer) bool {
	return a.Line == b.Line && a.VirtualServerSpec == b.VirtualServerSpec && a.Stats == b.Stats &&
		a.Rate == b.Rate && slices.Equal(a.RealServers, b.RealServers)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func isProto(s string) bool {
	switch s {
	case "TCP", "UDP", "SCTP", "FWM":
		return true
	}
	return false
}

// header parses "IP Virtual Server version 1.2.1 (size=4096)".
func (p *parser) header(n int, s string) {
	rest := strings.TrimPrefix(s, "IP Virtual Server version ")
	ver, size, _ := strings.Cut(rest, " ")
	p.t.Version = ver
	size = strings.TrimSpace(size)
	if v, ok := strings.CutPrefix(size, "(size="); ok {
		if sz, err := strconv.Atoi(strings.TrimSuffix(v, ")")); err == nil {
			p.t.Size = sz
			return
		}
	}
	p.warn(n, "malformed version header %q", clip(s))
}

// listing reports whether the virtual-server columns are the plain ones (scheduler and flags)
// rather than counters.
func (p *parser) listing() bool {
	return len(p.t.Columns) == 0 || p.t.Columns[0] == "Scheduler"
}

func (p *parser) virtualServer(n int, s string, f []string) {
	p.endVirtualServer()
	// The line is read into the parser's spec, kept as the last listing's when it is the same.
	p.vspec = VirtualServerSpec{Protocol: p.keep(f[0])}
	vs := &VirtualServer{Line: n, VirtualServerSpec: &p.vspec, RealServers: []*RealServer{}}
	if i := len(p.t.VirtualServers); p.ref != nil && i < len(p.ref.VirtualServers) {
		p.refVS = p.ref.VirtualServers[i]
		vs.RealServers = make([]*RealServer, 0, len(p.refVS.RealServers))
	}
	defer func() {
		if p.refVS != nil && p.vspec.equal(p.refVS.VirtualServerSpec) {
			vs.VirtualServerSpec = p.refVS.VirtualServerSpec
		} else {
			own := p.vspec
			vs.VirtualServerSpec = &own
		}
	}()
	p.vs = vs
	p.t.VirtualServers = append(p.t.VirtualServers, vs)
	if len(f) < 2 {
		p.warn(n, "virtual server without an address")
		return
	}
	if p.refVS != nil {
		vs.AddressText = same(f[1], p.refVS.AddressText)
	} else {
		vs.AddressText = strings.Clone(f[1])
	}
	rest := f[2:]
	if vs.Protocol == "FWM" {
		m, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			p.warn(n, "bad firewall mark %q", f[1])
		}
		vs.FWMark = uint32(m)
		if len(rest) > 0 && rest[0] == "IPv6" {
			vs.IPv6 = true
			rest = rest[1:]
		}
	} else if ap, err := netip.ParseAddrPort(f[1]); err == nil {
		vs.Address = ap
	} else {
		p.warn(n, "virtual server address %q is not numeric (list with -n)", f[1])
	}
	if !p.listing() {
		p.counters(n, rest, p.t.Columns, &vs.Stats, &vs.Rate, nil)
		return
	}
	if len(rest) == 0 {
		p.warn(n, "virtual server without a scheduler")
		return
	}
	vs.Scheduler = p.keep(rest[0])
	for i := 1; i < len(rest); i++ {
		switch rest[i] {
		case "persistent":
			vs.Persistent = true
			if i+1 < len(rest) {
				if t, err := strconv.Atoi(rest[i+1]); err == nil {
					vs.Timeout = t
					i++
					continue
				}
			}
			p.warn(n, "persistent without a timeout")
		case "mask":
			if i+1 < len(rest) {
				vs.Netmask = p.keep(rest[i+1])
				i++
			}
		case "pe":
			if i+1 < len(rest) {
				vs.PE = p.keep(rest[i+1])
				i++
			}
		case "ops":
			vs.OnePacket = true
		default:
			vs.Flags = append(vs.Flags, p.keep(rest[i]))
		}
	}
}

func (p *parser) realServer(n int, s string, f []string) {
	if p.vs == nil {
		p.warn(n, "real server before any virtual server")
		return
	}
	var ref *RealServer
	if j := len(p.vs.RealServers); p.refVS != nil && j < len(p.refVS.RealServers) {
		ref = p.refVS.RealServers[j]
	}
	// The line is read into the parser's spec, kept as the last listing's when it is the same.
	p.spec = RealServerSpec{}
	rs := &RealServer{Line: n, RealServerSpec: &p.spec}
	defer func() {
		if ref != nil && p.spec == *ref.RealServerSpec {
			rs.RealServerSpec = ref.RealServerSpec
			if *rs == *ref {
				rs = ref
			}
		} else {
			own := p.spec
			rs.RealServerSpec = &own
		}
		p.vs.RealServers = append(p.vs.RealServers, rs)
	}()
	if len(f) == 0 {
		p.warn(n, "real server without an address")
		return
	}
	if ref != nil {
		rs.AddressText = same(f[0], ref.AddressText)
	} else {
		rs.AddressText = strings.Clone(f[0])
	}
	if ap, err := netip.ParseAddrPort(f[0]); err == nil {
		rs.Address = ap
	} else {
		p.warn(n, "real server address %q is not numeric (list with -n)", f[0])
	}
	cols := p.t.RealServerColumns
	if len(cols) == 0 && !p.listing() {
		cols = p.t.Columns // --stats/--rate print the same counters for both
	}
	if len(cols) == 0 {
		cols = []string{"Forward", "Weight", "ActiveConn", "InActConn"}
	}
	p.counters(n, f[1:], cols, &rs.Stats, &rs.Rate, rs)
}

// counters assigns the values of a line to the named columns.
func (p *parser) counters(n int, vals, cols []string, st **Stats, rt **Rate, rs *RealServer) {
	if p.omitCounters {
		defer func() {
			*st, *rt = nil, nil
			if rs != nil {
				rs.ActiveConn, rs.InActConn, rs.PersistConn = 0, 0, 0
			}
		}()
	}
	if len(vals) != len(cols) {
		p.warn(n, "%d values for %d columns %v", len(vals), len(cols), cols)
	}
	for i, c := range cols {
		if i >= len(vals) {
			break
		}
		v := vals[i]
		if rs != nil {
			switch c {
			case "Forward":
				rs.Forward = p.keep(v)
				if !knownForward(v) {
					p.warn(n, "unknown forwarding method %q", v)
				}
				continue
			case "TunnelInfo":
				rs.TunnelInfo = p.keep(v)
				continue
			case "Weight":
				w, err := strconv.Atoi(v)
				if err != nil {
					p.warn(n, "bad weight %q", v)
				}
				rs.Weight = w
				continue
			}
		}
		num, ok := ParseNumber(v)
		if !ok {
			p.warn(n, "bad %s value %q", c, v)
			continue
		}
		switch c {
		case "ActiveConn", "InActConn", "PersistConn", "Uthreshold", "Lthreshold":
			if rs == nil {
				p.warn(n, "column %s on a virtual server", c)
				continue
			}
			switch c {
			case "ActiveConn":
				rs.ActiveConn = num
			case "InActConn":
				rs.InActConn = num
			case "PersistConn":
				rs.PersistConn = num
			case "Uthreshold":
				rs.UThreshold = num
			case "Lthreshold":
				rs.LThreshold = num
			}
		case "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes":
			if *st == nil {
				*st = &Stats{}
			}
			s := *st
			switch c {
			case "Conns":
				s.Conns = num
			case "InPkts":
				s.InPkts = num
			case "OutPkts":
				s.OutPkts = num
			case "InBytes":
				s.InBytes = num
			case "OutBytes":
				s.OutBytes = num
			}
		case "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS":
			if *rt == nil {
				*rt = &Rate{}
			}
			r := *rt
			switch c {
			case "CPS":
				r.CPS = num
			case "InPPS":
				r.InPPS = num
			case "OutPPS":
				r.OutPPS = num
			case "InBPS":
				r.InBPS = num
			case "OutBPS":
				r.OutBPS = num
			}
		default:
			p.warn(n, "unknown column %q", c)
		}
	}
}

func knownForward(s string) bool {
	switch s {
	case "Masq", "Route", "Tunnel", "Local", "Bypass":
		return true
	}
	return false
}

// ParseNumber parses an ipvsadm counter: digits with an optional K, M, G or T suffix (powers of
// 1000, as ipvsadm divides by 1000 per step).
func ParseNumber(s string) (uint64, bool) {
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult = 1e3
		case 'M':
			mult = 1e6
		case 'G':
			mult = 1e9
		case 'T':
			mult = 1e12
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > ^uint64(0)/mult {
		return 0, false
	}
	return v * mult, true
}
