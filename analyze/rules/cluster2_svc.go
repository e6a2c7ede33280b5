package rules

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

var svcLBPending = &Rule{
	ID:       "svc.lb-pending",
	Severity: finding.Warning,
	Title:    "LoadBalancer Service has no external address",
	Inputs:   Kinds("Service"),
	Doc: "A Service of type LoadBalancer whose status.loadBalancer has no ingress is <pending>: " +
		"no cloud controller or load-balancer implementation (MetalLB, kube-vip…) gave it an " +
		"address, so it is reachable only on its NodePorts.",
	Check: func(c *Context) {
		m := c.Model
		for _, svc := range m.Services {
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
				continue
			}
			ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "type"), m.Evidence(svc.Src, "status", "loadBalancer")}
			msg := fmt.Sprintf("Service %s/%s is type LoadBalancer but has no external address (EXTERNAL-IP <pending>): nothing outside the cluster reaches it except through its NodePorts.", svc.Namespace, svc.Name)
			for _, e := range m.EventsFor("Service", svc.Namespace, svc.Name) {
				if e.Type == corev1.EventTypeWarning {
					msg += fmt.Sprintf(" Event %s: %s.", e.Reason, strings.TrimRight(truncate(e.Message, 200), "."))
					ev = append(ev, m.Evidence(e.Src, "message"))
					break
				}
			}
			if svc.Spec.LoadBalancerClass != nil {
				msg += fmt.Sprintf(" It asks for loadBalancerClass %s: only that implementation will serve it.", *svc.Spec.LoadBalancerClass)
				ev = append(ev, m.Evidence(svc.Src, "spec", "loadBalancerClass"))
			}
			c.Report(finding.Finding{
				Subject:  serviceSubject(svc),
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl -n %[1]s get service %[2]s -o wide
kubectl -n %[1]s describe service %[2]s | sed -n '/Events/,$p'
# is any load-balancer implementation running (cloud-controller-manager, MetalLB, kube-vip)?
kubectl get pods -A | grep -iE 'cloud-controller|metallb|kube-vip|lb-'
# on bare metal without one, install one, or expose it as NodePort instead:
kubectl -n %[1]s patch service %[2]s -p '{"spec":{"type":"NodePort"}}'`, svc.Namespace, svc.Name),
			})
		}
	},
}

var ingressBackendMissing = &Rule{
	ID:       "ingress.backend-missing",
	Severity: finding.Critical,
	Title:    "Ingress points at a missing Service or port",
	Inputs:   Kinds("Ingress", "Service"),
	Doc: "An Ingress rule (or its default backend) names a Service that does not exist in its " +
		"namespace, or a port (number or name) the Service does not have: the controller answers " +
		"503/404 for that path.",
	Check: func(c *Context) {
		m := c.Model
		for _, ing := range m.Ingresses {
			type backend struct {
				path []string
				what string
				name string
				port string // number or name
				num  int32
			}
			var bs []backend
			if d := ing.Spec.DefaultBackend; d != nil && d.Service != nil {
				bs = append(bs, backend{path: []string{"spec", "defaultBackend", "service"}, what: "default backend", name: d.Service.Name, port: d.Service.Port.Name, num: d.Service.Port.Number})
			}
			for ri, r := range ing.Spec.Rules {
				if r.HTTP == nil {
					continue
				}
				for pi, p := range r.HTTP.Paths {
					if p.Backend.Service == nil {
						continue
					}
					what := fmt.Sprintf("rule %s%s", firstNonEmpty(r.Host, "*"), firstNonEmpty(p.Path, "/"))
					bs = append(bs, backend{path: []string{"spec", "rules", itoa(ri), "http", "paths", itoa(pi), "backend", "service"}, what: what,
						name: p.Backend.Service.Name, port: p.Backend.Service.Port.Name, num: p.Backend.Service.Port.Number})
				}
			}
			for _, b := range bs {
				portLabel := b.port
				if b.num != 0 {
					portLabel = strconv.Itoa(int(b.num))
				}
				svc := m.Service(ing.Namespace, b.name)
				var msg string
				ev := []finding.Evidence{m.Evidence(ing.Src, append(b.path, "name")...)}
				switch {
				case svc == nil:
					msg = fmt.Sprintf("Ingress %s/%s %s sends traffic to Service %s, which does not exist in namespace %s: the ingress controller answers 503 for it.", ing.Namespace, ing.Name, b.what, b.name, ing.Namespace)
					if near := similarServices(m, ing.Namespace, b.name); len(near) > 0 {
						msg += " Services there with a similar name: " + strings.Join(near, ", ") + "."
					}
				case !servicePortExists(svc, b.port, b.num):
					msg = fmt.Sprintf("Ingress %s/%s %s sends traffic to port %s of Service %s, which has no such port (it has %s): the ingress controller answers 503 for it.", ing.Namespace, ing.Name, b.what, portLabel, b.name, portsString(svc.Spec.Ports))
					ev = append(ev, m.Evidence(ing.Src, append(b.path, "port")...))
					ev = append(ev, m.EvidenceLines(svc.Src, 6, "spec", "ports")...)
				default:
					continue
				}
				c.Report(finding.Finding{
					Subject:  finding.Subject{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name},
					Key:      b.what + "→" + b.name + ":" + portLabel,
					Message:  msg,
					Evidence: dedupeEvidence(ev),
					Remediation: fmt.Sprintf(`kubectl -n %[1]s get ingress %[2]s -o jsonpath='{range .spec.rules[*].http.paths[*]}{.path}{" -> "}{.backend.service.name}{":"}{.backend.service.port}{"\n"}{end}'
kubectl -n %[1]s get services
# point the backend at the right Service and port:
kubectl -n %[1]s edit ingress %[2]s`, ing.Namespace, ing.Name),
				})
			}
		}
	},
}

func servicePortExists(svc *model.Service, name string, num int32) bool {
	for _, p := range svc.Spec.Ports {
		if (name != "" && p.Name == name) || (num != 0 && p.Port == num) {
			return true
		}
	}
	return false
}

func similarServices(m *model.Model, ns, name string) []string {
	var out []string
	for _, s := range m.Services {
		if s.Namespace == ns && similarity(s.Name, name) >= 0.6 {
			out = append(out, s.Name)
		}
	}
	return out
}

// namespacesMatching returns the namespaces a namespaceSelector matches.
func namespacesMatching(m *model.Model, sel labels.Selector) []string {
	var out []string
	for _, ns := range m.Namespaces {
		l := map[string]string{}
		for k, v := range ns.Labels {
			l[k] = v
		}
		if _, ok := l["kubernetes.io/metadata.name"]; !ok {
			l["kubernetes.io/metadata.name"] = ns.Name
		}
		if sel.Matches(labels.Set(l)) {
			out = append(out, ns.Name)
		}
	}
	return out
}

func selectorText(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "(invalid selector)"
	}
	if sel.Empty() {
		return "{} (everything)"
	}
	return sel.String()
}

var netpolSelectsNothing = &Rule{
	ID:       "netpol.selects-nothing",
	Severity: finding.Warning,
	Title:    "NetworkPolicy selector matches nothing",
	Inputs:   Kinds("NetworkPolicy", "Pod"),
	Doc: "A NetworkPolicy whose podSelector matches no pod protects nothing (often a label typo: " +
		"the pods it was meant for stay open, or stay closed by another policy); a peer " +
		"podSelector or namespaceSelector that matches nothing allows nothing, so the traffic it " +
		"was written for is dropped.",
	Check: func(c *Context) {
		m := c.Model
		_, haveNS := m.Has("Namespace")
		if !haveNS {
			c.Note("%s not in the bundle: namespaceSelectors are not checked", model.KindFile("Namespace"))
		}
		for _, np := range m.NetworkPolicies {
			var problems []string
			var ev []finding.Evidence
			if len(np.Spec.PodSelector.MatchLabels) > 0 || len(np.Spec.PodSelector.MatchExpressions) > 0 {
				sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
				if err == nil && len(m.PodsWithLabels(np.Namespace, sel)) == 0 {
					problems = append(problems, fmt.Sprintf("its podSelector %s matches no pod in namespace %s, so the policy applies to nothing", sel, np.Namespace))
					ev = append(ev, m.EvidenceLines(np.Src, 4, "spec", "podSelector")...)
				}
			}
			checkPeer := func(dir string, ri, pi int, peer peerSel) {
				base := []string{"spec", dir, itoa(ri), peer.field, itoa(pi)}
				var nss []string
				if peer.ns != nil {
					if !haveNS {
						return
					}
					sel, err := metav1.LabelSelectorAsSelector(peer.ns)
					if err != nil {
						return
					}
					nss = namespacesMatching(m, sel)
					if len(nss) == 0 {
						problems = append(problems, fmt.Sprintf("%s rule %d peer %d: namespaceSelector %s matches no namespace", dir, ri+1, pi+1, selectorText(peer.ns)))
						ev = append(ev, m.Evidence(np.Src, append(base, "namespaceSelector")...))
						return
					}
				} else {
					nss = []string{np.Namespace}
				}
				if peer.pod == nil {
					return
				}
				sel, err := metav1.LabelSelectorAsSelector(peer.pod)
				if err != nil {
					return
				}
				for _, ns := range nss {
					if len(m.PodsWithLabels(ns, sel)) > 0 {
						return
					}
				}
				where := "namespace " + np.Namespace
				if peer.ns != nil {
					where = "the namespaces its namespaceSelector matches (" + strings.Join(nss, ", ") + ")"
				}
				problems = append(problems, fmt.Sprintf("%s rule %d peer %d: podSelector %s matches no pod in %s", dir, ri+1, pi+1, selectorText(peer.pod), where))
				ev = append(ev, m.Evidence(np.Src, append(base, "podSelector")...))
			}
			for ri, r := range np.Spec.Ingress {
				for pi, p := range r.From {
					checkPeer("ingress", ri, pi, peerSel{field: "from", pod: p.PodSelector, ns: p.NamespaceSelector})
				}
			}
			for ri, r := range np.Spec.Egress {
				for pi, p := range r.To {
					checkPeer("egress", ri, pi, peerSel{field: "to", pod: p.PodSelector, ns: p.NamespaceSelector})
				}
			}
			if len(problems) == 0 {
				continue
			}
			c.Report(finding.Finding{
				Subject:  finding.Subject{Kind: "NetworkPolicy", Namespace: np.Namespace, Name: np.Name},
				Message:  fmt.Sprintf("NetworkPolicy %s/%s: %s. A selector that matches nothing is usually a label typo.", np.Namespace, np.Name, strings.Join(problems, "; ")),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl -n %[1]s get networkpolicy %[2]s -o yaml
kubectl get pods -A --show-labels | grep -v '^kube-system'
kubectl get namespaces --show-labels
# fix the selector (or the labels) so it matches what the policy was written for:
kubectl -n %[1]s edit networkpolicy %[2]s`, np.Namespace, np.Name),
			})
		}
	},
}

// peerSel is a NetworkPolicy peer's two selectors.
type peerSel struct {
	field   string
	pod, ns *metav1.LabelSelector
}

var netpolNotEnforced = &Rule{
	ID:       "netpol.not-enforced",
	Severity: finding.Warning,
	Title:    "NetworkPolicies exist but the CNI does not enforce them",
	Inputs:   Kinds("NetworkPolicy"),
	Doc: "Plain flannel, the bridge plugin and other CNIs without a policy agent accept " +
		"NetworkPolicy objects and ignore them: the isolation they describe does not exist.",
	Check: func(c *Context) {
		m := c.Model
		if len(m.NetworkPolicies) == 0 {
			return
		}
		d := m.CNI()
		if d.Name == "unknown" {
			c.Note("the CNI could not be detected: enforcement not judged")
			return
		}
		if d.EnforcesNetworkPolicy() || policyAgentRuns(m) {
			return
		}
		var names []string
		var ev []finding.Evidence
		for i, np := range m.NetworkPolicies {
			if i < 5 {
				ev = append(ev, m.Evidence(np.Src, "metadata", "name"))
			}
			names = append(names, np.Namespace+"/"+np.Name)
		}
		if len(names) > 5 {
			names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
		}
		for _, ds := range m.DaemonSets {
			for _, a := range model.CNIAgents {
				if a.CNI == d.Name && strings.HasPrefix(ds.Name, a.Prefix) {
					ev = append(ev, m.Evidence(ds.Src, "metadata", "name"))
				}
			}
		}
		c.Report(finding.Finding{
			Subject:  finding.Subject{Kind: "CNI", Name: d.Name},
			Message:  fmt.Sprintf("%s (%s), but the cluster's CNI is %s (%s), which does not enforce NetworkPolicy: all pod traffic is allowed regardless of them.", existCount(len(m.NetworkPolicies)), strings.Join(names, ", "), d.Name, d.Why[0]),
			Evidence: dedupeEvidence(ev),
			Remediation: `# confirm: no policy agent runs (calico-node/canal, cilium, kube-router --run-firewall, antrea…)
kubectl get ds -A
# enforce them: add a policy engine alongside the CNI (flannel + Calico policy-only = Canal), or migrate the CNI
kubectl get networkpolicies -A`,
		})
	},
}

// policyAgentRuns tells whether a NetworkPolicy engine runs beside a non-enforcing CNI
// (calico in policy-only mode with flannel is canal; kube-router can run its firewall alone).
func policyAgentRuns(m *model.Model) bool {
	for _, ds := range m.DaemonSets {
		for _, p := range []string{"calico-node", "canal", "cilium", "kube-router", "antrea-agent", "weave-net", "kube-network-policies"} {
			if strings.HasPrefix(ds.Name, p) {
				return true
			}
		}
	}
	return false
}

func existCount(n int) string {
	if n == 1 {
		return "1 NetworkPolicy exists"
	}
	return fmt.Sprintf("%d NetworkPolicies exist", n)
}
