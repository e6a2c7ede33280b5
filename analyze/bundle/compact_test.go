package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// compactConfig is one setting of the block size and the compression threshold.
type compactConfig struct {
	blockSize, compressMin int
}

var compactConfigs = []compactConfig{
	{128 << 10, 512}, // the defaults
	{1, 0},           // one line per block, every block compressed when that saves enough
	{100, 0},         // block ends in the middle of every kind of line
	{4096, 64},
}

// withConfig sets the package's compaction parameters until the test ends.
func withConfig(t testing.TB, c compactConfig) {
	saved := compactConfig{compactBlockSize, compressMin}
	compactBlockSize, compressMin = c.blockSize, c.compressMin
	t.Cleanup(func() { compactBlockSize, compressMin = saved.blockSize, saved.compressMin })
}

// checkCompact compacts a copy of a file holding data and fails unless every method answers as
// the file did before, for every line number and a few out of range.
func checkCompact(t testing.TB, name string, data []byte) *File {
	t.Helper()
	want := &File{Path: name, Data: data, size: len(data)}
	got := &File{Path: name, Data: data, size: len(data)}
	got.Compact()
	if got.Data != nil || got.packed() == nil && data != nil {
		t.Fatalf("%s: not compacted (Data %d bytes)", name, len(got.Data))
	}
	sameFile(t, name, got, want)
	return got
}

// sameFile fails unless got answers as want does, line by line in order, then in reverse and
// in a random order (the cache's slots get reused).
func sameFile(t testing.TB, name string, got, want *File) {
	t.Helper()
	if got.Lines() != want.Lines() || got.Blank() != want.Blank() || got.Size() != want.Size() {
		t.Fatalf("%s: Lines/Blank/Size = %d/%v/%d, want %d/%v/%d", name,
			got.Lines(), got.Blank(), got.Size(), want.Lines(), want.Blank(), want.Size())
	}
	n := want.Lines()
	order := make([]int, 0, 2*(n+4)+min(n+4, 300))
	for i := -1; i <= n+2; i++ {
		order = append(order, i)
	}
	for i := n + 2; i >= -1; i-- {
		order = append(order, i)
	}
	r := rand.New(rand.NewPCG(uint64(n), 0)) // the same for the same input: the fuzzer minimizes by coverage
	for _, i := range r.Perm(n + 4)[:min(n+4, 300)] {
		order = append(order, i-1)
	}
	for k, i := range order {
		if g, w := got.Line(i), want.Line(i); g != w {
			t.Fatalf("%s: Line(%d) = %q, want %q", name, i, clip(g), clip(w))
		}
		if k >= n+4 {
			continue // Evidence quotes Line: once per line is enough
		}
		if g, w := got.Evidence(i), want.Evidence(i); g != w {
			t.Fatalf("%s: Evidence(%d) = %+v, want %+v", name, i, g, w)
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// stored is the bytes a compacted file keeps.
func (f *File) stored() int { return len(f.packed().slab) }

// packed is the compacted text of f, or nil.
func (f *File) packed() *packed {
	c, _ := f.content.(packedContent)
	return c.p
}

// edgeCases are inputs whose lines are easy to get wrong.
func edgeCases() map[string][]byte {
	long := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, no line end
	cases := map[string][]byte{
		"nil":                    nil,
		"empty":                  {},
		"one byte":               []byte("x"),
		"newline":                []byte("\n"),
		"two newlines":           []byte("\n\n"),
		"no trailing newline":    []byte("a\nb"),
		"trailing newline":       []byte("a\nb\n"),
		"blank line at the end":  []byte("a\nb\n\n"),
		"crlf":                   []byte("a\r\nb\r\n\r\nc\r\n"),
		"crlf without last":      []byte("a\r\nb"),
		"lone cr":                []byte("\r"),
		"cr only":                []byte("a\rb\rc\r"),
		"crs before newline":     []byte("a\r\r\r\n\r\n\r"),
		"newline then crs":       []byte("a\n\r\r"),
		"spaces":                 []byte(" \t\n  \n\v\f"),
		"unicode spaces":         []byte("\u00a0\n\u0085\u2003\n"),
		"invalid utf-8":          []byte("\xff\xfe\n\xc3\n\xe2\x82\n\x80\x80 x \xed\xa0\x80\r\n"),
		"nul bytes":              []byte("a\x00b\n\x00\n"),
		"indented excerpt":       []byte("   key: value   \n\tx\t\n"),
		"one long line":          long,
		"one long line, ending":  append(bytes.Clone(long), '\n'),
		"long line between":      append(append([]byte("a\nb\n"), long...), "\nc\nd"...),
		"long line, crlf":        append(bytes.Clone(long), "\r\n\r\n"...),
		"compressible, no lines": bytes.Repeat([]byte("x"), 300<<10),
	}
	// Lines of every length from 0 to 300, so that block boundaries fall everywhere.
	var b bytes.Buffer
	for i := range 301 {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), i))
		if i%7 == 0 {
			b.WriteByte('\r')
		}
		b.WriteByte('\n')
	}
	cases["every length"] = b.Bytes()
	cases["every length, no last newline"] = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	// Random bytes with some line ends: incompressible blocks are stored as they are.
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(r.Uint32())
		if r.IntN(40) == 0 {
			random[i] = '\n'
		}
	}
	cases["random"] = random
	return cases
}

func TestCompactEdgeCases(t *testing.T) {
	for _, c := range compactConfigs {
		t.Run(fmt.Sprintf("block %d, compress from %d", c.blockSize, c.compressMin), func(t *testing.T) {
			withConfig(t, c)
			for name, data := range edgeCases() {
				checkCompact(t, name, data)
			}
		})
	}
}

// The edge cases would pass if Compact kept everything in one block as it is: check that the
// blocks do split, lines straddle nothing, and compressible text is compressed.
func TestCompactSplitsAndCompresses(t *testing.T) {
	withConfig(t, compactConfig{100, 0})
	f := checkCompact(t, "every length", edgeCases()["every length"])
	if len(f.packed().blocks) < 100 {
		t.Errorf("%d blocks of at most 100 bytes for 45,000 bytes", len(f.packed().blocks))
	}
	for i, b := range f.packed().blocks {
		lines := f.packed().lines + 1 - b.first
		if i+1 < len(f.packed().blocks) {
			lines = f.packed().blocks[i+1].first - b.first
		}
		if b.size > 100 && lines != 1 {
			t.Errorf("block %d: %d bytes, %d lines (only a single long line may exceed the block size)", i, b.size, lines)
		}
	}
	withConfig(t, compactConfig{128 << 10, 512})
	data := edgeCases()["every length"]
	f = checkCompact(t, "every length", data)
	if f.stored()*5 > len(data) {
		t.Errorf("%d bytes stored for %d bytes of repetitive text", f.stored(), len(data))
	}
	f = checkCompact(t, "random", edgeCases()["random"])
	for i, b := range f.packed().blocks {
		if b.compressed {
			t.Errorf("random block %d stored compressed (%d bytes for %d)", i, b.n, b.size)
		}
	}
}

// A file a parser claimed keeps its Content; Compact leaves it.
func TestCompactLeavesClaimedFiles(t *testing.T) {
	f := &File{Path: "x", content: fakeContent{"a", "b"}, size: 4}
	f.Compact()
	if f.packed() != nil || f.Lines() != 2 || f.Line(2) != "b" {
		t.Errorf("claimed file compacted: packed %v, Lines %d", f.packed() != nil, f.Lines())
	}
}

type fakeContent []string

func (c fakeContent) Line(n int) (string, bool) {
	if n < 1 || n > len(c) {
		return "", false
	}
	return c[n-1], true
}
func (c fakeContent) Lines() int { return len(c) }

// fixtureBundles lists every bundle of the repository: scenarios, hostile, lab.
func fixtureBundles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"../../fixtures/bundles/*", "../../fixtures/hostile/*/*", "../../fixtures/lab-bundles/*/*", "../../fixtures/demo.tgz"} {
		m, _ := filepath.Glob(pattern)
		for _, p := range m {
			if ext := filepath.Ext(p); ext != ".go" && ext != ".md" && filepath.Base(p) != "gen" {
				out = append(out, p)
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d fixture bundles", len(out))
	}
	return out
}

// Every file of every fixture bundle, as Open reads it, answers the same once compacted: with
// the default blocks through Bundle.Compact, and with tiny blocks file by file.
func TestCompactFixtures(t *testing.T) {
	files := 0
	seen := map[[32]byte]bool{} // contents already checked with tiny blocks (scenarios share many files)
	for _, src := range fixtureBundles(t) {
		want, err := Open(context.Background(), []string{src}, Options{})
		if err != nil {
			continue // not a bundle (a hostile case refused whole)
		}
		got, _ := Open(context.Background(), []string{src}, Options{})
		got.Compact()
		for _, p := range want.Paths() {
			wf, gf := want.File(p), got.File(p)
			if wf.Data != nil && (gf.Data != nil || gf.packed() == nil) {
				t.Fatalf("%s: %s not compacted", src, p)
			}
			sameFile(t, src+": "+p, gf, wf)
			files++
		}
		for _, p := range want.Paths() {
			f := want.File(p)
			sum := sha256.Sum256(f.Data)
			if f.Data == nil || len(f.Data) > 4<<20 || seen[sum] { // (not the bomb's 64 MB line again)
				continue
			}
			seen[sum] = true
			for _, c := range compactConfigs[2:] { // (one line per block: the edge cases and the fuzzer)
				withConfig(t, c)
				checkCompact(t, fmt.Sprintf("%s: %s (block %d)", src, p, c.blockSize), f.Data)
			}
		}
	}
	if files < 500 {
		t.Errorf("only %d fixture files checked", files)
	}
}

// Rules read lines of the same file from several goroutines at once (run with -race).
func TestCompactConcurrentLines(t *testing.T) {
	withConfig(t, compactConfig{1 << 10, 64})
	var b bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&b, "  - name: pod-%d\r\n    nodeName: node-%d\n", i, i%97)
	}
	want := &File{Path: "pods.yaml", Data: b.Bytes(), size: b.Len()}
	lines := make([]string, want.Lines()+1)
	for n := range lines {
		lines[n] = want.Line(n)
	}
	f := &File{Path: "pods.yaml", Data: b.Bytes(), size: b.Len()}
	f.Compact()
	if len(f.packed().blocks) < 500 {
		t.Fatalf("only %d blocks", len(f.packed().blocks))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() { // the cache holds blocks weakly: let the collector take them meanwhile
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}()
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for k := range 20000 {
				var n int
				switch g % 3 {
				case 0: // a scan
					n = 1 + k*2%(len(lines)-1)
				case 1: // lookups near each other
					n = 1 + (g*1000+r.IntN(50))%(len(lines)-1)
				default: // anywhere
					n = r.IntN(len(lines))
				}
				if got := f.Line(n); got != lines[n] {
					t.Errorf("Line(%d) = %q, want %q", n, got, lines[n])
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
}

func FuzzCompact(f *testing.F) {
	for _, s := range []string{"", "\n", "\n\n", "a\r\nb", "\r", "x\n\r\r\n", "\xff\n\xc3", " \u00a0\n", "a\nbb\nccc\ndddd\n"} {
		f.Add([]byte(s), uint16(1))
	}
	f.Add(bytes.Repeat([]byte("key: value\n"), 100), uint16(37))
	f.Fuzz(func(t *testing.T, data []byte, blockSize uint16) {
		for _, c := range []compactConfig{{1 + int(blockSize)%1024, 0}, {1 + int(blockSize)%1024, 16}, {128 << 10, 512}} {
			withConfig(t, c)
			checkCompact(t, "fuzz", data)
			checkPacker(t, data, 1+int(blockSize)%97)
		}
	})
}

// checkPacker: a Packer written data in pieces of chunk bytes (and of one byte, and whole)
// packs exactly the blocks Pack makes of it.
func checkPacker(t testing.TB, data []byte, chunk int) {
	t.Helper()
	want := pack(data)
	for _, n := range []int{chunk, 1, len(data) + 1} {
		pk := NewPacker(int64(len(data)))
		for rest := data; len(rest) > 0; {
			k := min(n, len(rest))
			if w, err := pk.Write(rest[:k]); w != k || err != nil {
				t.Fatalf("Write: %d, %v", w, err)
			}
			rest = rest[k:]
		}
		got := pk.Content().(packedContent).p
		if pk.Blank() != (len(bytes.TrimSpace(data)) == 0) {
			t.Fatalf("Blank %v for %q", pk.Blank(), data)
		}
		if got.lines != want.lines || !bytes.Equal(got.slab, want.slab) || !slices.Equal(got.blocks, want.blocks) {
			t.Fatalf("written %d bytes at a time: %d lines in %d blocks, Pack makes %d in %d", n, got.lines, len(got.blocks), want.lines, len(want.blocks))
		}
	}
}

// A Packer cuts a file into the blocks Pack does, however it is written: lines that end a
// block exactly, lines longer than a block, a last line without its end.
func TestPackerAsPack(t *testing.T) {
	var long bytes.Buffer
	for i := range 3000 {
		long.WriteString(strings.Repeat("x", i%211))
		if i%17 != 0 {
			long.WriteByte('\n')
		}
	}
	inputs := [][]byte{nil, []byte("a"), []byte("a\n"), bytes.Repeat([]byte("0123456789\n"), 50), long.Bytes()}
	for _, c := range compactConfigs {
		withConfig(t, c)
		for _, data := range inputs {
			for _, chunk := range []int{7, 100, 4096} {
				checkPacker(t, data, chunk)
			}
		}
	}
}

// benchYAML is a realistic kubectl YAML file: the scale bundle's pods.yaml when `make
// bench-data` has written fixtures/bench/medium.tgz, the healthy fixture's otherwise.
func benchYAML(b *testing.B, name string) []byte {
	b.Helper()
	src := filepath.Join("..", "..", "fixtures", "bundles", "healthy")
	if name != "healthy" {
		src = filepath.Join("..", "..", "fixtures", "bench", name+".tgz")
		if _, err := os.Stat(src); err != nil {
			b.Skipf("%s is missing: run `make bench-data`", src)
		}
	}
	bun, err := Open(context.Background(), []string{src}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	f := bun.File("cluster/pods.yaml")
	if f == nil || len(f.Data) == 0 {
		b.Fatalf("%s has no cluster/pods.yaml", src)
	}
	return f.Data
}

// BenchmarkCompact compacts a pods.yaml: MB/s of input, and the compression ratio.
func BenchmarkCompact(b *testing.B) {
	for _, name := range []string{"healthy", "medium"} {
		b.Run(name, func(b *testing.B) {
			data := benchYAML(b, name)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			stored := 0
			for b.Loop() {
				f := &File{Data: data, size: len(data)}
				f.Compact()
				stored = f.stored()
			}
			b.ReportMetric(float64(len(data))/float64(stored), "ratio")
		})
	}
}

// BenchmarkCompactedLine is quoting lines of a compacted pods.yaml: a scan (one decompression
// per block), and lookups anywhere (one per line, as many evidence lookups cost at worst).
func BenchmarkCompactedLine(b *testing.B) {
	data := benchYAML(b, "healthy")
	f := &File{Data: data, size: len(data)}
	f.Compact()
	n := f.Lines()
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			f.Line(1 + i%n)
			i++
		}
	})
	b.Run("anywhere", func(b *testing.B) {
		withConfig(b, compactConfig{4 << 10, 512}) // many blocks, so lookups miss the cache
		f := &File{Data: data, size: len(data)}
		f.Compact()
		r := rand.New(rand.NewPCG(1, 1))
		b.ReportAllocs()
		for b.Loop() {
			f.Line(1 + r.IntN(n))
		}
	})
}

// Blocks gives back the packed text exactly, a block of whole lines at a time, whatever the
// block size and whether each block was stored compressed or as it was.
func TestBlocks(t *testing.T) {
	for _, c := range compactConfigs {
		withConfig(t, c)
		for name, data := range edgeCases() {
			blocks, ok := Blocks(Pack(data))
			if !ok {
				t.Fatal("Blocks refuses what Pack made")
			}
			var got []byte
			n := 0
			for b := range blocks {
				if n++; len(got)+len(b) < len(data) && !bytes.HasSuffix(b, []byte("\n")) {
					t.Fatalf("%s (%+v): block %d does not end a line", name, c, n)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s (%+v): %d bytes back from %d blocks, want %d", name, c, len(got), n, len(data))
			}
		}
	}
	if _, ok := Blocks(nil); ok {
		t.Error("Blocks of content Pack did not make")
	}
}
