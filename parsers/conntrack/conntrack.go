// Package conntrack parses `conntrack -S` per-CPU statistics (every field kept, whatever the
// conntrack-tools and kernel versions print) and the `conntrack -C` count, with totals.
package conntrack

import (
	"io"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// CPU is one `cpu=N key=value ...` line.
type CPU struct {
	CPU      int               `json:"cpu"`
	Counters map[string]uint64 `json:"counters"`
	Line     int               `json:"line"`
}

// Record is a `key=value ...` line without a cpu field (global statistics, `conntrack -S exp`).
type Record struct {
	Counters map[string]uint64 `json:"counters"`
	Line     int               `json:"line"`
}

// Count is the `conntrack -C` output: the number of entries in the table.
type Count struct {
	Value uint64 `json:"value"`
	Line  int    `json:"line"`
}

// Stats is a parsed capture.
type Stats struct {
	CPUs []CPU `json:"cpus"`
	// Totals sums each counter over the CPUs; a counter some CPU lines lack is summed over the
	// lines that have it.
	Totals   map[string]uint64 `json:"totals"`
	Other    []Record          `json:"other,omitempty"`
	Count    *Count            `json:"count,omitempty"`
	Notes    []diag.Warning    `json:"notes,omitempty"`
	Warnings []diag.Warning    `json:"warnings,omitempty"`
}

// Parse reads a `conntrack -S` and/or `conntrack -C` capture.
func Parse(r io.Reader) (*Stats, error) {
	s := &Stats{CPUs: []CPU{}, Totals: map[string]uint64{}}
	sc := loglines.NewScanner(r)
	for sc.Scan() {
		n := sc.Number()
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "conntrack v") || strings.HasPrefix(line, "conntrack: ") {
			s.Notes = append(s.Notes, diag.Warnf(n, "ignored: %s", line))
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 1 && !strings.Contains(line, "=") {
			v, err := strconv.ParseUint(line, 10, 64)
			if err != nil {
				s.Warnings = append(s.Warnings, diag.Warnf(n, "not a count nor key=value fields: %q", clip(line)))
				continue
			}
			if s.Count != nil {
				s.Warnings = append(s.Warnings, diag.Warnf(n, "second count (first at line %d); the last is kept", s.Count.Line))
			}
			s.Count = &Count{Value: v, Line: n}
			continue
		}
		counters := map[string]uint64{}
		cpu, hasCPU := -1, false
		for _, f := range fields {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "" {
				s.Warnings = append(s.Warnings, diag.Warnf(n, "field %q is not key=value", clip(f)))
				continue
			}
			u, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				s.Warnings = append(s.Warnings, diag.Warnf(n, "field %s: value %q is not a counter", k, clip(v)))
				continue
			}
			if k == "cpu" {
				if u > 1<<20 {
					s.Warnings = append(s.Warnings, diag.Warnf(n, "cpu number %d out of range", u))
					continue
				}
				cpu, hasCPU = int(u), true
				continue
			}
			counters[k] = u
		}
		if !hasCPU {
			if len(counters) > 0 {
				s.Other = append(s.Other, Record{Counters: counters, Line: n})
			}
			continue
		}
		s.CPUs = append(s.CPUs, CPU{CPU: cpu, Counters: counters, Line: n})
		for k, v := range counters {
			s.Totals[k] += v
		}
	}
	s.Warnings = append(s.Warnings, sc.Warnings...)
	return s, sc.Err()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Total returns a counter summed over the CPUs; false when no CPU line has it.
func (s *Stats) Total(name string) (uint64, bool) {
	if s == nil {
		return 0, false
	}
	v, ok := s.Totals[name]
	return v, ok
}
