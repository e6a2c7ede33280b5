// Package bundle reads support bundles (archives or directories) into memory in one sequential
// pass, finds each bundle's root by its manifest.json, and merges several bundles (a cluster
// bundle plus node bundles) into one logical tree of files keyed by their path under the root.
package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/netsift/netsift/analyze/finding"
)

// File is one file of the bundle, its path relative to the bundle root.
type File struct {
	Path string
	// Source is the archive or directory the file came from.
	Source string
	// Data is the file's bytes; nil when a parser claimed the file (Options.Claim) and keeps
	// its text itself, or once the file is compacted (Compact: model.Load compacts every file
	// once the model is built): use Line, Lines, Size and Blank, which work either way.
	Data []byte
	// content gives the lines when Data is nil: what Options.Claim returned, or the compacted
	// text (Pack).
	content Content
	size    int
	blank   bool  // when claimed or compacted
	lines   []int // byte offset of each line start, built on first use
	once    sync.Once
}

// Claimed is the parser's view of a claimed file (what Options.Claim returned), or nil. A
// compacted file's is the packed text.
func (f *File) Claimed() Content { return f.content }

// Size is the file's length in bytes.
func (f *File) Size() int { return f.size }

// Blank reports whether the file holds nothing but white space.
func (f *File) Blank() bool {
	if f.content != nil {
		return f.blank
	}
	return len(bytes.TrimSpace(f.Data)) == 0
}

// Lines returns the number of lines in the file.
func (f *File) Lines() int {
	if f.content != nil {
		return f.content.Lines()
	}
	f.indexLines()
	return len(f.lines)
}

// Line returns line n (1-based) without its line ending, or "" when out of range.
func (f *File) Line(n int) string {
	if f.content != nil {
		s, _ := f.content.Line(n)
		return strings.TrimRight(s, "\r\n")
	}
	f.indexLines()
	if n < 1 || n > len(f.lines) {
		return ""
	}
	start := f.lines[n-1]
	end := len(f.Data)
	if n < len(f.lines) {
		end = f.lines[n] - 1
	}
	return strings.TrimRight(string(f.Data[start:end]), "\r\n")
}

func (f *File) indexLines() {
	f.once.Do(func() {
		if len(f.Data) == 0 {
			return
		}
		f.lines = append(f.lines, 0)
		for i, c := range f.Data {
			if c == '\n' && i+1 < len(f.Data) {
				f.lines = append(f.lines, i+1)
			}
		}
	})
}

// Evidence quotes line n of the file.
func (f *File) Evidence(n int) finding.Evidence {
	return finding.Evidence{File: f.Path, Line: n, Excerpt: strings.TrimSpace(f.Line(n))}
}

// Bundle is the merged content of one or more bundles.
type Bundle struct {
	// Sources are the archives or directories read, in command-line order.
	Sources []string
	// Manifest merges every source's manifest: identity from the first cluster-mode one,
	// command records from all. Nil when no source had one.
	Manifest *Manifest
	Warnings []finding.InputWarning

	files   map[string]*File
	records map[string]*CommandRecord // by path
}

func newBundle() *Bundle {
	return &Bundle{files: map[string]*File{}, records: map[string]*CommandRecord{}}
}

// File returns the file at path (relative to the bundle root), or nil.
func (b *Bundle) File(p string) *File { return b.files[p] }

// Paths returns every file path in the bundle, sorted.
func (b *Bundle) Paths() []string {
	out := make([]string, 0, len(b.files))
	for p := range b.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Dir returns the files directly or indirectly under dir, sorted by path.
func (b *Bundle) Dir(dir string) []*File {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []*File
	for p, f := range b.files {
		if strings.HasPrefix(p, prefix) {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Nodes returns the names of nodes that have captures (a folder under nodes/) or that the
// manifest lists, sorted.
func (b *Bundle) Nodes() []string {
	set := map[string]bool{}
	for p := range b.files {
		if rest, ok := strings.CutPrefix(p, "nodes/"); ok {
			if name, _, ok := strings.Cut(rest, "/"); ok && name != "" {
				set[name] = true
			}
		}
	}
	if b.Manifest != nil {
		for _, n := range b.Manifest.Nodes {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Warn records a problem with an input.
func (b *Bundle) Warn(file string, line int, format string, args ...any) {
	b.Warnings = append(b.Warnings, finding.InputWarning{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// CaptureState says what the bundle knows about one capture.
type CaptureState int

const (
	// NotCollected: no file and no manifest record — the collector never tried.
	NotCollected CaptureState = iota
	// Failed: the manifest records a non-zero exit or a timeout (a file may hold partial output).
	Failed
	// Empty: the command succeeded (or nothing says otherwise) but wrote nothing.
	Empty
	// Collected: the file is there with content.
	Collected
)

func (s CaptureState) String() string {
	return [...]string{"not collected", "failed", "empty", "collected"}[s]
}

// Capture is the state of one capture path, with its manifest record when there is one.
type Capture struct {
	Path   string
	State  CaptureState
	File   *File
	Record *CommandRecord
}

// Capture tells whether the capture at path was collected, failed, came back empty, or was
// never attempted.
func (b *Bundle) Capture(p string) Capture {
	c := Capture{Path: p, File: b.files[p], Record: b.records[p]}
	switch {
	case c.Record != nil && (c.Record.ExitCode != 0 || c.Record.TimedOut):
		c.State = Failed
	case c.File != nil && !c.File.Blank():
		c.State = Collected
	case c.File != nil || c.Record != nil:
		c.State = Empty
	default:
		c.State = NotCollected
	}
	return c
}

// Why explains a capture that is not usable, in words fit for a "skipped: …" line.
func (c Capture) Why() string {
	switch c.State {
	case NotCollected:
		return c.Path + " (not in the bundle)"
	case Failed:
		r := c.Record
		msg := fmt.Sprintf("%s: `%s` failed (exit %d", c.Path, r.Command, r.ExitCode)
		if r.TimedOut {
			msg = fmt.Sprintf("%s: `%s` timed out after %d ms (exit %d", c.Path, r.Command, r.DurationMS, r.ExitCode)
		}
		msg += ")"
		if s := lastLine(r.Stderr); s != "" {
			msg += ": " + s
		}
		return msg
	case Empty:
		return c.Path + " (empty)"
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// add places one file read from a source under its root-relative path.
func (b *Bundle) add(source, rel string, e entry) {
	if old, ok := b.files[rel]; ok {
		b.Warn(rel, 0, "duplicate file: %s replaces the copy from %s", source, old.Source)
	}
	b.files[rel] = &File{Path: rel, Source: source, Data: e.data, content: e.content, size: e.size, blank: e.blank}
}

// mergeManifest folds one source's manifest.json into the bundle's.
func (b *Bundle) mergeManifest(source string, data []byte) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		b.Warn(path.Join(path.Base(source), "manifest.json"), jsonErrorLine(data, err), "cannot parse manifest: %v", err)
		return
	}
	if m.FormatVersion != 0 && m.FormatVersion != FormatVersion {
		b.Warn("manifest.json", 0, "%s: bundle format version %d, this analyzer reads version %d; reading it anyway", source, m.FormatVersion, FormatVersion)
	}
	for i := range m.Commands {
		r := m.Commands[i]
		// A directory capture is recorded as "nodes/n/cni/"; files are looked up without the slash.
		if p := strings.TrimSuffix(r.Path, "/"); p != "" {
			b.records[p] = &r
		}
	}
	if b.Manifest == nil {
		b.Manifest = &m
		return
	}
	merged := b.Manifest
	if merged.Mode != "cluster" && m.Mode == "cluster" {
		// The cluster bundle gives the identity; node bundles only add captures.
		cmds, nodes := merged.Commands, merged.Nodes
		*merged = m
		merged.Commands = append(append([]CommandRecord{}, m.Commands...), cmds...)
		merged.Nodes = mergeNames(m.Nodes, nodes)
		return
	}
	merged.Commands = append(merged.Commands, m.Commands...)
	merged.Nodes = mergeNames(merged.Nodes, m.Nodes)
}

func mergeNames(a, b []string) []string {
	set := map[string]bool{}
	var out []string
	for _, n := range append(append([]string{}, a...), b...) {
		if !set[n] {
			set[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// jsonErrorLine turns a json syntax error's byte offset into a line number (0 if unknown).
func jsonErrorLine(data []byte, err error) int {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64
	switch {
	case asError(err, &se):
		off = se.Offset
	case asError(err, &te):
		off = te.Offset
	default:
		return 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
