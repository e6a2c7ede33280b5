package bundle

import (
	"bytes"
	"fmt"
	"iter"
	"sort"
	"sync"
	"weak"

	"github.com/klauspost/compress/zstd"

	"github.com/netsift/netsift/internal/par"
)

// A file's bytes are kept after parsing only so that evidence can quote its lines: Compact
// replaces them by zstd-compressed blocks of whole lines (kubectl's YAML shrinks about 19:1), and
// Line decompresses the block holding the line it is asked for.
//
// zstd at its fastest level against s2 on the scale bundles' pods.yaml, in blocks of 128 KiB:
// ratio 19 against 11, compression ~800 MB/s against ~2.7 GB/s (256 KiB blocks: 21 against 12,
// but each lookup decompresses twice as much). On the large bundle the 282 MB that the files
// and their line indexes held after analysis became 19 MB, for 0.8 s of CPU on two cores
// (model.Load packs big cluster files as soon as they are decoded, and compacts the rest once
// the model is built); s2 would have kept ~35 MB for ~0.5 s less.

// compactBlockSize is the size of a compacted file's blocks: they end at the last line end
// before it, or, for a line longer than this, at that line's end. A variable so that tests can
// make the block boundaries fall inside small inputs.
var compactBlockSize = 128 << 10

// compressMin: a block shorter than this is kept as it is (compressing would save a few dozen
// bytes and cost a decoding on every lookup).
var compressMin = 512

// cacheSlots is how many decompressed blocks a file keeps in reach: evidence lookups come back
// to the same area, and a rule scanning a file line by line reads each block once, even while
// another goroutine reads elsewhere in it.
const cacheSlots = 4

var (
	encoder = sync.OnceValue(func() *zstd.Encoder {
		// A window of twice the block size: each encoder (one per core) keeps a history of
		// window + 128 KiB for good, 8 MiB in all with the default window.
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
			zstd.WithWindowSize(256<<10), zstd.WithLowerEncoderMem(true))
		if err != nil {
			panic(err)
		}
		return e
	})
	decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// packed is a compacted file's text: its blocks, compressed or stored as they are, in one slab.
type packed struct {
	slab   []byte
	blocks []packedBlock
	lines  int

	mu sync.Mutex
	// Recently decompressed blocks, held weakly: a scan or a run of lookups finds them, and the
	// collector takes them back once nothing reads the file, so that a file looked up once does
	// not keep a decompressed block for the rest of the run.
	cache [cacheSlots]weak.Pointer[unpacked]
	next  int // the slot to fill next
}

type packedBlock struct {
	first      int // number of the block's first line (1-based)
	off, n     int // the stored bytes: slab[off:off+n]
	size       int // the block's length uncompressed
	compressed bool
}

// unpacked is one block decompressed, with where each of its lines starts. Immutable.
type unpacked struct {
	i      int // index of the block
	text   []byte
	starts []int
}

// Compact compacts every file of the bundle (see File.Compact), on every core, biggest first.
// Call it once whatever parses the files is done with their bytes.
func (b *Bundle) Compact() {
	files := make([]*File, 0, len(b.files))
	for _, f := range b.files {
		if f.Data != nil && f.content == nil {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return len(files[i].Data) > len(files[j].Data) })
	par.For(len(files), func(i int) { files[i].Compact() })
}

// Compact replaces the file's bytes, once nothing needs them any more, by a compressed copy
// from which Line, Lines, Blank, Size and Evidence give exactly the same answers; Data becomes
// nil. It does nothing to a claimed file, a file already compacted, or one without Data.
//
// Compact must not run while another goroutine uses f; afterwards f is safe for concurrent use
// as before.
func (f *File) Compact() {
	if f.content != nil || f.Data == nil {
		return
	}
	f.blank = len(bytes.TrimSpace(f.Data)) == 0
	f.content = Pack(f.Data)
	f.Data, f.lines = nil, nil
}

// pack splits data into blocks of whole lines and compresses them.
func pack(data []byte) *packed {
	// The slab grows by appending; a guess at its size (YAML shrinks 10-20:1) saves most of the
	// copies.
	w := packing{slab: make([]byte, 0, len(data)/16+64)}
	for rest := data; len(rest) > 0; {
		block := rest[:blockEnd(rest)]
		rest = rest[len(block):]
		w.add(block)
	}
	return w.done()
}

// packing is a packed file being made, a block at a time.
type packing struct {
	blocks   []packedBlock
	lines    int
	slab     []byte
	scratch  []byte
	nonBlank bool // a block is not all spaces (blocks end at line ends: no rune is cut)
}

// add compresses one block of whole lines onto the slab.
func (w *packing) add(block []byte) {
	lines := bytes.Count(block, []byte{'\n'})
	if block[len(block)-1] != '\n' {
		lines++ // the file's last line, without a line end
	}
	if !w.nonBlank && len(bytes.TrimSpace(block)) > 0 {
		w.nonBlank = true
	}
	b := packedBlock{first: w.lines + 1, off: len(w.slab), size: len(block)}
	if len(block) >= compressMin {
		// Into scratch first: EncodeAll reserves a block's worth of room at the end of what it
		// appends to.
		w.scratch = encoder().EncodeAll(block, w.scratch[:0])
		// Kept only when it saves at least a sixteenth.
		b.compressed = len(w.scratch) < len(block)-len(block)/16
	}
	if b.compressed {
		w.slab = append(w.slab, w.scratch...)
	} else {
		w.slab = append(w.slab, block...)
	}
	b.n = len(w.slab) - b.off
	w.blocks = append(w.blocks, b)
	w.lines += lines
}

func (w *packing) done() *packed {
	p := &packed{slab: w.slab, lines: w.lines}
	if cap(w.slab)-len(w.slab) > len(w.slab)/16 {
		p.slab = bytes.Clone(w.slab) // append's spare capacity stays behind
	}
	p.blocks = append([]packedBlock(nil), w.blocks...)
	return p
}

// Packer packs a file as it is written: the same blocks as Pack, without the file's text ever
// being held whole (212 MB of pods.yaml on the large workload, when the load's heap is at its
// highest). Write it the file, then take Content.
type Packer struct {
	w   packing
	buf []byte // what is written and not yet in a block: less than a block, or a longer line
}

// Blank reports whether the file is only spaces (as bytes.TrimSpace sees them), once Content
// was taken.
func (pk *Packer) Blank() bool { return !pk.w.nonBlank }

// NewPacker returns a Packer for a file of about size bytes.
func NewPacker(size int64) *Packer {
	return &Packer{w: packing{slab: make([]byte, 0, min(size, 1<<30)/16+64)}}
}

func (pk *Packer) Write(b []byte) (int, error) {
	pk.buf = append(pk.buf, b...)
	// A block is cut as blockEnd cuts it from the whole file: at the last line end within
	// compactBlockSize, or at the end of a longer line, which may not be here yet.
	start := 0
	for len(pk.buf)-start > compactBlockSize {
		rest := pk.buf[start:]
		n := bytes.LastIndexByte(rest[:compactBlockSize], '\n') + 1
		if n == 0 {
			i := bytes.IndexByte(rest[compactBlockSize:], '\n')
			if i < 0 {
				break
			}
			n = compactBlockSize + i + 1
		}
		pk.w.add(rest[:n])
		start += n
	}
	if start > 0 {
		pk.buf = pk.buf[:copy(pk.buf, pk.buf[start:])]
	}
	return len(b), nil
}

// Content packs what is left and returns the file packed, as Pack would have. Write no more.
func (pk *Packer) Content() Content {
	for rest := pk.buf; len(rest) > 0; {
		block := rest[:blockEnd(rest)]
		rest = rest[len(block):]
		pk.w.add(block)
	}
	pk.buf = nil
	return packedContent{pk.w.done()}
}

// blockEnd is the length of data's first block: up to the last line end within
// compactBlockSize, or the end of a longer first line, or all of data.
func blockEnd(data []byte) int {
	if len(data) <= compactBlockSize {
		return len(data)
	}
	if i := bytes.LastIndexByte(data[:compactBlockSize], '\n'); i >= 0 {
		return i + 1
	}
	if i := bytes.IndexByte(data[compactBlockSize:], '\n'); i >= 0 {
		return compactBlockSize + i + 1
	}
	return len(data)
}

// line returns line n, 1 ≤ n ≤ p.lines, with its line end trimmed as File.Line does.
func (p *packed) line(n int) string {
	i := sort.Search(len(p.blocks), func(i int) bool { return p.blocks[i].first > n }) - 1
	u := p.unpack(i)
	k := n - p.blocks[i].first
	end := len(u.text)
	if k+1 < len(u.starts) {
		end = u.starts[k+1] - 1
	}
	return string(bytes.TrimRight(u.text[u.starts[k]:end], "\r\n"))
}

// unpack returns block i decompressed, from the cache when it is there.
func (p *packed) unpack(i int) *unpacked {
	p.mu.Lock()
	for j := range p.cache {
		if u := p.cache[j].Value(); u != nil && u.i == i {
			p.mu.Unlock()
			return u
		}
	}
	p.mu.Unlock()

	// Decompressed outside the lock: other lines of the file stay readable meanwhile.
	b := &p.blocks[i]
	text := p.text(i, nil)
	lines := p.lines + 1 - b.first
	if i+1 < len(p.blocks) {
		lines = p.blocks[i+1].first - b.first
	}
	u := &unpacked{i: i, text: text, starts: make([]int, 1, lines)}
	for off := 0; ; {
		j := bytes.IndexByte(text[off:], '\n')
		if j < 0 || off+j+1 == len(text) {
			break
		}
		off += j + 1
		u.starts = append(u.starts, off)
	}

	p.mu.Lock()
	p.cache[p.next] = weak.Make(u)
	p.next = (p.next + 1) % cacheSlots
	p.mu.Unlock()
	return u
}

// Pack is the compressed copy of data that File.Compact keeps, as a Content: what a parser that
// claimed a file (Options.Claim) can hand lines from once it no longer needs the bytes.
func Pack(data []byte) Content { return packedContent{pack(data)} }

// Blocks yields the text of content made by Pack a block at a time, in order: whole lines with
// their line ends, each block valid until the next is yielded. ok is false for other content.
// It reads a big file through without decompressing it whole, nor keeping its blocks.
func Blocks(c Content) (blocks iter.Seq[[]byte], ok bool) {
	pc, ok := c.(packedContent)
	if !ok {
		return nil, false
	}
	p := pc.p
	return func(yield func([]byte) bool) {
		var buf []byte
		for i := range p.blocks {
			text := p.text(i, buf)
			if p.blocks[i].compressed {
				buf = text
			}
			if !yield(text) {
				return
			}
		}
	}, true
}

// text is block i's text: its stored bytes, or decompressed into buf's room (a new buffer when
// buf is nil or too small).
func (p *packed) text(i int, buf []byte) []byte {
	b := &p.blocks[i]
	text := p.slab[b.off : b.off+b.n : b.off+b.n]
	if !b.compressed {
		return text
	}
	if cap(buf) < b.size {
		buf = make([]byte, 0, b.size)
	}
	text, err := decoder().DecodeAll(text, buf[:0])
	if err != nil || len(text) != b.size {
		panic(fmt.Sprintf("bundle: compacted block %d does not decompress (%d of %d bytes): %v", i, len(text), b.size, err))
	}
	return text
}

type packedContent struct{ p *packed }

func (c packedContent) Line(n int) (string, bool) {
	if n < 1 || n > c.p.lines {
		return "", false
	}
	return c.p.line(n), true
}

func (c packedContent) Lines() int { return c.p.lines }
