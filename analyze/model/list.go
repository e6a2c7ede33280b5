package model

import (
	"bytes"
	"sync"
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

// itemSpan is one List item: it starts on line start of the file (0-based) and is bytes
// [from, to) (without its last line's "\n").
type itemSpan struct{ start, from, to int }

// decodeList decodes a file shaped as kubectl prints a List ("items:" then one "- " block per
// object at column 0) item by item on every core. ok is false for any other shape, or when an
// item does not parse: the caller then reads the whole file with the general decoder, which
// also recovers item by item with warnings.
func decodeList(file string, data []byte) ([]decodedObject, bool) {
	if !byItem {
		return nil, false
	}
	items, outside, ok := listItems(data)
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
		// An item's text and JSON are scratch: decoding copies what it keeps. Reusing them
		// spares the collector half a gigabyte of garbage on a large pods.yaml.
		sc, _ := itemScratchPool.Get().(*itemScratch)
		if sc == nil {
			sc = &itemScratch{}
		}
		defer itemScratchPool.Put(sc)
		sc.text = dedentItem(sc.text[:0], data[items[i].from:items[i].to])
		if sc.text == nil {
			failed.Store(true)
			return
		}
		o, ok := itemObject(file, sc.text, items[i].start, sc.json[:0])
		if !ok {
			failed.Store(true)
			return
		}
		o.strs = &sc.strs
		out[i] = decodeObject(o)
		sc.json = o.JSON[:0]
	})
	if failed.Load() {
		return nil, false
	}
	return out, true
}

// listItems finds the items of a kubectl List, and the lines outside them (the List's keys,
// "items:" left out). It walks the lines without keeping them: a 200 MB pods.yaml has millions.
func listItems(data []byte) (items []itemSpan, outside [][]byte, ok bool) {
	in := false
	// end closes the last item before the line starting at byte off.
	end := func(off int) { items[len(items)-1].to = off - 1 }
	for i, off := 0, 0; off < len(data); i++ {
		next := len(data)
		l := data[off:]
		if j := bytes.IndexByte(l, '\n'); j >= 0 {
			l, next = l[:j], off+j+1
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		switch {
		case !in && string(l) == "items:":
			in = true
		case in && len(l) >= 2 && l[0] == '-' && l[1] == ' ':
			if len(items) > 0 {
				end(off)
			}
			items = append(items, itemSpan{start: i, from: off, to: -1})
		case in && (len(l) == 0 || l[0] == ' '):
			if len(items) == 0 {
				return nil, nil, false
			}
		case len(l) > 0 && (l[0] == '#' || l[0] == '-' || l[0] == '\t'):
			return nil, nil, false // a comment, document marker or tab: not kubectl's output
		default:
			if in && len(items) > 0 {
				end(off)
			}
			in = false
			outside = append(outside, l)
		}
		off = next
	}
	if k := len(items) - 1; k >= 0 && items[k].to < 0 {
		items[k].to = len(data)
		if bytes.HasSuffix(data, []byte("\n")) {
			items[k].to--
		}
	}
	return items, outside, true
}

// dedentItem writes an item (its lines, "\n"-separated) as a mapping of its own: "- " and the
// two columns of every following line removed. nil when a line is not indented by two.
func dedentItem(dst []byte, text []byte) []byte {
	// The lines are text's "\n"-separated pieces, an empty last one included.
	for j, more := 0, true; more; j++ {
		l := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			more = false
		}
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

// itemScratch is the buffers of one item being decoded, and the strings that items decoded
// with it kept (an interner lives as long as its scratch in the pool).
type itemScratch struct {
	text, json []byte
	strs       interner
}

var itemScratchPool sync.Pool

// itemObject turns one de-indented item into its JSON: by the fast path when it can (appending
// to dst), else by yaml.v3. start places the item in its file (0-based line of its "- ").
func itemObject(file string, text []byte, start int, dst []byte) (rawObject, bool) {
	if fastConvert != nil {
		if out, last, ok := fastConvert(dst, text); ok {
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
