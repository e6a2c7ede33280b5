package iproute

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Links is `ip -d -s link` (or `ip -j -d -s link`).
type Links struct {
	Format   Format         `json:"format"`
	Links    []Link         `json:"links"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// Link is one network device.
type Link struct {
	Line  int    `json:"line"`
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Peer is what the text form prints after '@': "if5" for a veth whose peer is ifindex 5 in
	// another namespace, "NONE" when the peer is gone, or a device name (eth0.100@eth0).
	Peer        string          `json:"peer,omitempty"`
	LinkIndex   int             `json:"link_index,omitempty"` // the peer/lower device's ifindex
	LinkNetnsID *int            `json:"link_netnsid,omitempty"`
	LinkNetns   string          `json:"link_netns,omitempty"` // newer iproute2 prints the name
	Flags       []string        `json:"flags"`
	OperState   string          `json:"operstate,omitempty"`
	MTU         int             `json:"mtu,omitempty"`
	Qdisc       string          `json:"qdisc,omitempty"`
	Master      string          `json:"master,omitempty"`
	LinkType    string          `json:"link_type,omitempty"`
	MAC         string          `json:"mac,omitempty"`
	Promiscuity int             `json:"promiscuity"`
	Kind        string          `json:"kind,omitempty"`       // veth, bridge, vxlan, ipip, geneve, wireguard, dummy…
	SlaveKind   string          `json:"slave_kind,omitempty"` // "bridge" for a bridge port
	Tunnel      *Tunnel         `json:"tunnel,omitempty"`
	Bridge      *BridgeInfo     `json:"bridge,omitempty"`
	BridgePort  *BridgePortInfo `json:"bridge_port,omitempty"`
	Stats       *LinkStats      `json:"stats,omitempty"`
}

// Tunnel is the encapsulation of a vxlan, geneve or ipip/tunl device.
type Tunnel struct {
	ID      uint32     `json:"id,omitempty"` // VNI
	Local   netip.Addr `json:"local,omitzero"`
	Remote  netip.Addr `json:"remote,omitzero"`
	Dev     string     `json:"dev,omitempty"` // underlay device
	DstPort int        `json:"dstport,omitempty"`
	// Learning is false for flannel-style `nolearning` VXLAN devices.
	Learning *bool `json:"learning,omitempty"`
}

// BridgeInfo is what a bridge device says of itself.
type BridgeInfo struct {
	STPState       int  `json:"stp_state"`
	VLANFiltering  int  `json:"vlan_filtering"`
	NFCallIptables *int `json:"nf_call_iptables,omitempty"` // absent in older iproute2
}

// BridgePortInfo is a bridge port (bridge_slave).
type BridgePortInfo struct {
	State    string `json:"state,omitempty"`
	Hairpin  bool   `json:"hairpin"`
	Learning bool   `json:"learning"`
}

// LinkStats are the -s counters.
type LinkStats struct {
	RX Counters `json:"rx"`
	TX Counters `json:"tx"`
}

// Counters of one direction.
type Counters struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	Errors  uint64 `json:"errors"`
	Dropped uint64 `json:"dropped"`
}

// Up reports the administrative UP flag.
func (l Link) Up() bool { return hasString(l.Flags, "UP") }

// LowerUp reports carrier (LOWER_UP).
func (l Link) LowerUp() bool { return hasString(l.Flags, "LOWER_UP") }

// Promisc reports whether the device is in promiscuous mode.
func (l Link) Promisc() bool { return hasString(l.Flags, "PROMISC") || l.Promiscuity > 0 }

// ByName returns the link called name, or nil.
func (ls *Links) ByName(name string) *Link {
	for i := range ls.Links {
		if ls.Links[i].Name == name {
			return &ls.Links[i]
		}
	}
	return nil
}

// ByIndex returns the link with ifindex idx, or nil.
func (ls *Links) ByIndex(idx int) *Link {
	for i := range ls.Links {
		if ls.Links[i].Index == idx {
			return &ls.Links[i]
		}
	}
	return nil
}

// Ports returns the devices enslaved to master (a bridge's ports).
func (ls *Links) Ports(master string) []Link {
	var out []Link
	for _, l := range ls.Links {
		if l.Master == master {
			out = append(out, l)
		}
	}
	return out
}

// ParseLink reads `ip -d -s link` in JSON or text form.
func ParseLink(r io.Reader) (*Links, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &Links{Format: format, Links: []Link{}}
	warn := func(w diag.Warning) { out.Warnings = append(out.Warnings, w) }
	if format == FormatJSON {
		jsonElements(data, warn, func(o jobj) {
			l := Link{Line: o.line}
			jsonLinkCommon(o, &l)
			l.Promiscuity = int(o.num("promiscuity"))
			if li, ok := o.sub("linkinfo"); ok {
				l.Kind = li.str("info_kind")
				l.SlaveKind = li.str("info_slave_kind")
				if d, ok := li.sub("info_data"); ok {
					jsonKindData(d, &l)
				}
				if d, ok := li.sub("info_slave_data"); ok && l.SlaveKind == "bridge" {
					l.BridgePort = &BridgePortInfo{State: d.str("state"), Hairpin: d.flag("hairpin"), Learning: d.flag("learning")}
				}
			}
			st, ok := o.sub("stats64")
			if !ok {
				st, ok = o.sub("stats")
			}
			if ok {
				l.Stats = &LinkStats{}
				if d, ok := st.sub("rx"); ok {
					l.Stats.RX = jsonCounters(d)
				}
				if d, ok := st.sub("tx"); ok {
					l.Stats.TX = jsonCounters(d)
				}
			}
			out.Links = append(out.Links, l)
		})
		return out, nil
	}

	var cur *Link
	var statsDir string // "RX"/"TX" when the next line holds that header's values
	var statsCols []string
	textLines(data, func(n int, line string) {
		if strings.TrimSpace(line) == "" {
			return
		}
		if line[0] != ' ' && line[0] != '\t' {
			l, ok := parseIfaceHeader(n, line, warn)
			statsDir = ""
			if !ok {
				cur = nil
				return
			}
			out.Links = append(out.Links, l)
			cur = &out.Links[len(out.Links)-1]
			return
		}
		if cur == nil {
			warn(diag.Warnf(n, "link: detail line before any device header"))
			return
		}
		f := strings.Fields(line)
		if statsDir != "" {
			dir := statsDir
			statsDir = ""
			if cur.Stats == nil {
				cur.Stats = &LinkStats{}
			}
			c := &cur.Stats.RX
			if dir == "TX" {
				c = &cur.Stats.TX
			}
			for i, col := range statsCols {
				if i >= len(f) {
					break
				}
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					warn(diag.Warnf(n, "link: bad %s %s counter %q", dir, col, f[i]))
					continue
				}
				switch col {
				case "bytes":
					c.Bytes = v
				case "packets":
					c.Packets = v
				case "errors":
					c.Errors = v
				case "dropped":
					c.Dropped = v
				}
			}
			return
		}
		switch {
		case f[0] == "RX:" || f[0] == "TX:":
			// "RX: bytes packets errors dropped missed mcast" — the columns name themselves;
			// "RX errors: length crc…" (-s -s) is a second table we do not read.
			statsDir = strings.TrimSuffix(f[0], ":")
			statsCols = f[1:]
			return
		case strings.HasPrefix(f[0], "RX") || strings.HasPrefix(f[0], "TX"):
			statsDir = ""
			return
		case strings.HasPrefix(f[0], "link/"):
			parseLinkLine(n, f, cur, warn)
			return
		case f[0] == "altname" || f[0] == "alias" || f[0] == "prop" || f[0] == "vf" || f[0] == "addrgenmode":
			return
		}
		parseKindLine(n, f, cur, warn)
	})
	return out, nil
}

// parseIfaceHeader reads "2: eth0@if5: <BROADCAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master
// cni0 state UP mode DEFAULT group default qlen 1000", shared by ip link and ip addr.
func parseIfaceHeader(n int, line string, warn func(diag.Warning)) (Link, bool) {
	l := Link{Line: n, Flags: []string{}}
	idx, rest, ok := strings.Cut(line, ":")
	i, err := strconv.Atoi(strings.TrimSpace(idx))
	if !ok || err != nil {
		warn(diag.Warnf(n, "unrecognised line %q", trim(line)))
		return l, false
	}
	l.Index = i
	rest = strings.TrimLeft(rest, " ")
	end := strings.Index(rest, ": ")
	if end < 0 {
		end = strings.IndexByte(rest, ':')
	}
	if end <= 0 {
		warn(diag.Warnf(n, "device header without a name: %q", trim(line)))
		return l, false
	}
	name := rest[:end]
	rest = rest[end+1:]
	l.Name, l.Peer, _ = strings.Cut(name, "@")
	if strings.HasPrefix(l.Peer, "if") {
		l.LinkIndex, _ = atoi(l.Peer[2:])
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "<") {
		fl, after, ok := strings.Cut(rest[1:], ">")
		if !ok {
			warn(diag.Warnf(n, "device %s: unterminated flags", l.Name))
		}
		if fl != "" {
			l.Flags = strings.Split(fl, ",")
		}
		rest = after
	}
	fr := &fieldReader{f: strings.Fields(rest)}
	for fr.more() {
		switch key := fr.next(); key {
		case "mtu":
			v := fr.next()
			m, ok := atoi(v)
			if !ok {
				warn(diag.Warnf(n, "device %s: bad mtu %q", l.Name, v))
			}
			l.MTU = m
		case "qdisc":
			l.Qdisc = fr.next()
		case "master":
			l.Master = fr.next()
		case "state":
			l.OperState = fr.next()
		case "link-netnsid":
			if v, ok := atoi(fr.next()); ok {
				l.LinkNetnsID = &v
			}
		case "mode", "group", "qlen", "link-netns":
			fr.next()
		}
	}
	return l, true
}

// parseLinkLine reads "link/ether MAC brd MAC [link-netns NAME|link-netnsid N] [promiscuity N] …".
func parseLinkLine(n int, f []string, l *Link, warn func(diag.Warning)) {
	l.LinkType = strings.TrimPrefix(f[0], "link/")
	fr := &fieldReader{f: f, i: 1}
	if mac := fr.peek(); strings.ContainsAny(mac, ":.") {
		l.MAC = fr.next()
	}
	for fr.more() {
		switch key := fr.next(); key {
		case "link-netnsid":
			if v, ok := atoi(fr.next()); ok {
				l.LinkNetnsID = &v
			} else {
				warn(diag.Warnf(n, "device %s: bad link-netnsid", l.Name))
			}
		case "link-netns":
			l.LinkNetns = fr.next()
		case "promiscuity":
			l.Promiscuity, _ = atoi(fr.next())
		case "brd", "peer", "allmulti", "minmtu", "maxmtu":
			fr.next()
		default:
			// -d puts the kind on this line in some iproute2 versions
			if l.Kind == "" && isKindWord(key) {
				parseKindLine(n, fr.f[fr.i-1:], l, warn)
				return
			}
		}
	}
}

var linkKinds = map[string]bool{
	"veth": true, "bridge": true, "vxlan": true, "ipip": true, "geneve": true, "wireguard": true,
	"dummy": true, "bond": true, "vlan": true, "macvlan": true, "ipvlan": true, "gre": true,
	"gretap": true, "sit": true, "ip6tnl": true, "tun": true, "tap": true, "openvswitch": true,
	"vrf": true, "nlmon": true, "ifb": true, "team": true, "macvtap": true, "ip6gre": true,
}

func isKindWord(s string) bool { return linkKinds[s] || strings.HasSuffix(s, "_slave") }

// parseKindLine reads a -d detail line: "vxlan id 1 local 192.168.1.11 dev eth0 … dstport 8472
// nolearning …", "bridge_slave state forwarding … hairpin on …", "bridge … stp_state 0 …".
func parseKindLine(n int, f []string, l *Link, warn func(diag.Warning)) {
	if !isKindWord(f[0]) {
		return // addrgenmode/numtxqueues continuation or an attribute we do not read
	}
	kind := f[0]
	fr := &fieldReader{f: f, i: 1}
	if strings.HasSuffix(kind, "_slave") {
		l.SlaveKind = strings.TrimSuffix(kind, "_slave")
		if l.SlaveKind != "bridge" {
			return
		}
		bp := &BridgePortInfo{}
		for fr.more() {
			switch key := fr.next(); key {
			case "state":
				bp.State = fr.next()
			case "hairpin":
				bp.Hairpin = onOff(n, key, fr.next(), warn)
			case "learning":
				bp.Learning = onOff(n, key, fr.next(), warn)
			}
		}
		l.BridgePort = bp
		return
	}
	l.Kind = kind
	switch kind {
	case "vxlan", "geneve", "ipip", "gre", "sit", "gretap":
		t := &Tunnel{}
		for fr.more() {
			switch key := fr.next(); key {
			case "id":
				v, err := strconv.ParseUint(fr.next(), 10, 32)
				if err != nil {
					warn(diag.Warnf(n, "device %s: bad tunnel id", l.Name))
				}
				t.ID = uint32(v)
			case "local", "remote", "group":
				v := fr.next()
				if v == "any" {
					continue
				}
				a, err := netip.ParseAddr(v)
				if err != nil {
					warn(diag.Warnf(n, "device %s: bad %s address %q", l.Name, key, v))
				}
				if key == "local" {
					t.Local = a
				} else {
					t.Remote = a
				}
			case "dev":
				t.Dev = fr.next()
			case "dstport":
				t.DstPort, _ = atoi(fr.next())
			case "srcport":
				fr.next()
				fr.next()
			case "learning":
				b := true
				t.Learning = &b
			case "nolearning":
				b := false
				t.Learning = &b
			case "addrgenmode":
				fr.i = len(fr.f)
			}
		}
		l.Tunnel = t
	case "bridge":
		b := &BridgeInfo{}
		for fr.more() {
			switch key := fr.next(); key {
			case "stp_state":
				b.STPState, _ = atoi(fr.next())
			case "vlan_filtering":
				b.VLANFiltering, _ = atoi(fr.next())
			case "nf_call_iptables":
				if v, ok := atoi(fr.next()); ok {
					b.NFCallIptables = &v
				}
			}
		}
		l.Bridge = b
	}
}

func onOff(n int, key, v string, warn func(diag.Warning)) bool {
	switch v {
	case "on", "1":
		return true
	case "off", "0":
		return false
	}
	warn(diag.Warnf(n, "%s: want on/off, got %q", key, v))
	return false
}

func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// jsonLinkCommon fills what ip -j link and ip -j addr share.
func jsonLinkCommon(o jobj, l *Link) {
	l.Index = int(o.num("ifindex"))
	l.Name = o.str("ifname")
	l.LinkIndex = int(o.num("link_index"))
	l.Peer = o.str("link") // lower device name (vlan, macvlan); veth peers use link_index
	if o.has("link_netnsid") {
		v := int(o.num("link_netnsid"))
		l.LinkNetnsID = &v
		if l.Peer == "" && l.LinkIndex > 0 {
			l.Peer = "if" + strconv.Itoa(l.LinkIndex) // what the text form prints
		}
	}
	l.Flags = o.strs("flags")
	if l.Flags == nil {
		l.Flags = []string{}
	}
	l.OperState = o.str("operstate")
	l.MTU = int(o.num("mtu"))
	l.Qdisc = o.str("qdisc")
	l.Master = o.str("master")
	l.LinkType = o.str("link_type")
	l.MAC = o.str("address")
	if l.Name == "" {
		o.warn(diag.Warnf(o.line, "device without ifname"))
	}
}

func jsonKindData(d jobj, l *Link) {
	switch l.Kind {
	case "vxlan", "geneve", "ipip", "gre", "sit", "gretap":
		t := &Tunnel{ID: uint32(d.uint("id")), Dev: d.str("link"), DstPort: int(d.num("port"))}
		for _, k := range []string{"local", "local6"} {
			if d.has(k) {
				t.Local = d.addr(k)
			}
		}
		for _, k := range []string{"remote", "remote6", "group", "group6"} {
			if d.has(k) && d.str(k) != "any" {
				t.Remote = d.addr(k)
			}
		}
		if d.has("learning") {
			b := d.flag("learning")
			t.Learning = &b
		}
		l.Tunnel = t
	case "bridge":
		b := &BridgeInfo{STPState: int(d.num("stp_state")), VLANFiltering: int(d.num("vlan_filtering"))}
		if d.has("nf_call_iptables") {
			v := int(d.num("nf_call_iptables"))
			b.NFCallIptables = &v
		}
		l.Bridge = b
	}
}

func jsonCounters(d jobj) Counters {
	return Counters{Bytes: d.uint("bytes"), Packets: d.uint("packets"), Errors: d.uint("errors"), Dropped: d.uint("dropped")}
}
