package policy

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// protocols are the protocols a NetworkPolicyPort can name, in the order they are printed.
var protocols = [...]corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func protoIndex(p corev1.Protocol) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return -1
}

// PortSet is a set of allowed connections: per protocol a list of port ranges, or "all
// connections" (a rule without ports, which also admits protocols without ports such as ICMP).
// The zero value allows nothing.
type PortSet struct {
	all    bool
	ranges [len(protocols)][]PortRange // sorted, merged
}

// AllConnections is the set a rule without ports allows.
func AllConnections() PortSet { return PortSet{all: true} }

// IsAll reports whether every connection is allowed.
func (s PortSet) IsAll() bool { return s.all }

// IsEmpty reports whether no connection is allowed.
func (s PortSet) IsEmpty() bool {
	if s.all {
		return false
	}
	for _, r := range s.ranges {
		if len(r) > 0 {
			return false
		}
	}
	return true
}

// Ranges returns the port ranges allowed for a protocol (nil when IsAll).
func (s PortSet) Ranges(p corev1.Protocol) []PortRange {
	if i := protoIndex(p); i >= 0 && !s.all {
		return s.ranges[i]
	}
	return nil
}

// Contains reports whether a connection on proto/port is allowed.
func (s PortSet) Contains(proto corev1.Protocol, port uint16) bool {
	if s.all {
		return true
	}
	i := protoIndex(proto)
	if i < 0 {
		return false
	}
	for _, r := range s.ranges[i] {
		if r.Lo <= port && port <= r.Hi {
			return true
		}
	}
	return false
}

// Add adds a range of ports of a protocol.
func (s *PortSet) Add(proto corev1.Protocol, lo, hi uint16) {
	i := protoIndex(proto)
	if s.all || i < 0 || lo > hi {
		return
	}
	s.ranges[i] = merge(append(slices.Clip(s.ranges[i]), PortRange{lo, hi}))
}

// Union adds every connection of o to s.
func (s *PortSet) Union(o PortSet) {
	if s.all {
		return
	}
	if o.all {
		*s = PortSet{all: true}
		return
	}
	for i := range s.ranges {
		if len(o.ranges[i]) > 0 {
			s.ranges[i] = merge(append(slices.Clip(s.ranges[i]), o.ranges[i]...))
		}
	}
}

// Intersect returns the connections both sets allow.
func Intersect(a, b PortSet) PortSet {
	switch {
	case a.all:
		return b
	case b.all:
		return a
	}
	var out PortSet
	for i := range out.ranges {
		x, y := a.ranges[i], b.ranges[i]
		for len(x) > 0 && len(y) > 0 {
			lo, hi := max(x[0].Lo, y[0].Lo), min(x[0].Hi, y[0].Hi)
			if lo <= hi {
				out.ranges[i] = append(out.ranges[i], PortRange{lo, hi})
			}
			if x[0].Hi < y[0].Hi {
				x = x[1:]
			} else {
				y = y[1:]
			}
		}
	}
	return out
}

// merge sorts ranges and joins the overlapping and adjacent ones.
func merge(rs []PortRange) []PortRange {
	if len(rs) < 2 {
		return rs
	}
	slices.SortFunc(rs, func(a, b PortRange) int { return int(a.Lo) - int(b.Lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint32(r.Lo) <= uint32(last.Hi)+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// String renders the set as "All Connections", "No Connections" or "TCP 80,8080-8090; UDP 53";
// a protocol allowed on every port reads "UDP all ports".
func (s PortSet) String() string {
	if s.all {
		return "All Connections"
	}
	var parts []string
	for i, rs := range s.ranges {
		if len(rs) == 0 {
			continue
		}
		if len(rs) == 1 && rs[0] == fullRange {
			parts = append(parts, string(protocols[i])+" all ports")
			continue
		}
		ports := make([]string, len(rs))
		for j, r := range rs {
			ports[j] = strconv.Itoa(int(r.Lo))
			if r.Hi != r.Lo {
				ports[j] += "-" + strconv.Itoa(int(r.Hi))
			}
		}
		parts = append(parts, string(protocols[i])+" "+strings.Join(ports, ","))
	}
	if len(parts) == 0 {
		return "No Connections"
	}
	return strings.Join(parts, "; ")
}

// fullRange is every port of a protocol: a NetworkPolicyPort without port.
var fullRange = PortRange{0, 65535}
