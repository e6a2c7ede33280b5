package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/corefile"
)

// coreDNSConfig is the cluster DNS Corefile from ConfigMap kube-system/coredns, parsed.
type coreDNSConfig struct {
	cm *model.ConfigMap
	cf *corefile.Corefile
}

func coreDNSCorefile(m *model.Model) *coreDNSConfig {
	cm := m.ConfigMap("kube-system", "coredns")
	if cm == nil || cm.Data["Corefile"] == "" {
		return nil
	}
	cf, err := corefile.Parse(strings.NewReader(cm.Data["Corefile"]))
	if err != nil {
		return nil
	}
	return &coreDNSConfig{cm: cm, cf: cf}
}

// corefileEvidence quotes line n of a Corefile held in a ConfigMap key: the key's value is a
// YAML block scalar, so its line n stands n lines below the key.
func corefileEvidence(m *model.Model, cm *model.ConfigMap, key string, n int) finding.Evidence {
	base := m.Evidence(cm.Src, "data", key)
	if f := m.Bundle.File(cm.Src.File); f != nil && base.Line > 0 && n > 0 && strings.HasSuffix(strings.TrimSpace(f.Line(base.Line)), "|") {
		return f.Evidence(base.Line + n)
	}
	return base
}

// forwardsToResolvConf returns the `forward . /etc/resolv.conf` of the root zone, if any.
func (c *coreDNSConfig) forwardsToResolvConf() (corefile.Forward, bool) {
	if c == nil {
		return corefile.Forward{}, false
	}
	for _, f := range c.cf.Forwarders() {
		for _, to := range f.To {
			if to == "/etc/resolv.conf" {
				return f, true
			}
		}
	}
	return corefile.Forward{}, false
}

func c2IsLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsLoopback()
}

var dnsCoreDNSLoop = &Rule{
	ID:       "dns.coredns-loop",
	Severity: finding.Critical,
	Title:    "CoreDNS forwards to itself (loop)",
	Inputs:   Kinds("Pod"),
	Doc: "CoreDNS with `forward . /etc/resolv.conf` and dnsPolicy Default forwards to the node's " +
		"resolv.conf; when that names a local resolver (127.0.0.53 systemd-resolved, 127.0.0.1 " +
		"dnsmasq), the query comes back to CoreDNS. The loop plugin detects it and exits: " +
		"`plugin/loop: Loop ... detected`, CrashLoopBackOff.",
	Check: func(c *Context) {
		m := c.Model
		pods := dnsPods(m)
		var logEv []finding.Evidence
		for _, p := range pods {
			logEv = append(logEv, grepLogs(m.Bundle, p, 1, "plugin/loop: Loop")...)
		}
		conf := coreDNSCorefile(m)
		fwd, viaResolvConf := conf.forwardsToResolvConf()
		if conf == nil {
			c.Note("ConfigMap kube-system/coredns (Corefile) not in the bundle: the forward target is not checked")
		}
		// The nodes whose resolv.conf CoreDNS inherits: those it runs on (all, if none is scheduled).
		nodes := map[string]bool{}
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				nodes[p.Spec.NodeName] = true
			}
		}
		if len(nodes) == 0 {
			for _, n := range m.NodeNames() {
				nodes[n] = true
			}
		}
		var loopNodes []string
		var nodeEv []finding.Evidence
		for _, n := range c2SortedSet(nodes) {
			nd := m.NodeData(n)
			if nd.KubeletConfig != nil && nd.KubeletConfig.ResolvConf != nil && *nd.KubeletConfig.ResolvConf != "/etc/resolv.conf" {
				continue // the kubelet hands pods another file than the one captured
			}
			if nd.ResolvConf == nil {
				if len(m.Bundle.Dir("nodes/"+n)) > 0 {
					c.NodeLacks(nd, model.CapResolvConf)
				}
				continue
			}
			for _, ns := range nd.ResolvConf.Nameservers {
				if c2IsLoopback(ns.Addr) {
					loopNodes = append(loopNodes, n+" ("+ns.Addr+")")
					if len(nodeEv) < 3 {
						nodeEv = append(nodeEv, c.NodeEvidence(nd, model.CapResolvConf, ns.Line))
					}
					break
				}
			}
		}
		latent := viaResolvConf && len(loopNodes) > 0
		if len(logEv) == 0 && !latent {
			return
		}
		sev := finding.Critical
		msg := ""
		if len(logEv) > 0 {
			msg = "CoreDNS detected a forwarding loop and exits: every query it forwards comes back to it, so the pods crash-loop and nothing resolves."
		} else {
			sev = finding.Warning
			msg = "CoreDNS forwards to the node's resolv.conf, which names a loopback resolver: as soon as CoreDNS (dnsPolicy Default) starts on such a node it forwards to itself and the loop plugin stops it."
		}
		ev := append(logEv, nodeEv...)
		if viaResolvConf {
			msg += fmt.Sprintf(" The Corefile says `forward %s /etc/resolv.conf`", fwd.From)
			ev = append(ev, corefileEvidence(m, conf.cm, "Corefile", fwd.Line))
			if len(loopNodes) > 0 {
				msg += fmt.Sprintf(", and the nodes' resolv.conf points at a local resolver: %s.", strings.Join(loopNodes, ", "))
			} else {
				msg += "."
			}
		} else if len(loopNodes) > 0 {
			msg += fmt.Sprintf(" The nodes' resolv.conf points at a local resolver: %s.", strings.Join(loopNodes, ", "))
		}
		c.Report(finding.Finding{
			Severity: sev,
			Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
			Message:  msg,
			Evidence: dedupeEvidence(ev),
			Remediation: `# confirm on a node where CoreDNS runs: the resolv.conf pods with dnsPolicy Default get
cat /etc/resolv.conf; ls -l /etc/resolv.conf; systemctl is-active systemd-resolved dnsmasq
# fix (a): give the kubelet the file with the real upstreams (systemd-resolved keeps it here), then restart it
grep -n resolvConf /var/lib/kubelet/config.yaml
sed -i 's|^resolvConf: .*|resolvConf: /run/systemd/resolve/resolv.conf|' /var/lib/kubelet/config.yaml
systemctl restart kubelet
# fix (b): or forward to explicit upstream servers: replace "forward . /etc/resolv.conf" with "forward . <upstream-ip>"
kubectl -n kube-system edit configmap coredns
kubectl -n kube-system rollout restart deployment coredns`,
		})
	},
}

func c2SortedSet(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// upstreamErrRE reads CoreDNS's errors plugin line for a failed forward:
// `[ERROR] plugin/errors: 2 example.com. A: read udp 10.244.0.2:41234->192.168.56.1:53: i/o timeout`.
var upstreamErrRE = regexp.MustCompile(`\[ERROR\] plugin/errors: \d+ \S+ \S+: (?:read|write|dial) (udp|tcp) (?:[0-9a-fA-F.:\[\]]+->)?\[?([0-9a-fA-F.:]+?)\]?:(\d+): (.*)$`)

var dnsUpstreamUnreachable = &Rule{
	ID:       "dns.upstream-unreachable",
	Severity: finding.Critical,
	Title:    "CoreDNS cannot reach its upstream DNS servers",
	Inputs:   Kinds("Pod"),
	Doc: "CoreDNS logs `[ERROR] plugin/errors: … read udp …->UPSTREAM:53: i/o timeout` (or " +
		"SERVFAIL) for the servers its `forward` plugin sends to: names outside the cluster do not " +
		"resolve, and pods wait seconds per lookup.",
	Check: func(c *Context) {
		m := c.Model
		type up struct {
			errs map[string]bool
			ev   []finding.Evidence
			pods map[string]bool
		}
		ups := map[string]*up{}
		for _, p := range dnsPods(m) {
			for _, f := range podLogs(m.Bundle, p) {
				for n := 1; n <= f.Lines(); n++ {
					line := f.Line(n)
					if !strings.Contains(line, "plugin/errors") {
						continue
					}
					mm := upstreamErrRE.FindStringSubmatch(line)
					if mm == nil || c2IsLoopback(mm[2]) {
						continue // a loopback upstream is dns.coredns-loop's case
					}
					k := mm[2] + ":" + mm[3]
					u := ups[k]
					if u == nil {
						u = &up{errs: map[string]bool{}, pods: map[string]bool{}}
						ups[k] = u
					}
					u.errs[truncate(mm[4], 60)] = true
					u.pods[p.Name] = true
					u.ev = append(u.ev, f.Evidence(n))
				}
			}
		}
		if len(ups) == 0 {
			return
		}
		conf := coreDNSCorefile(m)
		var keys []string
		for k := range ups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			u := ups[k]
			ip := k[:strings.LastIndex(k, ":")]
			ev := u.ev
			if len(ev) > 3 {
				ev = ev[len(ev)-3:]
			}
			source := ""
			if conf != nil {
				for _, f := range conf.cf.Forwarders() {
					for _, to := range f.To {
						if strings.TrimPrefix(strings.TrimPrefix(to, "dns://"), "udp://") == ip || strings.HasPrefix(to, ip+":") {
							source = fmt.Sprintf("the Corefile's `forward %s %s`", f.From, strings.Join(f.To, " "))
							ev = append(ev, corefileEvidence(m, conf.cm, "Corefile", f.Line))
						} else if to == "/etc/resolv.conf" && source == "" {
							source = "the nodes' /etc/resolv.conf (the Corefile says `forward " + f.From + " /etc/resolv.conf`)"
							ev = append(ev, corefileEvidence(m, conf.cm, "Corefile", f.Line))
						}
					}
				}
			}
			for _, n := range m.NodeNames() {
				nd := m.NodeData(n)
				if nd.ResolvConf == nil {
					continue
				}
				for _, ns := range nd.ResolvConf.Nameservers {
					if ns.Addr == ip {
						ev = append(ev, c.NodeEvidence(nd, model.CapResolvConf, ns.Line))
						break
					}
				}
				if len(ev) > 6 {
					break
				}
			}
			msg := fmt.Sprintf("CoreDNS (%s) cannot get answers from upstream %s: %s. Names outside the cluster fail or take seconds to resolve in every pod; cluster names still resolve.",
				strings.Join(c2SortedSet(u.pods), ", "), k, strings.Join(c2SortedSet(u.errs), "; "))
			if source != "" {
				msg += " The upstream comes from " + source + "."
			}
			c.Report(finding.Finding{
				Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
				Key:      k,
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# from a node, and from a pod network namespace: does the upstream answer?
dig +time=2 +tries=1 @%[1]s kubernetes.io
kubectl run dnscheck --rm -it --restart=Never --image=busybox:1.36 -- nslookup -type=a kubernetes.io %[1]s
# a firewall between the pod network and the upstream (egress UDP/TCP 53, SNAT/masquerade of pod IPs):
iptables-save -c | grep -E 'dport 53|MASQUERADE'
# fix the path, or forward to a reachable resolver:
kubectl -n kube-system edit configmap coredns`, ip),
			})
		}
	},
}

// hostDNSExemptPod tells pods that legitimately run with hostNetwork and the node's DNS: cluster DNS,
// CNI agents, kube-proxy, NodeLocal DNS, static control-plane pods.
func hostDNSExemptPod(p *model.Pod) bool {
	if _, ok := cniAgentPod(p); ok {
		return true
	}
	if p.Labels["k8s-app"] == "kube-dns" || p.Labels["k8s-app"] == "node-local-dns" || p.Labels["k8s-app"] == "kube-proxy" || p.Labels["tier"] == "control-plane" {
		return true
	}
	for _, prefix := range []string{"kube-proxy", "coredns", "kube-dns", "node-local-dns", "etcd-", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if strings.HasPrefix(p.Name, prefix) {
			return true
		}
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "Node" {
			return true // a static pod
		}
	}
	return false
}

var dnsPodResolvWrong = &Rule{
	ID:       "dns.pod-resolv-wrong",
	Severity: finding.Warning,
	Title:    "Pods get a wrong resolv.conf",
	Inputs:   Kinds("Pod"),
	Doc: "hostNetwork pods with dnsPolicy ClusterFirst get the node's resolv.conf, so cluster " +
		"names do not resolve in them (ClusterFirstWithHostNet is meant); kubelet events " +
		"`Nameserver limits were exceeded` mean the node's resolv.conf has more than three " +
		"nameservers and pods get only the first ones.",
	Check: func(c *Context) {
		m := c.Model
		for _, p := range m.Pods {
			if !p.Spec.HostNetwork || hostDNSExemptPod(p) {
				continue
			}
			if p.Spec.DNSPolicy != "" && p.Spec.DNSPolicy != corev1.DNSClusterFirst {
				continue
			}
			ev := []finding.Evidence{m.Evidence(p.Src, "spec", "hostNetwork")}
			policy := "ClusterFirst (the default)"
			if p.Spec.DNSPolicy != "" {
				policy = "ClusterFirst"
				ev = append(ev, m.Evidence(p.Src, "spec", "dnsPolicy"))
			}
			owner := "pod/" + p.Name
			for _, o := range p.OwnerReferences {
				if o.Controller != nil && *o.Controller {
					owner = strings.ToLower(o.Kind) + "/" + o.Name
				}
			}
			c.Report(finding.Finding{
				Subject:  podSubject(p),
				Key:      "hostnetwork-clusterfirst",
				Message:  fmt.Sprintf("Pod %s/%s runs with hostNetwork and dnsPolicy %s: it gets the node's resolv.conf, so Service names (*.svc.cluster.local) do not resolve in it. hostNetwork pods that need cluster DNS must use ClusterFirstWithHostNet.", p.Namespace, p.Name, policy),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# confirm: the resolv.conf the pod sees
kubectl -n %[1]s exec %[2]s -- cat /etc/resolv.conf
# fix in its controller's pod template (a ReplicaSet's is its Deployment's):
kubectl -n %[1]s patch %[3]s --type merge -p '{"spec":{"template":{"spec":{"dnsPolicy":"ClusterFirstWithHostNet"}}}}'`, p.Namespace, p.Name, owner),
			})
		}
		// Nameserver limits: one finding per node (the event's source host, or the pod's node).
		type lim struct {
			ev    []finding.Evidence
			count int32
			pods  []string
		}
		byNode := map[string]*lim{}
		for _, e := range m.Events {
			if !strings.Contains(e.Message, "Nameserver limits were exceeded") {
				continue
			}
			node := e.Source.Host
			if node == "" && e.InvolvedObject.Kind == "Node" {
				node = e.InvolvedObject.Name
			}
			if node == "" && e.InvolvedObject.Kind == "Pod" {
				if p := c2PodNamed(m, e.InvolvedObject.Namespace, e.InvolvedObject.Name); p != nil {
					node = p.Spec.NodeName
				}
			}
			if node == "" {
				node = "(unknown)"
			}
			l := byNode[node]
			if l == nil {
				l = &lim{}
				byNode[node] = l
			}
			if len(l.ev) < 2 {
				l.ev = append(l.ev, m.Evidence(e.Src, "message"))
			}
			l.count += max(e.Count, 1)
			if e.InvolvedObject.Kind == "Pod" {
				l.pods = append(l.pods, e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name)
			}
		}
		for _, node := range c2SortedKeys(byNode) {
			l := byNode[node]
			ev := l.ev
			if nd := m.NodeData(node); nd.ResolvConf != nil {
				for i, ns := range nd.ResolvConf.Nameservers {
					ev = append(ev, c.NodeEvidence(nd, model.CapResolvConf, ns.Line))
					if i >= 4 {
						break
					}
				}
			}
			pods := dedupe(l.pods)
			if len(pods) > 3 {
				pods = append(pods[:3], fmt.Sprintf("%d more", len(pods)-3))
			}
			msg := fmt.Sprintf("The kubelet on %s reports \"Nameserver limits were exceeded\" (%d times): the resolv.conf it builds pods' DNS from has more than 3 nameservers; pods get only the first 3 and the rest are dropped.", node, l.count)
			if len(pods) > 0 {
				msg += " Pods: " + strings.Join(pods, ", ") + "."
			}
			c.Report(finding.Finding{
				Subject:  nodeSubject(node),
				Key:      "nameserver-limits",
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: `# on the node: the file the kubelet uses (resolvConf in /var/lib/kubelet/config.yaml), and its nameservers
grep resolvConf /var/lib/kubelet/config.yaml
grep -c ^nameserver /etc/resolv.conf /run/systemd/resolve/resolv.conf
# fix: keep at most 3 nameserver lines in that file (or point resolvConf at a file with 3), then
systemctl restart kubelet`,
			})
		}
	},
}

func c2SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var dnsNodeLocalBroken = &Rule{
	ID:       "dns.nodelocal-broken",
	Severity: finding.Critical,
	Title:    "NodeLocal DNSCache is configured but broken",
	Inputs:   Kinds("Pod"),
	Doc: "With NodeLocal DNSCache, pods send DNS to a link-local address (169.254.20.10) served " +
		"by the node-local-dns pod of their node. A node without a Ready node-local-dns pod, or a " +
		"ConfigMap still holding `__PILLAR__` placeholders the installer should have replaced, " +
		"breaks DNS for the pods there.",
	Check: func(c *Context) {
		m := c.Model
		ds, cm := nodeLocalDaemonSet(m), nodeLocalConfigMap(m)
		if ds == nil && cm == nil {
			return
		}
		if cm != nil {
			for key, text := range cm.Data {
				if !strings.Contains(text, "__PILLAR__") {
					continue
				}
				cf, err := corefile.Parse(strings.NewReader(text))
				if err != nil {
					continue
				}
				ph := cf.UnreplacedPlaceholders()
				if len(ph) == 0 {
					continue
				}
				var names []string
				var ev []finding.Evidence
				for _, p := range ph {
					names = append(names, p.Text)
					if len(ev) < 4 {
						ev = append(ev, corefileEvidence(m, cm, key, p.Line))
					}
				}
				c.Report(finding.Finding{
					Subject:  finding.Subject{Kind: "ConfigMap", Namespace: cm.Namespace, Name: cm.Name},
					Key:      "placeholders",
					Message:  fmt.Sprintf("ConfigMap %s/%s (%s) still holds %s: the manifest was applied without the substitution step, so node-cache binds and forwards to addresses that do not exist.", cm.Namespace, cm.Name, key, strings.Join(dedupe(names), ", ")),
					Evidence: dedupeEvidence(ev),
					Remediation: fmt.Sprintf(`kubectl -n %[1]s get configmap %[2]s -o yaml | grep -n __PILLAR__
# re-apply the manifest with the values substituted (see the NodeLocal DNSCache install guide), e.g.:
kubedns=$(kubectl -n kube-system get svc kube-dns -o jsonpath='{.spec.clusterIP}')
sed -i "s/__PILLAR__LOCAL__DNS__/169.254.20.10/g; s/__PILLAR__DNS__DOMAIN__/cluster.local/g; s/__PILLAR__DNS__SERVER__/$kubedns/g" nodelocaldns.yaml
kubectl apply -f nodelocaldns.yaml`, cm.Namespace, cm.Name),
				})
			}
		}
		if ds == nil {
			c.Note("ConfigMap node-local-dns exists but no node-local-dns DaemonSet: pods per node not checked")
			return
		}
		podsByNode := map[string][]*model.Pod{}
		for _, p := range m.PodsIn(ds.Namespace) {
			if p.Labels["k8s-app"] == "node-local-dns" || strings.HasPrefix(p.Name, ds.Name+"-") {
				podsByNode[p.Spec.NodeName] = append(podsByNode[p.Spec.NodeName], p)
			}
		}
		var missing []string
		var ev []finding.Evidence
		var notReady []*model.Pod
		for _, n := range m.Nodes {
			if !nodeIsReady(n) || n.Spec.Unschedulable {
				continue // a NotReady node is node.not-ready's finding
			}
			pods := podsByNode[n.Name]
			if len(pods) == 0 {
				missing = append(missing, n.Name)
				continue
			}
			ready := false
			for _, p := range pods {
				if ok, _ := podReady(p); ok {
					ready = true
				}
			}
			if !ready {
				notReady = append(notReady, pods[0])
			}
		}
		if len(missing) == 0 && len(notReady) == 0 {
			return
		}
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "no node-local-dns pod on "+strings.Join(missing, ", "))
			ev = append(ev, m.Evidence(ds.Src, "status"))
		}
		if len(notReady) > 0 {
			reasons, pev := groupReasons(m, notReady, 3)
			parts = append(parts, "not Ready: "+reasons)
			ev = append(ev, pev...)
		}
		c.Report(finding.Finding{
			Subject:  finding.Subject{Kind: "DaemonSet", Namespace: ds.Namespace, Name: ds.Name},
			Key:      "pods",
			Message:  fmt.Sprintf("NodeLocal DNSCache is installed (DaemonSet %s/%s), but %s. Pods on those nodes send DNS to the link-local cache address and get no answer.", ds.Namespace, ds.Name, strings.Join(parts, "; ")),
			Evidence: dedupeEvidence(ev),
			Remediation: fmt.Sprintf(`kubectl -n %[1]s get daemonset %[2]s -o wide
kubectl -n %[1]s get pods -l k8s-app=node-local-dns -o wide
kubectl -n %[1]s describe daemonset %[2]s
# on a node without it: the cache interface and address must exist
ip addr show nodelocaldns`, ds.Namespace, ds.Name),
		})
	},
}
