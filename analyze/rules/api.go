package rules

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// apiserverAddresses returns the addresses the API server runs on, as the bundle shows them:
// the IPs of kube-apiserver pods (static pods on hostNetwork), else control-plane nodes'
// InternalIPs. Empty when the bundle cannot tell (a managed control plane).
func apiserverAddresses(m *model.Model) map[string]bool {
	out := map[string]bool{}
	for _, p := range m.SelectPods("kube-system", map[string]string{"component": "kube-apiserver"}) {
		for _, ip := range model.PodIPs(p.Pod) {
			out[ip] = true
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, n := range m.Nodes {
		_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
		_, master := n.Labels["node-role.kubernetes.io/master"]
		if !cp && !master {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				out[a.Address] = true
			}
		}
	}
	return out
}

var apiServiceBroken = &Rule{
	ID:       "api.service-broken",
	Severity: finding.Critical,
	Title:    "The kubernetes Service or its endpoints are missing or wrong",
	Inputs:   Kinds("Service"),
	Doc: "Pods (CoreDNS, CNI agents, controllers) reach the API server through default/kubernetes. " +
		"Its endpoints are written by the API servers' reconciler; empty or foreign endpoints " +
		"cut every in-cluster client off the control plane.",
	Check: func(c *Context) {
		m := c.Model
		svc := m.Service("default", "kubernetes")
		if svc == nil {
			f, _ := m.Has("Service")
			c.Report(finding.Finding{
				Subject:  finding.Subject{Kind: "Service", Namespace: "default", Name: "kubernetes"},
				Message:  "The Service default/kubernetes does not exist: in-cluster clients (CoreDNS, CNI agents, kube-proxy in some setups) cannot reach the API server by its ClusterIP.",
				Evidence: []finding.Evidence{{File: f, Excerpt: "(no Service default/kubernetes)"}},
				Remediation: `# the API server recreates it at start; check that it runs and look at its log:
kubectl -n kube-system get pods -l component=kube-apiserver -o wide
kubectl get --raw /readyz?verbose`,
			})
			return
		}
		eps, found := m.ServiceEndpoints(svc)
		if !found || len(eps) == 0 {
			ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "clusterIP")}
			ev = append(ev, emptyEndpointsEvidence(m, svc)...)
			c.Report(finding.Finding{
				Subject:  serviceSubject(svc),
				Key:      "endpoints",
				Message:  fmt.Sprintf("Service default/kubernetes (ClusterIP %s) has no endpoints: nothing in the cluster reaches the API server through it. The API servers' endpoint reconciler is not writing them (apiserver not running, or --endpoint-reconciler-type=none, or a wrong --advertise-address).", svc.Spec.ClusterIP),
				Evidence: dedupeEvidence(ev),
				Remediation: `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o yaml
kubectl -n kube-system get pods -l component=kube-apiserver -o wide
# check the apiserver flags --advertise-address and --endpoint-reconciler-type (default: lease)`,
			})
			return
		}
		want := apiserverAddresses(m)
		if len(want) == 0 {
			c.Note("cannot tell the API servers' addresses (no kube-apiserver pods or control-plane nodes in the bundle); endpoints not compared")
			return
		}
		var foreign []string
		var ev []finding.Evidence
		for _, e := range eps {
			if !want[e.IP] {
				foreign = append(foreign, e.IP)
				ev = append(ev, m.Evidence(e.Src, e.Path...))
			}
		}
		if len(foreign) == 0 {
			return
		}
		var wantList []string
		for ip := range want {
			wantList = append(wantList, ip)
		}
		sort.Strings(wantList)
		c.Report(finding.Finding{
			Severity: finding.Warning,
			Subject:  serviceSubject(svc),
			Key:      "foreign-endpoints",
			Message: fmt.Sprintf("Service default/kubernetes points at %s, which is not an API server address the bundle knows (%s): clients may be sent to a dead or wrong host.",
				strings.Join(dedupe(foreign), ", "), strings.Join(wantList, ", ")),
			Evidence: dedupeEvidence(ev),
			Remediation: `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o wide
# an address left by a removed control-plane node expires with its lease (kubectl -n kube-system get leases);
# otherwise fix the apiserver --advertise-address`,
		})
	},
}
