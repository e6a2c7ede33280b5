package trace_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/trace"
)

// genBundle writes a 20-node flannel-like bundle with 5,000 ClusterIP Services, each with two
// endpoints, in kube-proxy's iptables shape on every node.
func genBundle(b *testing.B, nodes, services int) string {
	dir := b.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("manifest.json", `{"format_version":1,"commands":[]}`)
	var nodeItems, podItems, svcItems []string
	podIP := func(n, k int) string { return fmt.Sprintf("10.244.%d.%d", n, 10+k) }
	for n := range nodes {
		nodeItems = append(nodeItems, node(fmt.Sprintf("n%02d", n), fmt.Sprintf("192.168.0.%d", 10+n), fmt.Sprintf("10.244.%d.0/24", n)))
		for k := range 2 {
			podItems = append(podItems, pod("bench", fmt.Sprintf("p-%d-%d", n, k), fmt.Sprintf("n%02d", n), podIP(n, k), "app: bench"))
		}
	}
	for s := range services {
		svcItems = append(svcItems, service("bench", fmt.Sprintf("svc-%d", s), fmt.Sprintf("10.96.%d.%d", s/250, s%250+1), "    - name: http\n      port: 80\n"))
	}
	write("cluster/nodes.yaml", list(nodeItems...))
	write("cluster/pods.yaml", list(podItems...))
	write("cluster/services.yaml", list(svcItems...))

	var nat strings.Builder
	nat.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n")
	for s := range services {
		fmt.Fprintf(&nat, ":KUBE-SVC-%d - [0:0]\n:KUBE-SEP-%dA - [0:0]\n:KUBE-SEP-%dB - [0:0]\n", s, s, s)
	}
	nat.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
	nat.WriteString("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	for s := range services {
		ip := fmt.Sprintf("10.96.%d.%d", s/250, s%250+1)
		a, bb := podIP(s%nodes, 0), podIP((s+1)%nodes, 1)
		fmt.Fprintf(&nat, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"bench/svc-%d:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%d\n", ip, s, s)
		fmt.Fprintf(&nat, "-A KUBE-SVC-%d ! -s 10.244.0.0/16 -d %s/32 -p tcp -m comment --comment \"bench/svc-%d:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", s, ip, s)
		fmt.Fprintf(&nat, "-A KUBE-SVC-%d -m comment --comment \"bench/svc-%d:http -> %s:80\" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-%dA\n", s, s, a, s)
		fmt.Fprintf(&nat, "-A KUBE-SVC-%d -m comment --comment \"bench/svc-%d:http -> %s:80\" -j KUBE-SEP-%dB\n", s, s, bb, s)
		for _, e := range []struct{ id, ip string }{{"A", a}, {"B", bb}} {
			fmt.Fprintf(&nat, "-A KUBE-SEP-%d%s -s %s/32 -m comment --comment \"bench/svc-%d:http\" -j KUBE-MARK-MASQ\n", s, e.id, e.ip, s)
			fmt.Fprintf(&nat, "-A KUBE-SEP-%d%s -p tcp -m comment --comment \"bench/svc-%d:http\" -m tcp -j DNAT --to-destination %s:80\n", s, e.id, s, e.ip)
		}
	}
	nat.WriteString("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n")
	natText := strings.Replace(nat.String(), ":KUBE-POSTROUTING - [0:0]\n", ":KUBE-POSTROUTING - [0:0]\n:KUBE-NODEPORTS - [0:0]\n", 1)
	filter := "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s 10.244.0.0/16 -j ACCEPT\n-A FORWARD -d 10.244.0.0/16 -j ACCEPT\nCOMMIT\n"
	for n := range nodes {
		name := fmt.Sprintf("n%02d", n)
		write("nodes/"+name+"/iptables-save.txt", filter+natText)
		write("nodes/"+name+"/ip-addr.txt", addrs("lo=127.0.0.1/8", fmt.Sprintf("eth0=192.168.0.%d/24", 10+n), fmt.Sprintf("cni0=10.244.%d.1/24", n)))
		var rt strings.Builder
		rt.WriteString("default via 192.168.0.1 dev eth0\n")
		for o := range nodes {
			if o == n {
				fmt.Fprintf(&rt, "10.244.%d.0/24 dev cni0 proto kernel scope link src 10.244.%d.1\n", o, o)
			} else {
				fmt.Fprintf(&rt, "10.244.%d.0/24 via 192.168.0.%d dev eth0\n", o, 10+o)
			}
		}
		fmt.Fprintf(&rt, "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.%d\n", 10+n)
		write("nodes/"+name+"/ip-route.txt", rt.String())
	}
	return dir
}

// BenchmarkTrace compares one trace (to the last of 5,000 Services, both endpoints followed to
// their nodes) with loading the bundle it runs on.
func BenchmarkTrace(b *testing.B) {
	dir := genBundle(b, 20, 5000)
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			load(b, dir)
		}
	})
	m := load(b, dir)
	pol := trace.DefaultPolicy(m)
	req := trace.Request{From: "bench/p-3-0", To: "svc/bench/svc-4999:80", Policy: pol}
	if r := trace.Trace(m, req); r.Verdict != trace.Delivered || len(r.DNAT) != 2 {
		b.Fatalf("bench trace: %s %v %+v", r.Verdict, r.DNAT, r.FailedAt)
	}
	b.Run("trace", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			trace.Trace(m, req)
		}
	})
}
