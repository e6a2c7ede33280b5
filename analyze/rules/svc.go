package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// selectorServices are the Services the endpoints controller manages: those with a selector
// (ExternalName and selector-less Services have endpoints managed by hand, if at all).
func selectorServices(m *model.Model) []*model.Service {
	var out []*model.Service
	for _, s := range m.Services {
		if len(s.Spec.Selector) > 0 && s.Spec.Type != corev1.ServiceTypeExternalName {
			out = append(out, s)
		}
	}
	return out
}

func readyCount(eps []model.ServiceEndpoint) int {
	n := 0
	for _, e := range eps {
		if e.Ready {
			n++
		}
	}
	return n
}

func portsString(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = portString(p)
	}
	return strings.Join(parts, ", ")
}

var svcNoEndpoints = &Rule{
	ID:       "svc.no-endpoints",
	Severity: finding.Critical,
	Title:    "Service has no ready endpoints",
	Inputs:   Kinds("Service", "Pod"),
	Doc: "A Service with a selector and no ready endpoint gets no traffic through: kube-proxy " +
		"programs a REJECT (iptables) or a virtual server without real servers (IPVS). The cause " +
		"is told apart: selector matches no pod, matched pods not Ready, or targetPort mismatch.",
	Check: func(c *Context) {
		m := c.Model
		sliceFile, haveSlices := m.Has("EndpointSlice")
		endpointsFile, haveEndpoints := m.Has("Endpoints")
		if !haveSlices && !haveEndpoints {
			c.Note("neither %s nor %s is in the bundle: only Services whose selector matches no Ready pod are reported", model.KindFile("EndpointSlice"), model.KindFile("Endpoints"))
		}
		for _, svc := range selectorServices(m) {
			eps, found := m.ServiceEndpoints(svc)
			if readyCount(eps) > 0 {
				continue
			}
			controller := false
			pods := m.SelectPods(svc.Namespace, svc.Spec.Selector)
			var cause string
			switch {
			case len(pods) == 0:
				cause = "its selector " + selectorString(svc.Spec.Selector) + " matches no pod in namespace " + svc.Namespace + " (see svc.selector-mismatch)"
			case countReady(pods) == 0 && svc == dnsService(m):
				cause = fmt.Sprintf("%d cluster DNS pod(s) match its selector but none is Ready (see dns.coredns-down)", len(pods))
			case countReady(pods) == 0:
				cause = fmt.Sprintf("%d pod(s) match its selector but none is Ready (see svc.pods-not-ready)", len(pods))
			case len(targetPortProblems(svc, pods)) > 0:
				cause = fmt.Sprintf("%d Ready pod(s) match, but no container declares its targetPort (see svc.targetport-mismatch)", countReady(pods))
			case !haveSlices && !haveEndpoints:
				continue // the bundle cannot tell what the controllers published
			case !found:
				controller = true
				cause = fmt.Sprintf("%d Ready pod(s) match, yet neither an Endpoints object nor an EndpointSlice exists: the endpoint controllers in kube-controller-manager are not working", countReady(pods))
			default:
				controller = true
				cause = fmt.Sprintf("%d Ready pod(s) match, yet the endpoints list none ready: the endpoint controllers in kube-controller-manager are lagging or failing", countReady(pods))
			}
			ev := m.EvidenceLines(svc.Src, 4, "spec", "selector")
			if len(eps) > 0 {
				ev = append(ev, m.Evidence(eps[0].Src, append(eps[0].Path, "conditions", "ready")...))
			} else if empty := emptyEndpointsEvidence(m, svc); len(empty) > 0 {
				ev = append(ev, empty...)
			} else {
				ev = append(ev, finding.Evidence{File: firstNonEmpty(sliceFile, endpointsFile), Excerpt: fmt.Sprintf("(no EndpointSlice nor Endpoints for %s/%s)", svc.Namespace, svc.Name)})
			}
			fix := ""
			if controller {
				fix = `
# the endpoint controllers run in kube-controller-manager: is it running, and what does it log?
kubectl -n kube-system get pods -l component=kube-controller-manager -o wide
kubectl -n kube-system logs -l component=kube-controller-manager --tail=200 | grep -i endpoint`
			}
			c.Report(finding.Finding{
				Subject: serviceSubject(svc),
				Message: fmt.Sprintf("Service %s/%s (%s, ClusterIP %s) has no ready endpoint: %s. Connections to it are refused or time out.",
					svc.Namespace, svc.Name, portsString(svc.Spec.Ports), svc.Spec.ClusterIP, cause),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# what the endpoint controllers published, and which pods the selector matches
kubectl -n %[1]s get endpointslices -l kubernetes.io/service-name=%[2]s -o wide
kubectl -n %[1]s get pods -l '%[3]s' -o wide`, svc.Namespace, svc.Name, selectorString(svc.Spec.Selector)) + fix,
			})
		}
	},
}

// emptyEndpointsEvidence quotes where a Service's endpoints should be: its EndpointSlices'
// endpoints field, or its Endpoints object.
func emptyEndpointsEvidence(m *model.Model, svc *model.Service) []finding.Evidence {
	var ev []finding.Evidence
	for _, s := range m.SlicesOf(svc.Namespace, svc.Name) {
		ev = append(ev, m.Evidence(s.Src, "endpoints"))
	}
	if e := m.EndpointsOf(svc.Namespace, svc.Name); e != nil && len(ev) == 0 {
		ev = append(ev, m.Evidence(e.Src, "subsets"))
	}
	return ev
}

func countReady(pods []*model.Pod) int {
	n := 0
	for _, p := range pods {
		if ok, _ := podReady(p); ok {
			n++
		}
	}
	return n
}

var svcSelectorMismatch = &Rule{
	ID:       "svc.selector-mismatch",
	Severity: finding.Critical,
	Title:    "Service selector matches no pod",
	Inputs:   Kinds("Service", "Pod"),
	Doc: "The Service's label selector matches no pod in its namespace, so it can never have " +
		"endpoints. The nearest pods — those whose labels differ from the selector by one key " +
		"or value — are named, since that is usually the typo.",
	Check: func(c *Context) {
		m := c.Model
		for _, svc := range selectorServices(m) {
			if len(m.SelectPods(svc.Namespace, svc.Spec.Selector)) > 0 {
				continue
			}
			nearest, diffs := nearestPods(svc.Spec.Selector, m.PodsIn(svc.Namespace))
			ev := m.EvidenceLines(svc.Src, 4, "spec", "selector")
			msg := fmt.Sprintf("Service %s/%s selects pods with %s, and no pod in namespace %s has these labels.",
				svc.Namespace, svc.Name, selectorString(svc.Spec.Selector), svc.Namespace)
			fix := ""
			if len(nearest) > 0 {
				var names []string
				for i, p := range nearest {
					if i == 3 {
						names = append(names, fmt.Sprintf("and %d more", len(nearest)-3))
						break
					}
					names = append(names, p.Name)
					ev = append(ev, m.Evidence(p.Src, "metadata", "labels", diffs[i].key))
				}
				d := diffs[0]
				msg += fmt.Sprintf(" Nearest: %s — %s.", strings.Join(names, ", "), d.describe())
				if d.have != "" {
					fix = fmt.Sprintf("\n# if the pods are right, point the selector at them:\nkubectl -n %s patch service %s --type merge -p '{\"spec\":{\"selector\":{%q:%q}}}'",
						svc.Namespace, svc.Name, d.key, d.have)
				} else {
					fix = fmt.Sprintf("\n# if the pods are right, drop the key from the selector (or add %s=%s to the pod template of their Deployment):\nkubectl -n %s patch service %s --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/selector/%s\"}]'",
						d.key, d.want, svc.Namespace, svc.Name, jsonPointerEscape(d.key))
				}
			} else {
				msg += " No pod there has labels that look like a typo of it" + labelSummary(m.PodsIn(svc.Namespace)) + "."
			}
			c.Report(finding.Finding{
				Subject:  serviceSubject(svc),
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# compare the selector with the labels the pods carry
kubectl -n %[1]s get service %[2]s -o jsonpath='{.spec.selector}'
kubectl -n %[1]s get pods --show-labels`, svc.Namespace, svc.Name) + fix,
			})
		}
	},
}

// labelDiff is how one pod's labels miss a selector by exactly one key.
type labelDiff struct {
	key, want, have string
}

func (d labelDiff) describe() string {
	if d.have == "" {
		return fmt.Sprintf("they lack the label %s=%s", d.key, d.want)
	}
	return fmt.Sprintf("they have %s=%s where the selector wants %s=%s", d.key, d.have, d.key, d.want)
}

// nearestPods returns the pods most likely meant by a selector that matches none: those whose
// labels miss it by exactly one key, where the value they carry looks like the wanted one (a
// typo, a prefix) or the key is simply absent. Pods that merely carry another app's label are
// not "near": for a one-key selector every pod differs by one value.
func nearestPods(sel map[string]string, pods []*model.Pod) ([]*model.Pod, []labelDiff) {
	type group struct {
		diff  labelDiff
		score float64
		pods  []*model.Pod
	}
	groups := map[labelDiff]*group{}
	for _, p := range pods {
		var miss []labelDiff
		for k, want := range sel {
			if have, ok := p.Labels[k]; !ok || have != want {
				miss = append(miss, labelDiff{key: k, want: want, have: have})
			}
		}
		if len(miss) != 1 {
			continue
		}
		d := miss[0]
		score := similarity(d.want, d.have)
		if d.have == "" && len(sel) > 1 {
			score = 0.75 // all other keys match; only this one is absent
		}
		if score < 0.5 {
			continue
		}
		g := groups[d]
		if g == nil {
			g = &group{diff: d, score: score}
			groups[d] = g
		}
		g.pods = append(g.pods, p)
	}
	var best *group
	for _, g := range groups {
		if best == nil || g.score > best.score || g.score == best.score && (len(g.pods) > len(best.pods) ||
			len(g.pods) == len(best.pods) && g.diff.have < best.diff.have) {
			best = g
		}
	}
	if best == nil {
		return nil, nil
	}
	diffs := make([]labelDiff, len(best.pods))
	for i := range diffs {
		diffs[i] = best.diff
	}
	return best.pods, diffs
}

// similarity scores how alike two label values are, from 0 to 1: one containing the other, or a
// small edit distance relative to their length.
func similarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if strings.Contains(la, lb) || strings.Contains(lb, la) {
		return 0.8
	}
	d := levenshtein(la, lb)
	return 1 - float64(d)/float64(max(len(la), len(lb)))
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// labelSummary lists the label sets present among pods, most common first (at most three).
func labelSummary(pods []*model.Pod) string {
	if len(pods) == 0 {
		return " (the namespace has no pods at all)"
	}
	count := map[string]int{}
	for _, p := range pods {
		count[selectorString(p.Labels)]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > 3 {
		keys = keys[:3]
	}
	for i, k := range keys {
		if k == "" {
			k = "(no labels)"
		}
		keys[i] = fmt.Sprintf("%s (%s)", k, nounCount(count[keys[i]], "pod"))
	}
	return "; pods there carry " + strings.Join(keys, ", ")
}

var svcPodsNotReady = &Rule{
	ID:       "svc.pods-not-ready",
	Severity: finding.Critical,
	Title:    "Service's pods are all not Ready",
	Inputs:   Kinds("Service", "Pod"),
	Doc: "The selector matches pods but none is Ready, so none is an endpoint. Each pod's " +
		"reason is given: probe failures, CrashLoopBackOff, Pending.",
	Check: func(c *Context) {
		m := c.Model
		dns := dnsService(m)
		for _, svc := range selectorServices(m) {
			pods := m.SelectPods(svc.Namespace, svc.Spec.Selector)
			if len(pods) == 0 || countReady(pods) > 0 || svc == dns {
				continue // the cluster DNS pods are dns.coredns-down's finding, with their log's cause
			}
			reasons, pev := groupReasons(m, pods, 4)
			ev := append(m.EvidenceLines(svc.Src, 3, "spec", "selector"), pev...)
			p := pods[0]
			c.Report(finding.Finding{
				Subject: serviceSubject(svc),
				Message: fmt.Sprintf("Service %s/%s selects %d pod(s), none Ready, so it has no endpoint. %s.",
					svc.Namespace, svc.Name, len(pods), reasons),
				Evidence:    dedupeEvidence(ev),
				Remediation: notReadyRemediation(p),
			})
		}
	},
}

// portProblem is one Service port whose targetPort no selected container serves.
type portProblem struct {
	index    int
	port     corev1.ServicePort
	severity finding.Severity
	why      string
	pod      *model.Pod
	// container ports quoted as evidence: container index and port index in the pod
	evidence [][]string
	// suggest is the targetPort that would work: a declared port of the Service port's protocol.
	suggest string
	// protocol is set when the port exists with another protocol.
	protocol bool
}

// targetPortProblems checks each Service port against the containers of the selected pods.
func targetPortProblems(svc *model.Service, pods []*model.Pod) []portProblem {
	if len(pods) == 0 {
		return nil
	}
	var out []portProblem
	for i, sp := range svc.Spec.Ports {
		tp := sp.TargetPort
		proto := protocolOf(sp.Protocol)
		var declared [][]string
		var numbers []string
		suggest := ""
		found, protoMismatch := false, ""
		var where *model.Pod
		for _, p := range pods {
			for ci, ctr := range p.Spec.Containers {
				for pi, cp := range ctr.Ports {
					declared = append(declared, []string{"spec", "containers", strconv.Itoa(ci), "ports", strconv.Itoa(pi)})
					numbers = append(numbers, fmt.Sprintf("%s %d/%s", firstNonEmpty(cp.Name, "(unnamed)"), cp.ContainerPort, protocolOf(cp.Protocol)))
					if suggest == "" && protocolOf(cp.Protocol) == proto {
						suggest = firstNonEmpty(cp.Name, strconv.Itoa(int(cp.ContainerPort)))
					}
					var match bool
					if tp.Type == intstr.String {
						match = cp.Name == tp.StrVal
					} else {
						want := tp.IntVal
						if want == 0 {
							want = sp.Port
						}
						match = cp.ContainerPort == want
					}
					if !match {
						continue
					}
					if protocolOf(cp.Protocol) == proto {
						found = true
					} else {
						protoMismatch = string(protocolOf(cp.Protocol))
					}
				}
			}
			if where == nil {
				where = p
			}
			if found {
				break
			}
		}
		if found {
			continue
		}
		target := tp.String()
		if tp.Type != intstr.String && tp.IntVal == 0 {
			target = strconv.Itoa(int(sp.Port))
		}
		pr := portProblem{index: i, port: sp, pod: where, evidence: declared, suggest: suggest}
		switch {
		case protoMismatch != "":
			pr.severity = finding.Warning
			pr.protocol = true
			pr.why = fmt.Sprintf("targetPort %s is declared with protocol %s, the Service port uses %s", target, protoMismatch, proto)
		case tp.Type == intstr.String:
			pr.severity = finding.Critical
			pr.why = fmt.Sprintf("targetPort %q names a port no selected container declares (they declare: %s)", tp.StrVal, listOrNone(dedupe(numbers)))
		case len(declared) > 0:
			pr.severity = finding.Warning
			pr.why = fmt.Sprintf("targetPort %s is not among the ports the selected containers declare (%s); traffic goes to a port nothing may listen on", target, strings.Join(dedupe(numbers), ", "))
		default:
			continue // containers declare no ports at all: nothing to compare against
		}
		out = append(out, pr)
	}
	return out
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "no ports"
	}
	return strings.Join(s, ", ")
}

var svcTargetPortMismatch = &Rule{
	ID:       "svc.targetport-mismatch",
	Severity: finding.Critical,
	Title:    "Service targetPort matches no container port",
	Inputs:   Kinds("Service", "Pod"),
	Doc: "A named targetPort that no selected container declares gives endpoints without that " +
		"port (no traffic); a numeric one that differs from every declared port, or a protocol " +
		"mismatch, sends traffic where nothing listens.",
	Check: func(c *Context) {
		m := c.Model
		for _, svc := range selectorServices(m) {
			pods := m.SelectPods(svc.Namespace, svc.Spec.Selector)
			for _, pr := range targetPortProblems(svc, pods) {
				ev := []finding.Evidence{m.Evidence(svc.Src, "spec", "ports", strconv.Itoa(pr.index), "targetPort")}
				if ev[0].Excerpt == "" || !strings.Contains(ev[0].Excerpt, "targetPort") {
					ev = []finding.Evidence{m.Evidence(svc.Src, "spec", "ports", strconv.Itoa(pr.index))}
				}
				if pr.protocol {
					ev = append(ev, m.Evidence(svc.Src, "spec", "ports", strconv.Itoa(pr.index), "protocol"))
				}
				for i, path := range pr.evidence {
					if i == 4 {
						break
					}
					if pr.protocol {
						ev = append(ev, m.Evidence(pr.pod.Src, append(path, "protocol")...))
					}
					ev = append(ev, m.Evidence(pr.pod.Src, append(path, "containerPort")...))
					if name := m.Evidence(pr.pod.Src, append(path, "name")...); strings.HasPrefix(name.Excerpt, "name:") {
						ev = append(ev, name)
					}
				}
				fix := fmt.Sprintf("# then set targetPort to the container port's name or number:\nkubectl -n %s edit service %s", svc.Namespace, svc.Name)
				if pr.protocol {
					fix = fmt.Sprintf("# make the protocols agree: the Service port's protocol, or the container's declared port (if the app really serves both, declare both)\nkubectl -n %s edit service %s", svc.Namespace, svc.Name)
				} else if pr.suggest != "" {
					value := strconv.Quote(pr.suggest)
					if _, err := strconv.Atoi(pr.suggest); err == nil {
						value = pr.suggest
					}
					fix = fmt.Sprintf("# point targetPort at the port the containers declare (%s):\nkubectl -n %s patch service %s --type json -p '[{\"op\":\"replace\",\"path\":\"/spec/ports/%d/targetPort\",\"value\":%s}]'",
						pr.suggest, svc.Namespace, svc.Name, pr.index, value)
				}
				c.Report(finding.Finding{
					Severity: pr.severity,
					Subject:  serviceSubject(svc),
					Key:      fmt.Sprintf("%s/%d", protocolOf(pr.port.Protocol), pr.port.Port),
					Message:  fmt.Sprintf("Service %s/%s port %s: %s (checked against pod %s).", svc.Namespace, svc.Name, portString(pr.port), pr.why, pr.pod.Name),
					Evidence: dedupeEvidence(ev),
					Remediation: fmt.Sprintf(`# the ports the pods declare, and the Service's targetPort
kubectl -n %[1]s get pod %[2]s -o jsonpath='{range .spec.containers[*]}{.name}{": "}{.ports}{"\n"}{end}'
kubectl -n %[1]s get service %[3]s -o jsonpath='{.spec.ports}'
%[4]s`, svc.Namespace, pr.pod.Name, svc.Name, fix),
				})
			}
		}
	},
}

func dedupeEvidence(ev []finding.Evidence) []finding.Evidence {
	seen := map[string]bool{}
	var out []finding.Evidence
	for _, e := range ev {
		k := e.Location()
		if e.File == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}

// jsonPointerEscape escapes a map key for a JSON Patch path (RFC 6901): label keys hold "/".
func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// nounCount renders "1 pod", "3 pods".
func nounCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// notReadyRemediation gives the commands that show why a pod is not Ready, by its state: a pod
// that never started has no logs, a crash-looping one has them in --previous.
func notReadyRemediation(p *model.Pod) string {
	cmds := fmt.Sprintf("# why the pod is not Ready\nkubectl -n %[1]s describe pod %[2]s\nkubectl -n %[1]s get events --field-selector involvedObject.name=%[2]s", p.Namespace, p.Name)
	switch {
	case p.Spec.NodeName == "" || p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) == 0:
		return cmds + "\n# not scheduled: compare its requests, nodeSelector and tolerations with what the nodes offer\nkubectl describe nodes | grep -A 8 'Allocated resources'\nkubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints"
	case failingContainer(p) != "" && podRestarted(p):
		return cmds + fmt.Sprintf("\n# the crashed run's log:\nkubectl -n %s logs %s -c %s --previous", p.Namespace, p.Name, failingContainer(p))
	default:
		return cmds + fmt.Sprintf("\n# running but not Ready: the readiness probe, and the app's log\nkubectl -n %[1]s get pod %[2]s -o jsonpath='{range .spec.containers[*]}{.name}{\": \"}{.readinessProbe}{\"\\n\"}{end}'\nkubectl -n %[1]s logs %[2]s --all-containers --tail=100", p.Namespace, p.Name)
	}
}

func podRestarted(p *model.Pod) bool {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.RestartCount > 0 || cs.State.Terminated != nil {
			return true
		}
	}
	return false
}
