// Package fastyaml converts the block YAML that kubectl prints (go-yaml style) straight into
// JSON, 20-40 times faster than building a yaml.v3 node tree first.
//
// It handles a strict subset of YAML and says so (ok=false) as soon as the text steps outside
// it; the caller then falls back to a full YAML parser. Within the subset, the JSON is exactly
// what analyze/model's converter writes from the yaml.v3 node tree for the same text: same
// scalar resolution (yaml.v3's resolve, then writeScalar), keys always strings, timestamps
// kept as strings, .inf/.nan as strings.
//
// The subset: block mappings and block sequences (including kubectl's sequences at the same
// indentation as their key, compact "- key: v" and "- - x" entries), single-line plain,
// single-quoted and double-quoted scalars, literal block scalars (|, |-, |+, with explicit or
// detected indentation), the empty flow collections {} and [], plain or quoted keys, blank
// lines. Anything else (comments, anchors, aliases, tags, folded scalars, multi-line
// flow scalars, flow collections with content, document markers, directives, tabs outside
// scalars, duplicate keys, "<<", complex keys, CR line ends, characters yaml.v3 rejects)
// makes Convert return ok=false.
package fastyaml

import (
	"bytes"
	"strconv"
)

const (
	// maxDepth stays well below the converter's nesting limit (500).
	maxDepth = 400
	// maxNodes is the converter's node limit: beyond it, the full path reports the error.
	maxNodes = 1_000_000
	// maxKeyLen keeps plain and quoted keys below libyaml's 1024-character simple key limit.
	maxKeyLen = 1000
)

// bail is panicked with (and recovered in Convert) when the text leaves the subset.
type bail struct{}

type keyRef struct{ off, n int }

type parser struct {
	data []byte
	dst  []byte

	pos  int // cursor
	ls   int // start of the line holding pos
	line int // 1-based line number of pos
	ind  int // indentation of the current line, valid after peek
	eof  bool

	maxLine int
	nodes   int
	depth   int
	// The JSON keys of the open mappings, as offsets into dst: the first ones in an array
	// (a slice of it would make the parser escape to the heap), then in a slice.
	nkeys    int
	keyArr   [32]keyRef
	keyExtra []keyRef
}

func (p *parser) fail() { panic(bail{}) }

// debugBail, when set (by tests), hears the line where Convert gave up.
var debugBail func(line int)

// Convert turns one YAML block mapping, in the style kubectl (go-yaml) prints, into JSON.
// data is the mapping's text starting at column 0 (a List item already de-indented: the caller
// turns "- apiVersion: v1\n  kind: Pod\n" into "apiVersion: v1\nkind: Pod\n").
// ok is false when the text uses anything outside the subset it handles; the caller then falls
// back to a full YAML parser. lastLine is the 1-based line (within data) of the last line that
// holds content (what converter.maxLine gives for the same text: the line of the last key or
// scalar; a literal block scalar counts at its "|" line).
// The JSON is appended to dst; on !ok, out is dst unchanged.
func Convert(dst []byte, data []byte) (out []byte, lastLine int, ok bool) {
	p := parser{data: data, dst: dst, line: 1}
	defer func() {
		if !ok {
			if r := recover(); r != nil {
				if _, isBail := r.(bail); !isBail {
					panic(r)
				}
			}
			if debugBail != nil {
				debugBail(p.line)
			}
			out, lastLine = dst, 0
		}
	}()
	p.peek()
	if p.eof || p.ind != 0 {
		return dst, 0, false
	}
	k, isKey := p.scanKey(p.pos)
	if !isKey {
		return dst, 0, false
	}
	p.mapping(0, k)
	if !p.eof {
		p.fail()
	}
	return p.dst, p.maxLine, true
}

// node counts one node of the tree at the current line.
func (p *parser) node() {
	p.nodes++
	if p.nodes > maxNodes {
		p.fail()
	}
	p.maxLine = p.line
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail()
	}
}

// peek moves from p.pos (a line start) to the first character of the next line with content,
// skipping blank lines, and sets ind. At the end of data it sets eof.
func (p *parser) peek() {
	d := p.data
	for {
		i := p.pos
		for i < len(d) && d[i] == ' ' {
			i++
		}
		if i >= len(d) {
			p.pos, p.eof = i, true
			return
		}
		switch d[i] {
		case '\n':
			p.pos = i + 1
			p.line++
			continue
		case '\t', '#', '\r':
			p.fail()
		}
		p.ls, p.ind = p.pos, i-p.pos
		p.pos = i
		if p.ind == 0 && i+2 < len(d) && (d[i] == '-' && d[i+1] == '-' && d[i+2] == '-' || d[i] == '.' && d[i+1] == '.' && d[i+2] == '.') {
			p.fail() // document marker (or something too close to one)
		}
		return
	}
}

// nextLine moves past the end of the current line (p.pos is on it) and peeks.
func (p *parser) nextLine() {
	j := bytes.IndexByte(p.data[p.pos:], '\n')
	if j < 0 {
		p.pos, p.eof = len(p.data), true
		return
	}
	p.pos += j + 1
	p.line++
	p.peek()
}

// endLine checks that only spaces remain on the line after a scalar, moves to the next
// content line and checks it does not continue the scalar (deeper than the collection at col).
func (p *parser) endLine(col int) {
	d := p.data
	i := p.pos
	for i < len(d) && d[i] == ' ' {
		i++
	}
	if i < len(d) {
		if d[i] != '\n' {
			p.fail()
		}
		p.pos = i + 1
		p.line++
		p.peek()
	} else {
		p.pos, p.eof = i, true
	}
	if !p.eof && p.ind > col {
		p.fail()
	}
}

// isEntry reports whether p.pos holds a block sequence entry indicator.
func (p *parser) isEntry() bool {
	d := p.data
	i := p.pos
	if d[i] != '-' {
		return false
	}
	if i+1 == len(d) {
		return true
	}
	switch d[i+1] {
	case ' ', '\n':
		return true
	case '\t':
		p.fail()
	}
	return false
}

// key is a scanned mapping key (or, when it turns out not to be one, a plain scalar).
type key struct {
	start, end int  // the key text (plain), or the quoted scalar including its quotes
	after      int  // just past the ':' indicator (keys), or the end of the plain scalar's line
	quote      byte // 0 (plain), '\'' or '"'
	esc        bool // plain text that needs JSON escaping
}

// scanKey looks at the text at i: a key (plain or quoted) followed by ':' and a blank.
// When it is not a key but a plain scalar, the result still describes the scalar.
func (p *parser) scanKey(i int) (k key, isKey bool) {
	d := p.data
	switch c := d[i]; c {
	case '"', '\'':
		end := p.quotedEnd(i)
		k = key{start: i, end: end, quote: c}
		if end < len(d) && d[end] == ':' {
			if end+1 == len(d) || d[end+1] == ' ' || d[end+1] == '\n' {
				if end-i > maxKeyLen {
					p.fail()
				}
				k.after = end + 1
				return k, true
			}
			p.fail()
		}
		return k, false
	}
	if !p.plainStart(i) {
		return key{start: i, end: i}, false
	}
	end, stop, colon, esc := p.scanPlain(i)
	k = key{start: i, end: end, esc: esc, after: stop}
	if !colon {
		return k, false
	}
	if stop-i > maxKeyLen || end-i == 2 && d[i] == '<' && d[i+1] == '<' {
		p.fail()
	}
	k.after = stop + 1
	return k, true
}

// quotedEnd returns the index just past the closing quote of the quoted scalar at i, which
// must close on the same line.
func (p *parser) quotedEnd(i int) int {
	d := p.data
	q := d[i]
	i++
	for {
		j := i
		for j < len(d) && d[j] != q && d[j] != '\\' && d[j] != '\n' {
			j++
		}
		if j >= len(d) || d[j] == '\n' {
			p.fail() // multi-line or unterminated
		}
		if d[j] == '\\' {
			if q == '"' {
				if j+1 >= len(d) || d[j+1] == '\n' {
					p.fail()
				}
				i = j + 2
			} else {
				i = j + 1
			}
			continue
		}
		if q == '\'' && j+1 < len(d) && d[j+1] == '\'' {
			i = j + 2
			continue
		}
		return j + 1
	}
}

// plainStart reports whether a plain scalar may start at i (libyaml's rule, block context).
func (p *parser) plainStart(i int) bool {
	d := p.data
	switch d[i] {
	case '-', '?', ':':
		if i+1 >= len(d) {
			return false
		}
		switch d[i+1] {
		case ' ', '\t', '\n', '\r':
			return false
		}
		return true
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
		' ', '\t', '\n', '\r':
		return false
	}
	return true
}

// scanPlain scans the single-line plain scalar at i. end is the end of its text (trailing
// spaces trimmed); stop is the ':' that ends it as a key (colon=true) or the end of the line.
// esc reports a '"' or '\' (the JSON string needs escaping).
func (p *parser) scanPlain(i int) (end, stop int, colon, esc bool) {
	d := p.data
	end = i
	for i < len(d) {
		switch plainClass[d[i]] {
		case pcOK:
			i++
			for i < len(d) && plainClass[d[i]] == pcOK {
				i++
			}
			end = i
		case pcSpace:
			j := i + 1
			for j < len(d) && d[j] == ' ' {
				j++
			}
			if j < len(d) && d[j] == '#' {
				p.fail() // comment
			}
			i = j
		case pcColon:
			if i+1 == len(d) {
				return end, i, true, esc
			}
			switch d[i+1] {
			case ' ', '\n':
				return end, i, true, esc
			case '\t', '\r':
				p.fail()
			}
			i++
			end = i
		case pcEsc:
			esc = true
			i++
			end = i
		case pcNL:
			return end, i, false, esc
		case pcHigh:
			n := runeLen(d[i:])
			if n == 0 {
				p.fail()
			}
			i += n
			end = i
		default:
			p.fail()
		}
	}
	return end, i, false, esc
}

// linearKeys is how many keys of a mapping are checked for duplicates by scanning them;
// beyond, a map takes over (so a hostile mapping with many keys stays linear).
const linearKeys = 64

// writeKey writes k as a JSON key followed by ':' and checks it is not a duplicate of the keys
// of its mapping, which start at base (or are in *seen, once there are many).
func (p *parser) writeKey(k key, base int, seen *map[string]struct{}) {
	off := len(p.dst)
	switch k.quote {
	case 0:
		p.dst = appendStr(p.dst, p.data[k.start:k.end], k.esc)
	case '\'':
		p.writeSingle(k.start)
	default:
		p.writeDouble(k.start)
	}
	n := len(p.dst) - off
	kb := p.dst[off:]
	if *seen != nil {
		if _, dup := (*seen)[string(kb)]; dup {
			p.fail()
		}
		(*seen)[string(kb)] = struct{}{}
		p.dst = append(p.dst, ':')
		p.maxLine = p.line
		return
	}
	for i := base; i < p.nkeys; i++ {
		o := p.key(i)
		if o.n == n && bytes.Equal(p.dst[o.off:o.off+n], kb) {
			p.fail() // duplicate key
		}
	}
	if p.nkeys-base == linearKeys {
		m := make(map[string]struct{}, 2*linearKeys)
		for i := base; i < p.nkeys; i++ {
			o := p.key(i)
			m[string(p.dst[o.off:o.off+o.n])] = struct{}{}
		}
		m[string(kb)] = struct{}{}
		*seen = m
	} else {
		if p.nkeys < len(p.keyArr) {
			p.keyArr[p.nkeys] = keyRef{off, n}
		} else {
			p.keyExtra = append(p.keyExtra[:p.nkeys-len(p.keyArr)], keyRef{off, n})
		}
		p.nkeys++
	}
	p.dst = append(p.dst, ':')
	p.maxLine = p.line
}

func (p *parser) key(i int) keyRef {
	if i < len(p.keyArr) {
		return p.keyArr[i]
	}
	return p.keyExtra[i-len(p.keyArr)]
}

// mapping parses a block mapping whose first key k starts at column col.
func (p *parser) mapping(col int, k key) {
	p.enter()
	p.node()
	p.dst = append(p.dst, '{')
	base := p.nkeys
	var seen map[string]struct{}
	for {
		p.writeKey(k, base, &seen)
		p.pos = k.after
		p.value(col)
		if p.eof || p.ind < col {
			break
		}
		if p.ind > col || p.isEntry() {
			p.fail()
		}
		var isKey bool
		if k, isKey = p.scanKey(p.pos); !isKey {
			p.fail()
		}
		p.dst = append(p.dst, ',')
	}
	p.dst = append(p.dst, '}')
	p.nkeys = base
	p.depth--
}

// value parses the value of a key of the mapping at column col; p.pos is just past the ':'.
func (p *parser) value(col int) {
	d := p.data
	i := p.pos
	for i < len(d) && d[i] == ' ' {
		i++
	}
	p.pos = i
	if i < len(d) && d[i] != '\n' {
		p.inline(col)
		return
	}
	// Nothing on the key's line: null, or a block collection on the next lines.
	p.nextLine()
	switch {
	case p.eof || p.ind < col:
		p.null()
	case p.ind == col:
		if p.isEntry() {
			p.sequence(col) // kubectl's "key:\n- item"
		} else {
			p.null()
		}
	default:
		p.block(p.ind)
	}
}

// block parses the collection starting at p.pos, a line's first content at column col.
func (p *parser) block(col int) {
	if p.isEntry() {
		p.sequence(col)
		return
	}
	k, isKey := p.scanKey(p.pos)
	if !isKey {
		p.fail() // a scalar on its own line (possibly multi-line)
	}
	p.mapping(col, k)
}

func (p *parser) null() {
	p.nodes++
	if p.nodes > maxNodes {
		p.fail()
	}
	p.dst = append(p.dst, "null"...)
}

// sequence parses a block sequence whose first '-' is at p.pos, column col.
func (p *parser) sequence(col int) {
	p.enter()
	p.node()
	p.dst = append(p.dst, '[')
	d := p.data
	for {
		p.maxLine = p.line
		i := p.pos + 1
		for i < len(d) && d[i] == ' ' {
			i++
		}
		p.pos = i
		if i >= len(d) || d[i] == '\n' {
			p.nextLine()
			if p.eof || p.ind <= col {
				p.null()
			} else {
				p.block(p.ind)
			}
		} else if c := i - p.ls; p.isEntry() {
			p.sequence(c)
		} else if k, isKey := p.scanKey(i); isKey {
			p.mapping(c, k)
		} else if k.quote == 0 && k.end > k.start {
			// A plain scalar, already scanned to the end of its line.
			p.node()
			p.dst = appendPlain(p, p.dst, d[k.start:k.end], k.esc)
			p.pos = k.after
			p.endLine(col)
		} else {
			p.inline(col)
		}
		if p.eof || p.ind < col {
			break
		}
		if p.ind > col {
			p.fail()
		}
		if !p.isEntry() {
			break // back to the mapping holding this (same-indent) sequence
		}
		p.dst = append(p.dst, ',')
	}
	p.dst = append(p.dst, ']')
	p.depth--
}

// inline parses a scalar (or {} / []) starting at p.pos on a line, inside the collection at
// column col, and moves to the next content line.
func (p *parser) inline(col int) {
	d := p.data
	i := p.pos
	switch d[i] {
	case '"':
		p.node()
		p.pos = p.writeDouble(i)
	case '\'':
		p.node()
		p.pos = p.writeSingle(i)
	case '|':
		p.node()
		p.literal(col)
		return
	case '{', '[':
		if i+1 >= len(d) || d[i+1] != d[i]+2 { // '{'+2 == '}', '['+2 == ']'
			p.fail()
		}
		p.node()
		p.dst = append(p.dst, d[i], d[i+1])
		p.pos = i + 2
	default:
		if !p.plainStart(i) {
			p.fail()
		}
		end, stop, colon, esc := p.scanPlain(i)
		if colon {
			p.fail() // "key: a: b"
		}
		p.node()
		p.dst = appendPlain(p, p.dst, d[i:end], esc)
		p.pos = stop
	}
	p.endLine(col)
}

// writeSingle writes the single-quoted scalar at i as a JSON string; it returns the index
// just past the closing quote.
func (p *parser) writeSingle(i int) int {
	d := p.data
	i++
	p.dst = append(p.dst, '"')
	for {
		j := i
		for j < len(d) && d[j] != '\'' && d[j] != '\n' {
			j++
		}
		if j >= len(d) || d[j] == '\n' {
			p.fail()
		}
		p.dst = p.appendEscaped(p.dst, d[i:j])
		if j+1 < len(d) && d[j+1] == '\'' {
			p.dst = append(p.dst, '\'')
			i = j + 2
			continue
		}
		p.dst = append(p.dst, '"')
		return j + 1
	}
}

// writeDouble writes the double-quoted scalar at i as a JSON string; it returns the index
// just past the closing quote.
func (p *parser) writeDouble(i int) int {
	d := p.data
	i++
	p.dst = append(p.dst, '"')
	for {
		j := i
		for j < len(d) && d[j] != '"' && d[j] != '\\' && d[j] != '\n' {
			j++
		}
		if j >= len(d) || d[j] == '\n' {
			p.fail()
		}
		p.dst = p.appendEscaped(p.dst, d[i:j])
		if d[j] == '"' {
			p.dst = append(p.dst, '"')
			return j + 1
		}
		// An escape sequence.
		if j+1 >= len(d) {
			p.fail()
		}
		i = j + 2
		// Every escaped character goes through appendRune, so that one string always has one
		// JSON spelling (the duplicate key check compares spellings).
		switch e := d[j+1]; e {
		case '0', 'a', 'b', 't', '\t', 'n', 'v', 'f', 'r', 'e', ' ', '\'', '"', '\\', 'N', '_', 'L', 'P':
			p.dst = appendRune(p.dst, simpleEscapes[e])
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+n > len(d) {
				p.fail()
			}
			v := 0
			for _, h := range d[i : i+n] {
				switch {
				case h >= '0' && h <= '9':
					v = v<<4 | int(h-'0')
				case h >= 'a' && h <= 'f':
					v = v<<4 | int(h-'a'+10)
				case h >= 'A' && h <= 'F':
					v = v<<4 | int(h-'A'+10)
				default:
					p.fail()
				}
			}
			if v >= 0xD800 && v <= 0xDFFF || v > 0x10FFFF {
				p.fail()
			}
			i += n
			p.dst = appendRune(p.dst, rune(v))
		default:
			p.fail() // unknown escape, or an escaped line break
		}
	}
}

// simpleEscapes maps the one-character escapes of double-quoted scalars (yaml.v3's list) to
// what they stand for.
var simpleEscapes = [256]rune{
	'0': 0, 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f', 'r': '\r',
	'e': 0x1b, ' ': ' ', '\'': '\'', '"': '"', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029,
}

// literal parses a literal block scalar whose '|' is at p.pos, inside the collection at
// column col, following libyaml's yaml_parser_scan_block_scalar; it leaves p on the next
// content line.
func (p *parser) literal(col int) {
	d := p.data
	i := p.pos + 1
	chomp, inc := 0, 0
	digit := func() {
		if i < len(d) && d[i] >= '0' && d[i] <= '9' {
			if d[i] == '0' {
				p.fail()
			}
			inc = int(d[i] - '0')
			i++
		}
	}
	if i < len(d) && (d[i] == '+' || d[i] == '-') {
		chomp = 1
		if d[i] == '-' {
			chomp = -1
		}
		i++
		digit()
	} else {
		digit()
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			chomp = 1
			if d[i] == '-' {
				chomp = -1
			}
			i++
		}
	}
	for i < len(d) && d[i] == ' ' {
		i++
	}
	if i < len(d) {
		if d[i] != '\n' {
			p.fail() // comment, tab or anything else after the header
		}
		i++
		p.line++
	}
	indent := 0
	if inc > 0 {
		indent = col + inc
	}
	trailing := 0 // pending empty lines
	ls := i
	// breaks scans the indentation and the empty lines before a content line, as
	// yaml_parser_scan_block_scalar_breaks does; it leaves i on the first character of
	// the next non-empty line (or at the end) and ls at that line's start.
	breaks := func() (maxIndent int) {
		for {
			ls = i
			for i < len(d) && d[i] == ' ' && (indent == 0 || i-ls < indent) {
				i++
			}
			if i-ls > maxIndent {
				maxIndent = i - ls
			}
			if i >= len(d) {
				return
			}
			switch d[i] {
			case '\t':
				if indent == 0 || i-ls < indent {
					p.fail()
				}
			case '\r':
				p.fail()
			case '\n':
				trailing++
				i++
				p.line++
				continue
			}
			return
		}
	}
	maxIndent := breaks()
	if indent == 0 {
		indent = maxIndent
		if indent < col+1 {
			indent = col + 1
		}
	}
	p.dst = append(p.dst, '"')
	leadingBreak := false
	for i < len(d) && i-ls == indent {
		if leadingBreak {
			p.dst = append(p.dst, '\\', 'n')
		}
		for ; trailing > 0; trailing-- {
			p.dst = append(p.dst, '\\', 'n')
		}
		e := bytes.IndexByte(d[i:], '\n')
		if e < 0 {
			e = len(d)
		} else {
			e += i
		}
		p.dst = p.appendEscaped(p.dst, d[i:e])
		if e < len(d) {
			leadingBreak = true
			i = e + 1
			p.line++
		} else {
			leadingBreak = false
			i = e
		}
		breaks()
	}
	if chomp != -1 && leadingBreak {
		p.dst = append(p.dst, '\\', 'n')
	}
	if chomp == 1 {
		for ; trailing > 0; trailing-- {
			p.dst = append(p.dst, '\\', 'n')
		}
	}
	p.dst = append(p.dst, '"')
	// Continue with the structure at the line where the scalar stopped.
	p.pos = ls
	p.peek()
	if !p.eof && p.ind > col {
		p.fail()
	}
}

// Header returns the values of the top-level apiVersion and kind keys of data as the full
// path's scalarField does (the raw scalar text, "" when absent or not a scalar). It is meant
// for text Convert accepted.
func Header(data []byte) (apiVersion, kind string) {
	defer func() {
		if r := recover(); r != nil {
			if _, isBail := r.(bail); !isBail {
				panic(r)
			}
		}
	}()
	p := parser{data: data, line: 1}
	gotAPI, gotKind := false, false
	for ls := 0; ls < len(data) && !(gotAPI && gotKind); {
		le := bytes.IndexByte(data[ls:], '\n')
		if le < 0 {
			le = len(data)
		} else {
			le += ls
		}
		if c := data[ls]; c != ' ' && c != '\n' && c != '-' {
			if k, isKey := p.scanKey(ls); isKey {
				var name string
				if k.quote == 0 {
					name = string(data[k.start:k.end])
				} else {
					name = unquoteJSON(appendQuoted(nil, data, k.start))
				}
				if name == "apiVersion" && !gotAPI {
					apiVersion, gotAPI = rawScalar(data, k.after), true
				} else if name == "kind" && !gotKind {
					kind, gotKind = rawScalar(data, k.after), true
				}
			}
		}
		ls = le + 1
	}
	return apiVersion, kind
}

// appendQuoted writes the quoted scalar at i as a JSON string.
func appendQuoted(dst, data []byte, i int) []byte {
	p := parser{data: data, dst: dst, line: 1}
	if data[i] == '\'' {
		p.writeSingle(i)
	} else {
		p.writeDouble(i)
	}
	return p.dst
}

// rawScalar returns the text of the scalar value after a key's ':' at i (yaml.v3's Value).
func rawScalar(data []byte, i int) string {
	for i < len(data) && data[i] == ' ' {
		i++
	}
	if i >= len(data) || data[i] == '\n' {
		return ""
	}
	p := parser{data: data, line: 1, pos: i}
	switch data[i] {
	case '"', '\'':
		return unquoteJSON(appendQuoted(nil, data, i))
	case '|':
		p.literal(0)
		return unquoteJSON(p.dst)
	}
	if !p.plainStart(i) {
		return ""
	}
	end, _, _, _ := p.scanPlain(i)
	return string(data[i:end])
}

func unquoteJSON(b []byte) string {
	// Every escape appendEscaped and writeDouble produce is also a Go escape.
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return ""
	}
	return s
}
