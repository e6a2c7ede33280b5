package iproute

import (
	"io"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// FDB is `bridge fdb show` (or `bridge -j fdb show`).
type FDB struct {
	Format   Format         `json:"format"`
	Entries  []FDBEntry     `json:"entries"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// FDBEntry is one forwarding-database entry. On a VXLAN device (flannel) Dst is the remote
// VTEP the MAC lives behind: "5a:… dev flannel.1 dst 192.168.1.12 self permanent".
type FDBEntry struct {
	Line      int        `json:"line"`
	MAC       string     `json:"mac"`
	Dev       string     `json:"dev,omitempty"`
	Master    string     `json:"master,omitempty"`
	Dst       netip.Addr `json:"dst,omitzero"`
	VLAN      int        `json:"vlan,omitempty"`
	VNI       int        `json:"vni,omitempty"`
	Self      bool       `json:"self,omitempty"`
	Permanent bool       `json:"permanent,omitempty"`
	Static    bool       `json:"static,omitempty"`
	Flags     []string   `json:"flags,omitempty"` // extern_learn, offload, router, sticky…
}

// ParseFDB reads `bridge fdb show` in text or JSON form.
func ParseFDB(r io.Reader) (*FDB, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &FDB{Format: format, Entries: []FDBEntry{}}
	warn := func(w diag.Warning) { out.Warnings = append(out.Warnings, w) }
	if format == FormatJSON {
		jsonElements(data, warn, func(o jobj) {
			e := FDBEntry{Line: o.line, MAC: o.str("mac"), Dev: o.str("ifname"), Master: o.str("master"),
				Dst: o.addr("dst"), VLAN: int(o.num("vlan")), VNI: int(o.num("vni"))}
			for _, fl := range o.strs("flags") {
				if fl == "self" {
					e.Self = true
				} else {
					e.Flags = append(e.Flags, fl)
				}
			}
			switch st := o.str("state"); st {
			case "permanent":
				e.Permanent = true
			case "static":
				e.Static = true
			case "":
			default:
				e.Flags = append(e.Flags, st)
			}
			if e.MAC == "" {
				warn(diag.Warnf(o.line, "fdb: entry without mac"))
				return
			}
			out.Entries = append(out.Entries, e)
		})
		return out, nil
	}
	textLines(data, func(n int, line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		if strings.Count(f[0], ":") != 5 {
			warn(diag.Warnf(n, "fdb: unrecognised line %q", trim(line)))
			return
		}
		e := FDBEntry{Line: n, MAC: f[0]}
		fr := &fieldReader{f: f, i: 1}
		for fr.more() {
			switch key := fr.next(); key {
			case "dev":
				e.Dev = fr.next()
			case "master":
				// "master br0" names the bridge; a bare trailing "master" is the flag
				if fr.more() && !fdbWords[fr.peek()] {
					e.Master = fr.next()
				}
			case "dst":
				v := fr.next()
				a, err := netip.ParseAddr(v)
				if err != nil {
					warn(diag.Warnf(n, "fdb: bad dst %q", v))
				}
				e.Dst = a
			case "vlan":
				v, ok := atoi(fr.next())
				if !ok {
					warn(diag.Warnf(n, "fdb: bad vlan"))
				}
				e.VLAN = v
			case "vni":
				e.VNI, _ = atoi(fr.next())
			case "self":
				e.Self = true
			case "permanent":
				e.Permanent = true
			case "static":
				e.Static = true
			case "port", "via", "src_vni", "nhid", "used", "updated":
				fr.next()
			default:
				e.Flags = append(e.Flags, key)
			}
		}
		out.Entries = append(out.Entries, e)
	})
	return out, nil
}

var fdbWords = map[string]bool{"self": true, "permanent": true, "static": true, "dst": true, "vlan": true, "extern_learn": true, "offload": true, "router": true, "sticky": true}
