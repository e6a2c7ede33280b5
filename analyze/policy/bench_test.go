package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/policy"
)

// bigCluster is 100 namespaces × 100 pods (10 apps of 10 pods each) and 10 policies per
// namespace: 10,000 pods, 1,000 policies, mixing every kind of peer and port.
func bigCluster() map[string]string {
	var ns, pods, nps strings.Builder
	ns.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	pods.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	nps.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := range 100 {
		fmt.Fprintf(&ns, "- {apiVersion: v1, kind: Namespace, metadata: {name: ns-%02d, labels: {team: t%d}}}\n", i, i%10)
		for j := range 100 {
			fmt.Fprintf(&pods, "- {apiVersion: v1, kind: Pod, metadata: {name: app-%d-%02d, namespace: ns-%02d, labels: {app: app-%d, pod-template-hash: h%d}}, "+
				"spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}, status: {phase: Running, podIP: 10.1.%d.%d}}\n",
				j%10, j, i, j%10, j%10, i, j+1)
		}
		for k := range 10 {
			types := "[Ingress]"
			if k%2 == 0 {
				types = "[Ingress, Egress]"
			}
			fmt.Fprintf(&nps, `- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: p-%d, namespace: ns-%02d}
  spec:
    podSelector: {matchLabels: {app: app-%d}}
    policyTypes: %s
    ingress:
    - from: [{podSelector: {matchLabels: {app: app-%d}}}]
      ports: [{port: 8080}, {port: 9000, endPort: 9100}]
    - from: [{namespaceSelector: {matchLabels: {team: t%d}}, podSelector: {matchLabels: {app: app-%d}}}]
      ports: [{port: http}]
    - from: [{ipBlock: {cidr: 172.16.%d.0/24, except: [172.16.%d.0/28]}}]
    egress:
    - to: [{podSelector: {}}]
    - to: [{namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [t%d, t%d]}]}}]
      ports: [{port: 53, protocol: UDP}, {port: http}]
    - to: [{ipBlock: {cidr: 192.168.%d.0/24, except: [192.168.%d.128/26]}}]
`, k, i, k, types, (k+1)%10, k, k, k, k, k, (k+3)%10, k, k)
		}
	}
	return map[string]string{
		"cluster/namespaces.yaml":      ns.String(),
		"cluster/pods.yaml":            pods.String(),
		"cluster/networkpolicies.yaml": nps.String(),
	}
}

func BenchmarkConnectivity(b *testing.B) {
	m := loadFiles(b, bigCluster())
	if len(m.Pods) != 10000 || len(m.NetworkPolicies) != 1000 {
		b.Fatalf("model has %d pods, %d policies", len(m.Pods), len(m.NetworkPolicies))
	}
	all := policy.Selector{Pods: true, External: true}
	b.ReportAllocs()
	b.ResetTimer()
	var c *policy.Connectivity
	for b.Loop() {
		c = policy.New(m).Connectivity(all, all)
	}
	b.ReportMetric(float64(len(c.Sources)), "sources")
	b.ReportMetric(float64(len(c.Connections)), "connections")
}
