// Package diag holds the one type every capture parser shares: a warning tied to a line of the
// capture. A malformed line becomes a Warning and the parse goes on; the caller knows the file.
package diag

import (
	"bytes"
	"fmt"
)

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

// NoLoneCR replaces each carriage return not followed by a newline with a space. YAML counts a
// lone CR as a line break while the bundle's line numbers count newlines only; without this a
// line number from the YAML parser would point past the line it means.
func NoLoneCR(data []byte) []byte {
	if bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	out := make([]byte, len(data))
	copy(out, data)
	for i, c := range out {
		if c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			out[i] = ' '
		}
	}
	return out
}
