package rules

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// overlapIndex finds what comparing with each range finds, in the list's order.
func TestOverlapIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randPrefix := func() netip.Prefix {
		if rng.IntN(10) == 0 {
			a := netip.AddrFrom16([16]byte{0xfd, 0, 0, byte(rng.IntN(4)), 15: byte(rng.IntN(256))})
			return netip.PrefixFrom(a, 8+rng.IntN(121))
		}
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(8)), byte(rng.IntN(256))})
		return netip.PrefixFrom(a, rng.IntN(33)) // not masked, as a podCIDR may be written
	}
	for round := range 200 {
		var list []nfCIDR
		for i := range rng.IntN(30) {
			list = append(list, nfCIDR{Prefix: randPrefix(), What: itoa(i)})
		}
		x := newOverlapIndex(list)
		for range 50 {
			p := randPrefix()
			var want []string
			for _, pc := range list {
				if pc.Prefix.Overlaps(p) {
					want = append(want, pc.What)
				}
			}
			var got []string
			for _, pc := range x.overlapping(p) {
				got = append(got, pc.What)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %v overlaps %v, want %v", round, p, got, want)
			}
		}
	}
}
