package model

import (
	"bytes"
	"sync/atomic"

	"github.com/netsift/netsift/analyze/model/internal/fastyaml"
	"github.com/netsift/netsift/internal/par"
)

// fastConvert is the fast path for one List item in kubectl's YAML style: it appends the
// item's JSON to dst and gives the item's last content line, or says !ok when the item needs
// the full YAML parser. Tests turn it off to compare.
var fastConvert = fastyaml.Convert

// byItem can be turned off by tests, to compare with the whole-file decoder.
var byItem = true

// itemSpan is one List item: lines [start, end) of the file, 0-based.
type itemSpan struct{ start, end int }

// decodeList decodes a file shaped as kubectl prints a List ("items:" then one "- " block per
// object at column 0) item by item on every core. ok is false for any other shape, or when an
// item does not parse: the caller then reads the whole file with the general decoder, which
// also recovers item by item with warnings.
func decodeList(file string, data []byte) ([]decodedObject, bool) {
	if !byItem {
		return nil, false
	}
	lines := splitLines(data)
	items, outside, ok := listItems(lines)
	if !ok || len(items) == 0 {
		return nil, false
	}
	// The List's own keys (apiVersion, kind, metadata) must say it is a List.
	docs, err := decodeDocuments(bytes.Join(outside, []byte("\n")))
	if err != nil || len(docs) != 1 || len(docs[0].Content) != 1 {
		return nil, false
	}
	if k := scalarField(docs[0].Content[0], "kind"); len(k) < 4 || k[len(k)-4:] != "List" {
		return nil, false
	}

	out := make([]decodedObject, len(items))
	var failed atomic.Bool
	par.For(len(items), func(i int) {
		if failed.Load() {
			return
		}
		text := dedentItem(nil, lines[items[i].start:items[i].end])
		if text == nil {
			failed.Store(true)
			return
		}
		o, ok := itemObject(file, text, items[i].start)
		if !ok {
			failed.Store(true)
			return
		}
		out[i] = decodeObject(o)
	})
	if failed.Load() {
		return nil, false
	}
	return out, true
}

// splitLines cuts data into lines without their "\n".
func splitLines(data []byte) [][]byte {
	lines := make([][]byte, 0, bytes.Count(data, []byte("\n"))+1)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i])
		data = data[i+1:]
	}
	return lines
}

// listItems finds the items of a kubectl List, and the lines outside them (the List's keys,
// "items:" left out).
func listItems(lines [][]byte) (items []itemSpan, outside [][]byte, ok bool) {
	in := false
	for i, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		switch {
		case !in && string(l) == "items:":
			in = true
		case in && len(l) >= 2 && l[0] == '-' && l[1] == ' ':
			if k := len(items) - 1; k >= 0 {
				items[k].end = i
			}
			items = append(items, itemSpan{start: i, end: len(lines)})
		case in && (len(l) == 0 || l[0] == ' '):
			if len(items) == 0 {
				return nil, nil, false
			}
		case len(l) > 0 && (l[0] == '#' || l[0] == '-' || l[0] == '\t'):
			return nil, nil, false // a comment, document marker or tab: not kubectl's output
		default:
			if in && len(items) > 0 {
				items[len(items)-1].end = i
			}
			in = false
			outside = append(outside, l)
		}
	}
	return items, outside, true
}

// dedentItem writes an item as a mapping of its own: "- " and the two columns of every
// following line removed. nil when a line is not indented by two.
func dedentItem(dst []byte, lines [][]byte) []byte {
	for j, l := range lines {
		switch {
		case j == 0:
			l = l[2:]
		case len(bytes.TrimRight(l, " \r")) == 0:
			l = nil
		case len(l) >= 2 && l[0] == ' ' && l[1] == ' ':
			l = l[2:]
		default:
			return nil
		}
		dst = append(dst, l...)
		dst = append(dst, '\n')
	}
	if dst == nil {
		dst = []byte{}
	}
	return dst
}

// itemObject turns one de-indented item into its JSON: by the fast path when it can, else by
// yaml.v3. start places the item in its file (0-based line of its "- ").
func itemObject(file string, text []byte, start int) (rawObject, bool) {
	if fastConvert != nil {
		if out, last, ok := fastConvert(nil, text); ok {
			api, kind := fastyaml.Header(text)
			return rawObject{APIVersion: api, Kind: kind, JSON: out,
				Src: Source{File: file, Line: start + 1, EndLine: start + last, Column: 3}}, true
		}
	}
	docs, err := decodeDocuments(text)
	if err != nil || len(docs) != 1 {
		return rawObject{}, false
	}
	objs, errs := objectsOf(file, docs[0], start, 2)
	if len(errs) > 0 || len(objs) != 1 {
		return rawObject{}, false
	}
	return objs[0], true
}
