package diff

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

// maxConnectivityChanges bounds the pairs listed: a default-deny policy in a busy namespace
// changes every pair into it, and the first ones say enough.
const maxConnectivityChanges = 100

// hashLabels are set per revision by controllers; a group keeps its identity across rollouts.
var hashLabels = map[string]bool{"pod-template-hash": true, "controller-revision-hash": true, "pod-template-generation": true}

// peerKey names a connectivity endpoint by what policies select it by — namespace and labels —
// rather than by pod names or counts, which change when pods are recreated or scaled.
func peerKey(p policy.Peer) string {
	if p.IPRange != "" {
		return p.IPRange
	}
	l := labels.Set{}
	for k, v := range p.Labels {
		if !hashLabels[k] {
			l[k] = v
		}
	}
	return p.Namespace + "/[" + l.String() + "]"
}

type connectivity struct {
	peers    map[string]bool
	pairs    map[[2]string]string // from, to → allowed ports
	enforced bool
}

func connectivityOf(m *model.Model) connectivity {
	all, _ := policy.ParseSelector("")
	c := policy.New(m).Connectivity(all, all)
	out := connectivity{peers: map[string]bool{}, pairs: map[[2]string]string{}, enforced: c.Enforced}
	for _, p := range c.Sources {
		out.peers[peerKey(p)] = true
	}
	for _, p := range c.Destinations {
		out.peers[peerKey(p)] = true
	}
	for _, conn := range c.Connections {
		k := [2]string{peerKey(c.Sources[conn.From]), peerKey(c.Destinations[conn.To])}
		if k[0] == k[1] && c.Sources[conn.From].IPRange == "" && len(c.Sources[conn.From].Pods) == 1 {
			continue
		}
		// Groups that differ only in hash labels fold into one key: their allowed ports join.
		if prev, ok := out.pairs[k]; ok && prev != conn.Allowed.String() {
			out.pairs[k] = prev + "; " + conn.Allowed.String()
			continue
		}
		out.pairs[k] = conn.Allowed.String()
	}
	return out
}

// compareConnectivity runs the policy engine on both models and lists the pod-group pairs whose
// allowed connections differ. Only pairs whose two groups exist on both sides count: a group
// that appeared (a new Deployment) is a change of pods, not of policy.
func compareConnectivity(om, nm *model.Model) []Change {
	if len(om.NetworkPolicies) == 0 && len(nm.NetworkPolicies) == 0 {
		return nil
	}
	o, n := connectivityOf(om), connectivityOf(nm)
	var out []Change
	if o.enforced != n.enforced {
		out = append(out, Change{Kind: "Connectivity", Subject: "NetworkPolicy enforcement", Op: Changed, Field: "enforced",
			Old: fmt.Sprint(o.enforced), New: fmt.Sprint(n.enforced), Rank: 0})
	}
	keys := map[[2]string]bool{}
	for k := range o.pairs {
		keys[k] = true
	}
	for k := range n.pairs {
		keys[k] = true
	}
	var pairs [][2]string
	for k := range keys {
		if o.peers[k[0]] && o.peers[k[1]] && n.peers[k[0]] && n.peers[k[1]] && o.pairs[k] != n.pairs[k] {
			pairs = append(pairs, k)
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	for i, k := range pairs {
		if i == maxConnectivityChanges {
			out = append(out, Change{Kind: "Connectivity", Subject: fmt.Sprintf("… and %d more pairs", len(pairs)-i), Op: Changed, Rank: 9})
			break
		}
		ch := Change{Kind: "Connectivity", Subject: k[0] + " → " + k[1], Old: o.pairs[k], New: n.pairs[k]}
		switch {
		case ch.Old == "":
			ch.Op, ch.Rank = Added, 1
		case ch.New == "":
			ch.Op, ch.Rank = Removed, 0
		default:
			ch.Op, ch.Rank = Changed, 0
		}
		out = append(out, ch)
	}
	return out
}
