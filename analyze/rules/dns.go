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

// dnsPods are the cluster DNS pods: label k8s-app=kube-dns in kube-system (CoreDNS and kube-dns
// both carry it), or, failing that, pods named coredns-*.
func dnsPods(m *model.Model) []*model.Pod {
	pods := m.SelectPods("kube-system", map[string]string{"k8s-app": "kube-dns"})
	if len(pods) > 0 {
		return pods
	}
	for _, p := range m.PodsIn("kube-system") {
		if strings.HasPrefix(p.Name, "coredns-") || strings.HasPrefix(p.Name, "kube-dns-") {
			pods = append(pods, p)
		}
	}
	return pods
}

// dnsService finds the cluster DNS Service: kube-system/kube-dns, else a kube-system Service
// selecting k8s-app=kube-dns (some distributions rename it).
func dnsService(m *model.Model) *model.Service {
	if s := m.Service("kube-system", "kube-dns"); s != nil {
		return s
	}
	for _, s := range m.Services {
		if s.Namespace == "kube-system" && s.Spec.Selector["k8s-app"] == "kube-dns" {
			return s
		}
	}
	return nil
}

// dnsLogCauses are CoreDNS log lines that name why it is failing.
var dnsLogCauses = []string{
	"plugin/loop", "Loop (", "[FATAL]", "panic:", "forbidden", "Failed to list", "i/o timeout",
	"connection refused", "no such host", "SERVFAIL", "[ERROR]", "Corefile",
}

var dnsCoreDNSDown = &Rule{
	ID:       "dns.coredns-down",
	Severity: finding.Critical,
	Title:    "Cluster DNS (CoreDNS/kube-dns) pods are down",
	Inputs:   Kinds("Pod"),
	Doc: "The k8s-app=kube-dns pods are missing, not Running/Ready, or crash-looping; the cause " +
		"is quoted from their logs (loop detected, API forbidden, upstream timeouts).",
	Check: func(c *Context) {
		m := c.Model
		pods := dnsPods(m)
		if len(pods) == 0 {
			ev := []finding.Evidence{}
			msg := "No cluster DNS pod (label k8s-app=kube-dns) exists in kube-system: no name in the cluster resolves."
			for _, d := range m.Deployments {
				if d.Namespace == "kube-system" && (d.Name == "coredns" || d.Name == "kube-dns") {
					if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
						msg = fmt.Sprintf("The Deployment kube-system/%s is scaled to 0 replicas: no cluster DNS pod runs and no name in the cluster resolves.", d.Name)
						ev = append(ev, m.Evidence(d.Src, "spec", "replicas"))
					} else {
						ev = append(ev, m.Evidence(d.Src, "status"))
					}
				}
			}
			if f, ok := m.Has("Pod"); ok {
				ev = append(ev, finding.Evidence{File: f, Excerpt: "(no pod with label k8s-app=kube-dns in kube-system)"})
			}
			c.Report(finding.Finding{
				Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
				Message:  msg,
				Evidence: ev,
				Remediation: `kubectl -n kube-system get deploy,rs,pods -l k8s-app=kube-dns
kubectl -n kube-system describe deployment coredns
# a scaled-down or deleted Deployment:
kubectl -n kube-system scale deployment coredns --replicas=2`,
			})
			return
		}
		var down []*model.Pod
		for _, p := range pods {
			if ok, _ := podReady(p); !ok {
				down = append(down, p)
			}
		}
		if len(down) == 0 {
			return
		}
		sev := finding.Warning
		summary := fmt.Sprintf("%d of %d cluster DNS pods are not Ready; DNS still answers from the others, with less capacity.", len(down), len(pods))
		if len(down) == len(pods) {
			sev = finding.Critical
			summary = fmt.Sprintf("All %d cluster DNS pods are not Ready: names do not resolve in pods.", len(pods))
		}
		reasons, ev := groupReasons(m, down, 3)
		for _, p := range down {
			ev = append(ev, grepLogs(m.Bundle, p, 1, dnsLogCauses...)...)
		}
		msg := summary + " " + reasons + "."
		cause := dnsCause(ev)
		if cause != "" {
			msg += " " + cause
		}
		p := down[0]
		fix := ""
		if strings.Contains(cause, "loop") {
			fix = `
# a forwarding loop (plugin/loop; see dns.coredns-loop): "forward . /etc/resolv.conf" reaches a nameserver on the
# node's loopback (127.0.0.53 systemd-resolved, 127.0.0.1 dnsmasq). Point the kubelet at the real upstream list:
# resolvConf: /run/systemd/resolve/resolv.conf in /var/lib/kubelet/config.yaml, then systemctl restart kubelet
kubectl -n kube-system rollout restart deployment coredns`
		}
		c.Report(finding.Finding{
			Severity: sev,
			Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
			Message:  msg,
			Evidence: dedupeEvidence(ev),
			Remediation: fmt.Sprintf(`kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide
kubectl -n kube-system logs %s --previous
kubectl -n kube-system get configmap coredns -o yaml`, p.Name) + fix,
		})
	},
}

// loopAddrRE reads the address in CoreDNS's `Loop (127.0.0.1:44444 -> :53) detected`.
var loopAddrRE = regexp.MustCompile(`Loop \(([0-9a-fA-F.:\[\]]+?):\d+ ->`)

// dnsCause turns a quoted log line into the likely cause, in words.
func dnsCause(ev []finding.Evidence) string {
	for _, e := range ev {
		l := e.Excerpt
		switch {
		case strings.Contains(l, "plugin/loop") || strings.Contains(l, "Loop ("):
			if mm := loopAddrRE.FindStringSubmatch(l); mm != nil {
				return fmt.Sprintf("CoreDNS detected a forwarding loop (its query came back from %s): its upstream, the node's resolv.conf, points back at a local resolver (see dns.coredns-loop).", mm[1])
			}
			return "CoreDNS detected a forwarding loop: its upstream, the node's resolv.conf, points back at a local resolver such as 127.0.0.53 from systemd-resolved (see dns.coredns-loop)."
		case strings.Contains(l, "forbidden"):
			return "CoreDNS is forbidden to list Services/EndpointSlices: its ClusterRole system:coredns or the binding is missing."
		case strings.Contains(l, "i/o timeout") && strings.Contains(l, ":443"):
			return "CoreDNS cannot reach the API server through the kubernetes Service (see api.unreachable)."
		}
	}
	return ""
}

var dnsServiceBroken = &Rule{
	ID:       "dns.service-broken",
	Severity: finding.Critical,
	Title:    "kube-dns Service missing, without endpoints, or with wrong ports",
	Inputs:   Kinds("Service"),
	Doc: "Pods resolve names through the kube-dns Service's ClusterIP (kubelet clusterDNS). It " +
		"must exist, serve 53/UDP and 53/TCP, and have ready endpoints.",
	Check: func(c *Context) {
		m := c.Model
		svc := dnsService(m)
		subject := finding.Subject{Kind: "Service", Namespace: "kube-system", Name: "kube-dns"}
		if svc == nil {
			f, _ := m.Has("Service")
			ev := []finding.Evidence{{File: f, Excerpt: "(no Service kube-system/kube-dns, nor one selecting k8s-app=kube-dns)"}}
			ip := "<clusterDNS>"
			msg := "The Service kube-system/kube-dns does not exist: pods send DNS queries to the kubelet's clusterDNS address and nothing answers."
			if kd := kubeletsClusterDNS(c, false); len(kd) > 0 {
				ip = kd[0].value
				msg = fmt.Sprintf("The Service kube-system/kube-dns does not exist: pods send DNS queries to %s (the kubelets' clusterDNS) and nothing answers.", ip)
				ev = append(ev, kd[0].evidence...)
			}
			c.Report(finding.Finding{
				Subject:  subject,
				Message:  msg,
				Evidence: ev,
				Remediation: fmt.Sprintf(`kubectl -n kube-system get svc -l k8s-app=kube-dns
# recreate it with the ClusterIP the kubelets hand to pods (clusterDNS in /var/lib/kubelet/config.yaml):
kubectl -n kube-system create service clusterip kube-dns --tcp=53:53 --clusterip=%s --dry-run=client -o yaml > kube-dns.yaml
# edit kube-dns.yaml: selector k8s-app: kube-dns; ports dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP; then
kubectl apply -f kube-dns.yaml`, ip),
			})
			return
		}
		subject = serviceSubject(svc)
		var udp, tcp bool
		for _, p := range svc.Spec.Ports {
			if p.Port == 53 {
				switch protocolOf(p.Protocol) {
				case corev1.ProtocolUDP:
					udp = true
				case corev1.ProtocolTCP:
					tcp = true
				}
			}
		}
		if !udp || !tcp {
			var missing []string
			if !udp {
				missing = append(missing, "53/UDP")
			}
			if !tcp {
				missing = append(missing, "53/TCP")
			}
			var patch []string
			if !udp {
				patch = append(patch, `{"op":"add","path":"/spec/ports/-","value":{"name":"dns","port":53,"protocol":"UDP","targetPort":53}}`)
			}
			if !tcp {
				patch = append(patch, `{"op":"add","path":"/spec/ports/-","value":{"name":"dns-tcp","port":53,"protocol":"TCP","targetPort":53}}`)
			}
			c.Report(finding.Finding{
				Subject:  subject,
				Key:      "ports",
				Message:  fmt.Sprintf("Service %s/%s lacks %s (has %s): queries on the missing protocol fail (TCP is used for large answers).", svc.Namespace, svc.Name, strings.Join(missing, " and "), portsString(svc.Spec.Ports)),
				Evidence: m.EvidenceLines(svc.Src, 8, "spec", "ports"),
				Remediation: fmt.Sprintf(`kubectl -n %[1]s get service %[2]s -o jsonpath='{.spec.ports}'
# add the missing port(s) (rename if a port of that name exists):
kubectl -n %[1]s patch service %[2]s --type json -p '[%[3]s]'`, svc.Namespace, svc.Name, strings.Join(patch, ",")),
			})
		}
		eps, _ := m.ServiceEndpoints(svc)
		if readyCount(eps) == 0 {
			ev := m.EvidenceLines(svc.Src, 3, "spec", "selector")
			ev = append(ev, emptyEndpointsEvidence(m, svc)...)
			c.Report(finding.Finding{
				Subject:  subject,
				Key:      "endpoints",
				Message:  fmt.Sprintf("Service %s/%s (ClusterIP %s) has no ready endpoint: every DNS query in the cluster fails. Look at dns.coredns-down for the pods' state.", svc.Namespace, svc.Name, svc.Spec.ClusterIP),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl -n %s get endpointslices -l kubernetes.io/service-name=%s
kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide`, svc.Namespace, svc.Name),
			})
		}
		checkClusterDNS(c, svc)
	},
}

// kubeletDNS is the clusterDNS one kubelet hands to its pods, and where it is set.
type kubeletDNS struct {
	node     string
	values   []string
	value    string // values joined
	source   string // "--cluster-dns" or "clusterDNS in kubelet-config.yaml"
	evidence []finding.Evidence
}

// kubeletsClusterDNS reads each node's effective clusterDNS: the --cluster-dns flag overrides
// the config file's clusterDNS, as in the kubelet. With note, nodes lacking both are noted.
func kubeletsClusterDNS(c *Context, note bool) []kubeletDNS {
	m := c.Model
	var out []kubeletDNS
	for _, n := range m.NodeNames() {
		nd := m.NodeData(n)
		if nd.KubeletCmdline != nil {
			if vals := nd.KubeletCmdline.ClusterDNS(); len(vals) > 0 {
				fl, _ := nd.KubeletCmdline.Get("cluster-dns")
				out = append(out, kubeletDNS{node: n, values: vals, value: strings.Join(vals, ","), source: "--cluster-dns",
					evidence: []finding.Evidence{c.NodeEvidence(nd, model.CapKubeletCmdline, fl.Line)}})
				continue
			}
		}
		if cfg := nd.KubeletConfig; cfg != nil && len(cfg.ClusterDNS) > 0 {
			line := cfg.KeyLines["clusterDNS"]
			ev := []finding.Evidence{c.NodeEvidence(nd, model.CapKubeletConfig, line)}
			// Quote the list items under the key too: they hold the addresses.
			if f := m.Bundle.File(nd.Path(model.CapKubeletConfig)); f != nil {
				for l := line + 1; l <= f.Lines() && l <= line+len(cfg.ClusterDNS); l++ {
					if t := strings.TrimSpace(f.Line(l)); strings.HasPrefix(t, "- ") {
						ev = append(ev, f.Evidence(l))
					}
				}
			}
			out = append(out, kubeletDNS{node: n, values: cfg.ClusterDNS, value: strings.Join(cfg.ClusterDNS, ","), source: "clusterDNS in kubelet-config.yaml", evidence: ev})
			continue
		}
		if note && (m.Node(n) != nil || len(m.Bundle.Dir("nodes/"+n)) > 0) {
			c.Note("node %s: kubelet clusterDNS not checked: neither %s nor %s sets it", n, nd.Path(model.CapKubeletConfig), nd.Path(model.CapKubeletCmdline))
		}
	}
	return out
}

// nodeLocalDNSAddresses are the addresses NodeLocal DNSCache listens on when it is installed
// (its Corefile's bind addresses; 169.254.20.10 by default): kubelets pointing there are right.
func nodeLocalDNSAddresses(m *model.Model) map[string]bool {
	out := map[string]bool{}
	cm := nodeLocalConfigMap(m)
	if cm == nil && nodeLocalDaemonSet(m) == nil {
		return out
	}
	out["169.254.20.10"] = true
	if cm != nil {
		if cf, err := corefile.Parse(strings.NewReader(cm.Data["Corefile"])); err == nil {
			for _, srv := range cf.Servers {
				if b, ok := srv.Plugin("bind"); ok {
					for _, a := range b.Args {
						if _, err := netip.ParseAddr(a); err == nil {
							out[a] = true
						}
					}
				}
			}
		}
	}
	return out
}

// checkClusterDNS reports kubelets whose clusterDNS is not the kube-dns Service's ClusterIP:
// their pods' resolv.conf names a server nothing answers on.
func checkClusterDNS(c *Context, svc *model.Service) {
	m := c.Model
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return
	}
	ok := map[string]bool{}
	for _, ip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		ok[ip] = true
	}
	local := nodeLocalDNSAddresses(m)
	byValue := map[string][]kubeletDNS{}
	for _, kd := range kubeletsClusterDNS(c, true) {
		good := false
		for _, v := range kd.values {
			if ok[v] || local[v] {
				good = true
			}
		}
		if !good {
			byValue[kd.value] = append(byValue[kd.value], kd)
		}
	}
	values := make([]string, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		kds := byValue[v]
		var nodes []string
		ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "clusterIP")}
		for i, kd := range kds {
			nodes = append(nodes, kd.node)
			if i < 3 {
				ev = append(ev, kd.evidence...)
			}
		}
		first := kds[0]
		cfgFix := fmt.Sprintf("sed -i 's/%s/%s/' /var/lib/kubelet/config.yaml", strings.ReplaceAll(first.values[0], ".", `\.`), svc.Spec.ClusterIP)
		if first.source == "--cluster-dns" {
			cfgFix = fmt.Sprintf("# set --cluster-dns=%s in the kubelet's unit or /etc/default/kubelet (KUBELET_EXTRA_ARGS)", svc.Spec.ClusterIP)
		}
		c.Report(finding.Finding{
			Subject: serviceSubject(svc),
			Key:     "cluster-dns=" + v,
			Message: fmt.Sprintf("The kubelet on %s hands pods nameserver %s (%s), but the kube-dns Service's ClusterIP is %s: DNS queries from pods there go to an address nothing answers on.",
				strings.Join(nodes, ", "), v, first.source, svc.Spec.ClusterIP),
			Evidence: dedupeEvidence(ev),
			Remediation: fmt.Sprintf(`# confirm: what a pod on %[1]s gets, and the Service's address
kubectl -n kube-system get service %[2]s -o jsonpath='{.spec.clusterIP}'
kubectl get --raw /api/v1/nodes/%[1]s/proxy/configz | grep -o '"clusterDNS":[^]]*]'
# fix on each listed node, then restart the kubelet (new pods get the right resolv.conf; recreate old ones):
%[3]s
systemctl restart kubelet`, first.node, svc.Name, cfgFix),
		})
	}
}

// nodeLocalDaemonSet is NodeLocal DNSCache's DaemonSet (node-local-dns in kube-system), or nil.
func nodeLocalDaemonSet(m *model.Model) *model.DaemonSet {
	for _, ds := range m.DaemonSets {
		if ds.Name == "node-local-dns" || ds.Spec.Selector != nil && ds.Spec.Selector.MatchLabels["k8s-app"] == "node-local-dns" {
			return ds
		}
	}
	return nil
}

// nodeLocalConfigMap is NodeLocal DNSCache's ConfigMap (node-local-dns in kube-system), or nil.
func nodeLocalConfigMap(m *model.Model) *model.ConfigMap {
	for _, cm := range m.ConfigMaps {
		if cm.Name == "node-local-dns" {
			return cm
		}
	}
	return nil
}
