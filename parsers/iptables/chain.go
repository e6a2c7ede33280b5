package iptables

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"iter"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Chain is a declared chain (':NAME POLICY [pkts:bytes]') and its rules in order.
//
// Fifty nodes' kube-proxy chains say the same thing and differ only in counters and line
// numbers, so a chain is stored in two parts: what it says (chainShape: name, policy, the
// rules' Specs), shared by every dump parsed with the same Cache that has the same chain, and
// what is this dump's own: its counters and lines, packed as varints in the dump's column
// (Dump.cols). A rule is rebuilt as a Rule value when it is read (Rules, Rule).
//
// A Chain is a value a Table makes when asked (ChainAt): the first rule's line is in the
// column too, and the declaration's from the table's runs of consecutive declarations.
type Chain struct {
	*chainShape
	cols *[]byte // the dump's column
	// off is where the chain's part of the column starts; while parsing, the chain's index in
	// parser.pendingChains.
	off  uint32
	line int32  // the first rule's line
	decl uint32 // the declaration's line
}

// Line is the line of the chain's declaration (of its first rule, for a chain a rule created
// without one).
func (c *Chain) Line() int { return int(c.decl) }

// chainShape is what a chain is apart from its counters and lines.
type chainShape struct {
	Name string
	// Policy is ACCEPT or DROP for a builtin chain, "" for a user chain (declared with '-').
	Policy string
	// Undeclared marks a chain created because a rule appended to it without a declaration.
	Undeclared bool
	specs      []*Spec
}

// Counters are the declaration's '[packets:bytes]' (a builtin chain's policy counters).
func (c *Chain) Counters() (packets, bytes uint64) {
	if c.cols == nil || (*c.cols)[c.off]&modeDeclCounters == 0 {
		return 0, 0
	}
	cur := cursor{b: *c.cols, pos: int(c.off) + 1}
	cur.uvarint() // the first rule's line
	return cur.uvarint(), cur.uvarint()
}

// Builtin reports whether the chain has a policy, i.e. is one of the table's hook chains.
func (c *Chain) Builtin() bool { return c.Policy != "" }

// Len is the number of rules in the chain.
func (c *Chain) Len() int { return len(c.specs) }

// Rules yields the chain's rules in order with their index. Each Rule is a value rebuilt from
// the columns: keep a copy, not a pointer to the loop variable, when it must outlive the loop.
func (c *Chain) Rules() iter.Seq2[int, Rule] {
	return func(yield func(int, Rule) bool) {
		cur := c.cursor()
		for i, s := range c.specs {
			if !yield(i, cur.next(s)) {
				return
			}
		}
	}
}

// RulesFrom yields the rules from index i on, as Rules does.
func (c *Chain) RulesFrom(i int) iter.Seq2[int, Rule] {
	return func(yield func(int, Rule) bool) {
		cur := c.cursor()
		for k, s := range c.specs {
			r := cur.next(s)
			if k >= i && !yield(k, r) {
				return
			}
		}
	}
}

// Rule is the chain's rule i (0-based). It decodes the rules before it: walk a chain with
// Rules, not with Rule in a loop.
func (c *Chain) Rule(i int) Rule {
	if i < 0 || i >= len(c.specs) {
		panic("iptables: rule index out of range")
	}
	cur := c.cursor()
	for k := 0; k < i; k++ {
		cur.skip()
	}
	return cur.next(c.specs[i])
}

// RuleList is the chain's rules as a slice (a copy; for tests and small chains).
func (c *Chain) RuleList() []Rule {
	out := make([]Rule, 0, len(c.specs))
	for _, r := range c.Rules() {
		out = append(out, r)
	}
	return out
}

// chainJSON is a chain as `netsift parse` prints it.
type chainJSON struct {
	Name       string `json:"name"`
	Policy     string `json:"policy,omitempty"`
	Packets    uint64 `json:"packets"`
	Bytes      uint64 `json:"bytes"`
	Line       int    `json:"line"`
	Undeclared bool   `json:"undeclared,omitempty"`
	Rules      []Rule `json:"rules"`
}

// MarshalJSON writes the chain with its rules.
func (c *Chain) MarshalJSON() ([]byte, error) {
	pk, by := c.Counters()
	return json.Marshal(chainJSON{Name: c.Name, Policy: c.Policy, Packets: pk, Bytes: by,
		Line: c.Line(), Undeclared: c.Undeclared, Rules: c.RuleList()})
}

// MarshalJSON flattens the rule and its Spec (a value receiver, so []Rule marshals too).
func (r Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(ruleJSON{Line: r.Line, Raw: r.Raw(), Chain: r.Chain, Counters: r.Counters,
		Packets: r.Packets, Bytes: r.Bytes, Matches: r.Matches(), Target: r.Target, Unparsed: r.Unparsed()})
}

// A chain's part of the column is a mode byte, the first rule's line (Chain.line: where its
// rules would start, for a chain with none), the declaration's packets and bytes unless both
// are 0 (modeDeclCounters; uvarints), then for each rule: a flags byte (modeMixed only), the
// line's distance from the rule before (modeLines only; the first rule's from Chain.line), and
// its packets and bytes (uvarints) when it has counters.
const (
	modeLines  = 1 << 0 // the rules' lines do not follow one another
	modePlain  = 0 << 1 // no rule has counters
	modePrefix = 1 << 1 // every rule is "[pkts:bytes] " + its Spec's text
	modeMixed  = 2 << 1 // each rule has a flags byte
	modeForm   = 3 << 1
	// modeDeclCounters: the declaration's counters are in the column (a user chain's are
	// [0:0]: 2 bytes less for each of 72,000 chains a node).
	modeDeclCounters = 1 << 3

	flagCounters = 1 << 0
	flagPrefixed = 1 << 1
)

type cursor struct {
	b    []byte
	pos  int
	mode byte
	line int
}

func (c *Chain) cursor() cursor {
	if c.cols == nil { // a chain built by hand, or a parse that failed early
		return cursor{line: int(c.line) - 1}
	}
	cur := cursor{b: *c.cols, pos: int(c.off) + 1, mode: (*c.cols)[c.off], line: int(c.line) - 1}
	cur.uvarint() // the first rule's line
	if cur.mode&modeDeclCounters != 0 {
		cur.uvarint()
		cur.uvarint()
	}
	return cur
}

func (cur *cursor) uvarint() uint64 {
	if cur.pos < len(cur.b) && cur.b[cur.pos] < 0x80 {
		v := uint64(cur.b[cur.pos])
		cur.pos++
		return v
	}
	v, n := binary.Uvarint(cur.b[cur.pos:])
	if n <= 0 {
		panic("iptables: corrupt rule column")
	}
	cur.pos += n
	return v
}

func (cur *cursor) next(s *Spec) Rule {
	r := Rule{Spec: s}
	var flags byte
	switch cur.mode & modeForm {
	case modePrefix:
		flags = flagCounters | flagPrefixed
	case modeMixed:
		flags = cur.b[cur.pos]
		cur.pos++
	}
	if cur.mode&modeLines != 0 {
		cur.line += int(cur.uvarint())
	} else {
		cur.line++
	}
	r.Line = cur.line
	if flags&flagCounters != 0 {
		r.Counters = true
		r.Packets = cur.uvarint()
		r.Bytes = cur.uvarint()
	}
	r.prefixed = flags&flagPrefixed != 0
	return r
}

func (cur *cursor) skip() { cur.next(nil) }

// pendingRule is a rule read but not yet written to its chain's column.
type pendingRule struct {
	// A Rule's fields, with the chain in what would be its padding: 40 bytes where a Rule and
	// an int32 took 48 (a dump's ~285,000 pending rules are live through its parse).
	Line           int
	Packets, Bytes uint64
	*Spec
	chain              int32 // index in parser.pendingChains
	Counters, prefixed bool
}

// freeze writes every chain's pending rules to the dump's column, and shares each chain's
// shape and each table's name index through the cache when another dump had the same.
func (p *parser) freeze() {
	d := p.dump
	chains := p.pendingChains
	if p.cache != nil && p.cache.seq.Load() == nil && len(p.pending) > 0 {
		seq := make([]*Spec, 0, len(p.pending))
		for i := range p.pending {
			if p.pending[i].cached { // only what the cache would give: the others warn
				seq = append(seq, p.pending[i].Spec)
			}
		}
		p.cache.seq.CompareAndSwap(nil, &seq)
	}
	// Group the rules by chain, keeping file order within a chain (a counting sort: most
	// chains' rules are already together).
	start := make([]int32, len(chains)+1)
	for i := range p.pending {
		start[p.pending[i].chain+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	sorted := p.pending
	if !slices.IsSortedFunc(p.pending, func(a, b pendingRule) int { return int(a.chain - b.chain) }) {
		sorted = make([]pendingRule, len(p.pending))
		next := slices.Clone(start[:len(chains)])
		for _, r := range p.pending {
			sorted[next[r.chain]] = r
			next[r.chain]++
		}
	}
	size := 4 * len(chains)
	for i := range sorted {
		size += 3
		if sorted[i].Counters {
			size += 6
		}
	}
	for _, t := range d.Tables {
		p.shareIndex(t)
	}
	p.joinRuns()
	// The column is written into a reused buffer and kept at its exact size: the bound above is
	// twice what counters usually take, and the dump keeps its column to the end.
	cols := slices.Grow(p.cols[:0], size)
	for i, pc := range chains {
		rules := sorted[start[i]:start[i+1]]
		pc.tab.addDecl(pc.pos, pc.decl)
		pc.c.off = uint32(len(cols))
		cols = appendColumn(cols, rules, pc)
		p.shareShape(pc, rules)
	}
	d.cols = bytes.Clone(cols)
	var spent []*Chain
	for _, t := range d.Tables {
		t.shapes = p.tableShapes(t)
		offs := make([]uint32, len(t.parsing))
		for i, c := range t.parsing {
			offs[i] = c.off
		}
		t.offs = newChainOffsets(offs)
		t.cols = &d.cols
		if cap(t.parsing) > cap(spent) {
			spent = t.parsing // the biggest table's list, for the next parse
		}
		t.parsing = nil
	}
	if p.cache != nil {
		p.cache.runs.Store(int64(len(p.runs)))
		p.cache.rules.Store(int64(len(p.pending)))
		p.cache.chains.Store(int64(len(chains)))
	}
	// The next dump reuses the buffers: a dump's pending rules are tens of megabytes that
	// would otherwise be garbage the collector must first find.
	clear(p.pending)
	clear(p.pendingChains)
	slabs := append(p.spareChains, p.usedChains...)
	for _, c := range p.usedChains {
		clear(c[:cap(c)])
	}
	clear(spent[:cap(spent)])
	sc := &scratch{p.pending[:0], p.pendingChains[:0], cols[:0], p.runs[:0], slabs, spent[:0]}
	if p.cache != nil {
		p.cache.scratch.Store(sc)
	} else {
		scratchPool.Put(sc)
	}
	p.pending, p.pendingChains, p.cols, p.runs = nil, nil, nil, nil
	p.chains, p.usedChains, p.spareChains, p.spareParsing = nil, nil, nil, nil
}

type scratch struct {
	pending    []pendingRule
	chains     []pendingChain
	cols       []byte
	runs       []lineRun
	chainSlabs [][]Chain
	parsing    []*Chain
}

// joinRuns replaces each stretch of rule runs that list chains whole, one after the other in
// the order their table declares them, by one span; the dump keeps a copy of the result, and
// the parse's runs go back to the scratch. Before the chains' positions are overwritten
// (Chain.off is still the index in pendingChains).
func (p *parser) joinRuns() {
	d := p.dump
	runs := d.runs
	p.runs = runs
	// whole is the chain whose rules run r holds, all of them, at lines a span can index.
	whole := func(r lineRun) *pendingChain {
		if r.pos < 0 || r.first != 0 || uint64(r.start)+uint64(r.count) > math.MaxInt32 {
			return nil
		}
		pc := &p.pendingChains[d.Tables[r.table].parsing[r.pos].off]
		if int(r.count) != int(pc.rules) {
			return nil
		}
		return pc
	}
	out := make([]lineRun, 0, 16)
	for i := 0; i < len(runs); {
		pc := whole(runs[i])
		if pc == nil {
			out = append(out, runs[i])
			i++
			continue
		}
		span := lineRun{start: runs[i].start, count: runs[i].count, first: uint32(pc.pos),
			table: runs[i].table, pos: -1, chains: 1}
		last := pc.pos
		end := runs[i].start + runs[i].count
		i++
	join:
		for ; i < len(runs) && runs[i].start == end && runs[i].table == span.table; i++ {
			next := whole(runs[i])
			if next == nil || next.pos <= last {
				break
			}
			for k := last + 1; k < next.pos; k++ {
				if p.pendingChains[pc.tab.parsing[k].off].rules != 0 {
					break join // its rules are elsewhere
				}
			}
			for k := last + 1; k < next.pos; k++ {
				pc.tab.parsing[k].line = int32(end) // where its rules would be
			}
			span.count += runs[i].count
			span.chains = uint32(next.pos) - span.first + 1
			last = next.pos
			end += runs[i].count
		}
		out = append(out, span)
	}
	d.runs = slices.Clip(out)
}

var scratchPool sync.Pool

// ReleaseScratch drops the buffers kept for the next parse. A dump's are tens of megabytes,
// which a pool would otherwise hold through two more collections: call it when no more dumps
// are coming.
func ReleaseScratch() {
	for scratchPool.Get() != nil {
	}
}

func appendColumn(b []byte, rules []pendingRule, pc pendingChain) []byte {
	c := pc.c
	var mode byte
	form := -1
	for i := range rules {
		r := &rules[i]
		f := modeMixed
		switch {
		case r.Counters && r.prefixed:
			f = modePrefix
		case !r.Counters && !r.prefixed:
			f = modePlain
		}
		if form == -1 {
			form = f
		} else if form != f {
			form = modeMixed
		}
		if i > 0 && r.Line != rules[i-1].Line+1 {
			mode |= modeLines
		}
	}
	if form > 0 {
		mode |= byte(form)
	}
	if len(rules) > 0 {
		if rules[0].Line > math.MaxInt32 { // past what line holds: every line is written
			mode |= modeLines
		} else {
			c.line = int32(rules[0].Line)
		}
	}
	if pc.packets != 0 || pc.bytes != 0 {
		mode |= modeDeclCounters
	}
	b = append(b, mode)
	b = binary.AppendUvarint(b, uint64(c.line))
	if mode&modeDeclCounters != 0 {
		b = binary.AppendUvarint(b, pc.packets)
		b = binary.AppendUvarint(b, pc.bytes)
	}
	prev := int(c.line) - 1
	for i := range rules {
		r := &rules[i]
		if mode&modeForm == modeMixed {
			var fl byte
			if r.Counters {
				fl |= flagCounters
			}
			if r.prefixed {
				fl |= flagPrefixed
			}
			b = append(b, fl)
		}
		if mode&modeLines != 0 {
			b = binary.AppendUvarint(b, uint64(r.Line-prev))
		}
		prev = r.Line
		if r.Counters {
			b = binary.AppendUvarint(b, r.Packets)
			b = binary.AppendUvarint(b, r.Bytes)
		}
	}
	return b
}

// pendingChain is a chain declared in this dump, with its table and its number of rules so far.
type pendingChain struct {
	c              *Chain
	tab            *Table
	pos            int32 // in tab.parsing
	rules          int32
	decl           int    // the declaration's line (Table.decls, after)
	packets, bytes uint64 // the declaration's counters
}

// shareShape gives c's shape, with the specs of its rules: the cache's copy when the last dump
// with this chain had the same one (same Spec pointers: the cache shares those too). The table's
// index, shared by the dumps that declare the same chains, holds the last shape at each
// position, found without hashing the chain's name; the cache's map serves the other dumps.
func (p *parser) shareShape(pc pendingChain, rules []pendingRule) {
	c := pc.c
	if p.cache != nil {
		same := func(last *chainShape) bool {
			return last != nil && last.Policy == c.Policy && last.Undeclared == c.Undeclared && sameSpecs(last.specs, rules)
		}
		var slot *atomic.Pointer[chainShape]
		if ix := pc.tab.index; ix != nil && int(pc.pos) < len(ix.shapes) && ix.names[pc.pos] == c.Name {
			slot = &ix.shapes[pc.pos]
			if last := slot.Load(); same(last) {
				c.chainShape = last
				return
			}
		}
		key := shapeKey{pc.tab.Name, c.Name}
		p.cache.mu.RLock()
		last := p.cache.shapes[key]
		p.cache.mu.RUnlock()
		if same(last) {
			c.chainShape = last
			if slot != nil {
				slot.Store(last)
			}
			return
		}
		defer func() {
			p.cache.mu.Lock()
			p.cache.shapes[key] = c.chainShape
			p.cache.mu.Unlock()
			if slot != nil {
				slot.Store(c.chainShape)
			}
		}()
	}
	specs := p.newSpecList(len(rules))
	for i := range rules {
		specs[i] = rules[i].Spec
	}
	// A shape of its own leaves the parser's slab, which then goes with the parse, for a slab of
	// shapes that stay: the first dump's are all kept by the cache, a later dump has few.
	if len(p.ownShapes) == cap(p.ownShapes) {
		p.ownShapes = make([]chainShape, 0, slab)
	}
	p.ownShapes = append(p.ownShapes, *c.chainShape)
	own := &p.ownShapes[len(p.ownShapes)-1]
	own.specs = specs
	c.chainShape = own
}

// shapeBlock is how many chains' shapes a block of Table.shapes holds: a block is shared by the
// tables whose chains there say the same, and fifty kube-proxy nodes differ in a few chains.
const shapeBlock = 256

// declRun is a run of chains declared on consecutive lines: chain (a position in the table) on
// line, the next one on line+1, and so on to the next run.
type declRun struct{ chain, line uint32 }

// addDecl records that the table's chain at pos (the next one) is declared at line.
func (t *Table) addDecl(pos int32, line int) {
	if k := len(t.decls) - 1; k >= 0 && int(t.decls[k].line)+int(uint32(pos)-t.decls[k].chain) == line {
		return
	}
	t.decls = append(t.decls, declRun{uint32(pos), uint32(line)})
}

// declLine is the line of the table's chain i's declaration.
func (t *Table) declLine(i int) uint32 {
	k := len(t.decls) - 1
	if k > 0 {
		k = sort.Search(len(t.decls), func(k int) bool { return int(t.decls[k].chain) > i }) - 1
	}
	if k < 0 {
		return 0
	}
	return t.decls[k].line + uint32(i) - t.decls[k].chain
}

// tableShapes is the shape of each of t's chains, in blocks: the last table frozen with t's
// index has the block when its chains there had the same shapes, held once.
func (p *parser) tableShapes(t *Table) [][]*chainShape {
	var last [][]*chainShape
	if t.index != nil {
		if l := t.index.tableShapes.Load(); l != nil {
			last = *l
		}
	}
	blocks := make([][]*chainShape, 0, (len(t.parsing)+shapeBlock-1)/shapeBlock)
	for b := 0; b*shapeBlock < len(t.parsing); b++ {
		chains := t.parsing[b*shapeBlock : min(len(t.parsing), (b+1)*shapeBlock)]
		if b < len(last) && len(last[b]) == len(chains) && slices.EqualFunc(last[b], chains, func(s *chainShape, c *Chain) bool { return s == c.chainShape }) {
			blocks = append(blocks, last[b])
			continue
		}
		block := make([]*chainShape, len(chains))
		for i, c := range chains {
			block[i] = c.chainShape
		}
		blocks = append(blocks, block)
	}
	if t.index != nil && p.cache != nil {
		t.index.tableShapes.Store(&blocks)
	}
	return blocks
}

// newSpecList returns a slice of n Spec pointers for a chain's shape, from a slab.
func (p *parser) newSpecList(n int) []*Spec {
	if n > slab {
		return make([]*Spec, n)
	}
	if len(p.specLists)+n > cap(p.specLists) {
		p.specLists = make([]*Spec, 0, 8*slab)
	}
	k := len(p.specLists)
	p.specLists = p.specLists[:k+n]
	return p.specLists[k : k+n : k+n]
}

func sameSpecs(specs []*Spec, rules []pendingRule) bool {
	if len(specs) != len(rules) {
		return false
	}
	for i, s := range specs {
		if rules[i].Spec != s {
			return false
		}
	}
	return true
}

// shareIndex replaces the table's own name map by an index of its chains, the cache's copy when
// the last dump with this table declared the same chains in the same order.
func (p *parser) shareIndex(t *Table) {
	if p.cache != nil {
		p.cache.mu.RLock()
		last := p.cache.indexes[t.Name]
		p.cache.mu.RUnlock()
		if last != nil && len(last.names) == len(t.parsing) {
			same := true
			for i, c := range t.parsing {
				if last.names[i] != c.Name {
					same = false
					break
				}
			}
			if same {
				t.index, t.byName = last, nil
				return
			}
		}
	}
	ix := &chainIndex{names: make([]string, len(t.parsing)), pos: t.byName, shapes: make([]atomic.Pointer[chainShape], len(t.parsing))}
	if len(ix.pos) != len(t.parsing) {
		// The table followed another's index while parsing (chainNamed) and has no map of its own.
		ix.pos = make(map[string]int32, len(t.parsing))
		for i, c := range t.parsing {
			ix.pos[c.Name] = int32(i)
		}
	}
	for i, c := range t.parsing {
		ix.names[i] = c.Name
	}
	t.index, t.byName = ix, nil
	if p.cache != nil {
		p.cache.mu.Lock()
		p.cache.indexes[t.Name] = ix
		p.cache.mu.Unlock()
	}
}

// Layout identifies the chains a table declares and their order: tables with the same Layout
// (parsed with one Cache, on nodes whose kube-proxy wrote the same chains) have every chain at
// the same position. nil while unknown.
func (t *Table) Layout() any {
	if t.index == nil {
		return nil
	}
	return t.index
}

// Pos is the position of the named chain (ChainAt), or -1. Every table has its index once
// parsed (shareIndex); before, it has no chains to find.
func (t *Table) Pos(name string) int {
	if t.index != nil {
		if i, ok := t.index.pos[name]; ok {
			return int(i)
		}
	}
	return -1
}

// SameRules reports whether the two chains are known to say the same thing (name, policy and
// rules, apart from counters and lines): they share one parse through a Cache. false means
// only "not known", not "different".
func (c *Chain) SameRules(o *Chain) bool { return c.chainShape == o.chainShape }

// Shape identifies what the chain says: chains with the same Shape are SameRules. A key for
// what is computed from a chain's Specs alone, to compute it once for fifty nodes.
func (c *Chain) Shape() any { return c.chainShape }

// Spec is what the chain's rule i says, without decoding the rules before it (Rule does).
func (c *Chain) Spec(i int) *Spec { return c.specs[i] }

// HasTarget reports whether a rule of the chain has one of the targets, reading only what the
// chain says (shared between nodes), not its rules' counters and lines.
func (c *Chain) HasTarget(targets ...string) bool {
	for _, s := range c.specs {
		for _, t := range targets {
			if s.Target.Name == t {
				return true
			}
		}
	}
	return false
}
