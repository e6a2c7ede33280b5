package fastyaml

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Byte classes inside a single-line plain scalar.
const (
	pcOK    = iota // copied as is
	pcSpace        // may start a comment (" #") or trailing spaces
	pcColon        // may end the scalar as a key (": ")
	pcEsc          // '"' or '\': copied, with JSON escaping
	pcNL           // end of the line
	pcHigh         // first byte of a multi-byte UTF-8 sequence
	pcBad          // tab, CR and the control characters: leave it to the full parser
)

var plainClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == ' ':
			t[c] = pcSpace
		case c == ':':
			t[c] = pcColon
		case c == '"' || c == '\\':
			t[c] = pcEsc
		case c == '\n':
			t[c] = pcNL
		case c >= 0x80:
			t[c] = pcHigh
		case c < 0x20 || c == 0x7f:
			t[c] = pcBad
		default:
			t[c] = pcOK
		}
	}
	return
}()

// strSafe marks the bytes a JSON string holds unescaped and YAML allows as content.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

// runeLen returns the length of the UTF-8 sequence at the start of b, or 0 when it is invalid
// or a character yaml.v3 rejects or reads as a line break (C1 controls including NEL,
// U+2028, U+2029), or the BOM, U+FFFE, U+FFFF.
func runeLen(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	if r < 0xA0 || r == 0x2028 || r == 0x2029 || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF {
		return 0
	}
	return n
}

// appendStr appends s as a JSON string; s holds only printable ASCII and valid UTF-8 (checked
// by scanPlain), esc says whether it has '"' or '\'.
func appendStr(dst, s []byte, esc bool) []byte {
	dst = append(dst, '"')
	if !esc {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', c)
			start = i + 1
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscaped appends the content s of a quoted or literal scalar (no line breaks) to a JSON
// string being written, failing on characters yaml.v3 would reject.
func (p *parser) appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if strSafe[c] {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c == '\t':
			dst = append(dst, '\\', 't')
			i++
		case c >= 0x80:
			n := runeLen(s[i:])
			if n == 0 {
				p.fail()
			}
			dst = append(dst, s[i:i+n]...)
			i += n
		default:
			p.fail()
		}
		start = i
	}
	return append(dst, s[start:]...)
}

const hexDigits = "0123456789abcdef"

// appendRune appends r (from a double-quoted escape) inside a JSON string.
func appendRune(dst []byte, r rune) []byte {
	switch {
	case r == '"' || r == '\\':
		return append(dst, '\\', byte(r))
	case r < 0x20:
		switch r {
		case '\n':
			return append(dst, '\\', 'n')
		case '\t':
			return append(dst, '\\', 't')
		case '\r':
			return append(dst, '\\', 'r')
		}
		return append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
	}
	return utf8.AppendRune(dst, r)
}

// resolveHint is yaml.v3's resolveTable: the first byte says what a plain scalar may be.
var resolveHint = func() (t [256]byte) {
	t['+'], t['-'] = 'S', 'S'
	for c := '0'; c <= '9'; c++ {
		t[c] = 'D'
	}
	for _, c := range "yYnNtTfFoO~<" {
		t[c] = 'M'
	}
	t['.'] = '.'
	return
}()

// appendPlain appends the JSON for a plain (unquoted) scalar s, exactly as the full path does:
// yaml.v3's resolve gives the tag, then writeScalar writes null, a bool, an int, a finite float
// or else the string.
func appendPlain(p *parser, dst, s []byte, esc bool) []byte {
	switch resolveHint[s[0]] {
	case 0:
		return appendStr(dst, s, esc)
	case 'M':
		switch string(s) {
		case "true", "True", "TRUE":
			return append(dst, "true"...)
		case "false", "False", "FALSE":
			return append(dst, "false"...)
		case "~", "null", "Null", "NULL":
			return append(dst, "null"...)
		case "<<":
			p.fail() // a merge key's tag: not ours
		}
		return appendStr(dst, s, esc)
	case '.':
		switch string(s) {
		case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF":
			return appendStr(dst, s, esc) // !!float, but writeScalar cannot parse it
		}
		// ParseFloat fails (and allocates its error) on anything but digits, '_', '.', 'e',
		// 'E', '+' and '-' when the text starts with '.' (no hex prefix, no inf/nan).
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c == '_' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
				return appendStr(dst, s, esc)
			}
		}
		if f, err := strconv.ParseFloat(string(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.AppendFloat(dst, f, 'g', -1, 64)
		}
		return appendStr(dst, s, esc)
	}
	// 'D' or 'S': an int, a float, a timestamp or a string.
	if len(s) <= 18 && (s[0] != '0' || len(s) == 1) {
		digits := true
		for _, c := range s {
			if c < '0' || c > '9' {
				digits = false
				break
			}
		}
		if digits {
			return append(dst, s...) // a decimal int that fits in int64, written as is
		}
	}
	switch string(s) {
	case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return appendStr(dst, s, esc)
	}
	// A timestamp (yaml.v3 tries those first) starts with 4 digits and '-', which none of the
	// number syntaxes below accept, and writeScalar writes it as a string: no need to parse it.
	var buf [64]byte
	plain := s
	for i, c := range s {
		if c == '_' {
			plain = append(buf[:0], s[:i]...)
			for _, c := range s[i:] {
				if c != '_' {
					plain = append(plain, c)
				}
			}
			break
		}
	}
	// strconv is only asked when its syntax check would pass: a failure allocates an error.
	if intSyntax(plain) {
		if v, err := strconv.ParseInt(string(plain), 0, 64); err == nil {
			return strconv.AppendInt(dst, v, 10)
		}
		if _, err := strconv.ParseUint(string(plain), 0, 64); err == nil {
			return appendStr(dst, s, esc) // !!int beyond int64: writeScalar falls back to the string
		}
	}
	if yamlStyleFloat(plain) {
		if _, err := strconv.ParseFloat(string(plain), 64); err == nil {
			// !!float: writeScalar parses the original text (with its underscores).
			if f, err := strconv.ParseFloat(string(s), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return strconv.AppendFloat(dst, f, 'g', -1, 64)
			}
			return appendStr(dst, s, esc)
		}
	}
	// What remains is a string, or one of yaml.v3's 0b/0o/-0b/-0o ints that ParseInt(_, 0, 64)
	// rejected, which writeScalar then writes as the string too.
	return appendStr(dst, s, esc)
}

// yamlStyleFloat matches ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
func yamlStyleFloat(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// intSyntax reports whether strconv.ParseInt(s, 0, 64) accepts the syntax of s (which holds no
// '_'): an optional sign, then 0x/0o/0b and at least one digit of that base, or a 0 and octal
// digits, or decimal digits.
func intSyntax(s []byte) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if len(s) == 0 {
		return false
	}
	max := byte('9')
	if s[0] == '0' {
		if len(s) >= 3 {
			switch s[1] | 0x20 {
			case 'x':
				for _, c := range s[2:] {
					if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f') {
						return false
					}
				}
				return true
			case 'o':
				s, max = s[2:], '7'
			case 'b':
				s, max = s[2:], '1'
			default:
				s, max = s[1:], '7'
			}
		} else {
			s, max = s[1:], '7'
		}
	}
	for _, c := range s {
		if c < '0' || c > max {
			return false
		}
	}
	return true
}
