// Package iproute parses iproute2 captures of a node — `ip addr`, `ip -d -s link`,
// `ip route show table all`, `ip rule`, `ip neigh` and `bridge fdb show` — in both the JSON form
// (`ip -j`) and the text form older iproute2 prints without -j. Each parser is a pure function
// over a reader; every element keeps the line where it starts so evidence can cite it, and a
// malformed part becomes a diag.Warning instead of ending the parse.
package iproute

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	jsoniter "github.com/json-iterator/go"
	"io"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unique"

	"github.com/netsift/netsift/parsers/diag"
)

// Format says which form of a capture was read.
type Format string

const (
	FormatJSON Format = "json"
	FormatText Format = "text"
)

// ErrUnknownFormat is returned for input that is neither iproute2 JSON nor text (binary data).
var ErrUnknownFormat = errors.New("iproute: input is neither iproute2 JSON nor text")

// readInput reads the whole capture (captures are small and JSON line tracking needs the raw
// bytes) and tells which form it is in.
func readInput(r io.Reader) ([]byte, Format, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("iproute: read: %w", err)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, "", ErrUnknownFormat
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '[' || trimmed[0] == '{') {
		return data, FormatJSON, nil
	}
	return data, FormatText, nil
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int // offsets of '\n'

func newLineIndex(data []byte) lineIndex {
	var idx lineIndex
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i)
		}
	}
	return idx
}

func (li lineIndex) line(off int) int {
	return sort.SearchInts(li, off) + 1
}

// jsonElements walks every top-level array of data (ip -j prints one; a capture may hold several
// concatenated) and calls fn with each element object and the line where the object starts.
// A syntax error ends the walk with a warning: the decoder cannot resynchronise after it.
func jsonElements(data []byte, warn func(diag.Warning), fn func(o jobj)) {
	li := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	startLine := func(off int) int {
		for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n' || data[off] == ',') {
			off++
		}
		return li.line(off)
	}
	element := func() bool {
		line := startLine(int(dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			warn(diag.Warnf(line, "invalid JSON: %v", err))
			return false
		}
		var m map[string]json.RawMessage
		if err := unmarshalFast(raw, &m); err != nil || m == nil {
			warn(diag.Warnf(line, "JSON element is not an object: %.40s", raw))
			return true
		}
		fn(jobj{m: m, line: line, warn: warn})
		return true
	}
	for {
		line := startLine(int(dec.InputOffset()))
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			warn(diag.Warnf(line, "invalid JSON: %v", err))
			return
		}
		switch tok {
		case json.Delim('['):
			for dec.More() {
				if !element() {
					return
				}
			}
			if _, err := dec.Token(); err != nil {
				warn(diag.Warnf(startLine(int(dec.InputOffset())), "invalid JSON: %v", err))
				return
			}
		case json.Delim('{'):
			// A lone object: rewind is impossible with a Decoder, so decode its members here.
			m := map[string]json.RawMessage{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					warn(diag.Warnf(line, "invalid JSON: %v", err))
					return
				}
				k, _ := kt.(string)
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					warn(diag.Warnf(line, "invalid JSON: %v", err))
					return
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				warn(diag.Warnf(line, "invalid JSON: %v", err))
				return
			}
			fn(jobj{m: m, line: line, warn: warn})
		default:
			warn(diag.Warnf(line, "unexpected top-level JSON value %v", tok))
		}
	}
}

// jobj is one JSON object of ip -j output, read leniently: iproute2 versions disagree on
// whether numbers are numbers or strings, and a field of the wrong type is a warning, not a stop.
type jobj struct {
	m    map[string]json.RawMessage
	line int
	warn func(diag.Warning)
}

// plainJSONString decodes a JSON string without escapes or control characters (what ip -j
// prints) without the reflection of json.Unmarshal; ok is false for anything else.
func plainJSONString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

func (o jobj) has(k string) bool { _, ok := o.m[k]; return ok }

func (o jobj) str(k string) string {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return ""
	}
	if s, ok := plainJSONString(raw); ok {
		return s
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	o.warn(diag.Warnf(o.line, "field %q: want a string, got %.40s", k, raw))
	return ""
}

func (o jobj) num(k string) int64 {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return 0
	}
	if v, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return v // a plain integer, the common case, without a JSON decoder
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return v
		}
		if v, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			return int64(v >> 1) // beyond int64: only reachable with corrupt input
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if v, err := strconv.ParseInt(s, 0, 64); err == nil {
			return v
		}
	}
	o.warn(diag.Warnf(o.line, "field %q: want a number, got %.40s", k, raw))
	return 0
}

func (o jobj) uint(k string) uint64 {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return 0
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if v, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			return v
		}
	}
	o.warn(diag.Warnf(o.line, "field %q: want a counter, got %.40s", k, raw))
	return 0
}

// flag reads a boolean member; iproute2 prints some flags as `true` and some as `null`
// (present = set, e.g. "not": null in ip -j rule).
func (o jobj) flag(k string) bool {
	raw, ok := o.m[k]
	if !ok {
		return false
	}
	switch string(raw) {
	case "null", "true", "1", `"on"`:
		return true
	case "false", "0", `"off"`:
		return false
	}
	o.warn(diag.Warnf(o.line, "field %q: want a boolean, got %.40s", k, raw))
	return false
}

func (o jobj) strs(k string) []string {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		o.warn(diag.Warnf(o.line, "field %q: want a list of strings, got %.40s", k, raw))
		return nil
	}
	if len(ss) == 0 {
		return nil
	}
	return ss
}

func (o jobj) sub(k string) (jobj, bool) {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return jobj{}, false
	}
	var m map[string]json.RawMessage
	if err := unmarshalFast(raw, &m); err != nil {
		o.warn(diag.Warnf(o.line, "field %q: want an object, got %.40s", k, raw))
		return jobj{}, false
	}
	return jobj{m: m, line: o.line, warn: o.warn}, true
}

func (o jobj) list(k string) []jobj {
	raw, ok := o.m[k]
	if !ok || string(raw) == "null" {
		return nil
	}
	var ms []map[string]json.RawMessage
	if err := unmarshalFast(raw, &ms); err != nil {
		o.warn(diag.Warnf(o.line, "field %q: want a list of objects, got %.40s", k, raw))
		return nil
	}
	out := make([]jobj, 0, len(ms))
	for _, m := range ms {
		out = append(out, jobj{m: m, line: o.line, warn: o.warn})
	}
	return out
}

func (o jobj) addr(k string) netip.Addr {
	s := o.str(k)
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		o.warn(diag.Warnf(o.line, "field %q: bad address %q", k, s))
	}
	return a
}

// textLines calls fn for every line of data with its 1-based number.
func textLines(data []byte, fn func(n int, line string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		fn(n, strings.TrimRight(sc.Text(), "\r"))
	}
}

// parsePrefix reads "10.0.0.0/8", a bare address (a host route, /32 or /128) or "default"/"all"
// (v6 says which family the default is).
func parsePrefix(s string, v6 bool) (netip.Prefix, error) {
	if s == "default" || s == "all" {
		if v6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0), nil
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	}
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func atoi(s string) (int, bool) {
	v, err := strconv.Atoi(s)
	return v, err == nil
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// kv walks the "key value" pairs of a text line, starting at fields[i].
type fieldReader struct {
	f []string
	i int
}

func (r *fieldReader) more() bool { return r.i < len(r.f) }
func (r *fieldReader) next() string {
	if r.i >= len(r.f) {
		return ""
	}
	s := r.f[r.i]
	r.i++
	return s
}
func (r *fieldReader) peek() string {
	if r.i >= len(r.f) {
		return ""
	}
	return r.f[r.i]
}

// keep returns the one copy of a string a parsed object keeps, so that the text it came from can
// go: fifty nodes' routes and addresses repeat the same devices, scopes, tables and protocols.
func keep(s string) string { return unique.Make(s).Value() }

// fastJSON decodes the objects of ip -j output: json-iterator's encoding/json-compatible
// configuration, about twice as fast (an IPVS node's kube-ipvs0 holds every ClusterIP).
// Tests compare it with encoding/json.
var fastJSON interface{ Unmarshal([]byte, any) error } = jsoniter.ConfigCompatibleWithStandardLibrary

// unmarshalFast decodes with fastJSON, and with encoding/json when that fails, so that what is
// accepted and the warnings are encoding/json's.
func unmarshalFast(raw []byte, v any) error {
	if !utf8.Valid(raw) {
		return json.Unmarshal(raw, v) // json-iterator keeps invalid bytes in keys that encoding/json replaces
	}
	if fastJSON.Unmarshal(raw, v) == nil {
		switch x := v.(type) {
		case *map[string]json.RawMessage:
			keepNulls(*x)
		case *[]map[string]json.RawMessage:
			for _, m := range *x {
				keepNulls(m)
			}
		}
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero() // what the failed decode left
	return json.Unmarshal(raw, v)
}

// keepNulls gives back the literal null that json-iterator drops from a RawMessage member
// (encoding/json keeps it, and iproute2 prints flags such as "not": null that way).
func keepNulls(m map[string]json.RawMessage) {
	for k, raw := range m {
		if raw == nil {
			m[k] = json.RawMessage("null")
		}
	}
}
