package iptables

import "hash/maphash"

// specIndex finds a Cache's Specs by their text: an open-addressed table of pointers, 8 bytes a
// slot at three quarters full at most, where a map[string]*Spec took ~40 an entry (the key's
// string header beside the value, and the map's slack). Fifty kube-proxy dumps hold ~250,000
// distinct rules: 10 MB of map live through the whole of the iptables parsing, now ~4 MB. Not
// safe for concurrent use: the Cache's lock guards it.
type specIndex struct {
	seed  maphash.Seed
	slots []*Spec // nil: free; a table of a power of two slots
	n     int
}

func newSpecIndex() specIndex { return specIndex{seed: maphash.MakeSeed()} }

// get returns the Spec whose Text is text, or nil.
func (x *specIndex) get(text []byte) *Spec {
	if len(x.slots) == 0 {
		return nil
	}
	mask := len(x.slots) - 1
	for i := int(maphash.Bytes(x.seed, text)) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == nil || s.Text == string(text) {
			return s
		}
	}
}

// put adds s, in place of a Spec with the same Text.
func (x *specIndex) put(s *Spec) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	if x.insert(s) {
		x.n++
	}
}

// insert puts s in its slot; false when it took the place of a Spec with its Text.
func (x *specIndex) insert(s *Spec) bool {
	mask := len(x.slots) - 1
	for i := int(maphash.String(x.seed, s.Text)) & mask; ; i = (i + 1) & mask {
		switch o := x.slots[i]; {
		case o == nil:
			x.slots[i] = s
			return true
		case o.Text == s.Text:
			x.slots[i] = s
			return false
		}
	}
}

func (x *specIndex) grow() {
	old := x.slots
	x.slots = make([]*Spec, max(1024, 2*len(old)))
	for _, s := range old {
		if s != nil {
			x.insert(s)
		}
	}
}
