package rules

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
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
			for _, d := range m.Deployments {
				if d.Namespace == "kube-system" && (d.Name == "coredns" || d.Name == "kube-dns") {
					ev = append(ev, m.Evidence(d.Src, "status"))
				}
			}
			if f, ok := m.Has("Pod"); ok {
				ev = append(ev, finding.Evidence{File: f, Excerpt: "(no pod with label k8s-app=kube-dns in kube-system)"})
			}
			c.Report(finding.Finding{
				Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
				Message:  "No cluster DNS pod (label k8s-app=kube-dns) exists in kube-system: no name in the cluster resolves.",
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
			ev = append(ev, grepLogs(m.Bundle, p, 2, dnsLogCauses...)...)
		}
		msg := summary + " " + reasons + "."
		if cause := dnsCause(ev); cause != "" {
			msg += " " + cause
		}
		p := down[0]
		c.Report(finding.Finding{
			Severity: sev,
			Subject:  finding.Subject{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
			Message:  msg,
			Evidence: dedupeEvidence(ev),
			Remediation: fmt.Sprintf(`kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide
kubectl -n kube-system logs %s --previous
kubectl -n kube-system get configmap coredns -o yaml
# a forwarding loop (plugin/loop): point "forward ." at a real upstream, not at a resolv.conf
# whose nameserver is 127.0.0.x (systemd-resolved): kubelet --resolv-conf=/run/systemd/resolve/resolv.conf`, p.Name),
		})
	},
}

// dnsCause turns a quoted log line into the likely cause, in words.
func dnsCause(ev []finding.Evidence) string {
	for _, e := range ev {
		l := e.Excerpt
		switch {
		case strings.Contains(l, "plugin/loop") || strings.Contains(l, "Loop ("):
			return "CoreDNS detected a forwarding loop: its upstream (the node's resolv.conf) points back at itself, usually 127.0.0.53 from systemd-resolved."
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
			c.Report(finding.Finding{
				Subject:  subject,
				Message:  "The Service kube-system/kube-dns does not exist: pods send DNS queries to the kubelet's clusterDNS address and nothing answers.",
				Evidence: []finding.Evidence{{File: f, Excerpt: "(no Service kube-system/kube-dns, nor one selecting k8s-app=kube-dns)"}},
				Remediation: `kubectl -n kube-system get svc -l k8s-app=kube-dns
# recreate it with the ClusterIP the kubelets use (clusterDNS in /var/lib/kubelet/config.yaml):
kubectl -n kube-system expose deployment coredns --name=kube-dns --cluster-ip=<clusterDNS> --port=53 --protocol=UDP
# then add 53/TCP (dns-tcp) and 9153/TCP (metrics) under spec.ports with kubectl edit`,
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
			c.Report(finding.Finding{
				Subject:  subject,
				Key:      "ports",
				Message:  fmt.Sprintf("Service %s/%s lacks %s (has %s): queries on the missing protocol fail (TCP is used for large answers).", svc.Namespace, svc.Name, strings.Join(missing, " and "), portsString(svc.Spec.Ports)),
				Evidence: m.EvidenceLines(svc.Src, 8, "spec", "ports"),
				Remediation: fmt.Sprintf(`kubectl -n %s get service %s -o yaml
# add the missing port(s) under spec.ports: {name: dns, port: 53, protocol: UDP} and {name: dns-tcp, port: 53, protocol: TCP}
kubectl -n %s edit service %s`, svc.Namespace, svc.Name, svc.Namespace, svc.Name),
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
	},
}
