// Package lsmod parses `lsmod` output (the `Module Size Used by` table) into the loaded kernel
// modules, each with its line.
package lsmod

import (
	"io"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// Module is one loaded kernel module.
type Module struct {
	Name      string   `json:"name"`
	Size      uint64   `json:"size"`
	UsedCount int      `json:"used_count"`
	UsedBy    []string `json:"used_by,omitempty"`
	// Flags are bracketed or parenthesised markers after the count: [permanent], (unused) ...
	Flags []string `json:"flags,omitempty"`
	Line  int      `json:"line"`
}

// Modules is a parsed capture.
type Modules struct {
	Modules  []Module       `json:"modules"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// Parse reads an `lsmod` capture. The header line is optional.
func Parse(r io.Reader) (*Modules, error) {
	m := &Modules{Modules: []Module{}}
	sc := loglines.NewScanner(r)
	for sc.Scan() {
		n := sc.Number()
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "Module" && len(f) >= 2 && f[1] == "Size" {
			continue
		}
		if len(f) < 3 {
			m.Warnings = append(m.Warnings, diag.Warnf(n, "want `name size count [users]`, got %d fields", len(f)))
			continue
		}
		size, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			m.Warnings = append(m.Warnings, diag.Warnf(n, "module %s: size %q is not a number", f[0], clip(f[1])))
			continue
		}
		// /proc/modules says "-" for a module that cannot be unloaded.
		count := -1
		if f[2] != "-" {
			c, err := strconv.Atoi(f[2])
			if err != nil || c < 0 {
				m.Warnings = append(m.Warnings, diag.Warnf(n, "module %s: use count %q is not a number", f[0], clip(f[2])))
				continue
			}
			count = c
		}
		mod := Module{Name: f[0], Size: size, UsedCount: count, Line: n}
		for _, rest := range f[3:] {
			if strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, "(") {
				mod.Flags = append(mod.Flags, rest)
				continue
			}
			for u := range strings.SplitSeq(rest, ",") {
				if u != "" {
					mod.UsedBy = append(mod.UsedBy, u)
				}
			}
		}
		m.Modules = append(m.Modules, mod)
	}
	m.Warnings = append(m.Warnings, sc.Warnings...)
	return m, sc.Err()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// normalize folds '-' into '_': the kernel treats them as the same in module names.
func normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Loaded returns the module named name (br_netfilter and br-netfilter are the same module).
func (m *Modules) Loaded(name string) (Module, bool) {
	if m == nil {
		return Module{}, false
	}
	want := normalize(name)
	for _, mod := range m.Modules {
		if normalize(mod.Name) == want {
			return mod, true
		}
	}
	return Module{}, false
}
