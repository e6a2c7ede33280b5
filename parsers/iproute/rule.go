package iproute

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Rules is `ip rule` (or `ip -j rule`), in priority order as printed.
type Rules struct {
	Format   Format         `json:"format"`
	Rules    []Rule         `json:"rules"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// Rule is one policy-routing rule. A zero From/To means "all".
type Rule struct {
	Line     int          `json:"line"`
	Priority int          `json:"priority"`
	Not      bool         `json:"not,omitempty"`
	From     netip.Prefix `json:"from,omitzero"`
	To       netip.Prefix `json:"to,omitzero"`
	FwMark   *uint32      `json:"fwmark,omitempty"`
	FwMask   *uint32      `json:"fwmask,omitempty"` // nil with FwMark set means 0xffffffff
	IIF      string       `json:"iif,omitempty"`
	OIF      string       `json:"oif,omitempty"`
	// Action is "lookup" (with Table), "goto", "nop", "unreachable", "blackhole" or "prohibit".
	Action               string `json:"action"`
	Table                string `json:"table,omitempty"`
	Goto                 int    `json:"goto,omitempty"`
	SuppressPrefixLength *int   `json:"suppress_prefixlength,omitempty"`
}

// MatchesMark reports whether a packet carrying mark is selected by the rule's fwmark.
func (r Rule) MatchesMark(mark uint32) bool {
	if r.FwMark == nil {
		return true
	}
	mask := uint32(0xffffffff)
	if r.FwMask != nil {
		mask = *r.FwMask
	}
	return mark&mask == *r.FwMark&mask
}

// ParseRules reads `ip rule` in JSON or text form.
func ParseRules(r io.Reader) (*Rules, error) {
	data, format, err := readInput(r)
	if err != nil {
		return nil, err
	}
	out := &Rules{Format: format, Rules: []Rule{}}
	warn := func(w diag.Warning) { out.Warnings = append(out.Warnings, w) }
	if format == FormatJSON {
		jsonElements(data, warn, func(o jobj) {
			ru := Rule{Line: o.line, Priority: int(o.num("priority")), Not: o.has("not"),
				IIF: o.str("iif"), OIF: o.str("oif"), Table: o.str("table"), Action: o.str("action")}
			sel := func(k, lenk string) netip.Prefix {
				s := o.str(k)
				if s == "" || s == "all" {
					return netip.Prefix{}
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					warn(diag.Warnf(o.line, "rule: bad %s %q", k, s))
					return netip.Prefix{}
				}
				bits := a.BitLen()
				if o.has(lenk) {
					bits = int(o.num(lenk))
				}
				p := netip.PrefixFrom(a, bits)
				if !p.IsValid() {
					warn(diag.Warnf(o.line, "rule: bad %s length %d", k, bits))
				}
				return p
			}
			ru.From, ru.To = sel("src", "srclen"), sel("dst", "dstlen")
			if o.has("fwmark") {
				ru.FwMark = parseMark(o.line, o.str("fwmark"), warn)
			}
			if o.has("fwmask") {
				ru.FwMask = parseMark(o.line, o.str("fwmask"), warn)
			}
			if o.has("suppress_prefixlen") {
				v := int(o.num("suppress_prefixlen"))
				ru.SuppressPrefixLength = &v
			}
			if o.has("goto") {
				ru.Goto = int(o.num("goto"))
				ru.Action = "goto"
			}
			if ru.Action == "" && ru.Table != "" {
				ru.Action = "lookup"
			}
			out.Rules = append(out.Rules, ru)
		})
		return out, nil
	}
	textLines(data, func(n int, line string) {
		if strings.TrimSpace(line) == "" {
			return
		}
		prio, rest, ok := strings.Cut(line, ":")
		p, err := strconv.Atoi(strings.TrimSpace(prio))
		if !ok || err != nil {
			warn(diag.Warnf(n, "rule: unrecognised line %q", trim(line)))
			return
		}
		ru := Rule{Line: n, Priority: p}
		fr := &fieldReader{f: strings.Fields(rest)}
		for fr.more() {
			switch key := fr.next(); key {
			case "not":
				ru.Not = true
			case "from", "to":
				v := fr.next()
				var pf netip.Prefix
				if v != "all" {
					pf, err = parsePrefix(v, strings.Contains(v, ":"))
					if err != nil {
						warn(diag.Warnf(n, "rule: bad %s selector %q", key, v))
					}
				}
				if key == "from" {
					ru.From = pf
				} else {
					ru.To = pf
				}
			case "fwmark":
				mark, mask, hasMask := strings.Cut(fr.next(), "/")
				ru.FwMark = parseMark(n, mark, warn)
				if hasMask {
					ru.FwMask = parseMark(n, mask, warn)
				}
			case "iif":
				ru.IIF = fr.next()
			case "oif":
				ru.OIF = fr.next()
			case "lookup", "table":
				ru.Action, ru.Table = "lookup", fr.next()
			case "goto":
				ru.Action = "goto"
				ru.Goto, _ = atoi(fr.next())
			case "nop", "unreachable", "blackhole", "prohibit":
				ru.Action = key
			case "suppress_prefixlength":
				if v, ok := atoi(fr.next()); ok {
					ru.SuppressPrefixLength = &v
				} else {
					warn(diag.Warnf(n, "rule: bad suppress_prefixlength"))
				}
			case "tos", "dsfield", "realms", "suppress_ifgroup", "uidrange", "ipproto", "sport", "dport", "protocol", "proto", "tun_id", "l3mdev":
				if key != "l3mdev" {
					fr.next()
				}
			}
		}
		out.Rules = append(out.Rules, ru)
	})
	return out, nil
}

func parseMark(n int, s string, warn func(diag.Warning)) *uint32 {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		warn(diag.Warnf(n, "rule: bad fwmark %q", s))
		return nil
	}
	m := uint32(v)
	return &m
}
