package model

import (
	"bytes"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/netsift/netsift/analyze/model/internal/fastyaml"
	"github.com/netsift/netsift/internal/par"
	"github.com/netsift/netsift/parsers/diag"
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
	if !isList(outside) {
		return nil, false
	}

	return decodeItems(file, data, items)
}

// decodeItems decodes the List items at spans of data on every core; ok is false when one of
// them needs the general decoder.
func decodeItems(file string, data []byte, items []itemSpan) ([]decodedObject, bool) {
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

// listBatch is how much of a List's text decodeListBlocks decodes at a time.
var listBatch = 4 << 20 // a variable: tests lower it

// decodeListBlocks is decodeList for a file read as blocks of whole lines (bundle.Blocks of a
// packed file): items are gathered a batch at a time and decoded on every core, so that a 200 MB
// pods.yaml is not held whole while its items are decoded (seconds, on a large cluster). It
// splits lines as listItems does; the List's own keys are checked at the end, where kubectl
// prints kind and metadata.
func decodeListBlocks(file string, blocks iter.Seq[[]byte], size int) ([]decodedObject, bool) {
	if !byItem {
		return nil, false
	}
	var (
		out     []decodedObject
		batch   []byte     // the lines of the items gathered, with their line ends
		items   []itemSpan // in batch; the last one is open while in
		outside [][]byte
		in      bool
		line    int
		failed  bool
	)
	// Room for a batch and the item that ends it, or the whole file when smaller: grown by
	// append to 4 MB, a batch is ~20 MB of garbage (120 MB over a large cluster's Lists).
	batch = make([]byte, 0, min(size+1, listBatch+listBatch/4))
	closeItem := func() { items[len(items)-1].to = len(batch) - 1 } // before its last line end
	flush := func() {
		objs, ok := decodeItems(file, batch, items)
		failed = failed || !ok
		if out == nil && len(batch) < size {
			// Room for as many items as the first batch's make of the whole file, and a
			// few more: grown by append, 60,000 pods' list was twice its size at the end of
			// the load, when its heap is highest.
			out = make([]decodedObject, 0, len(objs)+int(int64(len(objs))*int64(size-len(batch))/int64(len(batch)+1))*21/20)
		}
		out = append(out, objs...)
		batch, items = batch[:0], items[:0]
	}
	for text := range blocks {
		text = diag.NoLoneCR(text)
		for len(text) > 0 && !failed {
			l := text
			if j := bytes.IndexByte(text, '\n'); j >= 0 {
				l, text = text[:j+1], text[j+1:]
			} else {
				text = nil
			}
			t := bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
			// An item closed by the next one may be flushed with its batch: the new one is open.
			switch listLine(t, in, len(items) > 0) {
			case listItemsKey:
				in = true
			case listItemStart:
				if len(items) > 0 {
					closeItem()
					if len(batch) >= listBatch {
						flush()
					}
				}
				items = append(items, itemSpan{start: line, from: len(batch), to: -1})
				batch = append(batch, l...)
			case listItemMore:
				batch = append(batch, l...)
			case listOutside:
				if in && len(items) > 0 {
					closeItem()
				}
				in = false
				outside = append(outside, bytes.Clone(t))
			default:
				return nil, false
			}
			line++
		}
		if failed {
			return nil, false
		}
	}
	if k := len(items) - 1; k >= 0 && items[k].to < 0 {
		items[k].to = len(batch)
		if bytes.HasSuffix(batch, []byte("\n")) {
			items[k].to--
		}
	}
	if len(items) > 0 {
		flush()
	}
	if failed || len(out) == 0 || !isList(outside) {
		return nil, false
	}
	return out, true
}

// isList reports whether the lines outside a List's items (its own keys: apiVersion, kind,
// metadata) say it is a List.
func isList(outside [][]byte) bool {
	docs, err := decodeDocuments(bytes.Join(outside, []byte("\n")))
	if err != nil || len(docs) != 1 || len(docs[0].Content) != 1 {
		return false
	}
	k := scalarField(docs[0].Content[0], "kind")
	return len(k) >= 4 && k[len(k)-4:] == "List"
}

// What a line of a kubectl List is, to listItems and decodeListBlocks.
type listLineKind int

const (
	listNotKubectl listLineKind = iota // the file is not a List as kubectl prints one
	listItemsKey                       // "items:"
	listItemStart                      // "- ": an item's first line
	listItemMore                       // an item's next line (indented, or blank)
	listOutside                        // a key of the List itself
)

// listLine says what line l (without its line end) is, in a List's items or not (in), with an
// item started or not.
func listLine(l []byte, in, started bool) listLineKind {
	switch {
	case !in && string(l) == "items:":
		return listItemsKey
	case in && len(l) >= 2 && l[0] == '-' && l[1] == ' ':
		return listItemStart
	case in && (len(l) == 0 || l[0] == ' '):
		if !started {
			return listNotKubectl
		}
		return listItemMore
	case len(l) > 0 && (l[0] == '#' || l[0] == '-' || l[0] == '\t'):
		return listNotKubectl // a comment, document marker or tab: not kubectl's output
	}
	return listOutside
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
		switch listLine(l, in, len(items) > 0) {
		case listItemsKey:
			in = true
		case listItemStart:
			if len(items) > 0 {
				end(off)
			}
			items = append(items, itemSpan{start: i, from: off, to: -1})
		case listItemMore:
		case listOutside:
			if in && len(items) > 0 {
				end(off)
			}
			in = false
			outside = append(outside, l)
		default:
			return nil, nil, false
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
