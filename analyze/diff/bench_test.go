package diff_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/diff"
	"github.com/netsift/netsift/analyze/rules"
)

func chainHash(salt, s string) string {
	h := sha256.Sum256([]byte(salt + s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// genBundle writes a bundle of a flannel-like cluster with kube-proxy in iptables mode: nodes
// nodes with two pods each, services ClusterIP Services with two endpoints each, and every node's
// iptables-save, routes, addresses and sysctls. broken is the same cluster five minutes later,
// recreated (other chain hashes), with one endpoint moved, one node's FORWARD policy DROP and
// another's ip_forward off.
func genBundle(b *testing.B, nodes, services int, broken bool) string {
	dir := b.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	at, salt := "2026-11-20T10:15:00Z", "a"
	if broken {
		at, salt = "2026-11-20T10:20:00Z", "b"
	}
	write("manifest.json", fmt.Sprintf(`{"format_version":1,"collected_at":%q,"cluster":"bench","commands":[]}`, at))
	podIP := func(n, k int) string { return fmt.Sprintf("10.244.%d.%d", n, 10+k) }
	list := func(items []string) string { return "apiVersion: v1\nkind: List\nitems:\n" + strings.Join(items, "") }
	var nodeItems, podItems, svcItems, epItems []string
	for n := range nodes {
		nodeItems = append(nodeItems, fmt.Sprintf("- {apiVersion: v1, kind: Node, metadata: {name: n%02d}, spec: {podCIDR: 10.244.%d.0/24}, status: {addresses: [{type: InternalIP, address: 192.168.0.%d}], conditions: [{type: Ready, status: \"True\"}]}}\n", n, n, 10+n))
		for k := range 2 {
			podItems = append(podItems, fmt.Sprintf("- {apiVersion: v1, kind: Pod, metadata: {name: p-%d-%d, namespace: bench, labels: {app: bench}}, spec: {nodeName: n%02d, containers: [{name: c, image: bench:1}]}, status: {phase: Running, podIP: %s, conditions: [{type: Ready, status: \"True\"}]}}\n", n, k, n, podIP(n, k)))
		}
	}
	backends := func(s int) (string, string) {
		a, bb := podIP(s%nodes, 0), podIP((s+1)%nodes, 1)
		if broken && s == 7 {
			bb = podIP((s+2)%nodes, 1)
		}
		return a, bb
	}
	for s := range services {
		ip := fmt.Sprintf("10.96.%d.%d", s/250, s%250+1)
		svcItems = append(svcItems, fmt.Sprintf("- {apiVersion: v1, kind: Service, metadata: {name: svc-%d, namespace: bench}, spec: {type: ClusterIP, clusterIP: %s, selector: {app: bench}, ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]}}\n", s, ip))
		a, bb := backends(s)
		epItems = append(epItems, fmt.Sprintf("- {apiVersion: v1, kind: Endpoints, metadata: {name: svc-%d, namespace: bench}, subsets: [{addresses: [{ip: %s}, {ip: %s}], ports: [{name: http, port: 8080, protocol: TCP}]}]}\n", s, a, bb))
	}
	write("cluster/nodes.yaml", list(nodeItems))
	write("cluster/pods.yaml", list(podItems))
	write("cluster/services.yaml", list(svcItems))
	write("cluster/endpoints.yaml", list(epItems))

	var nat strings.Builder
	nat.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-NODEPORTS - [0:0]\n")
	type chains struct{ svc, a, b string }
	cs := make([]chains, services)
	for s := range services {
		a, bb := backends(s)
		port := fmt.Sprintf("bench/svc-%d:http", s)
		cs[s] = chains{"KUBE-SVC-" + chainHash(salt, port), "KUBE-SEP-" + chainHash(salt, port+a), "KUBE-SEP-" + chainHash(salt, port+bb)}
		fmt.Fprintf(&nat, ":%s - [0:0]\n:%s - [0:0]\n:%s - [0:0]\n", cs[s].svc, cs[s].a, cs[s].b)
	}
	nat.WriteString("[100:6000] -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n[100:6000] -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n[100:6000] -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
	nat.WriteString("[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n[0:0] -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n[0:0] -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n[0:0] -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	for s := range services {
		ip := fmt.Sprintf("10.96.%d.%d", s/250, s%250+1)
		a, bb := backends(s)
		c := cs[s]
		fmt.Fprintf(&nat, "[%d:%d] -A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"bench/svc-%d:http cluster IP\" -m tcp --dport 80 -j %s\n", s, s*60, ip, s, c.svc)
		fmt.Fprintf(&nat, "[0:0] -A %s ! -s 10.244.0.0/16 -d %s/32 -p tcp -m comment --comment \"bench/svc-%d:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", c.svc, ip, s)
		fmt.Fprintf(&nat, "[0:0] -A %s -m comment --comment \"bench/svc-%d:http -> %s:8080\" -m statistic --mode random --probability 0.50000000000 -j %s\n", c.svc, s, a, c.a)
		fmt.Fprintf(&nat, "[0:0] -A %s -m comment --comment \"bench/svc-%d:http -> %s:8080\" -j %s\n", c.svc, s, bb, c.b)
		for _, e := range []struct{ chain, ip string }{{c.a, a}, {c.b, bb}} {
			fmt.Fprintf(&nat, "[0:0] -A %s -s %s/32 -m comment --comment \"bench/svc-%d:http\" -j KUBE-MARK-MASQ\n", e.chain, e.ip, s)
			fmt.Fprintf(&nat, "[0:0] -A %s -p tcp -m comment --comment \"bench/svc-%d:http\" -m tcp -j DNAT --to-destination %s:8080\n", e.chain, s, e.ip)
		}
	}
	nat.WriteString("[0:0] -A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n")
	for n := range nodes {
		name := fmt.Sprintf("n%02d", n)
		policy := "ACCEPT"
		if broken && n == 7 {
			policy = "DROP"
		}
		filter := fmt.Sprintf("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD %s [10:600]\n:OUTPUT ACCEPT [0:0]\n[5:300] -A FORWARD -s 10.244.0.0/16 -j ACCEPT\n[5:300] -A FORWARD -d 10.244.0.0/16 -j ACCEPT\nCOMMIT\n", policy)
		write("nodes/"+name+"/iptables-save.txt", filter+nat.String())
		write("nodes/"+name+"/ip-addr.txt", fmt.Sprintf("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether 52:54:00:00:00:%02x brd ff:ff:ff:ff:ff:ff\n    inet 192.168.0.%d/24 brd 192.168.0.255 scope global eth0\n       valid_lft forever preferred_lft forever\n", n, 10+n))
		var rt strings.Builder
		rt.WriteString("default via 192.168.0.1 dev eth0\n")
		for o := range nodes {
			if o == n {
				fmt.Fprintf(&rt, "10.244.%d.0/24 dev cni0 proto kernel scope link src 10.244.%d.1\n", o, o)
			} else {
				fmt.Fprintf(&rt, "10.244.%d.0/24 via 192.168.0.%d dev eth0 onlink\n", o, 10+o)
			}
		}
		write("nodes/"+name+"/ip-route.txt", rt.String())
		fwd := 1
		if broken && n == 3 {
			fwd = 0
		}
		write("nodes/"+name+"/sysctl.txt", fmt.Sprintf("net.ipv4.ip_forward = %d\nnet.ipv4.conf.all.rp_filter = 0\nnet.bridge.bridge-nf-call-iptables = 1\nkernel.random.uuid = %s\n", fwd, chainHash(salt, name)))
	}
	return dir
}

// BenchmarkDiff compares diffing two 50-node bundles (both loaded and analysed at once, then
// compared) with analysing one of them: the issue wants the first within a small multiple of
// the second.
func BenchmarkDiff(b *testing.B) {
	old, new := genBundle(b, 50, 300, false), genBundle(b, 50, 300, true)
	ctx := context.Background()
	d, err := diff.Run(ctx, []string{old}, []string{new}, bundle.Options{}, &rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if len(d.Objects.Endpoints) != 2 || len(d.Dataplane) != 50 || d.Dataplane[0].Changes[0].Field != "policy" || d.Dataplane[0].Node != "n07" {
		b.Fatalf("unexpected diff of the generated pair: %d endpoint changes, %d nodes, first %+v", len(d.Objects.Endpoints), len(d.Dataplane), d.Dataplane[0])
	}
	b.Run("analyze-one", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := analyze.Run(ctx, []string{new}, bundle.Options{}, rules.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compare-only", func(b *testing.B) {
		om, or, err := analyze.Run(ctx, []string{old}, bundle.Options{}, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		nm, nr, err := analyze.Run(ctx, []string{new}, bundle.Options{}, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			diff.Compare(diff.Side{Model: om, Result: or}, diff.Side{Model: nm, Result: nr})
		}
	})
	b.Run("diff-two", func(b *testing.B) {
		for b.Loop() {
			if _, err := diff.Run(ctx, []string{old}, []string{new}, bundle.Options{}, &rules.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
