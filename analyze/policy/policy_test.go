package policy_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/policy"
)

// load writes a bundle directory holding the shared namespaces and pods of testdata/cluster.yaml
// and the given NetworkPolicies (YAML list items), and loads it through the real pipeline.
func load(t testing.TB, policies ...string) *model.Model {
	t.Helper()
	shared, err := os.ReadFile("testdata/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ns, pods, _ := strings.Cut(string(shared), "\n---\n")
	np := "apiVersion: v1\nkind: List\nitems:\n"
	for _, p := range policies {
		np += "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n" + indent(strings.TrimSpace(p), "  ") + "\n"
	}
	if len(policies) == 0 {
		np += "[]\n"
		np = strings.Replace(np, "items:\n[]", "items: []", 1)
	}
	return loadFiles(t, map[string]string{
		"cluster/namespaces.yaml":      ns,
		"cluster/pods.yaml":            pods,
		"cluster/networkpolicies.yaml": np,
	})
}

func loadFiles(t testing.TB, files map[string]string) *model.Model {
	t.Helper()
	dir := t.TempDir()
	files["manifest.json"] = `{"format_version":1,"commands":[]}`
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// analyze.Load is exactly bundle.Open + model.Build; calling them directly keeps these tests
	// independent of the rules package (which analyze imports, and which will import policy).
	b, err := bundle.Open(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := model.Build(b)
	for _, w := range m.Warnings {
		if !strings.Contains(w.Message, "not used by any rule") {
			t.Logf("model warning: %s", w)
		}
	}
	return m
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// The policies of the table, by name. Each is the body of a NetworkPolicy after kind.
var (
	denyIngressShop = `
metadata: {name: deny-ingress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}`
	denyEgressShop = `
metadata: {name: deny-egress, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}`
	allowAllIngressShop = `
metadata: {name: allow-all, namespace: shop}
spec:
  podSelector: {}
  ingress:
  - {}`
	apiFromWeb = `
metadata: {name: api-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
    ports:
    - {port: 9090}`
	apiFromDBMetrics = `
metadata: {name: api-from-db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: db}}
    ports:
    - {port: 9100}`
	apiFromOpsNS = `
metadata: {name: api-from-ops, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}`
	apiFromOpsByName = `
metadata: {name: api-from-ops-name, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}`
	apiFromOpsWebAND = `
metadata: {name: api-from-ops-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: web}}`
	apiFromOpsOrWebOR = `
metadata: {name: api-from-ops-or-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
    - podSelector: {matchLabels: {app: web}}`
	webEgressIPBlock = `
metadata: {name: web-egress-ipblock, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}`
	apiFromNodeNet = `
metadata: {name: api-from-node1, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.244.1.0/24}
    - ipBlock: {cidr: 192.168.56.0/24}`
	apiNamedGRPC = `
metadata: {name: api-grpc, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports:
    - {port: grpc}`
	webEgressNamed = `
metadata: {name: web-egress-named, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {}}]
    ports: [{port: sql}]
  - to: [{namespaceSelector: {}}]
    ports: [{port: dns, protocol: UDP}]`
	webEgressRange = `
metadata: {name: web-egress-range, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 8000, endPort: 8100}]`
	api53TCP = `
metadata: {name: api-53, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{port: 53}]`
	api53UDP = `
metadata: {name: api-53-udp, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{port: 53, protocol: UDP}]`
	apiAllUDP = `
metadata: {name: api-all-udp, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{protocol: UDP}]`
	webEgressNoTypes = `
metadata: {name: web-egress-only-rules, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]`
	denyIngressKubeSystem = `
metadata: {name: deny-ingress, namespace: kube-system}
spec: {podSelector: {}, policyTypes: [Ingress]}`
)

func TestCheck(t *testing.T) {
	const (
		web   = "shop/web-1"
		api   = "shop/api-1"
		db    = "shop/db-1"
		mon   = "ops/mon-1"
		opsWb = "ops/web-1"
		x     = "free/x-1"
		dns   = "kube-system/dns-1"
		agent = "kube-system/agent-1"
		udp   = corev1.ProtocolUDP
	)
	cases := []struct {
		name     string
		policies []string
		src, dst string // ns/pod or an IP
		port     uint16
		proto    corev1.Protocol
		allowed  bool
		by       string // the rule that allowed (ingress if set, else egress), or ""
		// isolated is "ingress", "egress", "both" or "" for the direction(s) expected isolated.
		isolated string
	}{
		{name: "no policies", src: web, dst: api, port: 9090, allowed: true},

		{name: "default deny ingress", policies: []string{denyIngressShop}, src: web, dst: api, port: 9090, isolated: "ingress"},
		{name: "default deny ingress leaves egress open", policies: []string{denyIngressShop}, src: api, dst: x, port: 80, allowed: true},
		{name: "default deny ingress, other namespace to it", policies: []string{denyIngressShop}, src: x, dst: db, port: 5432, isolated: "ingress"},

		{name: "default deny egress", policies: []string{denyEgressShop}, src: web, dst: x, port: 80, isolated: "egress"},
		{name: "egress-only policy does not isolate ingress", policies: []string{denyEgressShop}, src: x, dst: web, port: 8080, allowed: true},
		{name: "egress rules without policyTypes isolate ingress too", policies: []string{webEgressNoTypes}, src: x, dst: web, port: 8080, isolated: "ingress"},
		{name: "egress rules without policyTypes isolate egress", policies: []string{webEgressNoTypes}, src: web, dst: db, port: 5432, isolated: "egress"},
		{name: "egress rules without policyTypes allow their peer", policies: []string{webEgressNoTypes}, src: web, dst: api, port: 1234, allowed: true, by: "shop/web-egress-only-rules egress[0]", isolated: "egress"},

		{name: "allow-all rule over deny-all", policies: []string{denyIngressShop, allowAllIngressShop}, src: mon, dst: api, port: 4242, allowed: true, by: "shop/allow-all ingress[0]", isolated: "ingress"},
		{name: "allow-all rule admits external", policies: []string{allowAllIngressShop}, src: "198.51.100.7", dst: db, port: 5432, allowed: true, by: "shop/allow-all ingress[0]", isolated: "ingress"},

		{name: "podSelector allows", policies: []string{apiFromWeb}, src: web, dst: api, port: 9090, allowed: true, by: "shop/api-from-web ingress[0]", isolated: "ingress"},
		{name: "podSelector wrong port", policies: []string{apiFromWeb}, src: web, dst: api, port: 9091, isolated: "ingress"},
		{name: "podSelector wrong pod", policies: []string{apiFromWeb}, src: db, dst: api, port: 9090, isolated: "ingress"},
		{name: "podSelector is the policy's namespace only", policies: []string{apiFromWeb}, src: opsWb, dst: api, port: 9090, isolated: "ingress"},
		{name: "podSelector does not select other pods", policies: []string{apiFromWeb}, src: api, dst: db, port: 5432, allowed: true},

		{name: "namespaceSelector allows", policies: []string{apiFromOpsNS}, src: mon, dst: api, port: 1, allowed: true, by: "shop/api-from-ops ingress[0]", isolated: "ingress"},
		{name: "namespaceSelector denies own namespace", policies: []string{apiFromOpsNS}, src: web, dst: api, port: 9090, isolated: "ingress"},
		{name: "namespaceSelector by kubernetes.io/metadata.name", policies: []string{apiFromOpsByName}, src: opsWb, dst: api, port: 9090, allowed: true, by: "shop/api-from-ops-name ingress[0]", isolated: "ingress"},
		{name: "namespaceSelector does not match external", policies: []string{apiFromOpsNS}, src: "10.244.2.8", dst: api, port: 9090, isolated: "ingress"},

		{name: "AND peer: both match", policies: []string{apiFromOpsWebAND}, src: opsWb, dst: api, port: 9090, allowed: true, by: "shop/api-from-ops-web ingress[0]", isolated: "ingress"},
		{name: "AND peer: namespace only", policies: []string{apiFromOpsWebAND}, src: mon, dst: api, port: 9090, isolated: "ingress"},
		{name: "AND peer: labels only", policies: []string{apiFromOpsWebAND}, src: web, dst: api, port: 9090, isolated: "ingress"},
		{name: "OR peers: namespace", policies: []string{apiFromOpsOrWebOR}, src: mon, dst: api, port: 9090, allowed: true, by: "shop/api-from-ops-or-web ingress[0]", isolated: "ingress"},
		{name: "OR peers: labels", policies: []string{apiFromOpsOrWebOR}, src: web, dst: api, port: 9090, allowed: true, by: "shop/api-from-ops-or-web ingress[0]", isolated: "ingress"},
		{name: "OR peers: neither", policies: []string{apiFromOpsOrWebOR}, src: db, dst: api, port: 9090, isolated: "ingress"},

		{name: "ipBlock allows", policies: []string{webEgressIPBlock}, src: web, dst: "203.0.113.5", port: 443, allowed: true, by: "shop/web-egress-ipblock egress[0]", isolated: "egress"},
		{name: "ipBlock except", policies: []string{webEgressIPBlock}, src: web, dst: "203.0.113.200", port: 443, isolated: "egress"},
		{name: "ipBlock outside", policies: []string{webEgressIPBlock}, src: web, dst: "198.51.100.1", port: 443, isolated: "egress"},
		{name: "ipBlock does not admit a pod outside it", policies: []string{webEgressIPBlock}, src: web, dst: api, port: 9090, isolated: "egress"},
		{name: "ipBlock matches a pod IP", policies: []string{apiFromNodeNet}, src: web, dst: api, port: 9090, allowed: true, by: "shop/api-from-node1 ingress[0]", isolated: "ingress"},
		{name: "ipBlock pod IP outside", policies: []string{apiFromNodeNet}, src: mon, dst: api, port: 9090, isolated: "ingress"},

		{name: "named port resolved on destination", policies: []string{apiNamedGRPC}, src: web, dst: api, port: 9090, allowed: true, by: "shop/api-grpc ingress[0]", isolated: "ingress"},
		{name: "named port other number", policies: []string{apiNamedGRPC}, src: web, dst: api, port: 9100, isolated: "ingress"},
		{name: "egress named port resolved on destination", policies: []string{webEgressNamed}, src: web, dst: db, port: 5432, allowed: true, by: "shop/web-egress-named egress[0]", isolated: "egress"},
		{name: "egress named port: destination lacks the name", policies: []string{webEgressNamed}, src: web, dst: api, port: 5432, isolated: "egress"},
		{name: "egress named port: external destination", policies: []string{webEgressNamed}, src: web, dst: "10.244.2.7", port: 5432, isolated: "egress"},
		{name: "egress named UDP port", policies: []string{webEgressNamed}, src: web, dst: dns, port: 53, proto: udp, allowed: true, by: "shop/web-egress-named egress[1]", isolated: "egress"},
		{name: "egress named UDP port is not TCP", policies: []string{webEgressNamed}, src: web, dst: dns, port: 53, isolated: "egress"},

		{name: "endPort inside", policies: []string{webEgressRange}, src: web, dst: x, port: 8050, allowed: true, by: "shop/web-egress-range egress[0]", isolated: "egress"},
		{name: "endPort upper bound", policies: []string{webEgressRange}, src: web, dst: x, port: 8100, allowed: true, by: "shop/web-egress-range egress[0]", isolated: "egress"},
		{name: "endPort above", policies: []string{webEgressRange}, src: web, dst: x, port: 8101, isolated: "egress"},
		{name: "endPort below", policies: []string{webEgressRange}, src: web, dst: x, port: 7999, isolated: "egress"},

		{name: "protocol defaults to TCP", policies: []string{api53TCP}, src: web, dst: api, port: 53, allowed: true, by: "shop/api-53 ingress[0]", isolated: "ingress"},
		{name: "TCP port is not UDP", policies: []string{api53TCP}, src: web, dst: api, port: 53, proto: udp, isolated: "ingress"},
		{name: "UDP port", policies: []string{api53UDP}, src: web, dst: api, port: 53, proto: udp, allowed: true, by: "shop/api-53-udp ingress[0]", isolated: "ingress"},
		{name: "UDP port is not TCP", policies: []string{api53UDP}, src: web, dst: api, port: 53, isolated: "ingress"},
		{name: "protocol without port: every UDP port", policies: []string{apiAllUDP}, src: web, dst: api, port: 9999, proto: udp, allowed: true, by: "shop/api-all-udp ingress[0]", isolated: "ingress"},
		{name: "protocol without port: not TCP", policies: []string{apiAllUDP}, src: web, dst: api, port: 9999, isolated: "ingress"},

		{name: "union: first policy", policies: []string{apiFromWeb, apiFromDBMetrics}, src: web, dst: api, port: 9090, allowed: true, by: "shop/api-from-web ingress[0]", isolated: "ingress"},
		{name: "union: second policy", policies: []string{apiFromWeb, apiFromDBMetrics}, src: db, dst: api, port: 9100, allowed: true, by: "shop/api-from-db ingress[0]", isolated: "ingress"},
		{name: "union: neither", policies: []string{apiFromWeb, apiFromDBMetrics}, src: web, dst: api, port: 9100, isolated: "ingress"},
		{name: "both directions must allow", policies: []string{denyEgressShop, apiFromWeb}, src: web, dst: api, port: 9090, by: "shop/api-from-web ingress[0]", isolated: "both"},

		{name: "hostNetwork pod is not selected", policies: []string{denyIngressKubeSystem}, src: web, dst: agent, port: 9099, allowed: true},
		{name: "hostNetwork pod's neighbour is", policies: []string{denyIngressKubeSystem}, src: web, dst: dns, port: 53, proto: udp, isolated: "ingress"},
		{name: "hostNetwork pod is not a podSelector peer", policies: []string{allowAllIngressShop, apiFromOpsOrWebOR}, src: agent, dst: api, port: 9090, allowed: true, by: "shop/allow-all ingress[0]", isolated: "ingress"},
		{name: "hostNetwork pod is not matched by pod peers", policies: []string{apiFromWeb}, src: agent, dst: api, port: 9090, isolated: "ingress"},
		{name: "hostNetwork pod matched by ipBlock of its node IP", policies: []string{apiFromNodeNet}, src: agent, dst: api, port: 9090, allowed: true, by: "shop/api-from-node1 ingress[0]", isolated: "ingress"},

		{name: "namespace without policies", policies: []string{denyIngressShop, denyEgressShop}, src: x, dst: mon, port: 80, allowed: true},
		{name: "namespace without policies, into an isolated one", policies: []string{denyIngressShop, denyEgressShop}, src: x, dst: web, port: 8080, isolated: "ingress"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := load(t, c.policies...)
			e := policy.New(m)
			if len(e.Warnings) > 0 {
				t.Errorf("engine warnings: %v", e.Warnings)
			}
			v := e.Check(endpoint(t, e, m, c.src), endpoint(t, e, m, c.dst), c.port, c.proto)
			if v.Allowed != c.allowed {
				t.Errorf("allowed = %v, want %v\negress:  %s\ningress: %s", v.Allowed, c.allowed, v.Egress.Reason, v.Ingress.Reason)
			}
			iso := ""
			switch {
			case v.Egress.Isolated && v.Ingress.Isolated:
				iso = "both"
			case v.Egress.Isolated:
				iso = "egress"
			case v.Ingress.Isolated:
				iso = "ingress"
			}
			if iso != c.isolated {
				t.Errorf("isolated = %q, want %q\negress:  %s\ningress: %s", iso, c.isolated, v.Egress.Reason, v.Ingress.Reason)
			}
			by := ""
			if v.Ingress.AllowedBy != nil {
				by = v.Ingress.AllowedBy.String()
			} else if v.Egress.AllowedBy != nil {
				by = v.Egress.AllowedBy.String()
			}
			if by != c.by {
				t.Errorf("allowed by %q, want %q", by, c.by)
			}
			for _, s := range []policy.Side{v.Egress, v.Ingress} {
				if s.Isolated && len(s.Evidence) == 0 {
					t.Errorf("%s isolated without evidence: %s", s.Direction, s.Reason)
				}
				if s.AllowedBy != nil && !strings.Contains(s.Evidence[0].Excerpt, "podSelector") {
					t.Errorf("%s evidence starts with %q, want the podSelector line", s.Direction, s.Evidence[0].Excerpt)
				}
				if s.Isolated && !s.Allowed && !strings.Contains(s.Reason, "no policy allows") {
					t.Errorf("%s reason %q", s.Direction, s.Reason)
				}
			}
			if v.Enforced {
				t.Errorf("Enforced = true for a bundle without a CNI")
			}
		})
	}
}

// endpoint resolves ns/pod or an IP of the table.
func endpoint(t testing.TB, e *policy.Engine, m *model.Model, s string) policy.Endpoint {
	t.Helper()
	if a, err := netip.ParseAddr(s); err == nil {
		return policy.IPEndpoint(a)
	}
	ns, name, _ := strings.Cut(s, "/")
	for _, p := range m.PodsIn(ns) {
		if p.Name == name {
			return policy.PodEndpoint(p)
		}
	}
	t.Fatalf("no pod %s", s)
	return policy.Endpoint{}
}

func TestEvidenceQuotesPolicy(t *testing.T) {
	m := load(t, apiFromWeb)
	e := policy.New(m)
	v := e.Check(endpoint(t, e, m, "shop/web-1"), endpoint(t, e, m, "shop/api-1"), 9090, "")
	var got []string
	for _, ev := range v.Ingress.Evidence {
		got = append(got, ev.Excerpt)
	}
	want := []string{"podSelector: {matchLabels: {app: api}}", "- from:", "- podSelector: {matchLabels: {app: web}}", "ports:", "- {port: 9090}"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("evidence = %q, want %q", got, want)
	}
	if v.Ingress.Evidence[0].File != "cluster/networkpolicies.yaml" || v.Ingress.Evidence[0].Line == 0 {
		t.Errorf("evidence location = %s", v.Ingress.Evidence[0].Location())
	}
	d := e.Check(endpoint(t, e, m, "shop/db-1"), endpoint(t, e, m, "shop/api-1"), 9090, "")
	if want := "shop/api-1 is isolated for ingress by shop/api-from-web and no policy allows TCP 9090 from shop/db-1"; d.Ingress.Reason != want {
		t.Errorf("reason = %q, want %q", d.Ingress.Reason, want)
	}
}

func TestEndpointFor(t *testing.T) {
	m := load(t)
	e := policy.New(m)
	if ep := e.EndpointFor(netip.MustParseAddr("10.244.1.6")); ep.String() != "shop/api-1" {
		t.Errorf("10.244.1.6 = %s, want shop/api-1", ep)
	}
	// A hostNetwork pod's IP is its node's: it stays an IP.
	if ep := e.EndpointFor(netip.MustParseAddr("192.168.56.10")); ep.Pod != nil {
		t.Errorf("192.168.56.10 = %s, want the IP", ep)
	}
}

func TestMalformedPolicyWarns(t *testing.T) {
	m := load(t, `
metadata: {name: bad, namespace: shop}
spec:
  podSelector: {matchExpressions: [{key: app, operator: Bogus}]}
  ingress:
  - from:
    - ipBlock: {cidr: not-a-cidr}
    - {}`)
	e := policy.New(m)
	if len(e.Warnings) != 3 {
		t.Fatalf("warnings = %v, want 3", e.Warnings)
	}
	// The selector matches nothing, so nothing is isolated.
	v := e.Check(endpoint(t, e, m, "shop/web-1"), endpoint(t, e, m, "shop/api-1"), 80, "")
	if !v.Allowed || v.Ingress.Isolated {
		t.Errorf("malformed policy isolated: %s", v.Ingress.Reason)
	}
}

func TestOneSide(t *testing.T) {
	m := load(t, denyEgressShop, apiFromWeb)
	e := policy.New(m)
	web, api := endpoint(t, e, m, "shop/web-1"), endpoint(t, e, m, "shop/api-1")
	if s := e.Egress(web, api, 9090, ""); s.Allowed || !s.Isolated {
		t.Errorf("egress: %s", s.Reason)
	}
	if s := e.Ingress(e.EndpointFor(netip.MustParseAddr("10.244.1.5")), api, 9090, ""); !s.Allowed || s.AllowedBy == nil {
		t.Errorf("ingress: %s", s.Reason)
	}
}
