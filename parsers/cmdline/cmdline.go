// Package cmdline parses a component's command line — /proc/PID/cmdline (NUL-separated), or the
// same joined by spaces, or a unit's ExecStart with backslash continuations — into its program,
// flags and positional arguments. It knows no component's flag set: `--flag value` is read as a
// value whenever the next word does not start with '-', and Bool tolerates that for bool flags.
package cmdline

import (
	"io"
	"strconv"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Form says how a flag was written.
type Form string

const (
	FormEquals   Form = "equals"   // --flag=value
	FormSeparate Form = "separate" // --flag value
	FormBare     Form = "bare"     // --flag
)

// Flag is one flag occurrence.
type Flag struct {
	Name  string `json:"name"` // without leading dashes
	Value string `json:"value,omitempty"`
	Form  Form   `json:"form"`
	Line  int    `json:"line"`
	Index int    `json:"index"` // position in Argv
}

// Arg is one word of the command line.
type Arg struct {
	Text string `json:"text"`
	Line int    `json:"line"`
}

// CommandLine is a parsed command line.
type CommandLine struct {
	Argv        []Arg          `json:"argv"`
	Program     string         `json:"program,omitempty"`
	Flags       []Flag         `json:"flags"`
	Positionals []Arg          `json:"positionals,omitempty"`
	Warnings    []diag.Warning `json:"warnings,omitempty"`
}

// Parse reads a command line capture.
func Parse(r io.Reader) (*CommandLine, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	c := &CommandLine{Argv: []Arg{}, Flags: []Flag{}}
	s := strings.ToValidUTF8(string(data), "\uFFFD")
	if strings.Contains(s, "\x00") {
		c.Argv = splitNUL(s)
	} else {
		c.Argv = c.splitWords(s)
	}
	c.interpret()
	return c, nil
}

// splitNUL splits /proc/PID/cmdline, where arguments may hold spaces; a trailing newline (from
// `cat cmdline; echo`) is not part of the last argument.
func splitNUL(s string) []Arg {
	s = strings.TrimRight(s, "\n")
	s = strings.TrimSuffix(s, "\x00")
	out := []Arg{}
	line := 1
	for a := range strings.SplitSeq(s, "\x00") {
		out = append(out, Arg{Text: a, Line: line})
		line += strings.Count(a, "\n")
	}
	return out
}

// splitWords splits on blanks with shell-like quotes and backslash-newline continuations.
func (c *CommandLine) splitWords(s string) []Arg {
	out := []Arg{}
	var cur strings.Builder
	in := false
	startLine, line := 1, 1
	var quote rune
	quoteLine := 0
	flush := func() {
		if in {
			out = append(out, Arg{Text: cur.String(), Line: startLine})
			cur.Reset()
			in = false
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
				continue
			}
			if r == '\\' && quote == '"' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
				i++
				r = rs[i]
			}
			if r == '\n' {
				line++
			}
			cur.WriteRune(r)
		case r == '\\' && i+1 < len(rs) && rs[i+1] == '\n':
			i++
			line++
			flush()
		case r == '\\' && i+2 < len(rs) && rs[i+1] == '\r' && rs[i+2] == '\n':
			i += 2
			line++
			flush()
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			flush()
			if r == '\n' {
				line++
			}
		case r == '"' || r == '\'':
			if !in {
				in, startLine = true, line
			}
			quote, quoteLine = r, line
		default:
			if !in {
				in, startLine = true, line
			}
			cur.WriteRune(r)
		}
	}
	if quote != 0 {
		c.Warnings = append(c.Warnings, diag.Warnf(quoteLine, "unterminated %c quote", quote))
	}
	flush()
	return out
}

func (c *CommandLine) interpret() {
	args := c.Argv
	i := 0
	if len(args) > 0 && !strings.HasPrefix(args[0].Text, "-") {
		c.Program = args[0].Text
		i = 1
	}
	for ; i < len(args); i++ {
		a := args[i]
		t := a.Text
		if t == "--" {
			c.Positionals = append(c.Positionals, args[i+1:]...)
			return
		}
		if len(t) < 2 || t[0] != '-' {
			c.Positionals = append(c.Positionals, a)
			continue
		}
		name := strings.TrimLeft(t, "-")
		if name == "" || len(t)-len(name) > 2 {
			c.Warnings = append(c.Warnings, diag.Warnf(a.Line, "malformed flag %q", clip(t)))
			continue
		}
		if k, v, ok := strings.Cut(name, "="); ok {
			if k == "" {
				c.Warnings = append(c.Warnings, diag.Warnf(a.Line, "flag without a name: %q", clip(t)))
				continue
			}
			c.Flags = append(c.Flags, Flag{Name: k, Value: v, Form: FormEquals, Line: a.Line, Index: i})
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1].Text, "-") {
			c.Flags = append(c.Flags, Flag{Name: name, Value: args[i+1].Text, Form: FormSeparate, Line: a.Line, Index: i})
			i++
			continue
		}
		c.Flags = append(c.Flags, Flag{Name: name, Form: FormBare, Line: a.Line, Index: i})
	}
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// Get returns the last occurrence of a flag (the one pflag keeps for a scalar flag). The name is
// given without dashes.
func (c *CommandLine) Get(name string) (Flag, bool) {
	if c == nil {
		return Flag{}, false
	}
	for i := len(c.Flags) - 1; i >= 0; i-- {
		if c.Flags[i].Name == name {
			return c.Flags[i], true
		}
	}
	return Flag{}, false
}

// Value returns a flag's value ("" and false when absent).
func (c *CommandLine) Value(name string) (string, bool) {
	f, ok := c.Get(name)
	return f.Value, ok
}

// All returns every occurrence of a flag, in order (repeatable and slice flags).
func (c *CommandLine) All(name string) []Flag {
	if c == nil {
		return nil
	}
	var out []Flag
	for _, f := range c.Flags {
		if f.Name == name {
			out = append(out, f)
		}
	}
	return out
}

// List returns a comma-separated list flag's items over all its occurrences (pflag's
// StringSlice appends across repetitions), trimmed, empty items dropped.
func (c *CommandLine) List(name string) []string {
	var out []string
	for _, f := range c.All(name) {
		for item := range strings.SplitSeq(f.Value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// Bool reads a boolean flag: bare means true; `--flag=false` false. pflag never takes the next
// word as a bool flag's value (`--flag false` sets true and leaves "false" positional), so a
// separate-form flag is true whatever word follows it.
func (c *CommandLine) Bool(name string) (value bool, flag Flag, ok bool) {
	f, ok := c.Get(name)
	if !ok {
		return false, f, false
	}
	switch f.Form {
	case FormBare:
		return true, f, true
	case FormEquals:
		b, err := strconv.ParseBool(f.Value)
		if err != nil {
			return false, f, false
		}
		return b, f, true
	default:
		return true, f, true
	}
}
