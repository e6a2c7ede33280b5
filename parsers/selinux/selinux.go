// Package selinux parses selinux.txt: any mix of `getenforce` output, `sestatus` output and the
// SELINUX= lines of /etc/selinux/config, and says which mode is in force and where that is read.
package selinux

import (
	"io"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/loglines"
)

// Modes, lower-cased as sestatus prints them.
const (
	Enforcing  = "enforcing"
	Permissive = "permissive"
	Disabled   = "disabled"
)

// Value is one statement of the capture.
type Value struct {
	Value string `json:"value"`
	Line  int    `json:"line"`
}

// Status is a parsed capture.
type Status struct {
	// Mode is the mode in force now: sestatus "Current mode", else getenforce, else a sestatus
	// "SELinux status: disabled"; when only the config file speaks, its SELINUX= (the mode at
	// next boot) with Source "config". "" when nothing says.
	Mode   string `json:"mode"`
	Line   int    `json:"line,omitempty"`
	Source string `json:"source,omitempty"` // sestatus, getenforce or config

	Getenforce     *Value `json:"getenforce,omitempty"`
	SestatusStatus *Value `json:"sestatus_status,omitempty"` // enabled / disabled
	CurrentMode    *Value `json:"current_mode,omitempty"`
	ConfigFileMode *Value `json:"config_file_mode,omitempty"` // sestatus "Mode from config file"
	PolicyName     *Value `json:"policy_name,omitempty"`
	ConfigSELinux  *Value `json:"config_selinux,omitempty"` // /etc/selinux/config SELINUX=
	ConfigType     *Value `json:"config_type,omitempty"`    // SELINUXTYPE=

	Notes    []diag.Warning `json:"notes,omitempty"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

func mode(s string) (string, bool) {
	switch m := strings.ToLower(strings.TrimSpace(s)); m {
	case Enforcing, Permissive, Disabled:
		return m, true
	}
	return "", false
}

// Parse reads a selinux.txt capture.
func Parse(r io.Reader) (*Status, error) {
	st := &Status{}
	sc := loglines.NewScanner(r)
	set := func(dst **Value, v string, n int) {
		if *dst != nil {
			st.Warnings = append(st.Warnings, diag.Warnf(n, "repeated statement (first at line %d); the last is kept", (*dst).Line))
		}
		*dst = &Value{Value: v, Line: n}
	}
	for sc.Scan() {
		n := sc.Number()
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || strings.HasPrefix(line, "==") {
			continue
		}
		if m, ok := mode(line); ok {
			set(&st.Getenforce, m, n)
			continue
		}
		// netsift's collector writes "mode: <getenforce>" and "config: <line of
		// /etc/selinux/config>" (collect/collect.sh, selinux_state).
		if v, ok := strings.CutPrefix(line, "mode:"); ok {
			if m, ok := mode(strings.TrimSpace(v)); ok {
				set(&st.Getenforce, m, n)
				continue
			}
		}
		if v, ok := strings.CutPrefix(line, "config:"); ok {
			line = strings.TrimSpace(v)
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(k, ":") {
			k = strings.TrimSpace(k)
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			switch k {
			case "SELINUX":
				if m, ok := mode(v); ok {
					set(&st.ConfigSELinux, m, n)
				} else {
					st.Warnings = append(st.Warnings, diag.Warnf(n, "SELINUX=%q is not enforcing, permissive or disabled", clip(v)))
				}
			case "SELINUXTYPE":
				set(&st.ConfigType, v, n)
			default:
				st.Notes = append(st.Notes, diag.Warnf(n, "ignored: %s", clip(line)))
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			v = strings.TrimSpace(v)
			switch k {
			case "selinux status":
				s := strings.ToLower(v)
				if s != "enabled" && s != "disabled" {
					st.Warnings = append(st.Warnings, diag.Warnf(n, "SELinux status %q is not enabled or disabled", clip(v)))
					continue
				}
				set(&st.SestatusStatus, s, n)
			case "current mode", "mode from config file":
				m, ok := mode(v)
				if !ok {
					st.Warnings = append(st.Warnings, diag.Warnf(n, "%s %q is not enforcing, permissive or disabled", k, clip(v)))
					continue
				}
				if k == "current mode" {
					set(&st.CurrentMode, m, n)
				} else {
					set(&st.ConfigFileMode, m, n)
				}
			case "loaded policy name", "policy from config file":
				if st.PolicyName == nil || k == "loaded policy name" {
					st.PolicyName = &Value{Value: v, Line: n}
				}
			default:
				// the rest of sestatus (mount points, policy versions, booleans) and
				// messages such as "getenforce: command not found"
				st.Notes = append(st.Notes, diag.Warnf(n, "ignored: %s", clip(line)))
			}
			continue
		}
		st.Warnings = append(st.Warnings, diag.Warnf(n, "unrecognised line: %q", clip(line)))
	}
	st.Warnings = append(st.Warnings, sc.Warnings...)
	st.decide()
	return st, sc.Err()
}

func (st *Status) decide() {
	pick := func(v *Value, source string) bool {
		if v == nil {
			return false
		}
		st.Mode, st.Line, st.Source = v.Value, v.Line, source
		return true
	}
	switch {
	case pick(st.CurrentMode, "sestatus"):
	case pick(st.Getenforce, "getenforce"):
	case st.SestatusStatus != nil && st.SestatusStatus.Value == Disabled:
		pick(st.SestatusStatus, "sestatus")
	default:
		pick(st.ConfigSELinux, "config")
	}
	if st.CurrentMode != nil && st.Getenforce != nil && st.CurrentMode.Value != st.Getenforce.Value {
		st.Warnings = append(st.Warnings, diag.Warnf(st.Getenforce.Line, "getenforce says %s but sestatus (line %d) says %s", st.Getenforce.Value, st.CurrentMode.Line, st.CurrentMode.Value))
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Enforcing reports whether SELinux is enforcing now (config-only captures count: they say how
// the node booted unless someone ran setenforce since).
func (st *Status) Enforcing() bool { return st != nil && st.Mode == Enforcing }
