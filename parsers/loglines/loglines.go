// Package loglines reads logs and dmesg captures line by line with line numbers, and recognises
// the two line headers a network fault hides behind: klog (`E1126 05:01:02.123456 1 file.go:12] msg`)
// and dmesg (`[12345.678901] msg`). Lines of any length are read; past MaxLineBytes a line is
// truncated with a warning instead of ending the read, and invalid UTF-8 is replaced by U+FFFD so
// that excerpts are always printable.
package loglines

import (
	"bufio"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/netsift/netsift/parsers/diag"
)

// MaxLineBytes is the longest line kept whole (16 MiB); longer lines are truncated.
const MaxLineBytes = 16 << 20

// Line is one line of a capture, without its line terminator.
type Line struct {
	Number    int    `json:"line"`
	Text      string `json:"text"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Scanner iterates the lines of a reader. Unlike bufio.Scanner it never fails on a long line.
type Scanner struct {
	br       *bufio.Reader
	max      int
	line     Line
	n        int
	err      error
	done     bool
	Warnings []diag.Warning
}

// NewScanner reads r with lines truncated at MaxLineBytes.
func NewScanner(r io.Reader) *Scanner { return NewScannerMax(r, MaxLineBytes) }

// NewScannerMax reads r with lines truncated at max bytes (max > 0).
func NewScannerMax(r io.Reader, max int) *Scanner {
	if max <= 0 {
		max = MaxLineBytes
	}
	return &Scanner{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Scan advances to the next line; it returns false at the end of input or on a read error.
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	var buf []byte
	truncated := false
	sawAny := false
	for {
		chunk, err := s.br.ReadSlice('\n')
		if len(chunk) > 0 {
			sawAny = true
		}
		content := chunk
		if err == nil {
			content = chunk[:len(chunk)-1]
		}
		if room := s.max - len(buf); len(content) > room {
			if room > 0 {
				buf = append(buf, content[:room]...)
			}
			truncated = true
		} else {
			buf = append(buf, content...)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s.done = true
		if !errors.Is(err, io.EOF) {
			s.err = err
			return false
		}
		if !sawAny {
			return false
		}
		break
	}
	s.n++
	text := strings.TrimSuffix(string(buf), "\r")
	text = strings.ToValidUTF8(text, "\uFFFD")
	if truncated {
		s.Warnings = append(s.Warnings, diag.Warnf(s.n, "line longer than %d bytes truncated", s.max))
	}
	s.line = Line{Number: s.n, Text: text, Truncated: truncated}
	return true
}

// Line is the current line.
func (s *Scanner) Line() Line { return s.line }

// Text is the current line's text.
func (s *Scanner) Text() string { return s.line.Text }

// Number is the current line's 1-based number.
func (s *Scanner) Number() int { return s.line.Number }

// Err is the read error that stopped the scan, if any (io.EOF is not an error).
func (s *Scanner) Err() error { return s.err }

// Match is the result of a search over a capture.
type Match struct {
	Lines    []Line         `json:"lines"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// Grep returns the lines containing any of the substrings (all lines when none is given).
func Grep(r io.Reader, substrings ...string) (*Match, error) {
	return filter(r, func(t string) bool {
		if len(substrings) == 0 {
			return true
		}
		for _, s := range substrings {
			if strings.Contains(t, s) {
				return true
			}
		}
		return false
	})
}

// GrepRegexp returns the lines matching any of the regular expressions.
func GrepRegexp(r io.Reader, res ...*regexp.Regexp) (*Match, error) {
	return filter(r, func(t string) bool {
		for _, re := range res {
			if re.MatchString(t) {
				return true
			}
		}
		return false
	})
}

func filter(r io.Reader, keep func(string) bool) (*Match, error) {
	s := NewScanner(r)
	m := &Match{}
	for s.Scan() {
		if keep(s.Text()) {
			m.Lines = append(m.Lines, s.Line())
		}
	}
	m.Warnings = s.Warnings
	return m, s.Err()
}

// Klog is the header of a klog line: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`.
// klog writes no year; Month and Day are as written.
type Klog struct {
	Severity string `json:"severity"` // I, W, E or F
	Month    int    `json:"month"`
	Day      int    `json:"day"`
	Time     string `json:"time"` // hh:mm:ss.uuuuuu
	ThreadID int    `json:"thread_id"`
	File     string `json:"file"`
	FileLine int    `json:"file_line"`
	// Prefix is what came before the header (a journal or CRI prefix), trimmed.
	Prefix  string `json:"prefix,omitempty"`
	Message string `json:"message"`
}

// SeverityName spells the severity out (INFO, WARNING, ERROR, FATAL).
func (k Klog) SeverityName() string {
	switch k.Severity {
	case "I":
		return "INFO"
	case "W":
		return "WARNING"
	case "E":
		return "ERROR"
	case "F":
		return "FATAL"
	}
	return k.Severity
}

// The header may follow a prefix (journal `Nov 26 05:01:02 node kubelet[812]: `, CRI timestamp).
var klogRE = regexp.MustCompile(`(?:^|\s)([IWEF])(\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d{6})\s+(\d+) ([^\s\]]+):(\d+)\] ?`)

// ParseKlog finds a klog header in text.
func ParseKlog(text string) (Klog, bool) {
	m := klogRE.FindStringSubmatchIndex(text)
	if m == nil {
		return Klog{}, false
	}
	g := func(i int) string { return text[m[2*i]:m[2*i+1]] }
	month, _ := strconv.Atoi(g(2))
	day, _ := strconv.Atoi(g(3))
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return Klog{}, false
	}
	tid, err := strconv.Atoi(g(5))
	if err != nil {
		return Klog{}, false
	}
	fl, err := strconv.Atoi(g(7))
	if err != nil {
		return Klog{}, false
	}
	return Klog{
		Severity: g(1),
		Month:    month,
		Day:      day,
		Time:     g(4),
		ThreadID: tid,
		File:     g(6),
		FileLine: fl,
		Prefix:   strings.TrimSpace(text[:m[0]]),
		Message:  text[m[1]:],
	}, true
}

// StripTimestamp removes the RFC 3339 timestamp and the one space that `kubectl logs
// --timestamps` puts before every line (continuation lines of a multi-line value included),
// or returns text unchanged.
func StripTimestamp(text string) string {
	sp := strings.IndexByte(text, ' ')
	if sp < len("2006-01-02T15:04:05Z") || sp > len(time.RFC3339Nano)+2 || text[4] != '-' || text[10] != 'T' {
		return text
	}
	if _, err := time.Parse(time.RFC3339Nano, text[:sp]); err != nil {
		return text
	}
	return text[sp+1:]
}

// StripKlog returns the message of a klog line, or text unchanged when it has no klog header.
func StripKlog(text string) string {
	if k, ok := ParseKlog(text); ok {
		return k.Message
	}
	return text
}

// Dmesg is the header of a kernel log line: `[12345.678901] msg` (seconds since boot), or the
// `dmesg -T` form `[Tue Nov 26 05:01:02 2024] msg` where Seconds is unset and Stamp holds the date.
type Dmesg struct {
	Stamp   string   `json:"stamp"`
	Seconds *float64 `json:"seconds,omitempty"`
	Message string   `json:"message"`
}

// ParseDmesg reads a dmesg line's timestamp.
func ParseDmesg(text string) (Dmesg, bool) {
	t := strings.TrimLeft(text, " ")
	// `dmesg -x` puts `kern  :err   : ` before the stamp.
	if i := strings.Index(t, "["); i > 0 && strings.Count(t[:i], ":") >= 2 && !strings.ContainsAny(t[:i], "[]") {
		t = t[i:]
	}
	if !strings.HasPrefix(t, "[") {
		return Dmesg{}, false
	}
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return Dmesg{}, false
	}
	stamp := strings.TrimSpace(t[1:end])
	if stamp == "" {
		return Dmesg{}, false
	}
	d := Dmesg{Stamp: stamp, Message: strings.TrimPrefix(t[end+1:], " ")}
	if f, err := strconv.ParseFloat(stamp, 64); err == nil {
		if f < 0 || strings.ContainsAny(stamp, "eExXnNiI+-") {
			return Dmesg{}, false
		}
		d.Seconds = &f
		return d, true
	}
	// dmesg -T: a date has letters, digits, spaces and colons only.
	if strings.Count(stamp, ":") == 2 && strings.IndexFunc(stamp, func(r rune) bool {
		return !(r == ' ' || r == ':' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	}) < 0 {
		return d, true
	}
	return Dmesg{}, false
}

// Entry is one parsed log line: its number and text, and its klog or dmesg header when present.
type Entry struct {
	Line
	Klog  *Klog  `json:"klog,omitempty"`
	Dmesg *Dmesg `json:"dmesg,omitempty"`
}

// Log is a whole log capture, each line with the header it was recognised to have.
type Log struct {
	Entries  []Entry        `json:"entries"`
	Warnings []diag.Warning `json:"warnings,omitempty"`
}

// Parse reads a log or dmesg capture entirely.
func Parse(r io.Reader) (*Log, error) {
	s := NewScanner(r)
	l := &Log{Entries: []Entry{}}
	for s.Scan() {
		e := Entry{Line: s.Line()}
		if k, ok := ParseKlog(e.Text); ok {
			e.Klog = &k
		} else if d, ok := ParseDmesg(e.Text); ok {
			e.Dmesg = &d
		}
		l.Entries = append(l.Entries, e)
	}
	l.Warnings = s.Warnings
	return l, s.Err()
}
