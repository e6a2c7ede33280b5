package iproute

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/netsift/netsift/parsers/diag"
)

// Addrs is `ip addr` (or `ip -j addr`).
type Addrs struct {
	Format     Format         `json:"format"`
	Interfaces []Interface    `json:"interfaces"`
	Warnings   []diag.Warning `json:"warnings,omitempty"`

	owners atomic.Pointer[addrIndex] // built on the first Owner
}

// Interface is one device with its addresses.
type Interface struct {
	Line        int       `json:"line"`
	Index       int       `json:"index"`
	Name        string    `json:"name"`
	Peer        string    `json:"peer,omitempty"` // see Link.Peer
	LinkIndex   int       `json:"link_index,omitempty"`
	LinkNetnsID *int      `json:"link_netnsid,omitempty"`
	Flags       []string  `json:"flags"`
	State       string    `json:"state,omitempty"`
	MTU         int       `json:"mtu,omitempty"`
	Master      string    `json:"master,omitempty"`
	LinkType    string    `json:"link_type,omitempty"`
	MAC         string    `json:"mac,omitempty"`
	Addresses   []Address `json:"addresses"`
}

// Address is one address of an interface; Prefix keeps the host bits (10.244.1.1/24).
type Address struct {
	Line      int          `json:"line"`
	Family    string       `json:"family"` // inet, inet6
	Prefix    netip.Prefix `json:"prefix"`
	Peer      netip.Prefix `json:"peer,omitzero"` // point-to-point peer
	Scope     string       `json:"scope,omitempty"`
	Label     string       `json:"label,omitempty"`
	Secondary bool         `json:"secondary,omitempty"`
	Flags     []string     `json:"flags,omitempty"` // dynamic, noprefixroute, tentative, dadfailed…
}

// Up reports the administrative UP flag.
func (i Interface) Up() bool { return hasString(i.Flags, "UP") }

// ByName returns the interface called name, or nil.
func (as *Addrs) ByName(name string) *Interface {
	for i := range as.Interfaces {
		if as.Interfaces[i].Name == name {
			return &as.Interfaces[i]
		}
	}
	return nil
}

// Owner returns the interface holding addr, or nil.
func (as *Addrs) Owner(addr netip.Addr) *Interface {
	ix := as.owners.Load()
	if ix == nil {
		// An IPVS node's kube-ipvs0 holds every ClusterIP: index them once.
		var pairs []addrPos
		for i, in := range as.Interfaces {
			for _, a := range in.Addresses {
				pairs = append(pairs, addrPos{a.Prefix.Addr(), int32(i)})
			}
		}
		built := newAddrIndex(pairs)
		as.owners.Store(&built)
		ix = &built
	}
	if found := ix.find(addr); len(found) > 0 {
		return &as.Interfaces[found[0].i] // the first holder
	}
	return nil
}

// Prefixes returns every address of every interface.
func (as *Addrs) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, i := range as.Interfaces {
		for _, a := range i.Addresses {
			out = append(out, a.Prefix)
		}
	}
	return out
}

var addrFlags = map[string]bool{
	"secondary": true, "dynamic": true, "noprefixroute": true, "deprecated": true, "tentative": true,
	"nodad": true, "home": true, "mngtmpaddr": true, "optimistic": true, "dadfailed": true,
	"permanent": true, "stable-privacy": true, "autojoin": true, "temporary": true, "primary": true,
}

// ParseAddr reads `ip addr` in JSON or text form.
func ParseAddr(r io.Reader) (*Addrs, error) {
	return ParseAddrShared(r, nil)
}

// AddrCache shares addresses between the `ip -j addr` captures parsed with it. An IPVS node's
// kube-ipvs0 holds every ClusterIP (ten thousand addresses, on fifty nodes): an interface
// whose addr_info is the same text, on the same line, as the last capture's interface at the
// same place has that interface's addresses, not a parse of its own. Shared addresses must not
// be modified. Safe for concurrent use; the zero value is ready.
type AddrCache struct {
	last atomic.Pointer[addrRef]
}

// addrRef is a parsed capture and, per interface, its addr_info text when its addresses parsed
// without a warning (nil otherwise: they are parsed again, to warn again).
type addrRef struct {
	addrs *Addrs
	raw   [][]byte
}

// ParseAddrShared is ParseAddr sharing addresses with the last capture parsed with c (nil: no
// sharing).
func ParseAddrShared(r io.Reader, c *AddrCache) (*Addrs, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &Addrs{Format: format, Interfaces: []Interface{}}
	warn := func(w diag.Warning) { out.Warnings = append(out.Warnings, w) }
	if format == FormatJSON {
		var ref *addrRef
		next := &addrRef{addrs: out}
		if c != nil {
			ref = c.last.Load()
			defer c.last.Store(next)
		}
		jsonElements(data, warn, func(o jobj) {
			var l Link
			jsonLinkCommon(o, &l)
			it := ifaceFromLink(l, o.line)
			k := len(out.Interfaces)
			raw := o.m["addr_info"]
			if ref != nil && k < len(ref.raw) && ref.raw[k] != nil && ref.addrs.Interfaces[k].Line == o.line && bytes.Equal(raw, ref.raw[k]) {
				it.Addresses = ref.addrs.Interfaces[k].Addresses
				out.Interfaces = append(out.Interfaces, it)
				next.raw = append(next.raw, ref.raw[k])
				return
			}
			warned := len(out.Warnings)
			defer func() {
				if len(out.Warnings) == warned {
					next.raw = append(next.raw, raw)
				} else {
					next.raw = append(next.raw, nil)
				}
			}()
			for _, a := range o.list("addr_info") {
				local := a.str("local")
				if local == "" {
					continue // ip -j addr prints {} for entries a filter removed
				}
				ip, err := netip.ParseAddr(local)
				if err != nil {
					warn(diag.Warnf(o.line, "%s: bad address %q", it.Name, local))
					continue
				}
				bits := int(a.num("prefixlen"))
				p := netip.PrefixFrom(ip, bits)
				if !p.IsValid() {
					warn(diag.Warnf(o.line, "%s: bad prefix length %d for %s", it.Name, bits, local))
					continue
				}
				ad := Address{Line: o.line, Family: keep(a.str("family")), Prefix: p, Scope: keep(a.str("scope")), Label: keep(a.str("label")), Secondary: a.flag("secondary")}
				if peer := a.str("address"); peer != "" && peer != local {
					if pa, err := netip.ParseAddr(peer); err == nil {
						ad.Peer = netip.PrefixFrom(pa, pa.BitLen())
					}
				}
				for _, k := range []string{"dynamic", "noprefixroute", "deprecated", "tentative", "nodad", "dadfailed", "mngtmpaddr", "temporary"} {
					if a.has(k) && a.flag(k) {
						ad.Flags = append(ad.Flags, k)
					}
				}
				it.Addresses = append(it.Addresses, ad)
			}
			out.Interfaces = append(out.Interfaces, it)
		})
		return out, nil
	}

	var cur *Interface
	textLines(data, func(n int, line string) {
		if strings.TrimSpace(line) == "" {
			return
		}
		if line[0] != ' ' && line[0] != '\t' {
			l, ok := parseIfaceHeader(n, line, warn)
			if !ok {
				cur = nil
				return
			}
			out.Interfaces = append(out.Interfaces, ifaceFromLink(l, n))
			cur = &out.Interfaces[len(out.Interfaces)-1]
			return
		}
		if cur == nil {
			warn(diag.Warnf(n, "addr: detail line before any interface header"))
			return
		}
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(f[0], "link/"):
			var l Link
			parseLinkLine(n, f, &l, warn)
			cur.LinkType, cur.MAC = l.LinkType, l.MAC
			if l.LinkNetnsID != nil {
				cur.LinkNetnsID = l.LinkNetnsID
			}
		case f[0] == "inet" || f[0] == "inet6":
			if a, ok := parseAddrLine(n, f, cur.Name, warn); ok {
				cur.Addresses = append(cur.Addresses, a)
			}
		}
	})
	return out, nil
}

func ifaceFromLink(l Link, line int) Interface {
	return Interface{
		Line: line, Index: l.Index, Name: l.Name, Peer: l.Peer, LinkIndex: l.LinkIndex,
		LinkNetnsID: l.LinkNetnsID, Flags: l.Flags, State: l.OperState, MTU: l.MTU,
		Master: l.Master, LinkType: l.LinkType, MAC: l.MAC, Addresses: []Address{},
	}
}

// parseAddrLine reads "inet 10.0.0.1/24 brd 10.0.0.255 scope global secondary dynamic eth0:1".
func parseAddrLine(n int, f []string, dev string, warn func(diag.Warning)) (Address, bool) {
	a := Address{Line: n, Family: keep(f[0])}
	if len(f) < 2 {
		warn(diag.Warnf(n, "%s: %s without an address", dev, f[0]))
		return a, false
	}
	p, err := parsePrefix(f[1], f[0] == "inet6")
	if err != nil || f[1] == "default" || f[1] == "all" {
		warn(diag.Warnf(n, "%s: bad address %q", dev, f[1]))
		return a, false
	}
	a.Prefix = p
	fr := &fieldReader{f: f, i: 2}
	for fr.more() {
		key := fr.next()
		switch {
		case key == "peer":
			v := fr.next()
			if pp, err := parsePrefix(v, f[0] == "inet6"); err == nil {
				a.Peer = pp
				// "inet 10.0.0.1 peer 10.0.0.2/32": the length belongs to the local address
				a.Prefix = netip.PrefixFrom(a.Prefix.Addr(), pp.Bits())
			} else {
				warn(diag.Warnf(n, "%s: bad peer %q", dev, v))
			}
		case key == "scope":
			a.Scope = keep(fr.next())
		case key == "secondary":
			a.Secondary = true
		case addrFlags[key]:
			a.Flags = append(a.Flags, keep(key))
		case key == "brd" || key == "metric" || key == "proto" || key == "valid_lft" || key == "preferred_lft":
			fr.next()
		case !fr.more() && a.Family == "inet":
			a.Label = keep(key) // iproute2 ends IPv4 lines with the label (eth0, eth0:1)
		}
	}
	return a, true
}
