package trace_test

import (
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
)

// oneNode is node r1 (eth0 192.168.56.31, pod 10.244.9.5 behind cni0) whose filter FORWARD
// chain and nat PREROUTING hold the given rules.
func oneNode(t *testing.T, filter, nat string, extra map[string]string) *model.Model {
	fwd := ":FORWARD ACCEPT [0:0]\n"
	if strings.HasPrefix(filter, ":FORWARD") {
		fwd = ""
	}
	files := map[string]string{
		"cluster/nodes.yaml": list(node("r1", "192.168.56.31", "10.244.9.0/24")),
		"cluster/pods.yaml":  list(pod("app", "srv", "r1", "10.244.9.5", "app: srv"), pod("app", "cli", "r1", "10.244.9.6", "app: cli")),
		"nodes/r1/iptables-save.txt": "*filter\n:INPUT ACCEPT [0:0]\n" + fwd + ":OUTPUT ACCEPT [0:0]\n" + filter + "COMMIT\n" +
			"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n" + nat + "COMMIT\n",
		"nodes/r1/ip-addr.txt":  addrs("lo=127.0.0.1/8", "eth0=192.168.56.31/24", "cni0=10.244.9.1/24"),
		"nodes/r1/ip-route.txt": "default via 192.168.56.1 dev eth0\n10.244.9.0/24 dev cni0 proto kernel scope link src 10.244.9.1\n192.168.56.0/24 dev eth0 proto kernel scope link src 192.168.56.31\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	return build(t, files)
}

func TestEngine(t *testing.T) {
	outside := func(m *model.Model, to string) *trace.Result {
		return trace.Trace(m, trace.Request{From: "192.0.2.7", Node: "r1", To: to})
	}
	t.Run("chain loop is detected", func(t *testing.T) {
		m := oneNode(t, ":A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -j A\n", "", nil)
		r := outside(m, "10.244.9.5:80")
		if r.Verdict != trace.Unknown || r.FailedAt == nil || !strings.Contains(r.FailedAt.Note, "chain loop A -> B -> A") || r.FailedAt.Rule.Text != "-A B -j A" {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
	})
	t.Run("unparsed match makes the hop unknown, with the rule quoted", func(t *testing.T) {
		m := oneNode(t, "-A FORWARD -p tcp -m foo --foo-bar 1 -j DROP\n-A FORWARD -p udp -m foo --foo-bar 1 -j DROP\n", "", nil)
		r := outside(m, "10.244.9.5:80")
		if r.Verdict != trace.Unknown || r.FailedAt == nil || r.FailedAt.Verdict != "unknown" || r.FailedAt.Rule.Text != "-A FORWARD -p tcp -m foo --foo-bar 1 -j DROP" {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
		// A rule that cannot match for another reason (-p udp) is not in the way.
		m = oneNode(t, "-A FORWARD -p udp -m foo --foo-bar 1 -j DROP\n", "", nil)
		if r := outside(m, "10.244.9.5:80"); r.Verdict != trace.Delivered {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
	})
	t.Run("goto returns to the caller's caller; negation; multiport", func(t *testing.T) {
		m := oneNode(t, ":A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A FORWARD -j DROP\n-A A -g B\n-A A -j DROP\n-A B ! -s 192.0.2.0/24 -j DROP\n-A B -p tcp -m multiport --dports 22,8000:8100 -j REJECT\n",
			"", nil)
		if r := outside(m, "10.244.9.5:80"); r.Verdict != trace.Dropped || r.FailedAt.Rule.Text != "-A FORWARD -j DROP" {
			t.Fatalf("port 80: got %s %+v", r.Verdict, r.FailedAt)
		}
		if r := outside(m, "10.244.9.5:8080"); r.Verdict != trace.Rejected {
			t.Fatalf("port 8080: got %s %+v", r.Verdict, r.FailedAt)
		}
	})
	t.Run("marks set in PREROUTING are matched in FORWARD", func(t *testing.T) {
		m := oneNode(t, ":FORWARD DROP [0:0]\n-A FORWARD -m mark --mark 0x10/0x10 -j ACCEPT\n",
			"-A PREROUTING -s 192.0.2.0/24 -j MARK --set-xmark 0x10/0x10\n", nil)
		if r := outside(m, "10.244.9.5:80"); r.Verdict != trace.Delivered {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
		m = oneNode(t, ":FORWARD DROP [0:0]\n-A FORWARD -m mark --mark 0x10/0x10 -j ACCEPT\n", "", nil)
		if r := outside(m, "10.244.9.5:80"); r.Verdict != trace.Dropped || !strings.Contains(r.FailedAt.Rule.Text, ":FORWARD DROP") {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
	})
	t.Run("statistic nth: both branches", func(t *testing.T) {
		m := oneNode(t, "", ":SVC - [0:0]\n-A PREROUTING -d 10.96.7.7/32 -p tcp -m tcp --dport 80 -j SVC\n"+
			"-A SVC -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.244.9.5:8080\n-A SVC -j DNAT --to-destination 10.244.9.6:8080\n", nil)
		r := outside(m, "10.96.7.7:80")
		if r.Verdict != trace.Delivered || strings.Join(r.DNAT, " ") != "10.244.9.5:8080 10.244.9.6:8080" || len(r.Candidates) != 2 {
			t.Fatalf("got %s %v %+v", r.Verdict, r.DNAT, r.FailedAt)
		}
	})
	t.Run("no route cites the routing table", func(t *testing.T) {
		m := oneNode(t, "", "", map[string]string{"nodes/r1/ip-route.txt": "10.244.9.0/24 dev cni0 proto kernel scope link src 10.244.9.1\n"})
		r := trace.Trace(m, trace.Request{From: "app/cli", To: "198.18.0.1:443"})
		if r.Verdict != trace.NoRoute || r.FailedAt.Rule.File != "nodes/r1/ip-route.txt" || !strings.Contains(r.FailedAt.Rule.Text, "table local, main, default") {
			t.Fatalf("got %s %+v %+v", r.Verdict, r.FailedAt, r.FailedAt.Rule)
		}
	})
	t.Run("ip rule to a table with a blackhole", func(t *testing.T) {
		m := oneNode(t, "", "", map[string]string{
			"nodes/r1/ip-rule.txt":  "0:\tfrom all lookup local\n100:\tfrom 10.244.9.6 lookup 100\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n",
			"nodes/r1/ip-route.txt": "default via 192.168.56.1 dev eth0\nblackhole 198.18.0.0/15 table 100\n10.244.9.0/24 dev cni0 proto kernel scope link src 10.244.9.1\n",
		})
		r := trace.Trace(m, trace.Request{From: "app/cli", To: "198.18.0.1:443"})
		if r.Verdict != trace.Dropped || r.FailedAt.Stage != "routing" || !strings.Contains(r.FailedAt.Rule.Text, "blackhole") {
			t.Fatalf("got %s %+v", r.Verdict, r.FailedAt)
		}
	})
}

// ipvsNode is a node in kube-proxy's IPVS mode: ClusterIPs bound on kube-ipvs0, virtual
// servers in ipvsadm, the KUBE-CLUSTER-IP and KUBE-LOOP-BACK sets.
func ipvsNode(t *testing.T) *model.Model {
	return build(t, map[string]string{
		"cluster/nodes.yaml": list(node("v1", "192.168.56.21", "10.244.5.0/24")),
		"cluster/pods.yaml": list(pod("kube-system", "dns-a", "v1", "10.244.5.7", "k8s-app: kube-dns"),
			pod("kube-system", "dns-b", "v1", "10.244.5.8", "k8s-app: kube-dns"), pod("app", "cli", "v1", "10.244.5.9", "app: cli")),
		"cluster/services.yaml": list(service("kube-system", "kube-dns", "10.96.0.10", "    - name: dns\n      port: 53\n      protocol: UDP\n"),
			service("app", "empty", "10.96.0.20", "    - name: http\n      port: 80\n")),
		"nodes/v1/ip-addr.txt": addrs("lo=127.0.0.1/8", "eth0=192.168.56.21/24", "cni0=10.244.5.1/24", "kube-ipvs0=10.96.0.10/32,10.96.0.20/32"),
		"nodes/v1/ip-route.txt": `default via 192.168.56.1 dev eth0
10.244.5.0/24 dev cni0 proto kernel scope link src 10.244.5.1
192.168.56.0/24 dev eth0 proto kernel scope link src 192.168.56.21
local 10.96.0.10 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.10
local 10.96.0.20 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.20
local 10.244.5.1 dev cni0 table local proto kernel scope host src 10.244.5.1
local 192.168.56.21 dev eth0 table local proto kernel scope host src 192.168.56.21
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
`,
		"nodes/v1/ipvsadm.txt": `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.20:80 rr
UDP  10.96.0.10:53 rr
  -> 10.244.5.7:53                Masq    1      0          0
  -> 10.244.5.8:53                Masq    1      0          0
`,
		"nodes/v1/ipset.txt": `Name: KUBE-CLUSTER-IP
Type: hash:ip,port
Revision: 7
Header: family inet hashsize 1024 maxelem 65536
Size in memory: 472
References: 2
Number of entries: 2
Members:
10.96.0.10,udp:53
10.96.0.20,tcp:80

Name: KUBE-LOOP-BACK
Type: hash:ip,port,ip
Revision: 7
Header: family inet hashsize 1024 maxelem 65536
Size in memory: 472
References: 1
Number of entries: 2
Members:
10.244.5.7,udp:53,10.244.5.7
10.244.5.8,udp:53,10.244.5.8
`,
		"nodes/v1/iptables-save.txt": `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`,
	})
}

func TestIPVS(t *testing.T) {
	runFlows(t, ipvsNode(t), []flowCase{
		{name: "virtual server to its real servers", from: "app/cli", to: "svc/kube-system/kube-dns:dns",
			verdict: trace.Delivered, dnat: []string{"10.244.5.7:53", "10.244.5.8:53"}},
		{name: "hairpin through KUBE-LOOP-BACK", from: "kube-system/dns-a", to: "svc/kube-system/kube-dns:dns",
			verdict: trace.Delivered, dnat: []string{"10.244.5.7:53", "10.244.5.8:53"}, masq: true},
		{name: "from the node: KUBE-CLUSTER-IP marks for masquerade", from: "node/v1", to: "svc/kube-system/kube-dns:dns",
			verdict: trace.Delivered, dnat: []string{"10.244.5.7:53", "10.244.5.8:53"}, masq: true},
		{name: "virtual server without real servers", from: "app/cli", to: "svc/app/empty:80",
			verdict: trace.Rejected, failStage: "ipvs", failText: "TCP  10.96.0.20:80 rr", failLine: 4},
	})
}

// TestNotEvaluated: without a policy engine the NetworkPolicy hops say so.
func TestNotEvaluated(t *testing.T) {
	m := load(t, healthy)
	r := trace.Trace(m, trace.Request{From: "shop/web-5d8c7b9f6c-2lmxh", To: "shop/api-7b4f9c6d8d-tn6wr:9090"})
	n := 0
	for _, h := range r.Hops {
		if strings.HasPrefix(h.Stage, "netpol-") && h.Verdict == "not-evaluated" {
			n++
		}
	}
	if r.Verdict != trace.Delivered || n != 2 {
		t.Fatalf("got %s with %d not-evaluated policy hops", r.Verdict, n)
	}
}

func TestErrors(t *testing.T) {
	m := load(t, healthy)
	for _, c := range []struct{ from, to, want string }{
		{"shop/nope", "svc/shop/web", "pod shop/nope is not in the bundle"},
		{"shop/web-5d8c7b9f6c-2lmxh", "svc/shop/nope", "Service shop/nope is not in the bundle"},
		{"shop/web-5d8c7b9f6c-2lmxh", "svc/shop/web:grpc", `has no port "grpc"`},
		{"203.0.113.9", "svc/shop/web", "--node"},
		{"shop/web-5d8c7b9f6c-2lmxh", "10.96.0.10", "needs a port"},
	} {
		if r := trace.Trace(m, trace.Request{From: c.from, To: c.to}); !strings.Contains(r.Error, c.want) {
			t.Errorf("%s → %s: error %q, want %q", c.from, c.to, r.Error, c.want)
		}
	}
}
