package iptables

import (
	"slices"
	"strings"
	"unsafe"
)

// A Spec holds its matches as places in its own Text rather than as []Match: every module,
// option and value of a match is a word of the line, so a match is three uint32 words (module,
// option, negation and value count) and one per value, 16 bytes for a typical match where a
// Match is 64 plus 16 a value. A node's kube-proxy dump has ~480,000 matches, and the first
// node's are held for the whole run: 45 MB as Matches, 10 MB as places.
//
// A place is off<<16 | len within Text; 0 is "". A word that is nowhere in Text (a value with
// an escaped quote, "-4" written "--ipv4") or a line over 64 KB makes the Spec keep its matches
// as parsed instead (specRare.odd).

// maxPlace bounds a place's offset and length (16 bits each).
const maxPlace = 1<<16 - 1

// place is where s is in text, as off<<16 | len; false when text does not hold it.
func place(text, s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	off := -1
	if len(text) > 0 {
		// A word cut from the line is inside Text itself: no search.
		d := uintptr(unsafe.Pointer(unsafe.StringData(s))) - uintptr(unsafe.Pointer(unsafe.StringData(text)))
		if d <= uintptr(len(text)-len(s)) && len(s) <= len(text) {
			off = int(d)
		}
	}
	if off < 0 {
		// A canonical spelling ("-s" for "--source") or an unquoted copy: any equal bytes do.
		if off = strings.Index(text, s); off < 0 {
			return 0, false
		}
	}
	if off > maxPlace || len(s) > maxPlace {
		return 0, false
	}
	return uint32(off)<<16 | uint32(len(s)), true
}

// at is the string a place names in text.
func at(text string, pl uint32) string {
	off := pl >> 16
	return text[off : off+pl&maxPlace]
}

// A match's third word: bit 0 the negation, the rest its number of values.
const negBit = 1

// holdInText can be turned off by tests: every Spec then keeps its matches as parsed, to
// compare with.
var holdInText = true

// setMatches holds ms (whose Values may be the tokenizer's scratch) in s.
func (p *ruleMaker) setMatches(s *Spec, ms []Match) {
	if len(ms) == 0 {
		return
	}
	if !holdInText {
		p.setOdd(s, ms)
		return
	}
	enc := p.encScratch[:0]
	for _, m := range ms {
		mod, ok1 := place(s.Text, m.Module)
		opt, ok2 := place(s.Text, m.Option)
		if !ok1 || !ok2 || len(m.Values) > 1<<30 {
			p.setOdd(s, ms)
			return
		}
		meta := uint32(len(m.Values)) << 1
		if m.Negated {
			meta |= negBit
		}
		enc = append(enc, mod, opt, meta)
		for _, v := range m.Values {
			pv, ok := place(s.Text, v)
			if !ok {
				p.setOdd(s, ms)
				return
			}
			enc = append(enc, pv)
		}
	}
	p.encScratch = enc
	s.enc = p.keepEnc(enc)
}

// setOdd keeps ms as parsed, their values copied out of the tokenizer's scratch.
func (p *ruleMaker) setOdd(s *Spec, ms []Match) {
	odd := make([]Match, len(ms))
	for i, m := range ms {
		odd[i] = m
		if len(m.Values) > 0 {
			odd[i].Values = p.keepWords(m.Values)
		}
	}
	s.rareOf().odd = odd
}

// odd is the matches as parsed, when enc does not hold them.
func (s *Spec) odd() []Match {
	if s.rare == nil {
		return nil
	}
	return s.rare.odd
}

// keepEnc copies a Spec's match words into the dump's slab of them.
func (p *ruleMaker) keepEnc(w []uint32) []uint32 {
	if len(w) > slab*4 {
		return append([]uint32(nil), w...)
	}
	if len(p.encs)+len(w) > cap(p.encs) {
		p.encs = make([]uint32, 0, slab*16)
	}
	start := len(p.encs)
	p.encs = append(p.encs, w...)
	return p.encs[start:len(p.encs):len(p.encs)]
}

// matchRef is one of a Spec's matches, read where it is held: no allocation.
type matchRef struct {
	Module, Option string
	Negated        bool

	text string
	vals []uint32 // places in text
	strs []string // the values of an odd Spec's match
}

// n is the number of values.
func (m *matchRef) n() int {
	if m.strs != nil {
		return len(m.strs)
	}
	return len(m.vals)
}

// value is the i'th value.
func (m *matchRef) value(i int) string {
	if m.strs != nil {
		return m.strs[i]
	}
	return at(m.text, m.vals[i])
}

// match is the matchRef as a Match of its own.
func (m *matchRef) match() Match {
	out := Match{Module: m.Module, Option: m.Option, Negated: m.Negated}
	if n := m.n(); n > 0 {
		out.Values = make([]string, n)
		for i := range out.Values {
			out.Values[i] = m.value(i)
		}
	}
	return out
}

// matchCursor walks a Spec's matches in order: for c := s.cursor(); c.advance(); { c.m … }.
type matchCursor struct {
	s    *Spec
	next int // the next match's first word in s.enc, or its index in s.odd()
	m    matchRef
}

func (s *Spec) cursor() matchCursor { return matchCursor{s: s} }

func (c *matchCursor) advance() bool {
	s := c.s
	if s == nil {
		return false
	}
	if odd := s.odd(); odd != nil {
		if c.next >= len(odd) {
			return false
		}
		m := &odd[c.next]
		c.next++
		c.m = matchRef{Module: m.Module, Option: m.Option, Negated: m.Negated, strs: m.Values}
		if c.m.strs == nil {
			c.m.strs = []string{}
		}
		return true
	}
	if c.next+3 > len(s.enc) {
		return false
	}
	w := s.enc[c.next:]
	nv := int(w[2] >> 1)
	c.m = matchRef{Module: at(s.Text, w[0]), Option: at(s.Text, w[1]), Negated: w[2]&negBit != 0,
		text: s.Text, vals: w[3 : 3+nv]}
	c.next += 3 + nv
	return true
}

// Matches returns the rule's conditions in order, as Matches of their own (each call makes
// them: the Spec holds them as places in Text). A caller reading many rules' uses MatchesIn.
func (s *Spec) Matches() []Match {
	if s != nil && s.odd() != nil {
		return slices.Clone(s.odd())
	}
	var b MatchBuf
	return s.MatchesIn(&b)
}

// MatchBuf is room for the matches of one rule at a time (Spec.MatchesIn), reused between rules.
type MatchBuf struct {
	ms   []Match
	vals []string
}

// MatchesIn is Matches made in b's room: valid until the next call with b, and not to be
// modified.
func (s *Spec) MatchesIn(b *MatchBuf) []Match {
	if s == nil {
		return nil
	}
	if odd := s.odd(); odd != nil {
		return odd
	}
	n, nv := 0, 0
	for i := 0; i+3 <= len(s.enc); n++ {
		k := int(s.enc[i+2] >> 1)
		nv += k
		i += 3 + k
	}
	if n == 0 {
		return nil
	}
	out := slices.Grow(b.ms[:0], n)
	vals := slices.Grow(b.vals[:0], nv)[:nv]
	b.ms, b.vals = out, vals
	for c := s.cursor(); c.advance(); {
		m := Match{Module: c.m.Module, Option: c.m.Option, Negated: c.m.Negated}
		if k := len(c.m.vals); k > 0 {
			m.Values = vals[:k:k]
			for i, pl := range c.m.vals {
				m.Values[i] = at(s.Text, pl)
			}
			vals = vals[k:]
		}
		out = append(out, m)
	}
	return out
}

// NumMatches is len(Matches()), without making them.
func (s *Spec) NumMatches() int {
	if s == nil {
		return 0
	}
	if odd := s.odd(); odd != nil {
		return len(odd)
	}
	n := 0
	for i := 0; i+3 <= len(s.enc); n++ {
		i += 3 + int(s.enc[i+2]>>1)
	}
	return n
}
