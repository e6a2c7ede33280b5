// Package diag holds the one type every capture parser shares: a warning tied to a line of the
// capture. A malformed line becomes a Warning and the parse goes on; the caller knows the file.
package diag

import "fmt"

// Warning is a problem at one line (1-based) of a capture. Line 0 means the whole input.
type Warning struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Line == 0 {
		return w.Message
	}
	return fmt.Sprintf("line %d: %s", w.Line, w.Message)
}

// Warnf builds a Warning at line.
func Warnf(line int, format string, args ...any) Warning {
	return Warning{Line: line, Message: fmt.Sprintf(format, args...)}
}
