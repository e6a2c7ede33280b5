// Package hairpin parses hairpin.txt: the hairpin_mode of every bridge port, as the collector
// writes it (`grep -H . /sys/class/net/*/brif/*/hairpin_mode`: `path:value`; `path value` and
// `path=value` are read too).
package hairpin

import (
	"io"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// Entry is one bridge port's hairpin setting.
type Entry struct {
	Bridge string `json:"bridge"`
	Port   string `json:"port"`
	Value  int    `json:"value"`
	Path   string `json:"path"`
	Line   int    `json:"line"`
}

// Ports is a parsed capture.
type Ports struct {
	Entries  []Entry        `json:"entries"`
	Notes    []diag.Warning `json:"notes,omitempty"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

const attr = "hairpin_mode"

// Parse reads a hairpin.txt capture.
func Parse(r io.Reader) (*Ports, error) {
	p := &Ports{Entries: []Entry{}}
	sc := loglines.NewScanner(r)
	for sc.Scan() {
		n := sc.Number()
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if !strings.HasPrefix(line, "/") {
			// grep/cat's own messages ("grep: ...: No such file or directory")
			p.Notes = append(p.Notes, diag.Warnf(n, "ignored: %s", clip(line)))
			continue
		}
		i := strings.Index(line, "/"+attr)
		if i < 0 {
			p.Warnings = append(p.Warnings, diag.Warnf(n, "not a %s path: %q", attr, clip(line)))
			continue
		}
		path := line[:i+1+len(attr)]
		rest := strings.TrimLeft(line[len(path):], ":= \t")
		if len(rest) == len(line[len(path):]) && rest != "" {
			p.Warnings = append(p.Warnings, diag.Warnf(n, "no separator after %s: %q", attr, clip(line)))
			continue
		}
		v, err := strconv.Atoi(rest)
		if err != nil {
			p.Warnings = append(p.Warnings, diag.Warnf(n, "value %q is not a number", clip(rest)))
			continue
		}
		seg := strings.Split(strings.Trim(path, "/"), "/")
		// .../<bridge>/brif/<port>/hairpin_mode
		k := len(seg)
		if k < 4 || seg[k-3] != "brif" || seg[k-4] == "" || seg[k-2] == "" {
			p.Warnings = append(p.Warnings, diag.Warnf(n, "path %q is not <bridge>/brif/<port>/%s", clip(path), attr))
			continue
		}
		p.Entries = append(p.Entries, Entry{Bridge: seg[k-4], Port: seg[k-2], Value: v, Path: path, Line: n})
	}
	p.Warnings = append(p.Warnings, sc.Warnings...)
	return p, sc.Err()
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

// Bridge returns the entries of one bridge's ports.
func (p *Ports) Bridge(name string) []Entry {
	if p == nil {
		return nil
	}
	var out []Entry
	for _, e := range p.Entries {
		if e.Bridge == name {
			out = append(out, e)
		}
	}
	return out
}

// Disabled returns the ports with hairpin_mode 0.
func (p *Ports) Disabled() []Entry {
	if p == nil {
		return nil
	}
	var out []Entry
	for _, e := range p.Entries {
		if e.Value == 0 {
			out = append(out, e)
		}
	}
	return out
}
