package iproute

import (
	"net/netip"
	"slices"
)

// addrIndex finds positions (of routes, of interfaces) by address: the pairs sorted by address
// and, for one address, by position. An IPVS node holds every ClusterIP on kube-ipvs0 and a
// local host route to each, ten thousand of each a node: 32 bytes a pair here, where a map of
// slices took about 80.
type addrIndex []addrPos

type addrPos struct {
	a netip.Addr
	i int32
}

// newAddrIndex sorts pairs appended with their positions in increasing order.
func newAddrIndex(pairs []addrPos) addrIndex {
	slices.SortStableFunc(pairs, func(x, y addrPos) int { return x.a.Compare(y.a) })
	return slices.Clip(pairs)
}

// find returns the pairs of address a, in increasing position.
func (ix addrIndex) find(a netip.Addr) addrIndex {
	lo, _ := slices.BinarySearchFunc(ix, a, func(p addrPos, a netip.Addr) int { return p.a.Compare(a) })
	hi := lo
	for hi < len(ix) && ix[hi].a == a {
		hi++
	}
	return ix[lo:hi]
}
