package fastyaml

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixturesDir = "../../../../fixtures"

// fixtureFiles returns the cluster/*.yaml files of the fixture bundles, and of the small bench
// bundle when present, by name.
func fixtureFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	for _, root := range []string{"bundles", "lab-bundles"} {
		err := filepath.WalkDir(filepath.Join(fixturesDir, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".yaml") && filepath.Base(filepath.Dir(path)) == "cluster" {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				files[path] = b
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	for name, b := range tarFiles(t, filepath.Join(fixturesDir, "bench", "small.tgz")) {
		files[name] = b
	}
	return files
}

// tarFiles reads the cluster/*.yaml members of a .tgz (none if it is absent).
func tarFiles(t testing.TB, path string) map[string][]byte {
	files := map[string][]byte{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return files
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, ".yaml") && filepath.Base(filepath.Dir(h.Name)) == "cluster" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[path+":"+h.Name] = b
		}
	}
	return files
}

// splitItems splits a kubectl List ("items:" then "- " items at column 0) into its items,
// de-indented as the caller of Convert does. It returns nil for a file that is not a List.
func splitItems(data []byte) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := -1
	for i, l := range lines {
		if bytes.Equal(bytes.TrimRight(l, "\n"), []byte("items:")) {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil
	}
	var items [][]byte
	var cur []byte
	in := false
	flush := func() {
		if in {
			items = append(items, cur)
		}
		cur, in = nil, false
	}
	for _, l := range lines[start:] {
		switch {
		case bytes.HasPrefix(l, []byte("- ")):
			flush()
			in = true
			cur = append(cur, l[2:]...)
		case !in:
		case bytes.HasPrefix(l, []byte("  ")):
			cur = append(cur, l[2:]...)
		case len(bytes.TrimLeft(l, " ")) == 0 || l[0] == '\n':
			cur = append(cur, '\n')
		default: // back at column 0: the List's other keys
			flush()
		}
	}
	flush()
	return items
}

// TestFixtures compares Convert with the full path on every object of the fixture bundles.
func TestFixtures(t *testing.T) {
	files := fixtureFiles(t)
	if len(files) == 0 {
		t.Skip("no fixtures")
	}
	var items, fast, bytesAll, bytesFast int
	bailLine := 0
	debugBail = func(line int) { bailLine = line }
	defer func() { debugBail = nil }()
	for name, data := range files {
		objs := splitItems(data)
		if objs == nil {
			objs = [][]byte{data}
		} else if ok, problem := checkAgainstReference(data); problem != "" {
			t.Errorf("%s (whole List): %s", name, problem)
		} else if !ok {
			t.Logf("%s: whole List not on the fast path", name)
		}
		for i, obj := range objs {
			ok, problem := checkAgainstReference(obj)
			if problem != "" {
				t.Errorf("%s item %d: %s\n%s", name, i, problem, obj)
				continue
			}
			items++
			bytesAll += len(obj)
			if ok {
				fast++
				bytesFast += len(obj)
			} else if testing.Verbose() {
				var text []byte
				if lines := bytes.Split(obj, []byte("\n")); bailLine >= 1 && bailLine <= len(lines) {
					text = lines[bailLine-1]
				}
				t.Logf("%s item %d: slow path, from line %d: %.80q", name, i, bailLine, text)
			}
		}
	}
	ratio := float64(fast) / float64(items)
	t.Logf("%d files, %d objects, %d on the fast path (%.2f%%; %.2f%% of %d bytes)",
		len(files), items, fast, 100*ratio, 100*float64(bytesFast)/float64(bytesAll), bytesAll)
	if ratio <= 0.9 {
		t.Errorf("fast path ratio %.3f, want > 0.9", ratio)
	}
}
