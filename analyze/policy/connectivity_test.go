package policy_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

func lines(c *policy.Connectivity) []string {
	var out []string
	for _, conn := range c.Connections {
		out = append(out, c.Sources[conn.From].Name+" => "+c.Destinations[conn.To].Name+" : "+conn.Allowed.String())
	}
	return out
}

func mustSelector(t testing.TB, s string) policy.Selector {
	t.Helper()
	sel, err := policy.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestConnectivityListing(t *testing.T) {
	m := load(t, denyIngressShop, apiFromWeb, apiFromDBMetrics, webEgressIPBlock, webEgressNamed)
	e := policy.New(m)
	got := lines(e.Connectivity(mustSelector(t, "shop/*"), policy.Selector{Pods: true, External: true}))
	want := []string{
		"shop/[app=web,tier=frontend] (2 pods) => kube-system/dns-1 : UDP 53",
		"shop/[app=web,tier=frontend] (2 pods) => 203.0.113.0/25 : All Connections",
		"shop/api-1 => free/x-1 : All Connections",
		"shop/api-1 => kube-system/dns-1 : All Connections",
		"shop/api-1 => ops/mon-1 : All Connections",
		"shop/api-1 => ops/web-1 : All Connections",
		"shop/api-1 => 0.0.0.0-203.0.112.255 : All Connections",
		"shop/api-1 => 203.0.113.0/25 : All Connections",
		"shop/api-1 => 203.0.113.128/25 : All Connections",
		"shop/api-1 => 203.0.114.0-255.255.255.255 : All Connections",
		"shop/db-1 => shop/api-1 : TCP 9100",
		"shop/db-1 => free/x-1 : All Connections",
	}
	g := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(g, w) {
			t.Errorf("missing %q", w)
		}
	}
	// web's egress allows sql to shop pods, but db's ingress is closed (deny-ingress); api is
	// open to web on ingress, but web's egress does not allow 9090; web to web is closed too.
	for _, l := range got {
		if strings.HasPrefix(l, "shop/[app=web") && strings.Contains(l, "=> shop/") {
			t.Errorf("listed: %s", l)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", g)
	}
}

// TestConnectivityAgreesWithCheck cross-checks the grouped computation against Check, pod by
// pod, for a mix of every clause.
func TestConnectivityAgreesWithCheck(t *testing.T) {
	m := load(t, denyIngressShop, denyEgressShop, allowAllIngressShop, apiFromWeb, apiFromDBMetrics,
		apiFromOpsWebAND, apiFromOpsOrWebOR, webEgressIPBlock, apiFromNodeNet, apiNamedGRPC, webEgressNamed,
		webEgressRange, api53UDP, apiAllUDP, denyIngressKubeSystem,
		`
metadata: {name: ops-egress, namespace: ops}
spec:
  podSelector: {matchLabels: {app: mon}}
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: shop}}, podSelector: {matchLabels: {app: api}}}]
    ports: [{port: metrics}, {port: 9000, endPort: 9095}]
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.0.0/16]}}]`)
	e := policy.New(m)
	c := e.Connectivity(policy.Selector{Pods: true, External: true}, policy.Selector{Pods: true, External: true})
	probes := []struct {
		port  uint16
		proto corev1.Protocol
	}{{1, "TCP"}, {53, "TCP"}, {53, "UDP"}, {80, "TCP"}, {443, "TCP"}, {5432, "TCP"}, {8050, "TCP"}, {8080, "TCP"},
		{8100, "TCP"}, {8101, "TCP"}, {9090, "TCP"}, {9095, "TCP"}, {9100, "TCP"}, {9999, "UDP"}, {65535, "SCTP"}}
	allowed := map[[2]int]policy.PortSet{}
	for _, conn := range c.Connections {
		allowed[[2]int{conn.From, conn.To}] = conn.Allowed
	}
	endpoints := func(p policy.Peer) []policy.Endpoint {
		if p.IPRange != "" {
			r := strings.SplitN(p.IPRange, "-", 2)
			a := netip.MustParsePrefix(addPrefixLen(r[0])).Addr()
			return []policy.Endpoint{policy.IPEndpoint(a)}
		}
		var out []policy.Endpoint
		for _, name := range p.Pods {
			for _, pod := range m.PodsIn(p.Namespace) {
				if pod.Name == name {
					out = append(out, policy.PodEndpoint(pod))
				}
			}
		}
		return out
	}
	checked := 0
	for si, s := range c.Sources {
		for di, d := range c.Destinations {
			if s.IPRange != "" && d.IPRange != "" {
				continue
			}
			set := allowed[[2]int{si, di}]
			for _, se := range endpoints(s) {
				for _, de := range endpoints(d) {
					if se.Pod != nil && se.Pod == de.Pod {
						continue
					}
					for _, pr := range probes {
						v := e.Check(se, de, pr.port, pr.proto)
						if v.Allowed != set.Contains(pr.proto, pr.port) {
							t.Errorf("%s => %s %s/%d: Check %v, Connectivity %q (%s | %s)", se, de, pr.proto, pr.port, v.Allowed, set, v.Egress.Reason, v.Ingress.Reason)
						}
						checked++
					}
				}
			}
		}
	}
	if checked < 1000 {
		t.Errorf("only %d probes checked", checked)
	}
}

func addPrefixLen(a string) string {
	if strings.Contains(a, "/") {
		return a
	}
	if strings.Contains(a, ":") {
		return a + "/128"
	}
	return a + "/32"
}

func TestExternalCells(t *testing.T) {
	m := load(t, webEgressIPBlock, `
metadata: {name: v6, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: "2001:db8::/32"}}]`)
	c := policy.New(m).Connectivity(mustSelector(t, "external"), mustSelector(t, "shop/api-1"))
	var got []string
	for _, s := range c.Sources {
		got = append(got, s.Name)
	}
	want := "0.0.0.0-203.0.112.255 203.0.113.0/25 203.0.113.128/25 203.0.114.0-255.255.255.255 ::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff 2001:db8::/32 2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	if strings.Join(got, " ") != want {
		t.Errorf("cells = %s\nwant    %s", strings.Join(got, " "), want)
	}
	if l := lines(c); len(l) != 1 || l[0] != "2001:db8::/32 => shop/api-1 : All Connections" {
		t.Errorf("lines = %q", l)
	}
}

func TestGroupNames(t *testing.T) {
	m := loadFiles(t, map[string]string{"cluster/pods.yaml": `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a-1, namespace: n, labels: {app: a, pod-template-hash: h1}}, status: {phase: Running, podIP: 10.0.0.1}}
- {apiVersion: v1, kind: Pod, metadata: {name: a-2, namespace: n, labels: {app: a, pod-template-hash: h1}}, status: {phase: Running, podIP: 10.0.0.2}}
- {apiVersion: v1, kind: Pod, metadata: {name: b-1, namespace: n, labels: {app: b, pod-template-hash: h1}}, status: {phase: Running, podIP: 10.0.0.3}}
- {apiVersion: v1, kind: Pod, metadata: {name: b-2, namespace: n, labels: {app: b, pod-template-hash: h1}}, status: {phase: Running, podIP: 10.0.0.4}}
- {apiVersion: v1, kind: Pod, metadata: {name: b-3, namespace: n, labels: {app: b, pod-template-hash: h2}}, status: {phase: Running, podIP: 10.0.0.5}}
- {apiVersion: v1, kind: Pod, metadata: {name: b-4, namespace: n, labels: {app: b, pod-template-hash: h2}}, status: {phase: Running, podIP: 10.0.0.6}}
- {apiVersion: v1, kind: Pod, metadata: {name: c-1, namespace: n}, status: {phase: Running, podIP: 10.0.0.7}}
- {apiVersion: v1, kind: Pod, metadata: {name: c-2, namespace: n}, status: {phase: Running, podIP: 10.0.0.8}}
- {apiVersion: v1, kind: Pod, metadata: {name: done, namespace: n}, status: {phase: Succeeded, podIP: 10.0.0.9}}
`})
	c := policy.New(m).Connectivity(mustSelector(t, "n/*"), mustSelector(t, "*:app=a"))
	var got []string
	for _, s := range c.Sources {
		got = append(got, s.Name)
	}
	want := []string{"n/[app=a] (2 pods)", "n/[app=b,pod-template-hash=h1] (2 pods)", "n/[app=b,pod-template-hash=h2] (2 pods)", "n/[no labels] (2 pods)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sources = %q, want %q", got, want)
	}
	if len(c.Destinations) != 1 || len(c.Connections) != 4 {
		t.Errorf("destinations %d, connections %q", len(c.Destinations), lines(c))
	}
}

func TestParseSelector(t *testing.T) {
	m := loadFiles(t, map[string]string{"cluster/pods.yaml": `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: web-1, namespace: shop, labels: {app: web, tier: frontend}}, status: {phase: Running, podIP: 10.0.0.1}}
`})
	for _, c := range []struct {
		in, err string
		match   bool
	}{
		{in: "", match: true},
		{in: "shop/*", match: true},
		{in: "shop/web-1", match: true},
		{in: "shop/web-2", match: false},
		{in: "ops/*", match: false},
		{in: "shop:app=web", match: true},
		{in: "shop:app=web,tier!=frontend", match: false},
		{in: "*:app in (web,api)", match: true},
		{in: "external", match: false},
		{in: "shop", err: "want ns/*"},
		{in: ":app=web", err: "no namespace"},
		{in: "shop:app in (", err: "selector"},
	} {
		sel, err := policy.ParseSelector(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := matchesWeb(m, sel); got != c.match {
			t.Errorf("%q matches shop/web-1 = %v, want %v", c.in, got, c.match)
		}
	}
}

// matchesWeb reports whether sel picks shop/web-1, through a listing of a one-pod bundle.
func matchesWeb(m *model.Model, sel policy.Selector) bool {
	c := policy.New(m).Connectivity(sel, policy.Selector{})
	return len(c.Sources) > 0 && c.Sources[0].Name == "shop/web-1"
}

func TestPortSet(t *testing.T) {
	var s policy.PortSet
	if s.String() != "No Connections" || !s.IsEmpty() {
		t.Errorf("zero = %s", s)
	}
	s.Add("TCP", 8080, 8090)
	s.Add("TCP", 80, 80)
	s.Add("TCP", 8091, 8095)
	s.Add("UDP", 53, 53)
	s.Add("TCP", 81, 81)
	if got, want := s.String(), "TCP 80-81,8080-8095; UDP 53"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	var o policy.PortSet
	o.Add("TCP", 81, 8085)
	o.Add("SCTP", 0, 65535)
	if got, want := policy.Intersect(s, o).String(), "TCP 81,8080-8085"; got != want {
		t.Errorf("Intersect = %q, want %q", got, want)
	}
	if got := policy.Intersect(policy.AllConnections(), o).String(); got != "TCP 81-8085; SCTP all ports" {
		t.Errorf("Intersect(all) = %q", got)
	}
	o.Union(policy.AllConnections())
	if !o.IsAll() || o.String() != "All Connections" {
		t.Errorf("union with all = %s", o)
	}
	if !s.Contains("TCP", 8095) || s.Contains("TCP", 8096) || s.Contains("ICMP", 0) {
		t.Errorf("Contains wrong")
	}
}

// Pods with identical labels that an ipBlock tells apart are two groups, named apart.
func TestGroupsSplitByIPBlock(t *testing.T) {
	m := loadFiles(t, map[string]string{
		"cluster/pods.yaml": `
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: d-1, namespace: m, labels: {app: d}}, status: {phase: Running, podIP: 10.1.0.1}}
- {apiVersion: v1, kind: Pod, metadata: {name: d-2, namespace: m, labels: {app: d}}, status: {phase: Running, podIP: 10.1.0.2}}
- {apiVersion: v1, kind: Pod, metadata: {name: d-3, namespace: m, labels: {app: d}}, status: {phase: Running, podIP: 10.2.0.1}}
- {apiVersion: v1, kind: Pod, metadata: {name: d-4, namespace: m, labels: {app: d}}, status: {phase: Running, podIP: 10.2.0.2}}
`,
		"cluster/networkpolicies.yaml": `
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: from-10-1, namespace: m}
  spec:
    podSelector: {}
    ingress:
    - from: [{ipBlock: {cidr: 10.1.0.0/16}}]
`})
	c := policy.New(m).Connectivity(mustSelector(t, "m/*"), mustSelector(t, "m/*"))
	got := strings.Join(lines(c), "\n")
	want := "m/[app=d] (2 pods, d-1…) => m/[app=d] (2 pods, d-1…) : All Connections\n" +
		"m/[app=d] (2 pods, d-1…) => m/[app=d] (2 pods, d-3…) : All Connections"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
