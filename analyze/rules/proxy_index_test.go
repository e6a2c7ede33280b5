package rules

import (
	"reflect"
	"testing"

	"github.com/netsift/netsift/internal/ruletest"
)

// Nodes whose KUBE-SERVICES says the same share one ClusterIP index; a node whose chain
// differs has its own (the rules-missing case's lagging node is caught by TestCases).
func TestClusterIPIndexShared(t *testing.T) {
	_, m := ruletest.Bundle(t, "testdata/cases/kube-proxy.rules-stale/fail-iptables-one-sep-differs.txtar")
	st := proxyState(m)
	var maps []uintptr
	for _, name := range []string{"worker-1", "worker-2"} {
		nd := m.NodeData(name)
		if nd == nil || nd.IPTables == nil {
			t.Fatalf("node %s has no iptables dump", name)
		}
		ix := st.node(nd).v4
		if len(ix.clusterIP) == 0 {
			t.Fatalf("%s: no ClusterIP rules indexed", name)
		}
		for k, i := range ix.clusterIP {
			r := ix.services.Rule(int(i))
			if got, ok := ruleVIP(r); !ok || got != k {
				t.Errorf("%s: %v indexes rule %d (line %d), which is for %v", name, k, i, r.Line, got)
			}
		}
		maps = append(maps, reflect.ValueOf(ix.clusterIP).Pointer())
	}
	if maps[0] != maps[1] {
		t.Error("worker-1 and worker-2 declare the same KUBE-SERVICES but hold two indexes")
	}

	_, other := ruletest.Bundle(t, "testdata/cases/kube-proxy.rules-missing/fail-iptables-node-behind.txtar")
	st = proxyState(other)
	seen := map[uintptr]bool{}
	for _, nd := range nodesWithData(other) {
		if nd.IPTables != nil {
			seen[reflect.ValueOf(st.node(nd).v4.clusterIP).Pointer()] = true
		}
	}
	if len(seen) != 2 {
		t.Errorf("a node behind the others must have its own index: %d indexes for 2 nodes", len(seen))
	}
}
