package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mholt/archives"
)

// Options bound what reading a bundle may cost. Zero values take the defaults.
type Options struct {
	// MaxTotalBytes caps the uncompressed bytes read from all sources together.
	MaxTotalBytes int64
	// MaxFileBytes caps one file; a larger one is cut there with a warning.
	MaxFileBytes int64
	// Claim, when set, is offered every file as soon as it is read (name as in the archive or
	// directory, before the bundle root is known), in the reading goroutine, so that parsing can
	// overlap decompression. It may keep data. If it returns a Content, the bundle keeps that
	// instead of the bytes and asks it for the file's lines.
	Claim func(name string, data []byte) Content
	// Progress, when set, is called as a tar-based archive is read: its bytes read so far and
	// its size. Directories and zip files (read through ReadAt) do not report.
	Progress func(read, total int64)
	// ClaimStream, when set, is offered each file before it is read (name as for Claim; size as
	// the archive header or the file system says). A claimer that parses the file as it comes
	// returns a Stream: the file's bytes are written to it as they are decompressed, never held
	// whole, and the bundle keeps the Content its End returns. Claim is not offered that file.
	ClaimStream func(name string, size int64) Stream
}

// Stream takes a claimed file's bytes as they are read (Options.ClaimStream).
type Stream interface {
	io.Writer
	// End is called once, after the last Write (the file read whole, or cut short: the bundle
	// warns about that itself). It returns what the bundle keeps of the file.
	End() Content
}

// Content is a file's text kept by whoever claimed it (a parser that can give back every line
// from what it parsed), so the bundle need not hold the bytes.
type Content interface {
	Line(n int) (string, bool)
	Lines() int
}

const (
	defaultMaxTotal = 8 << 30
	defaultMaxFile  = 2 << 30
)

type entry struct {
	name    string
	data    []byte
	size    int
	content Content // the claimed text; data is nil then
	blank   bool    // only spaces (known before the bytes were handed over)
}

// newEntry offers a file just read to the claimer.
func (o *Options) newEntry(name string, data []byte) entry {
	e := entry{name: name, data: data, size: len(data)}
	if o.Claim != nil && len(data) > 0 {
		if c := o.Claim(name, data); c != nil {
			e.data, e.content = nil, c
			e.blank = len(bytes.TrimSpace(data)) == 0
		}
	}
	return e
}

// Open reads every source (archive or directory) and merges them into one bundle. It fails only
// when no source could be read at all; damage inside a source becomes a warning.
func Open(ctx context.Context, sources []string, opts Options) (*Bundle, error) {
	if len(sources) == 0 {
		return nil, errors.New("no bundle given")
	}
	if opts.MaxTotalBytes <= 0 {
		opts.MaxTotalBytes = defaultMaxTotal
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = defaultMaxFile
	}
	b := newBundle()
	budget := &budget{left: opts.MaxTotalBytes, perFile: opts.MaxFileBytes}
	var errs []error
	for _, src := range sources {
		entries, err := readSource(ctx, src, budget, b, &opts)
		if err != nil && len(entries) == 0 {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		if err != nil {
			b.Warn(filepath.Base(src), 0, "read stopped early, analysing the %d files read before: %v", len(entries), err)
		}
		b.Sources = append(b.Sources, src)
		st, _ := os.Stat(src)
		b.place(src, entries, st != nil && st.IsDir())
	}
	if len(b.Sources) == 0 {
		return nil, errors.Join(errs...)
	}
	for _, err := range errs {
		b.Warn("", 0, "%v", err)
	}
	if b.Manifest == nil {
		b.Warn("manifest.json", 0, "no manifest.json in the bundle: cannot tell failed collection commands from missing ones")
	}
	return b, nil
}

// place finds the source's root (the folder holding manifest.json, else its single top folder)
// and adds every file under it.
// Files beside the root in a directory (notes, a README) are the user's, not the bundle's, and
// are skipped silently; in an archive they are unexpected and warned about.
func (b *Bundle) place(src string, entries []entry, isDir bool) {
	root, found := findRoot(entries)
	if !found {
		if len(entries) == 0 {
			b.Warn(filepath.Base(src), 0, "no files in bundle")
			return
		}
	}
	prefix := ""
	if root != "" {
		prefix = root + "/"
	}
	for _, e := range entries {
		rel, ok := strings.CutPrefix(e.name, prefix)
		if !ok {
			if !isDir {
				b.Warn(e.name, 0, "outside the bundle root %q; ignored", root)
			}
			continue
		}
		if rel == "manifest.json" && e.content == nil {
			b.mergeManifest(src, e.data)
		}
		b.add(src, rel, e)
	}
}

func findRoot(entries []entry) (root string, found bool) {
	best := -1
	for _, e := range entries {
		if path.Base(e.name) != "manifest.json" {
			continue
		}
		depth := strings.Count(e.name, "/")
		if best < 0 || depth < best {
			best = depth
			root = path.Dir(e.name)
		}
	}
	if best >= 0 {
		if root == "." {
			root = ""
		}
		return root, true
	}
	// No manifest: one top folder shared by every entry is the root.
	top := ""
	for i, e := range entries {
		first, _, nested := strings.Cut(e.name, "/")
		if !nested {
			return "", false
		}
		if i == 0 {
			top = first
		} else if first != top {
			return "", false
		}
	}
	return top, false
}

type budget struct {
	left    int64
	perFile int64
}

var errBudget = errors.New("uncompressed size budget exhausted")

// readAll reads one entry within the budget; an entry over the per-file cap is cut with a warning.
// size is what the archive header says (a hint: never trusted beyond the budget).
func (bu *budget) readAll(name string, r io.Reader, size int64, b *Bundle) ([]byte, error) {
	limit := min(bu.perFile, bu.left)
	data, err := readHinted(io.LimitReader(r, limit+1), min(size, limit)+1)
	if len(data) == 0 {
		data = nil
	}
	over := int64(len(data)) > limit
	if over {
		data = data[:limit]
	}
	return data, bu.take(name, int64(len(data)), over, err, b)
}

// take counts n bytes of a file against the budget. over: the file had more than its limit,
// which is an error when the budget, not the per-file cap, set it.
func (bu *budget) take(name string, n int64, over bool, err error, b *Bundle) error {
	if over {
		if bu.left <= bu.perFile {
			bu.left = 0
			return fmt.Errorf("%w at %s (raise --max-bytes to read more)", errBudget, name)
		}
		b.Warn(name, 0, "file larger than %d bytes; only its start was read", bu.perFile)
		// Drain is not needed: the archive walker skips to the next header itself.
	}
	bu.left -= n
	return err
}

// read reads one file: into memory, offered to Claim, or (when ClaimStream takes it) written
// to the claimer's Stream as it comes. An entry with a size is returned with the error that cut
// the read short.
func (bu *budget) read(name string, r io.Reader, size int64, b *Bundle, o *Options) (entry, error) {
	var st Stream
	if o.ClaimStream != nil && size > 0 {
		st = o.ClaimStream(name, size)
	}
	if st == nil {
		data, err := bu.readAll(name, r, size, b)
		return o.newEntry(name, data), err
	}
	limit := min(bu.perFile, bu.left)
	w := &streamWriter{w: st, blank: true}
	n, err := io.Copy(w, io.LimitReader(r, limit))
	over := false
	if err == nil && n == limit {
		var one [1]byte
		k, _ := io.ReadFull(r, one[:])
		over = k > 0
	}
	err = bu.take(name, n, over, err, b)
	return entry{name: name, size: int(n), content: st.End(), blank: w.blank}, err
}

// streamWriter passes a streamed file's bytes on, noting whether any is not a blank.
type streamWriter struct {
	w     io.Writer
	blank bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if s.blank && len(bytes.TrimSpace(p)) > 0 {
		s.blank = false
	}
	return s.w.Write(p)
}

// countingFile reports how much of the archive was read (zip reads through ReadAt and Seek,
// which stay the file's own: it gets no progress, only the tar formats do).
type countingFile struct {
	*os.File
	read, total int64
	progress    func(read, total int64)
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	c.read += int64(n)
	c.progress(c.read, c.total)
	return n, err
}

// readHinted reads r to its end into one buffer of the expected size (growing it if the hint
// was short), instead of io.ReadAll's doubling and copying.
func readHinted(r io.Reader, hint int64) ([]byte, error) {
	if hint <= 0 || hint > 1<<30 {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, hint)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the growth
		}
	}
}

func readSource(ctx context.Context, src string, bu *budget, b *Bundle, o *Options) ([]entry, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return readDir(src, bu, b, o)
	}
	return readArchive(ctx, src, bu, b, o)
}

func readDir(dir string, bu *budget, b *Bundle, o *Options) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			b.Warn(p, 0, "cannot read: %v", err)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			b.Warn(rel, 0, "not a regular file (%s); not read", d.Type())
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			b.Warn(rel, 0, "cannot read: %v", err)
			return nil
		}
		var size int64
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		e, err := bu.read(rel, f, size, b, o)
		f.Close()
		if errors.Is(err, errBudget) {
			out = append(out, e)
			return err
		}
		if err != nil {
			b.Warn(rel, 0, "cannot read: %v", err)
			return nil
		}
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, err
}

func readArchive(ctx context.Context, src string, bu *budget, b *Bundle, o *Options) ([]entry, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in io.Reader = f
	if o.Progress != nil {
		var total int64
		if st, err := f.Stat(); err == nil {
			total = st.Size()
		}
		in = &countingFile{File: f, total: total, progress: o.Progress}
	}
	format, stream, err := archives.Identify(ctx, filepath.Base(src), in)
	if err != nil {
		if errors.Is(err, archives.NoMatch) {
			return nil, errors.New("not a bundle: neither a directory nor a tar, tar.gz, tar.zst, tar.xz or zip archive")
		}
		return nil, fmt.Errorf("identifying archive format: %w", err)
	}
	ex, ok := format.(archives.Extractor)
	if !ok {
		return nil, fmt.Errorf("%s is compressed data but not an archive (want a tar or zip inside)", format.Extension())
	}
	var out []entry
	err = ex.Extract(ctx, stream, func(ctx context.Context, info archives.FileInfo) error {
		name, ok := cleanName(info.NameInArchive)
		if info.IsDir() {
			return nil
		}
		if !ok {
			b.Warn(info.NameInArchive, 0, "unsafe entry name; not read")
			return nil
		}
		if info.LinkTarget != "" && info.Mode().IsRegular() {
			// A tar hard link carries no data; its target is a path, never followed.
			b.Warn(name, 0, "hard link to %q; not followed", info.LinkTarget)
			return nil
		}
		if !info.Mode().IsRegular() {
			b.Warn(name, 0, "not a regular file (%s); not read", info.Mode().Type())
			return nil
		}
		rc, err := info.Open()
		if err != nil {
			b.Warn(name, 0, "cannot open entry: %v", err)
			return nil
		}
		e, err := bu.read(name, rc, info.Size(), b, o)
		rc.Close()
		if err != nil {
			if e.size > 0 {
				out = append(out, e)
				b.Warn(name, 0, "entry cut short after %d bytes: %v", e.size, err)
			}
			return fmt.Errorf("reading %s: %w", name, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil && len(out) > 0 && !strings.Contains(err.Error(), out[len(out)-1].name) {
		err = fmt.Errorf("after entry %s: %w", out[len(out)-1].name, err) // where the damage starts
	}
	warnRatio(b, src, f, out)
	return out, err
}

// bombRatio is the expansion above which an archive is suspicious: real bundles (YAML, text
// captures) compress 5–30:1; a decompression bomb expands by thousands.
const bombRatio = 200

// warnRatio warns when an archive expanded by more than bombRatio; the size budget is what stops
// a real bomb, this says early that the input looks crafted.
func warnRatio(b *Bundle, src string, f *os.File, entries []entry) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return
	}
	var total int64
	biggest := ""
	var most int64
	for _, e := range entries {
		total += int64(e.size)
		if int64(e.size) > most {
			most, biggest = int64(e.size), e.name
		}
	}
	if ratio := total / st.Size(); ratio > bombRatio && total > 1<<20 {
		b.Warn(filepath.Base(src), 0, "expanded %d:1 (%d bytes from %d), largest entry %s: a decompression bomb? (real bundles compress about 5-30:1)", ratio, total, st.Size(), biggest)
	}
}

// cleanName makes an archive entry name relative and slash-separated, refusing absolute paths
// and any ".." that would climb out of the archive.
func cleanName(name string) (string, bool) {
	name = strings.ReplaceAll(name, "\\", "/")
	if strings.HasPrefix(name, "/") {
		return "", false
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	name = path.Clean(name)
	name = strings.TrimPrefix(name, "./")
	if name == "." || name == "" {
		return "", false
	}
	return name, true
}

func asError[T error](err error, target *T) bool { return errors.As(err, target) }
