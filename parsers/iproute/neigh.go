package iproute

import (
	"io"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Neighbours is `ip neigh` (or `ip -j neigh`).
type Neighbours struct {
	Format     Format         `json:"format"`
	Neighbours []Neighbour    `json:"neighbours"`
	Warnings   []diag.Warning `json:"warnings,omitempty"`
}

// Neighbour is one ARP/NDP entry. State holds the NUD states as printed (REACHABLE, STALE,
// FAILED, INCOMPLETE, PERMANENT, NOARP, DELAY, PROBE).
type Neighbour struct {
	Line   int        `json:"line"`
	Dst    netip.Addr `json:"dst"`
	Dev    string     `json:"dev,omitempty"`
	LLAddr string     `json:"lladdr,omitempty"`
	State  []string   `json:"state,omitempty"`
	Router bool       `json:"router,omitempty"`
	Proxy  bool       `json:"proxy,omitempty"`
}

// HasState reports whether the entry is in NUD state s.
func (n Neighbour) HasState(s string) bool { return hasString(n.State, s) }

// ParseNeigh reads `ip neigh` in text or JSON form.
func ParseNeigh(r io.Reader) (*Neighbours, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &Neighbours{Format: format, Neighbours: []Neighbour{}}
	warn := func(w diag.Warning) { out.Warnings = append(out.Warnings, w) }
	if format == FormatJSON {
		jsonElements(data, warn, func(o jobj) {
			nb := Neighbour{Line: o.line, Dst: o.addr("dst"), Dev: o.str("dev"), LLAddr: o.str("lladdr"),
				State: o.strs("state"), Router: o.has("router"), Proxy: o.has("proxy")}
			if !nb.Dst.IsValid() {
				warn(diag.Warnf(o.line, "neigh: entry without a valid dst"))
				return
			}
			out.Neighbours = append(out.Neighbours, nb)
		})
		return out, nil
	}
	textLines(data, func(n int, line string) {
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		dst, err := netip.ParseAddr(f[0])
		if err != nil {
			warn(diag.Warnf(n, "neigh: unrecognised line %q", trim(line)))
			return
		}
		nb := Neighbour{Line: n, Dst: dst}
		fr := &fieldReader{f: f, i: 1}
		for fr.more() {
			switch key := fr.next(); key {
			case "dev":
				nb.Dev = fr.next()
			case "lladdr":
				nb.LLAddr = fr.next()
			case "router":
				nb.Router = true
			case "proxy":
				nb.Proxy = true
			case "extern_learn", "offload", "managed":
			case "protocol", "vrf", "nud":
				fr.next()
			default:
				if key == strings.ToUpper(key) && strings.Trim(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
					nb.State = append(nb.State, key)
				}
			}
		}
		out.Neighbours = append(out.Neighbours, nb)
	})
	return out, nil
}
