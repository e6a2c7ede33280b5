package trace_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
)

const (
	healthy     = "../../fixtures/bundles/healthy"
	noEndpoints = "../../fixtures/bundles/svc-selector-mismatch"
	forwardDrop = "../../fixtures/bundles/forward-drop"
	ipFwdOff    = "../../fixtures/bundles/ip-forward-off"
)

// flowCase is one packet-flow case in the style of kube-proxy's own tests: a source, a
// destination and protocol, and what must happen to the packet.
type flowCase struct {
	name      string
	from, to  string
	proto     string
	node      string // where a foreign source IP arrives
	verdict   trace.Verdict
	dnat      []string
	masq      bool
	failStage string // Stage of FailedAt
	failText  string // substring of FailedAt's rule text (or note, when it has no rule)
	failLine  int    // FailedAt's line, when it must be exact
	failing   []string
}

func runFlows(t *testing.T, m *model.Model, cases []flowCase) {
	t.Helper()
	pol := trace.DefaultPolicy(m)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := trace.Trace(m, trace.Request{From: c.from, To: c.to, Protocol: c.proto, Node: c.node, Policy: pol})
			if r.Error != "" {
				t.Fatalf("error: %s", r.Error)
			}
			var text strings.Builder
			trace.WriteText(&text, r)
			defer func() {
				if t.Failed() {
					t.Logf("trace:\n%s", text.String())
				}
			}()
			if r.Verdict != c.verdict {
				t.Errorf("verdict %s, want %s", r.Verdict, c.verdict)
			}
			if c.dnat == nil {
				c.dnat = []string{}
			}
			if !slices.Equal(r.DNAT, c.dnat) {
				t.Errorf("dnat %v, want %v", r.DNAT, c.dnat)
			}
			if r.Masquerade != c.masq {
				t.Errorf("masquerade %v, want %v", r.Masquerade, c.masq)
			}
			if c.verdict == trace.Delivered {
				if r.FailedAt != nil {
					t.Errorf("failed_at %+v on a delivered trace", *r.FailedAt)
				}
				return
			}
			if r.FailedAt == nil {
				t.Fatalf("no failed_at")
			}
			f := r.FailedAt
			if c.failStage != "" && f.Stage != c.failStage {
				t.Errorf("failed at stage %s, want %s", f.Stage, c.failStage)
			}
			got := f.Note
			if f.Rule != nil {
				got = f.Rule.Text + " " + f.Note
				if c.failLine != 0 && f.Rule.Line != c.failLine {
					t.Errorf("failed at line %d, want %d", f.Rule.Line, c.failLine)
				}
				if bf := m.Bundle.File(f.Rule.File); f.Rule.Line > 0 && (bf == nil || strings.TrimSpace(bf.Line(f.Rule.Line)) != f.Rule.Text) {
					t.Errorf("evidence %s does not quote the bundle", f.Rule.Location())
				}
			}
			if !strings.Contains(got, c.failText) {
				t.Errorf("failed at %q, want it to mention %q", got, c.failText)
			}
			if c.failing != nil {
				var fs []string
				for _, x := range r.Failing() {
					fs = append(fs, x.Destination)
				}
				if !slices.Equal(fs, c.failing) {
					t.Errorf("failing candidates %v, want %v", fs, c.failing)
				}
			}
		})
	}
}

// TestHealthyFlows runs kube-proxy's iptables-mode rules of a 3-node flannel cluster.
func TestHealthyFlows(t *testing.T) {
	m := load(t, healthy)
	web1 := "shop/web-5d8c7b9f6c-2lmxh" // 10.244.1.5 on worker-1
	runFlows(t, m, []flowCase{
		{name: "ClusterIP one endpoint (apiserver on cp-1)", from: web1, to: "svc/default/kubernetes:https",
			verdict: trace.Delivered, dnat: []string{"192.168.56.10:6443"}, masq: true},
		{name: "ClusterIP two endpoints (DNS, UDP from the port)", from: web1, to: "svc/kube-system/kube-dns:dns",
			verdict: trace.Delivered, dnat: []string{"10.244.0.2:53", "10.244.0.3:53"}},
		{name: "ClusterIP TCP 53", from: web1, to: "svc/kube-system/kube-dns:53", proto: "tcp",
			verdict: trace.Delivered, dnat: []string{"10.244.0.2:53", "10.244.0.3:53"}},
		{name: "hairpin: pod to its own Service is masqueraded", from: web1, to: "svc/shop/web:80",
			verdict: trace.Delivered, dnat: []string{"10.244.1.5:8080", "10.244.1.7:8080", "10.244.2.4:8080"}, masq: true},
		{name: "from the node itself", from: "node/worker-2", to: "svc/kube-system/kube-dns:dns",
			verdict: trace.Delivered, dnat: []string{"10.244.0.2:53", "10.244.0.3:53"}, masq: true},
		{name: "node to node", from: "node/worker-1", to: "node/cp-1:6443", verdict: trace.Delivered},
		{name: "pod to pod across nodes", from: "shop/api-7b4f9c6d8d-tn6wr", to: web1 + ":8080", verdict: trace.Delivered},
		{name: "pod to pod on one bridge", from: "shop/web-5d8c7b9f6c-x7kbn", to: web1 + ":8080", verdict: trace.Delivered},
		{name: "no Service rule for the port", from: web1, to: "10.96.0.10:5353", proto: "udp",
			verdict: trace.Unknown, masq: true, failStage: "next-hop", failText: "leaves the cluster"},
	})
}

func TestFaultFlows(t *testing.T) {
	t.Run("no endpoints: REJECT", func(t *testing.T) {
		runFlows(t, load(t, noEndpoints), []flowCase{
			{name: "pod", from: "shop/api-7b4f9c6d8d-tn6wr", to: "svc/shop/web:80",
				verdict: trace.Rejected, failStage: "filter/FORWARD", failText: "shop/web has no endpoints"},
			{name: "node", from: "node/cp-1", to: "svc/shop/web:80",
				verdict: trace.Rejected, failStage: "filter/OUTPUT", failText: "shop/web has no endpoints"},
		})
	})
	t.Run("forward drop on worker-2", func(t *testing.T) {
		runFlows(t, load(t, forwardDrop), []flowCase{
			{name: "to the Service: one candidate of three dies", from: "shop/web-5d8c7b9f6c-2lmxh", to: "svc/shop/web:80",
				verdict: trace.Dropped, dnat: []string{"10.244.1.5:8080", "10.244.1.7:8080", "10.244.2.4:8080"}, masq: true,
				failStage: "filter/FORWARD", failText: ":FORWARD DROP", failLine: 16, failing: []string{"10.244.2.4:8080"}},
			{name: "from worker-2's pod", from: "shop/api-7b4f9c6d8d-tn6wr", to: "svc/kube-system/kube-dns:dns",
				verdict: trace.Dropped, dnat: []string{"10.244.0.2:53", "10.244.0.3:53"},
				failStage: "filter/FORWARD", failText: ":FORWARD DROP", failLine: 16},
		})
	})
	t.Run("ip forwarding off on worker-1", func(t *testing.T) {
		runFlows(t, load(t, ipFwdOff), []flowCase{
			{name: "into worker-1", from: "shop/api-7b4f9c6d8d-tn6wr", to: "shop/web-5d8c7b9f6c-2lmxh:8080",
				verdict: trace.Dropped, failStage: "routing", failText: "net.ipv4.ip_forward = 0"},
			{name: "out of worker-1", from: "shop/web-5d8c7b9f6c-2lmxh", to: "svc/kube-system/kube-dns:dns",
				verdict: trace.Dropped, dnat: []string{"10.244.0.2:53", "10.244.0.3:53"}, failStage: "routing", failText: "net.ipv4.ip_forward = 0"},
		})
	})
}

// TestServiceShapes covers kube-proxy's shapes the fixtures lack: NodePort, externalIPs,
// LoadBalancer source ranges, externalTrafficPolicy and internalTrafficPolicy Local, session
// affinity.
func TestServiceShapes(t *testing.T) {
	runFlows(t, labBundle(t), []flowCase{
		{name: "ClusterIP with session affinity", from: "lab/client", to: "svc/lab/web:http",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8080", "10.244.2.6:8080"}},
		{name: "NodePort from outside", from: "192.0.2.7", node: "n1", to: "192.168.56.11:30080",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8080", "10.244.2.6:8080"}, masq: true},
		{name: "externalIP from outside", from: "192.0.2.7", node: "n1", to: "203.0.113.10:80",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8080", "10.244.2.6:8080"}, masq: true},
		{name: "LoadBalancer, allowed source, externalTrafficPolicy Local", from: "192.0.2.7", node: "n1", to: "198.51.100.20:443",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8443"}},
		{name: "LoadBalancer, source outside loadBalancerSourceRanges", from: "198.18.0.9", node: "n1", to: "198.51.100.20:443",
			verdict: trace.Dropped, failStage: "filter/FORWARD", failText: "traffic not accepted by KUBE-FW-LBX"},
		{name: "LoadBalancer from a pod outside the source ranges", from: "lab/client", to: "198.51.100.20:443",
			verdict: trace.Dropped, failStage: "filter/FORWARD", failText: "traffic not accepted by KUBE-FW-LBX"},
		{name: "LoadBalancer's ClusterIP from a pod goes to every endpoint", from: "lab/client", to: "svc/lab/lb",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8443", "10.244.2.6:8443"}},
		{name: "internalTrafficPolicy Local without a local endpoint", from: "lab/client", to: "svc/lab/itp:80",
			verdict: trace.Dropped, failStage: "filter/FORWARD", failText: "has no local endpoints"},
		{name: "NodePort from the node itself", from: "node/n1", to: "192.168.56.11:30080",
			verdict: trace.Delivered, dnat: []string{"10.244.1.6:8080", "10.244.2.6:8080"}, masq: true},
	})
}

// TestParserCapture runs a real iptables-save -c capture (parsers/iptables/testdata) on a node:
// three DNS endpoints, an nth branch that falls through, a NodePort without endpoints.
func TestParserCapture(t *testing.T) {
	data, err := osReadFile("../../parsers/iptables/testdata/iptables-legacy-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := build(t, map[string]string{
		"cluster/nodes.yaml":         list(node("n1", "192.168.56.11", "10.244.0.0/24")),
		"cluster/pods.yaml":          list(pod("default", "client", "n1", "10.244.0.5", "app: c")),
		"nodes/n1/iptables-save.txt": data,
		"nodes/n1/ip-addr.txt":       addrs("lo=127.0.0.1/8", "eth0=192.168.56.11/24", "cni0=10.244.0.1/24"),
		"nodes/n1/ip-route.txt": `
default via 192.168.56.1 dev eth0
10.244.0.0/24 dev cni0 proto kernel scope link src 10.244.0.1
10.244.0.0/16 via 192.168.56.1 dev eth0
192.168.56.0/24 dev eth0 proto kernel scope link src 192.168.56.11
`,
	})
	runFlows(t, m, []flowCase{
		{name: "three UDP endpoints in rule order", from: "default/client", to: "10.96.0.10:53", proto: "udp",
			verdict: trace.Unknown, dnat: []string{"10.244.1.12:53", "10.244.2.9:53", "10.244.3.4:53"}, masq: true, failText: "leaves the cluster"},
		{name: "no endpoints: REJECT multiport", from: "default/client", to: "10.96.200.7:8005",
			verdict: trace.Rejected, failStage: "filter/FORWARD", failText: "prod/api:grpc has no endpoints"},
		{name: "NodePort without endpoints from outside", from: "192.0.2.7", node: "n1", to: "192.168.56.11:30080",
			verdict: trace.Rejected, failStage: "filter/INPUT", failText: "default/web-nodeport:http has no endpoints"},
	})
}
