package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/trace"
)

// forbiddenRE reads the API server's RBAC denial as clients log it.
var forbiddenRE = regexp.MustCompile(`forbidden: User "system:serviceaccount:([^:"]+):([^"]+)" cannot ([a-z]+) resource "([^"]+)" in API group "([^"]*)"(?: (at the cluster scope|in the namespace "([^"]+)"))?`)

// permission is one request the API server denied.
type permission struct {
	verb, resource, group, namespace string // namespace "" = cluster scope
}

func (p permission) String() string {
	r := p.resource
	if p.group != "" {
		r += "." + p.group
	}
	scope := "cluster-wide"
	if p.namespace != "" {
		scope = "in namespace " + p.namespace
	}
	return fmt.Sprintf("%s %s (%s)", p.verb, r, scope)
}

// ruleGrants tells whether an RBAC rule allows a request (resourceNames narrow a rule, so a rule
// with them does not grant list/watch on the whole resource).
func ruleGrants(r rbacv1.PolicyRule, p permission) bool {
	has := func(list []string, v string) bool {
		for _, x := range list {
			if x == v || x == rbacv1.ResourceAll {
				return true
			}
		}
		return false
	}
	return has(r.Verbs, p.verb) && has(r.APIGroups, p.group) && has(r.Resources, p.resource) && len(r.ResourceNames) == 0
}

// saBinding is one binding of a ServiceAccount, and what the bundle knows of its role.
type saBinding struct {
	kind, namespace, name string // ClusterRoleBinding or RoleBinding
	roleRef               rbacv1.RoleRef
	rules                 []rbacv1.PolicyRule
	roleFound             bool
	src                   model.Source
	roleSrc               model.Source
}

func (b saBinding) String() string {
	n := b.kind + " " + b.name
	if b.namespace != "" {
		n = b.kind + " " + b.namespace + "/" + b.name
	}
	return fmt.Sprintf("%s → %s %s", n, b.roleRef.Kind, b.roleRef.Name)
}

func hasSASubject(subjects []rbacv1.Subject, ns, sa string) bool {
	for _, s := range subjects {
		if s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns {
			return true
		}
		if s.Kind == rbacv1.GroupKind && (s.Name == "system:serviceaccounts" || s.Name == "system:serviceaccounts:"+ns || s.Name == "system:authenticated") {
			return true
		}
	}
	return false
}

// bindingsOf returns every binding whose subjects include the ServiceAccount, with its role's rules.
func bindingsOf(m *model.Model, ns, sa string) []saBinding {
	clusterRole := func(name string) (*model.ClusterRole, bool) {
		for _, r := range m.ClusterRoles {
			if r.Name == name {
				return r, true
			}
		}
		return nil, false
	}
	role := func(ns, name string) (*model.Role, bool) {
		for _, r := range m.Roles {
			if r.Namespace == ns && r.Name == name {
				return r, true
			}
		}
		return nil, false
	}
	resolve := func(b *saBinding) {
		switch b.roleRef.Kind {
		case "ClusterRole":
			if r, ok := clusterRole(b.roleRef.Name); ok {
				b.rules, b.roleFound, b.roleSrc = r.Rules, true, r.Src
			}
		case "Role":
			if r, ok := role(b.namespace, b.roleRef.Name); ok {
				b.rules, b.roleFound, b.roleSrc = r.Rules, true, r.Src
			}
		}
	}
	var out []saBinding
	for _, crb := range m.ClusterRoleBindings {
		if hasSASubject(crb.Subjects, ns, sa) {
			b := saBinding{kind: "ClusterRoleBinding", name: crb.Name, roleRef: crb.RoleRef, src: crb.Src}
			resolve(&b)
			out = append(out, b)
		}
	}
	for _, rb := range m.RoleBindings {
		if hasSASubject(rb.Subjects, ns, sa) {
			b := saBinding{kind: "RoleBinding", namespace: rb.Namespace, name: rb.Name, roleRef: rb.RoleRef, src: rb.Src}
			resolve(&b)
			out = append(out, b)
		}
	}
	return out
}

// allowedBy returns the binding that grants p, if any (a RoleBinding only in its namespace).
func allowedBy(bs []saBinding, p permission) (saBinding, bool) {
	for _, b := range bs {
		if b.kind == "RoleBinding" && b.namespace != p.namespace {
			continue
		}
		for _, r := range b.rules {
			if ruleGrants(r, p) {
				return b, true
			}
		}
	}
	return saBinding{}, false
}

var apiRBACForbidden = &Rule{
	ID:       "api.rbac-forbidden",
	Severity: finding.Critical,
	Title:    "A component is forbidden by RBAC",
	Inputs:   Kinds("ClusterRoleBinding", "ClusterRole"),
	Doc: "A pod's log holds the API server's denial `forbidden: User \"system:serviceaccount:NS:SA\" " +
		"cannot VERB resource \"R\"`. The bundle's ServiceAccounts, (Cluster)Roles and " +
		"(Cluster)RoleBindings are evaluated to say which binding is missing, and the ClusterRole " +
		"and binding that grant exactly what was denied are printed.",
	Check: func(c *Context) {
		m := c.Model
		_, haveCRB := m.Has("ClusterRoleBinding")
		_, haveCR := m.Has("ClusterRole")
		rbacKnown := haveCRB && haveCR
		if !rbacKnown {
			c.Note("%s or %s not in the bundle: denials are reported without naming the missing binding", model.KindFile("ClusterRole"), model.KindFile("ClusterRoleBinding"))
		}
		for _, r := range m.ClusterRoles {
			if r.AggregationRule != nil && len(r.Rules) == 0 {
				c.Note("ClusterRole %s aggregates others and the bundle holds no rules for it: what it grants is not evaluated", r.Name)
			}
		}
		type account struct{ ns, sa string }
		type denial struct {
			perms    []permission
			seen     map[permission]bool
			evidence []finding.Evidence
			logs     map[string]bool
			node     string
			// recovered: every denial was followed by the component's caches filling (an API
			// server restart: its authorizer denies for a moment after it starts)
			recovered bool
		}
		denials := map[account]*denial{}
		var order []account
		for _, l := range allPodLogs(m.Bundle) {
			synced := lastCacheSync(l.File)
			for n := 1; n <= l.File.Lines(); n++ {
				line := l.File.Line(n)
				if !strings.Contains(line, "forbidden") {
					continue
				}
				mm := forbiddenRE.FindStringSubmatch(unescapeLog(line))
				if mm == nil {
					continue
				}
				a := account{mm[1], mm[2]}
				d := denials[a]
				if d == nil {
					d = &denial{seen: map[permission]bool{}, logs: map[string]bool{}, recovered: true}
					denials[a] = d
					order = append(order, a)
				}
				d.recovered = d.recovered && n < synced
				p := permission{verb: mm[3], resource: mm[4], group: mm[5], namespace: mm[7]}
				if !d.seen[p] {
					d.seen[p] = true
					d.perms = append(d.perms, p)
					if len(d.evidence) < 4 {
						d.evidence = append(d.evidence, l.File.Evidence(n))
					}
				}
				if !d.logs[l.Pod] {
					d.logs[l.Pod] = true
					if d.node == "" {
						d.node = l.subject(m).Node
					}
				}
			}
		}
		for _, a := range order {
			d := denials[a]
			var pods []string
			for p := range d.logs {
				pods = append(pods, p)
			}
			sort.Strings(pods)
			var permStrs []string
			for _, p := range d.perms {
				permStrs = append(permStrs, p.String())
			}
			msg := fmt.Sprintf("ServiceAccount %s/%s (used by %s) is denied by the API server: %s. The component cannot read or watch what it needs and works on stale or no data.",
				a.ns, a.sa, strings.Join(pods, ", "), strings.Join(permStrs, "; "))
			ev := d.evidence
			sev := finding.Severity("")
			roleName := fmt.Sprintf("%s-%s", a.sa, d.perms[0].resource)
			if rbacKnown {
				bs := bindingsOf(m, a.ns, a.sa)
				var missingRole *saBinding
				for i := range bs {
					if !bs[i].roleFound && missingRole == nil && bs[i].roleRef.Kind == "ClusterRole" {
						missingRole = &bs[i]
					}
				}
				var denied []permission
				for _, p := range d.perms {
					if b, ok := allowedBy(bs, p); ok {
						ev = append(ev, m.Evidence(b.src, "metadata", "name"))
						msg += fmt.Sprintf(" The bundle's RBAC now grants %s through %s: the denial predates a fix, or the log is from an old pod.", p, b)
						continue
					}
					denied = append(denied, p)
				}
				switch {
				case len(denied) == 0 && d.recovered:
					c.Note("ServiceAccount %s/%s (used by %s) was denied %s for a moment and recovered (its caches were filled after, and RBAC grants it): an API server restart, not a fault", a.ns, a.sa, strings.Join(pods, ", "), strings.Join(permStrs, "; "))
					continue
				case len(denied) == 0:
					sev = finding.Info
				case len(bs) == 0:
					msg += fmt.Sprintf(" No ClusterRoleBinding or RoleBinding in the bundle names this ServiceAccount: it is bound to nothing.")
				case missingRole != nil:
					msg += fmt.Sprintf(" It is bound by %s, but ClusterRole %s does not exist in the bundle: the binding grants nothing.", *missingRole, missingRole.roleRef.Name)
					ev = append(ev, m.Evidence(missingRole.src, "roleRef", "name"))
					if f, ok := m.Has("ClusterRole"); ok {
						ev = append(ev, finding.Evidence{File: f, Excerpt: "(no ClusterRole " + missingRole.roleRef.Name + ")"})
					}
					roleName = missingRole.roleRef.Name
				default:
					var names []string
					for _, b := range bs {
						names = append(names, b.String())
						if len(ev) < 7 {
							ev = append(ev, m.Evidence(b.src, "roleRef", "name"))
						}
					}
					msg += fmt.Sprintf(" Its bindings (%s) grant none of the denied requests.", strings.Join(names, "; "))
				}
				if len(denied) > 0 {
					d.perms = denied
				}
				if !c2SAExists(m, a.ns, a.sa) {
					if f, ok := m.Has("ServiceAccount"); ok {
						msg += fmt.Sprintf(" (ServiceAccount %s/%s itself is absent from the bundle.)", a.ns, a.sa)
						ev = append(ev, finding.Evidence{File: f, Excerpt: fmt.Sprintf("(no ServiceAccount %s/%s)", a.ns, a.sa)})
					}
				}
			}
			c.Report(finding.Finding{
				Severity:    sev,
				Subject:     finding.Subject{Kind: "ServiceAccount", Namespace: a.ns, Name: a.sa, Node: d.node},
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: rbacRemediation(a.ns, a.sa, roleName, d.perms, pods[0]),
			})
		}
	},
}

func c2SAExists(m *model.Model, ns, name string) bool {
	for _, sa := range m.ServiceAccounts {
		if sa.Namespace == ns && sa.Name == name {
			return true
		}
	}
	return false
}

// rbacRemediation prints the check and the kubectl commands that grant exactly the denied
// verbs on the denied resources (one ClusterRole, bound cluster-wide or per namespace).
func rbacRemediation(ns, sa, role string, perms []permission, pod string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# confirm: what the ServiceAccount may do\n")
	for _, p := range perms {
		r := p.resource
		if p.group != "" {
			r += "." + p.group
		}
		scope := "-A"
		if p.namespace != "" {
			scope = "-n " + p.namespace
		}
		fmt.Fprintf(&b, "kubectl auth can-i %s %s %s --as=system:serviceaccount:%s:%s\n", p.verb, r, scope, ns, sa)
	}
	var verbs, resources []string
	namespaces := map[string]bool{}
	clusterScope := false
	for _, p := range perms {
		verbs = append(verbs, p.verb)
		r := p.resource
		if p.group != "" {
			r += "." + p.group
		}
		resources = append(resources, r)
		if p.namespace == "" {
			clusterScope = true
		} else {
			namespaces[p.namespace] = true
		}
	}
	verbs, resources = dedupe(verbs), dedupe(resources)
	sort.Strings(verbs)
	sort.Strings(resources)
	fmt.Fprintf(&b, "# grant what was denied (each verb on each resource listed):\n")
	fmt.Fprintf(&b, "kubectl create clusterrole %s --verb=%s --resource=%s\n", role, strings.Join(verbs, ","), strings.Join(resources, ","))
	if clusterScope {
		fmt.Fprintf(&b, "kubectl create clusterrolebinding %s --clusterrole=%s --serviceaccount=%s:%s\n", role, role, ns, sa)
	}
	var nss []string
	for n := range namespaces {
		nss = append(nss, n)
	}
	sort.Strings(nss)
	for _, n := range nss {
		if !clusterScope {
			fmt.Fprintf(&b, "kubectl -n %s create rolebinding %s --clusterrole=%s --serviceaccount=%s:%s\n", n, role, role, ns, sa)
		}
	}
	fmt.Fprintf(&b, "# the component retries on its own; to be sure, recreate its pod:\nkubectl -n %s delete pod %s", ns, pod)
	return b.String()
}

// dialRE reads a client's failed connection: dial tcp IP:PORT: <why>.
var dialRE = regexp.MustCompile(`dial tcp \[?([0-9a-fA-F.:]+?)\]?:(\d+): (?:connect: )?(i/o timeout|no route to host|connection refused|network is unreachable)`)

var apiUnreachable = &Rule{
	ID:       "api.unreachable",
	Severity: finding.Critical,
	Title:    "A component cannot reach the API server",
	Inputs:   Kinds("Service"),
	Doc: "A pod's log shows `dial tcp <kubernetes ClusterIP>:443` (or an API server endpoint) " +
		"failing with i/o timeout, no route to host or connection refused: the path from its " +
		"node to the API server through the kubernetes Service is broken there.",
	Check: func(c *Context) {
		m := c.Model
		targets := map[string]string{} // ip:port → what it is
		var svcEv []finding.Evidence
		if svc := m.Service("default", "kubernetes"); svc != nil {
			for _, ip := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
				for _, p := range svc.Spec.Ports {
					targets[fmt.Sprintf("%s:%d", ip, p.Port)] = "the kubernetes Service ClusterIP"
				}
			}
			svcEv = append(svcEv, m.Evidence(svc.Src, "spec", "clusterIP"))
			eps, _ := m.ServiceEndpoints(svc)
			for _, e := range eps {
				for _, p := range e.Ports {
					if p.Port != nil {
						targets[fmt.Sprintf("%s:%d", e.IP, *p.Port)] = "an API server endpoint"
					}
				}
			}
		}
		for ip := range apiserverAddresses(m) {
			if _, ok := targets[ip+":6443"]; !ok {
				targets[ip+":6443"] = "an API server endpoint"
			}
		}
		if len(targets) == 0 {
			c.Note("no kubernetes Service nor API server address in the bundle: nothing to match dial errors against")
			return
		}
		type hit struct {
			log     podLog
			reasons map[string]bool
			target  string
			ev      []finding.Evidence
		}
		byPod := map[string]*hit{}
		var order []string
		for _, l := range allPodLogs(m.Bundle) {
			for n := 1; n <= l.File.Lines(); n++ {
				line := l.File.Line(n)
				if !strings.Contains(line, "dial tcp") {
					continue
				}
				mm := dialRE.FindStringSubmatch(line)
				if mm == nil {
					continue
				}
				target := mm[1] + ":" + mm[2]
				what, ok := targets[target]
				if !ok {
					continue
				}
				k := l.Namespace + "/" + l.Pod
				h := byPod[k]
				if h == nil {
					h = &hit{log: l, reasons: map[string]bool{}, target: target + " (" + what + ")"}
					byPod[k] = h
					order = append(order, k)
				}
				h.reasons[mm[3]] = true
				h.ev = append(h.ev, l.File.Evidence(n))
			}
		}
		for _, k := range order {
			h := byPod[k]
			subj := h.log.subject(m)
			ev := h.ev
			if len(ev) > 3 {
				ev = ev[len(ev)-3:]
			}
			ev = append(ev, svcEv...)
			var reasons []string
			for r := range h.reasons {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			where := "its node"
			if subj.Node != "" {
				where = "node " + subj.Node
			}
			msg := fmt.Sprintf("Pod %s on %s cannot reach the API server: its connections to %s fail with %s. %s",
				k, firstNonEmpty(subj.Node, "(unknown node)"), h.target, strings.Join(reasons, ", "), dialMeaning(reasons, where))
			// Follow the pod's packet through the captured dataplane: where the path dies is the
			// failing point the log line only hints at.
			if m.Service("default", "kubernetes") != nil && subj.Kind == "Pod" {
				r := trace.Trace(m, trace.Request{From: k, To: "svc/default/kubernetes:443", Protocol: "tcp", Policy: trace.DefaultPolicy(m)})
				switch {
				case r.Error != "":
				case anyFailed(r) && r.FailedAt != nil:
					c.RecordTrace(r)
					msg += " Traced through the bundle's dataplane, the packet dies at " + hopText(*r.FailedAt) + "."
					if rr := r.FailedAt.Rule; rr != nil && rr.Line > 0 {
						ev = append(ev, finding.Evidence{File: rr.File, Line: rr.Line, Excerpt: strings.TrimSpace(rr.Text)})
					}
				case r.Verdict == trace.Delivered:
					c.RecordTrace(r)
					msg += " The bundle's dataplane delivers that path now: the failure was transient, or lies beyond the node (the API server itself, the network between nodes)."
				}
			}
			node := firstNonEmpty(subj.Node, "<node>")
			c.Report(finding.Finding{
				Subject:  subj,
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# from the node the pod runs on (%[1]s): does the Service path to the API server work?
kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes -o wide
netsift trace BUNDLE --from %[2]s --to svc/default/kubernetes:443
# on %[1]s: kube-proxy's rules for the ClusterIP, and a direct try
iptables-save -t nat | grep -F 'default/kubernetes'
curl -sk --max-time 5 https://%[3]s/healthz; echo`, node, k, strings.SplitN(h.target, " ", 2)[0]),
			})
		}
	},
}

// dialMeaning says what each dial error means on the path to a ClusterIP.
func dialMeaning(reasons []string, where string) string {
	var out []string
	for _, r := range reasons {
		switch r {
		case "i/o timeout":
			out = append(out, "A timeout means packets are dropped silently: kube-proxy has not programmed the ClusterIP on "+where+", a FORWARD/INPUT DROP, or no route between the node and the API server.")
		case "no route to host", "network is unreachable":
			out = append(out, "\"No route to host\" is an ICMP reject: the Service has no endpoints (kube-proxy REJECTs it) or the node has no route to the API server.")
		case "connection refused":
			out = append(out, "\"Connection refused\" means the address answered but nothing listens: the endpoint points at a host where the API server is not running.")
		}
	}
	return strings.Join(dedupe(out), " ")
}
