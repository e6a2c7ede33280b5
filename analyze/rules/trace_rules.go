package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
)

// traceRules are the rules that trace packets through the captured dataplane; registry.go lists it.
var traceRules = []*Rule{
	dnsPathBroken,
}

var dnsPathBroken = &Rule{
	ID:       "dns.path-broken",
	Severity: finding.Critical,
	Title:    "DNS queries from a node's pods do not reach the cluster DNS",
	Inputs:   append(Kinds("Service", "Pod"), Input{NodeFile: model.CapIPTables}),
	Doc: "From one pod on every node (or an address of the node's pod network when it runs none), " +
		"traces UDP and TCP 53 to the kube-dns ClusterIP through the captured dataplane: the node's " +
		"netfilter rules, routing, the DNS pod's node, NetworkPolicies. Reports each node where a " +
		"query dies, with the rule, route or sysctl line that kills it.",
	Check: func(c *Context) {
		m := c.Model
		svc := dnsService(m)
		if svc == nil {
			c.Note("no cluster DNS Service (kube-system/kube-dns) in the bundle: nothing to trace")
			return
		}
		var protos []string
		for _, sp := range svc.Spec.Ports {
			if sp.Port == 53 {
				protos = append(protos, strings.ToLower(string(protoOrTCP(sp.Protocol))))
			}
		}
		sort.Strings(protos)
		protos = sortUDPFirst(protos)
		if len(protos) == 0 {
			c.Note("Service %s/%s has no port 53: nothing to trace", svc.Namespace, svc.Name)
			return
		}
		pol := trace.DefaultPolicy(m)
		to := fmt.Sprintf("svc/%s/%s:53", svc.Namespace, svc.Name)
		for _, node := range m.NodeNames() {
			nd := m.NodeData(node)
			if nd.IPTables == nil && nd.IPTablesLegacy == nil && nd.IPTablesNFT == nil {
				c.NodeLacks(nd, model.CapIPTables)
				continue
			}
			from, ok := dnsClient(m, node)
			if !ok {
				c.Note("node %s not checked: it runs no pod and has no podCIDR to send from", node)
				continue
			}
			var failed []*trace.Result
			for _, proto := range protos {
				r := trace.Trace(m, trace.Request{From: from, To: to, Protocol: proto, Node: node, Policy: pol})
				if proto == protos[0] || r.Verdict != trace.Delivered {
					c.RecordTrace(r)
				}
				switch {
				case r.Error != "":
					c.Note("node %s: cannot trace %s 53 from %s: %s", node, strings.ToUpper(proto), from, r.Error)
				case r.Verdict == trace.Delivered:
				case !anyFailed(r):
					where := ""
					if r.FailedAt != nil {
						where = " at " + hopText(*r.FailedAt)
					}
					// The source pod is in the recorded trace; left out here so that the same
					// gap seen from many nodes folds into one line of the report.
					c.Note("node %s: the %s 53 trace from a pod there is inconclusive%s", node, strings.ToUpper(proto), where)
				default:
					failed = append(failed, r)
				}
			}
			if len(failed) > 0 {
				c.Report(dnsPathFinding(node, from, svc, failed))
			}
		}
	},
}

func protoOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func sortUDPFirst(p []string) []string {
	sort.SliceStable(p, func(i, j int) bool { return p[i] == "udp" && p[j] != "udp" })
	return p
}

func anyFailed(r *trace.Result) bool {
	for _, c := range r.Candidates {
		if c.Verdict.Failed() {
			return true
		}
	}
	return r.Verdict.Failed()
}

// dnsClient picks the source of a node's DNS trace: its first running pod on the pod network
// (not a DNS pod, when there is another), else an address of its podCIDR.
func dnsClient(m *model.Model, node string) (string, bool) {
	var pods []*model.Pod
	for _, p := range m.PodsOn(node) {
		if !p.Spec.HostNetwork && p.Status.Phase == corev1.PodRunning && len(model.PodIPs(p)) > 0 {
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		di, dj := pods[i].Labels["k8s-app"] == "kube-dns", pods[j].Labels["k8s-app"] == "kube-dns"
		if di != dj {
			return !di
		}
		return model.Key(pods[i].Namespace, pods[i].Name) < model.Key(pods[j].Namespace, pods[j].Name)
	})
	if len(pods) > 0 {
		return model.Key(pods[0].Namespace, pods[0].Name), true
	}
	if n := m.Node(node); n != nil {
		for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
			if pf, err := netip.ParsePrefix(c); err == nil && pf.Addr().Is4() && pf.Bits() <= 30 {
				// .2: the bridge usually holds .1; any address of the range stands for a pod.
				return pf.Masked().Addr().Next().Next().String(), true
			}
		}
	}
	return "", false
}

// verdictWords says a trace's verdict as the finding's sentence needs it ("TCP 53 is …").
func verdictWords(v trace.Verdict) string {
	switch v {
	case trace.NoRoute:
		return "unroutable"
	case trace.Unknown:
		return "of unknown fate"
	}
	return string(v)
}

func hopText(h trace.Hop) string {
	s := h.Node + " " + h.Stage + " " + h.Verdict
	if h.Rule != nil {
		s += " (" + h.Rule.Location() + ")"
	}
	if h.Note != "" {
		s += ": " + h.Note
	}
	return s
}

func dnsPathFinding(node, from string, svc *model.Service, failed []*trace.Result) finding.Finding {
	var parts []string
	var ev []finding.Evidence
	seen := map[string]bool{}
	addEv := func(h *trace.Hop) {
		if h == nil || h.Rule == nil {
			return
		}
		k := h.Rule.Location()
		if seen[k] {
			return
		}
		seen[k] = true
		ev = append(ev, finding.Evidence{File: h.Rule.File, Line: h.Rule.Line, Excerpt: h.Rule.Text})
	}
	// UDP and TCP usually die at the same hop: say it once.
	var order []string
	protos := map[string][]string{}
	for _, r := range failed {
		what := fmt.Sprintf("%s 53", verdictWords(r.Verdict))
		if fs := r.Failing(); len(r.Candidates) > 0 && len(fs) < len(r.Candidates) {
			var d []string
			for _, f := range fs {
				d = append(d, f.Destination)
			}
			what = fmt.Sprintf("%s for %d of %d DNS endpoints (%s)", verdictWords(r.Verdict), len(fs), len(r.Candidates), strings.Join(d, ", "))
		}
		if r.FailedAt != nil {
			what += " at " + hopText(*r.FailedAt)
		}
		if _, ok := protos[what]; !ok {
			order = append(order, what)
		}
		protos[what] = append(protos[what], strings.ToUpper(r.Protocol))
		addEv(r.FailedAt)
		for _, c := range r.Failing() {
			addEv(c.FailedAt)
		}
	}
	for _, what := range order {
		verb := "is"
		if len(protos[what]) > 1 {
			verb = "are"
		}
		parts = append(parts, strings.Join(protos[what], " and ")+" 53 "+verb+" "+strings.Replace(what, " 53", "", 1))
	}
	if len(ev) == 0 {
		ev = append(ev, finding.Evidence{File: model.KindFile("Service"), Excerpt: "(see the trace)"})
	}
	return finding.Finding{
		Subject: finding.Subject{Kind: "Node", Name: node, Node: node},
		Message: fmt.Sprintf("DNS from %s on node %s to %s/%s (%s) does not get through: %s.",
			from, node, svc.Namespace, svc.Name, svc.Spec.ClusterIP, strings.Join(parts, "; ")),
		Evidence: ev,
		Remediation: fmt.Sprintf(`# follow the packet hop by hop:
netsift trace BUNDLE --from %s --to svc/%s/%s:53 --proto udp
# confirm with a real query:
%s`, from, svc.Namespace, svc.Name, execHint(from, node, svc.Spec.ClusterIP)),
	}
}

func execHint(from, node, ip string) string {
	if ns, pod, ok := strings.Cut(from, "/"); ok {
		return fmt.Sprintf("kubectl -n %s exec %s -- nslookup kubernetes.default %s", ns, pod, ip)
	}
	return fmt.Sprintf("# from a pod on %s:\nkubectl run dns-probe --rm -it --restart=Never --image=busybox --overrides='{\"spec\":{\"nodeName\":\"%s\"}}' -- nslookup kubernetes.default %s", node, node, ip)
}
