// Package resolvconf parses resolv.conf: nameservers, the search list, and options (ndots,
// timeout, attempts, ...), each with its line, following glibc's reading rules.
package resolvconf

import (
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// Nameserver is one `nameserver` line.
type Nameserver struct {
	Addr string `json:"addr"`
	Line int    `json:"line"`
}

// Search is one `search` or `domain` line.
type Search struct {
	Keyword string   `json:"keyword"` // search or domain
	Domains []string `json:"domains"`
	Line    int      `json:"line"`
}

// Option is one word of an `options` line: `ndots:5` is {ndots, "5"}, `rotate` is {rotate, ""}.
type Option struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Line  int    `json:"line"`
}

// ResolvConf is a parsed file.
type ResolvConf struct {
	Nameservers []Nameserver `json:"nameservers"`
	// Searches holds every search/domain line; glibc uses only the last one (see SearchList).
	Searches []Search       `json:"searches,omitempty"`
	Options  []Option       `json:"options,omitempty"`
	Sortlist []string       `json:"sortlist,omitempty"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// MaxNameservers is how many nameservers glibc uses (MAXNS); later ones are ignored.
const MaxNameservers = 3

// Parse reads a resolv.conf.
func Parse(r io.Reader) (*ResolvConf, error) {
	rc := &ResolvConf{Nameservers: []Nameserver{}}
	sc := loglines.NewScanner(r)
	for sc.Scan() {
		n := sc.Number()
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				rc.Warnings = append(rc.Warnings, diag.Warnf(n, "nameserver without an address"))
				continue
			}
			if _, err := netip.ParseAddr(f[1]); err != nil {
				rc.Warnings = append(rc.Warnings, diag.Warnf(n, "nameserver %q is not an IP address", clip(f[1])))
			}
			rc.Nameservers = append(rc.Nameservers, Nameserver{Addr: f[1], Line: n})
		case "search", "domain":
			if len(f) < 2 {
				rc.Warnings = append(rc.Warnings, diag.Warnf(n, "%s without a domain", f[0]))
				continue
			}
			rc.Searches = append(rc.Searches, Search{Keyword: f[0], Domains: f[1:], Line: n})
		case "options":
			for _, o := range f[1:] {
				name, val, _ := strings.Cut(o, ":")
				rc.Options = append(rc.Options, Option{Name: name, Value: val, Line: n})
			}
		case "sortlist":
			rc.Sortlist = append(rc.Sortlist, f[1:]...)
		default:
			rc.Warnings = append(rc.Warnings, diag.Warnf(n, "unknown keyword %q", clip(f[0])))
		}
	}
	rc.Warnings = append(rc.Warnings, sc.Warnings...)
	return rc, sc.Err()
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// SearchList is the search list the resolver uses: the last search or domain line wins.
func (rc *ResolvConf) SearchList() (Search, bool) {
	if rc == nil || len(rc.Searches) == 0 {
		return Search{}, false
	}
	return rc.Searches[len(rc.Searches)-1], true
}

// Option returns the last option named name (the one in force).
func (rc *ResolvConf) Option(name string) (Option, bool) {
	if rc == nil {
		return Option{}, false
	}
	for i := len(rc.Options) - 1; i >= 0; i-- {
		if rc.Options[i].Name == name {
			return rc.Options[i], true
		}
	}
	return Option{}, false
}

// Ndots is the ndots in force, capped at 15 as glibc does; false when no valid ndots option is
// set (the resolver then uses 1, but that is for the caller to say).
func (rc *ResolvConf) Ndots() (int, Option, bool) {
	o, ok := rc.Option("ndots")
	if !ok {
		return 0, o, false
	}
	v, err := strconv.Atoi(o.Value)
	if err != nil || v < 0 {
		return 0, o, false
	}
	return min(v, 15), o, true
}
