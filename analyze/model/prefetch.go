package model

import (
	"bytes"
	"io"
	"path"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/parsers/diag"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/ipset"
	"github.com/netsift/netsift/parsers/iptables"
	"github.com/netsift/netsift/parsers/ipvsadm"
)

// The loader parses while the archive is still being read: bundle.Options.Claim hands each file
// to a pool of workers as soon as it is out of the decompressor, so decompression (one core)
// overlaps YAML decoding and capture parsing (the others). Build then takes the results instead
// of parsing again.
//
// iptables dumps (nine tenths of a big bundle) are streamed (bundle.Options.ClaimStream): parsed
// as they come out of the decompressor, their bytes never held whole, and the bundle asks the
// parsed dump for lines (iptables.Dump.Line gives back every line exactly). Rule texts are
// shared between nodes through one iptables.Cache; IPVS servers, ipset members and interface
// addresses through their parsers' caches.

// sharedParsers are the capture formats whose parse shares state between nodes.
var sharedParsers = map[string]sharedParser{
	"iptables-save":        {parseIPTables, true},
	"iptables-legacy-save": {parseIPTables, true},
	"iptables-nft-save":    {parseIPTables, true},
	"ip6tables-save":       {parseIPTables, true},
	"ipvsadm":              {parseIPVS, false},
	"ipset":                {parseIPSet, false},
	"ip-addr":              {parseAddr, false},
	"ip-route":             {parseRoutes, false},
}

type sharedParser struct {
	parse func(io.Reader, *parseEnv) (any, []diag.Warning, error)
	// lines: the parsed capture gives back its lines (iptables.Dump.Line), so it is parsed as
	// it streams and its bytes are never kept (claimsDump).
	lines bool
}

// parseIPTables parses one dump at a time, so that each is read against all that the one before
// put in the cache (its rules, chains and layout, published as its parse ends). Several at once
// (Build's node jobs, or the small dumps of a bundle streamed while the first is parsed) would
// each miss the rules the others had not stored yet: medium's RSS doubled, and how much dumps
// shared (the chain shapes rules' indexes are keyed by) depended on timing. A streamed dump
// waiting here holds the reader once its pipe is full (a dump smaller than the pipe's room
// waits read whole); which waiting dump goes next does not matter.
func parseIPTables(r io.Reader, env *parseEnv) (any, []diag.Warning, error) {
	env.iptOne.Lock()
	defer env.iptOne.Unlock()
	return iptables.ParseShared(r, env.ipt)
}

func parseIPVS(r io.Reader, env *parseEnv) (any, []diag.Warning, error) {
	return ipvsadm.ParseShared(r, env.ipvs)
}

func parseIPSet(r io.Reader, env *parseEnv) (any, []diag.Warning, error) {
	return ipset.ParseShared(r, env.ipset)
}

func parseRoutes(r io.Reader, env *parseEnv) (any, []diag.Warning, error) {
	rs, err := iproute.ParseRoutesShared(r, env.routes)
	return rs, innerWarnings(rs), err
}

func parseAddr(r io.Reader, env *parseEnv) (any, []diag.Warning, error) {
	a, err := iproute.ParseAddrShared(r, env.addrs)
	return a, innerWarnings(a), err
}

// capturesByFile maps a capture file name (iptables-save.txt, ip-addr.json) to its format.
var capturesByFile = func() map[string]*CaptureFormat {
	m := map[string]*CaptureFormat{}
	for i := range CaptureFormats {
		for _, f := range CaptureFormats[i].Files {
			m[f] = &CaptureFormats[i]
		}
	}
	return m
}()

// parseEnv is what parsing a bundle's files shares: the caches through which nodes' iptables
// rules, IPVS servers, ipset members, addresses and routes are held once, and the files already
// parsed while reading (nil when Build is given a bundle already read).
type parseEnv struct {
	ipt    *iptables.Cache
	iptOne sync.Mutex // see parseIPTables
	ipvs   *ipvsadm.Cache
	ipset  *ipset.Cache
	addrs  *iproute.AddrCache
	routes *iproute.RouteCache
	pre    *prefetch
}

// newParseEnv: the model's IPVS listings are without their connection counters, which no rule,
// trace, diff or report reads (the evidence quotes the file's lines): every node listing the
// same servers then shares them whole, 200 MB of the large-ipvs workload's live heap.
func newParseEnv() *parseEnv {
	return &parseEnv{ipt: iptables.NewCache(), ipvs: &ipvsadm.Cache{OmitCounters: true}, ipset: &ipset.Cache{},
		addrs: &iproute.AddrCache{}, routes: &iproute.RouteCache{}}
}

// parseCapture parses one capture file with its format, or takes the result of its prefetch.
func (env *parseEnv) parseCapture(cf *CaptureFormat, f *bundle.File) (any, []diag.Warning, error) {
	if pd := env.pre.lookup(f); pd != nil && pd.cf == cf {
		<-pd.done
		return pd.v, pd.warns, pd.err
	}
	// Not prefetched, or as another format (rare: a guessed path that was wrong), when its
	// bytes may be packed already.
	return env.parse(cf, fileText(f))
}

func (env *parseEnv) parse(cf *CaptureFormat, data []byte) (any, []diag.Warning, error) {
	r := bytes.NewReader(data)
	if p, ok := sharedParsers[cf.Name]; ok {
		return p.parse(r, env)
	}
	return cf.Parse(r)
}

// decodeCluster decodes one cluster file, or takes the result of its prefetch.
func (env *parseEnv) decodeCluster(f *bundle.File) fileResult {
	pd := env.pre.lookup(f)
	if pd != nil && pd.cf == nil && pd.rel == f.Path {
		<-pd.done
		// The model takes the objects; a packed file's job stays as the bundle's view of its
		// lines, and must not hold the list of them (60,000 pods: 13 MB).
		r := pd.file
		pd.file = fileResult{}
		return r
	}
	if pd != nil && pd.packs {
		// Claimed under a path that turned out wrong: its objects name the wrong file. Decode
		// again from its lines (rare: a bundle with files on both sides of its root).
		<-pd.done
		return decodeFile(&bundle.File{Path: f.Path, Data: linesText(pd.packed)})
	}
	return decodeFile(f)
}

// prefetch runs parse jobs for files as they are read.
type prefetch struct {
	env    *parseEnv
	work   chan *pending
	wg     sync.WaitGroup
	mu     sync.Mutex
	byData map[*byte]*pending

	// Bytes of files to be packed once parsed (pending.packs) that wait for a worker. Reading
	// waits while there are more than maxQueued: when the workers are busy (60,000 pods take
	// one for five seconds), decompression would otherwise queue every node's IPVS listing
	// unparsed (280 MB on large-ipvs). A file is counted until a worker takes it, not until it
	// is done, so reading never waits behind one big file's decoding.
	queued     int64
	queuedCond *sync.Cond
}

// maxQueued is room for a big cluster's other cluster files (services, endpoints, events: 60
// MB on large) queued behind pods.yaml, and a dozen nodes' IPVS listings.
const maxQueued = 64 << 20

// pending is one file handed over while reading: its job, then its result.
type pending struct {
	rel  string         // where the file will be in the bundle (guessed from the entry name)
	cf   *CaptureFormat // nil for a cluster file
	data []byte         // dropped after decoding when packs; nil for a dump streamed (claimStream)
	done chan struct{}

	v     any
	warns []diag.Warning
	err   error
	file  fileResult
	// packs: a big cluster file streamed (packStream) or node capture claimed whole (other
	// than a dump), packed as it is read or once parsed (then packed holds it).
	packs  bool
	packed bundle.Content
}

// packMin is the size from which a cluster file is packed as it is read, and a node capture as
// soon as it is parsed (tests lower it: the fixtures' files are small). Every file is packed by the
// end of the load anyway (bundle.Compact): earlier costs nothing more, and an IPVS node's 1 MB
// of routes does not wait unpacked for the other forty-nine.
var packMin = 64 << 10

func newPrefetch(env *parseEnv) *prefetch {
	p := &prefetch{env: env, work: make(chan *pending, 1024), byData: map[*byte]*pending{}}
	p.queuedCond = sync.NewCond(&p.mu)
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for pd := range p.work {
				p.run(pd)
			}
		}()
	}
	env.pre = p
	return p
}

// guessRel places an archive entry in the bundle before its root is known: the bundle's files
// live under cluster/ and nodes/, at the top or under one folder.
func guessRel(name string) string {
	for _, top := range []string{"cluster/", "nodes/"} {
		if strings.HasPrefix(name, top) {
			return name
		}
		if i := strings.Index(name, "/"+top); i >= 0 && !strings.Contains(name[:i], "/") {
			return name[i+1:]
		}
	}
	return ""
}

// claim is bundle.Options.Claim: it queues a job for a cluster file or node capture.
func (p *prefetch) claim(name string, data []byte) bundle.Content {
	rel := guessRel(name)
	pd := &pending{rel: rel, data: data, done: make(chan struct{})}
	switch {
	case strings.HasPrefix(rel, "cluster/"):
	case strings.HasPrefix(rel, "nodes/") && strings.Count(rel, "/") == 2:
		pd.cf = capturesByFile[path.Base(rel)]
		if pd.cf == nil {
			return nil
		}
	default:
		return nil
	}
	// A big node capture (an IPVS node's listing of ten thousand virtual servers, its kube-ipvs0
	// addresses and local routes) is claimed: once parsed, its bytes are packed (bundle.Pack)
	// instead of waiting for the end of the load, fifty nodes' worth of them live at every
	// collection. A big cluster file comes here only when its size was not known before it was
	// read (claimStream packs the others as they are read): it is decoded whole, and packed at
	// the end of the load with the small ones.
	pd.packs = pd.cf != nil && len(data) >= packMin
	p.mu.Lock()
	if pd.packs {
		for p.queued > 0 && p.queued+int64(len(data)) > maxQueued {
			p.queuedCond.Wait()
		}
		p.queued += int64(len(data))
	} else {
		// A claimed file is found through its Content. A key into its bytes would keep them
		// alive after they are packed.
		p.byData[unsafe.SliceData(data)] = pd
	}
	p.mu.Unlock()
	p.work <- pd
	if pd.packs {
		return (*claimedFile)(pd)
	}
	return nil
}

// claimStream is bundle.Options.ClaimStream: an iptables dump is parsed as it is read, on a
// goroutine of its own that the bundle's reader feeds through a pipe (roomPipe). Reading waits
// when the parse is 4 MB behind: a dump's bytes are never held whole (fifty nodes' 33 MB dumps
// were three or four buffers live at every collection of the load: −170 MB peak RSS on large),
// and the parse runs beside decompression. A cluster file of packMin or more is streamed too,
// to be packed as it comes (packStream).
func (p *prefetch) claimStream(name string, size int64) bundle.Stream {
	rel := guessRel(name)
	if strings.HasPrefix(rel, "cluster/") && size >= int64(packMin) {
		return p.packStream(rel, size)
	}
	if !claimsDump(rel) {
		return nil
	}
	pd := &pending{rel: rel, cf: capturesByFile[path.Base(rel)], done: make(chan struct{})}
	pipe := newRoomPipe()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(pd.done)
		pd.v, pd.warns, pd.err = sharedParsers[pd.cf.Name].parse(pipe, p.env)
		// A parse that stopped early (a read error) must not leave the writer blocked.
		_, _ = io.Copy(io.Discard, pipe)
	}()
	return &pipeStream{w: pipe, lines: (*claimedDump)(pd)}
}

// packStream takes a big cluster file (pods.yaml: 212 MB on large) as it is read: a goroutine
// packs it from the pipe a block at a time (bundle.Packer), then decodes it from the packed
// blocks. Its text is never held whole: read whole, it was the biggest buffer of the load, and
// the heap's highest point was while it waited to be packed.
func (p *prefetch) packStream(rel string, size int64) bundle.Stream {
	pd := &pending{rel: rel, packs: true, done: make(chan struct{})}
	pipe := newRoomPipe()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(pd.done)
		pk := bundle.NewPacker(size)
		n, _ := io.Copy(pk, pipe) // a roomPipe's reads fail only at its end
		pd.packed = pk.Content()
		pd.file = decodePackedContent(rel, pd.packed, int(n), pk.Blank())
	}()
	return &pipeStream{w: pipe, lines: (*claimedFile)(pd)}
}

// pipeStream is the bundle's end of a streamed file's pipe: End closes it and gives the
// bundle the file's lines as the claimer will hold them.
type pipeStream struct {
	w     *roomPipe
	lines bundle.Content // a *claimedDump or *claimedFile
}

func (s *pipeStream) Write(b []byte) (int, error) { return s.w.Write(b) }

func (s *pipeStream) End() bundle.Content {
	s.w.Close()
	return s.lines
}

func (p *prefetch) run(pd *pending) {
	if pd.packs {
		p.mu.Lock()
		p.queued -= int64(len(pd.data))
		p.queuedCond.Broadcast()
		p.mu.Unlock()
	}
	defer close(pd.done)
	switch {
	case pd.cf == nil:
		pd.file = decodeFile(&bundle.File{Path: pd.rel, Data: pd.data})
	default:
		pd.v, pd.warns, pd.err = p.env.parse(pd.cf, pd.data)
	}
	if pd.packs {
		pd.packed = bundle.Pack(pd.data)
		pd.data = nil
	}
}

// claimsDump reports whether the file at rel is an iptables dump: streamed to its parser as
// it is read, and its bytes never kept (the parsed dump gives its lines back).
func claimsDump(rel string) bool {
	if !strings.HasPrefix(rel, "nodes/") || strings.Count(rel, "/") != 2 {
		return false
	}
	cf := capturesByFile[path.Base(rel)]
	return cf != nil && sharedParsers[cf.Name].lines
}

// finish waits for every job and streamed parse; the results stay for Build.
func (p *prefetch) finish() {
	close(p.work)
	p.wg.Wait()
}

// lookup finds the job of a file read while prefetching, and forgets it: Build asks once per
// file, and the key would keep the file's bytes alive after Build compacts them.
func (p *prefetch) lookup(f *bundle.File) *pending {
	if p == nil {
		return nil
	}
	switch c := f.Claimed().(type) {
	case *claimedDump:
		return (*pending)(c)
	case *claimedFile:
		return (*pending)(c)
	}
	if len(f.Data) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := unsafe.SliceData(f.Data)
	pd := p.byData[k]
	delete(p.byData, k)
	return pd
}

// claimedDump is a streamed iptables dump: the bundle's view of its lines.
type claimedDump pending

func (c *claimedDump) dump() *iptables.Dump {
	<-c.done
	d, _ := c.v.(*iptables.Dump)
	return d
}

func (c *claimedDump) Line(n int) (string, bool) {
	if d := c.dump(); d != nil {
		return d.Line(n)
	}
	return "", false
}

func (c *claimedDump) Lines() int {
	if d := c.dump(); d != nil {
		return d.LineCount()
	}
	return 0
}

// claimedFile is a big cluster file or node capture that its job packs: the bundle's view of
// its lines.
type claimedFile pending

func (c *claimedFile) Line(n int) (string, bool) {
	<-c.done
	return c.packed.Line(n)
}

func (c *claimedFile) Lines() int {
	<-c.done
	return c.packed.Lines()
}

// fileText is a file's bytes for a reader of the raw text (a CNI config, version.json): its
// Data, or its lines joined again once it was claimed and packed while reading.
func fileText(f *bundle.File) []byte {
	if f.Data != nil || f.Claimed() == nil {
		return f.Data
	}
	return linesText(f.Claimed())
}

// linesText joins a Content's lines back into a file's text.
func linesText(c bundle.Content) []byte {
	var b []byte
	for i := 1; i <= c.Lines(); i++ {
		l, _ := c.Line(i)
		b = append(append(b, l...), '\n')
	}
	return b
}
