// Package sysctl parses `sysctl -a` captures (procps `key = value` and busybox `key: value`
// forms, with the command's stderr possibly mixed in). A missing key is meaningful — a module not
// loaded, a device absent — so nothing here ever invents a kernel default.
package sysctl

import (
	"io"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// Entry is one kernel parameter as captured. Value keeps inner whitespace (tabs separate the two
// numbers of net.ipv4.ip_local_port_range).
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Line  int    `json:"line"`
}

// Sysctls is a parsed capture.
type Sysctls struct {
	Entries []Entry `json:"entries"`
	// Notes are the command's own messages (`sysctl: permission denied on key ...`), kept so a
	// rule can tell "unreadable" from "absent".
	Notes    []diag.Warning `json:"notes,omitempty"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
	index    map[string]int
}

// Parse reads a `sysctl -a` capture.
func Parse(r io.Reader) (*Sysctls, error) {
	s := &Sysctls{Entries: []Entry{}, index: map[string]int{}}
	sc := loglines.NewScanner(r)
	for sc.Scan() {
		n, raw := sc.Number(), sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "sysctl: ") {
			s.Notes = append(s.Notes, diag.Warnf(n, "ignored: %s", line))
			continue
		}
		sep := strings.IndexAny(line, "=:")
		if sep < 0 {
			s.Warnings = append(s.Warnings, diag.Warnf(n, "no '=' or ':' separator: %q", clip(line)))
			continue
		}
		key := strings.TrimSpace(line[:sep])
		if key == "" || strings.ContainsAny(key, " \t") {
			s.Warnings = append(s.Warnings, diag.Warnf(n, "malformed key: %q", clip(line)))
			continue
		}
		// Only the separator's surrounding blanks go; the value's own tabs stay.
		val := strings.Trim(line[sep+1:], " \t")
		if i, dup := s.index[key]; dup {
			// Some kernels print multi-valued keys (kernel.core_modes) once per value: a note,
			// not damage.
			s.Notes = append(s.Notes, diag.Warnf(n, "key %s repeated (first at line %d); the last value is kept", key, s.Entries[i].Line))
			s.Entries[i] = Entry{Key: key, Value: val, Line: n}
			continue
		}
		s.index[key] = len(s.Entries)
		s.Entries = append(s.Entries, Entry{Key: key, Value: val, Line: n})
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

// Get returns the entry for key. Keys use dots, as sysctl prints them; a device name with dots
// (eth0.100) appears with slashes (net.ipv4.conf.eth0/100.rp_filter), see DeviceKey.
func (s *Sysctls) Get(key string) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	if s.index != nil {
		if i, ok := s.index[key]; ok {
			return s.Entries[i], true
		}
		return Entry{}, false
	}
	for i := len(s.Entries) - 1; i >= 0; i-- {
		if s.Entries[i].Key == key {
			return s.Entries[i], true
		}
	}
	return Entry{}, false
}

// Int returns key's value as an integer; false when the key is absent or not one integer.
func (s *Sysctls) Int(key string) (int64, Entry, bool) {
	e, ok := s.Get(key)
	if !ok {
		return 0, e, false
	}
	v, err := strconv.ParseInt(e.Value, 10, 64)
	if err != nil {
		return 0, e, false
	}
	return v, e, true
}

// DeviceKey builds the key of a per-device parameter, e.g. DeviceKey("net.ipv4.conf", "eth0.100",
// "rp_filter") = "net.ipv4.conf.eth0/100.rp_filter": sysctl writes a device's dots as slashes.
func DeviceKey(prefix, dev, param string) string {
	return prefix + "." + strings.ReplaceAll(dev, ".", "/") + "." + param
}

// RPFilter is the reverse-path filter in force on a device and the entries it comes from.
type RPFilter struct {
	Value int64 `json:"value"`
	All   Entry `json:"all"`
	Dev   Entry `json:"dev"`
}

// EffectiveRPFilter is the rp_filter the kernel applies on dev: max(conf.all, conf.<dev>)
// (IN_DEV_RPFILTER). False when either value is absent or not an integer.
func (s *Sysctls) EffectiveRPFilter(dev string) (RPFilter, bool) {
	all, ea, ok := s.Int("net.ipv4.conf.all.rp_filter")
	if !ok {
		return RPFilter{}, false
	}
	d, ed, ok := s.Int(DeviceKey("net.ipv4.conf", dev, "rp_filter"))
	if !ok {
		return RPFilter{}, false
	}
	return RPFilter{Value: max(all, d), All: ea, Dev: ed}, true
}

// BridgeNFLoaded reports whether any net.bridge.* key is present: the keys exist only while the
// br_netfilter module is loaded (in this network namespace's view).
func (s *Sysctls) BridgeNFLoaded() bool {
	if s == nil {
		return false
	}
	for _, e := range s.Entries {
		if strings.HasPrefix(e.Key, "net.bridge.") {
			return true
		}
	}
	return false
}
