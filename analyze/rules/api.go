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
		for _, ip := range model.PodIPs(p) {
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
				Remediation: `# every API server recreates it within seconds while it runs: is one running and healthy?
kubectl -n kube-system get pods -l component=kube-apiserver -o wide
kubectl get --raw '/readyz?verbose'
# on a control-plane node, the apiserver's own log:
crictl logs --tail 100 $(crictl ps -q --name kube-apiserver)`,
			})
			return
		}
		eps, found := m.ServiceEndpoints(svc)
		if !found || len(eps) == 0 {
			ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "clusterIP")}
			ev = append(ev, emptyEndpointsEvidence(m, svc)...)
			cause := "The API servers' endpoint reconciler is not writing them (apiserver not running, or --endpoint-reconciler-type=none, or a wrong --advertise-address)."
			if flag, fev, ok := apiserverFlag(m, "--endpoint-reconciler-type"); ok && flag == "none" {
				cause = "The API server runs with --endpoint-reconciler-type=none, so nothing writes them: remove the flag (the default is lease)."
				ev = append(ev, fev)
			}
			c.Report(finding.Finding{
				Subject:  serviceSubject(svc),
				Key:      "endpoints",
				Message:  fmt.Sprintf("Service default/kubernetes (ClusterIP %s) has no endpoints: nothing in the cluster reaches the API server through it. %s", svc.Spec.ClusterIP, cause),
				Evidence: dedupeEvidence(ev),
				Remediation: `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o yaml
kubectl -n kube-system get pods -l component=kube-apiserver -o wide
# the flags that decide who writes them (--endpoint-reconciler-type must not be none; default lease):
kubectl -n kube-system get pods -l component=kube-apiserver -o yaml | grep -E 'advertise-address|endpoint-reconciler-type'
# fix: edit /etc/kubernetes/manifests/kube-apiserver.yaml on each control-plane node; the kubelet restarts it`,
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
				ev = append(ev, endpointIPEvidence(m, e))
			}
		}
		if len(foreign) == 0 {
			return
		}
		ev = append(ev, apiserverAddressEvidence(m)...)
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
# each running apiserver holds a lease; an address left by a removed control-plane node goes when its lease expires
kubectl -n kube-system get leases -l apiserver.kubernetes.io/identity=kube-apiserver
# otherwise an apiserver advertises a wrong address: check --advertise-address on each control-plane node
kubectl -n kube-system get pods -l component=kube-apiserver -o yaml | grep advertise-address`,
		})
	},
}

// endpointIPEvidence quotes the line holding an endpoint's address: the address item of an
// EndpointSlice endpoint, or the ip of an Endpoints address.
func endpointIPEvidence(m *model.Model, e model.ServiceEndpoint) finding.Evidence {
	for _, sub := range [][]string{{"ip"}, {"addresses", "0"}} {
		ev := m.Evidence(e.Src, append(append([]string{}, e.Path...), sub...)...)
		if strings.Contains(ev.Excerpt, e.IP) {
			return ev
		}
	}
	return m.Evidence(e.Src, e.Path...)
}

// apiserverPods are the kube-apiserver pods (kubeadm static pods carry component=kube-apiserver).
func apiserverPods(m *model.Model) []*model.Pod {
	return m.SelectPods("kube-system", map[string]string{"component": "kube-apiserver"})
}

// apiserverAddressEvidence quotes where the bundle learns the API servers' addresses.
func apiserverAddressEvidence(m *model.Model) []finding.Evidence {
	var ev []finding.Evidence
	for _, p := range apiserverPods(m) {
		ev = append(ev, m.Evidence(p.Src, "status", "podIP"))
	}
	return ev
}

// apiserverFlag returns the value of a kube-apiserver flag (--name=value) from the first
// apiserver pod that sets it, with the line that sets it.
func apiserverFlag(m *model.Model, name string) (string, finding.Evidence, bool) {
	for _, p := range apiserverPods(m) {
		for ci, c := range p.Spec.Containers {
			for _, list := range []struct {
				field string
				args  []string
			}{{"command", c.Command}, {"args", c.Args}} {
				for ai, a := range list.args {
					if v, ok := strings.CutPrefix(a, name+"="); ok {
						return v, m.Evidence(p.Src, "spec", "containers", itoa(ci), list.field, itoa(ai)), true
					}
				}
			}
		}
	}
	return "", finding.Evidence{}, false
}
