package model

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/internal/par"
	"github.com/netsift/netsift/parsers/diag"
)

// job is one independent piece of Build: decoding one cluster file or parsing one node.
type job struct {
	cost int // bytes to read, to start the biggest first
	run  func()
}

// runJobs runs the jobs on every core, biggest first so that one large file (the pods) does
// not start last and leave the other cores idle.
func runJobs(jobs []job) {
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].cost > jobs[j].cost })
	par.For(len(jobs), func(i int) { jobs[i].run() })
}

// warnings collects the input warnings of one job, merged into the model afterwards.
type warnings []finding.InputWarning

func (w *warnings) add(file string, line int, format string, args ...any) {
	*w = append(*w, finding.InputWarning{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// fileResult is one cluster file decoded: its objects in file order, and its problems.
type fileResult struct {
	skip  bool   // not a YAML or JSON file
	kind  string // the kind its name promises (pods.yaml → Pod), "" if none
	empty bool
	errs  []*decodeError
	objs  []decodedObject
}

// fileKind is what a cluster file's name and emptiness say; done when there is nothing to
// decode.
func fileKind(f *bundle.File) (r fileResult, done bool) {
	return fileKindOf(f.Path, len(bytes.TrimSpace(f.Data)) == 0)
}

// fileKindOf is fileKind for a file at rel, blank when it is only spaces.
func fileKindOf(rel string, blank bool) (r fileResult, done bool) {
	if rel == "cluster/version.json" {
		return r, true // read at merge time
	}
	ext := path.Ext(rel)
	if ext != ".yaml" && ext != ".yml" && ext != ".json" {
		r.skip = true
		return r, true
	}
	r.kind = pluralToKind[strings.TrimSuffix(path.Base(rel), ext)]
	if blank {
		r.empty = true
		return r, true
	}
	return r, false
}

// decodeFile splits and decodes one cluster file without touching the model.
func decodeFile(f *bundle.File) fileResult {
	r, done := fileKind(f)
	if done {
		return r
	}
	if objs, ok := decodeList(f.Path, diag.NoLoneCR(f.Data)); ok {
		r.objs = objs
		return r
	}
	objs, errs := splitObjects(f.Path, f.Data)
	r.errs = errs
	r.objs = make([]decodedObject, len(objs))
	for i := range objs {
		r.objs[i] = decodeObject(objs[i])
		objs[i].JSON = nil // the typed object holds it now
	}
	return r
}

// decodePackedContent decodes a big cluster file (pods.yaml) from its packed copy: a kubectl
// List a batch of items at a time from the packed blocks (decodeListBlocks), any other shape
// from the text rebuilt from the packed lines. size is the file's length; blank, whether it is
// only spaces.
func decodePackedContent(rel string, packed bundle.Content, size int, blank bool) fileResult {
	r, done := fileKindOf(rel, blank)
	if done {
		return r
	}
	if blocks, ok := bundle.Blocks(packed); ok {
		if objs, ok := decodeListBlocks(rel, blocks, size); ok {
			r.objs = objs
			return r
		}
	}
	return decodeFile(&bundle.File{Path: rel, Data: linesText(packed)})
}

// nodeResult is one node's captures parsed, with the warnings they raised.
type nodeResult struct {
	nd    *NodeData
	warns warnings
}

// nodeCost is the bytes of a node's captures.
func nodeCost(b *bundle.Bundle, node string) int {
	n := 0
	for _, f := range b.Dir("nodes/" + node) {
		n += f.Size()
	}
	return n
}
