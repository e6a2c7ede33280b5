// Package ruletest runs rules through the real pipeline on small bundles written as txtar files,
// and checks that every finding's evidence quotes the bundle as it is. Test code only.
package ruletest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// File is one file of a txtar archive.
type File struct {
	Name string
	Data []byte
}

// ParseTxtar reads the txtar format: an optional comment, then files, each introduced by a line
// "-- name --". (The format of golang.org/x/tools/txtar, which is too large a dependency for
// twenty lines.)
func ParseTxtar(data []byte) (comment string, files []File) {
	lines := strings.SplitAfter(string(data), "\n")
	var cur *File
	var b strings.Builder
	flush := func() {
		if cur != nil {
			cur.Data = []byte(b.String())
			files = append(files, *cur)
		} else {
			comment = b.String()
		}
		b.Reset()
	}
	for _, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			cur = &File{Name: strings.TrimSpace(t[3 : len(t)-3])}
			continue
		}
		b.WriteString(l)
	}
	flush()
	return comment, files
}

// Bundle writes a txtar file's files into a temporary bundle directory and loads the model.
// A bundle without manifest.json gets a minimal one, so tests state only what they are about.
func Bundle(t testing.TB, txtarPath string) (comment string, m *model.Model) {
	t.Helper()
	data, err := os.ReadFile(txtarPath)
	if err != nil {
		t.Fatal(err)
	}
	comment, files := ParseTxtar(data)
	dir := t.TempDir()
	hasManifest := false
	for _, f := range files {
		if f.Name == "manifest.json" {
			hasManifest = true
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !hasManifest {
		os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"format_version":1,"mode":"cluster","commands":[]}`), 0o644)
	}
	b, err := bundle.Open(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return comment, model.Build(b)
}

// CheckEvidence fails the test for any evidence that does not quote the bundle: the file must
// exist, and a cited line must hold the excerpt (trimmed) exactly.
func CheckEvidence(t testing.TB, b *bundle.Bundle, fs []finding.Finding) {
	t.Helper()
	for _, f := range fs {
		if len(f.Evidence) == 0 {
			t.Errorf("%s %s: finding without evidence", f.ID, f.Subject)
		}
		for _, e := range f.Evidence {
			file := b.File(e.File)
			if file == nil {
				t.Errorf("%s %s: evidence cites %s, which is not in the bundle", f.ID, f.Subject, e.File)
				continue
			}
			if e.Line == 0 {
				continue // file-level evidence: an absence, stated in the excerpt
			}
			if e.Line < 0 || e.Line > file.Lines() {
				t.Errorf("%s %s: evidence cites %s, past the end of the file (%d lines)", f.ID, f.Subject, e.Location(), file.Lines())
				continue
			}
			if got := strings.TrimSpace(file.Line(e.Line)); got != e.Excerpt {
				t.Errorf("%s %s: evidence %s quotes %q but the line is %q", f.ID, f.Subject, e.Location(), e.Excerpt, got)
			}
		}
	}
}

// Expectations reads a scenario README's "Must fire:" and "Must not fire:" lists (each item a
// line "- `rule.id`…"); "May also fire:" lists are consequences that may or may not appear.
func Expectations(t testing.TB, readme string) (must, mustNot []string) {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	var cur *[]string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Must fire"):
			cur = &must
		case strings.HasPrefix(l, "Must not fire"):
			cur = &mustNot
		case strings.HasPrefix(l, "May also fire"), strings.HasPrefix(l, "#"):
			cur = nil
		case cur != nil && strings.HasPrefix(l, "- `"):
			id, _, _ := strings.Cut(strings.TrimPrefix(l, "- `"), "`")
			*cur = append(*cur, id)
		}
	}
	return must, mustNot
}
