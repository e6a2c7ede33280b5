package iptables

import "slices"

// chainOffsets is where each of a table's chains starts in the dump's column. A table's chains
// are written to the column one after the other in their order, and most chains' parts are a
// few dozen bytes, so a chain's start is held as the step from the chain before it, in a byte:
// 1.25 bytes a chain where a uint32 each took 4 (fifty nodes' 72,000 chains: 14 MB → 5 MB).
//
// Chains are in blocks of offsetBlock: a block's first start is a uint32 (base), the others a
// step each (steps). A step that does not fit a byte, or a start before the one it follows, is
// 0 in steps and its start is in far (0 is free: a chain's part is at least two bytes).
type chainOffsets struct {
	n     int
	base  []uint32
	steps []uint8
	far   []farOffset // sorted by chain
}

type farOffset struct {
	chain int32
	off   uint32
}

const offsetBlock = 16

func newChainOffsets(offs []uint32) chainOffsets {
	o := chainOffsets{n: len(offs), base: make([]uint32, 0, (len(offs)+offsetBlock-1)/offsetBlock), steps: make([]uint8, len(offs))}
	for i, off := range offs {
		if i%offsetBlock == 0 {
			o.base = append(o.base, off)
			continue
		}
		if step := int64(off) - int64(offs[i-1]); step > 0 && step <= 255 {
			o.steps[i] = uint8(step)
		} else {
			o.far = append(o.far, farOffset{int32(i), off})
		}
	}
	o.far = slices.Clip(o.far)
	return o
}

func (o *chainOffsets) len() int { return o.n }

// at is chain i's start.
func (o *chainOffsets) at(i int) uint32 {
	first := i - i%offsetBlock
	off := o.base[i/offsetBlock]
	for j := first + 1; j <= i; j++ {
		off = o.after(j, off)
	}
	return off
}

// after is chain i's start, given chain i-1's (prev): a walk through the chains in order
// takes one step each.
func (o *chainOffsets) after(i int, prev uint32) uint32 {
	if i%offsetBlock == 0 {
		return o.base[i/offsetBlock]
	}
	if s := o.steps[i]; s != 0 {
		return prev + uint32(s)
	}
	k, _ := slices.BinarySearchFunc(o.far, int32(i), func(f farOffset, c int32) int { return int(f.chain - c) })
	return o.far[k].off
}
