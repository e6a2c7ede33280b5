package rules

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/parsers/loglines"
)

// proxyLogErrors are the log lines of kube-proxy that mean its rules are not being kept in
// sync, lower case. dataplane marks the ones that mean a sync itself failed (the node's rules
// are out of date), as opposed to trouble reaching the API server.
var proxyLogErrors = []struct {
	needle    string
	dataplane bool
}{
	{"failed to execute iptables-restore", true},
	{"iptables-restore: line", true},
	{"iptables-restore failed", true},
	{"failed to sync", true},
	{"sync failed", true},
	{"can't use the ipvs proxier", true},
	{"failed to ensure", true},
	{"failed to list *v1.", false},
	{"failed to watch *v1.", false},
	{"forbidden", false},
	{"connection refused", false},
}

// proxyLogNoise are lines that match a needle yet are no fault: kubeadm's default config makes
// every kube-proxy log this at start.
var proxyLogNoise = []string{"kube-proxy configuration may be incomplete or incorrect", "nodeportaddresses is unset"}

var kubeProxyLogErrors = &Rule{
	ID:       "kube-proxy.log-errors",
	Severity: finding.Warning,
	Title:    "kube-proxy logged sync failures",
	Inputs:   Kinds("Pod"),
	Doc: "kube-proxy logs why it could not write the Service rules: iptables-restore failures " +
		"(with the failing line), an IPVS proxier it cannot use, or API errors (list/watch " +
		"failures, forbidden, connection refused) that keep it from learning Service changes. " +
		"The last lines are quoted; kubeadm's harmless nodePortAddresses notice is ignored, and " +
		"API errors followed by \"Caches populated\" (a blip, e.g. an API server restart) are " +
		"noted, not reported.",
	Check: func(c *Context) {
		m := c.Model
		byPod := map[string][]*bundle.File{}
		for _, f := range m.Bundle.Dir("logs/kube-system") {
			pod := path.Base(path.Dir(f.Path))
			if strings.HasPrefix(pod, "kube-proxy") && strings.HasSuffix(f.Path, ".log") {
				byPod[pod] = append(byPod[pod], f)
			}
		}
		if len(byPod) == 0 {
			c.Note("no kube-proxy log in the bundle (logs/kube-system/kube-proxy-*/): nothing to read")
			return
		}
		names := make([]string, 0, len(byPod))
		for n := range byPod {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, pod := range names {
			files := byPod[pod]
			// The previous container's log first: it says why the last one died.
			sort.SliceStable(files, func(i, j int) bool {
				return strings.HasSuffix(files[i].Path, ".previous.log") && !strings.HasSuffix(files[j].Path, ".previous.log")
			})
			// A hit is a matched line and the continuation lines of its multi-line value
			// (`err=<` … ` >`), which hold the cause (the failing iptables-restore line).
			type hit struct {
				ev   []finding.Evidence
				text string
			}
			var hits []hit
			dataplane := false
			kinds := map[string]bool{}
			recovered := 0
			for _, f := range files {
				// An API error followed by "Caches populated" was a blip kube-proxy recovered
				// from (every API server restart makes it log a few watch failures, even
				// "forbidden" while the new server's authorizer warms up); one after the last
				// such line is not.
				lastSynced := lastCacheSync(f)
				for n := 1; n <= f.Lines(); n++ {
					l := strings.ToLower(f.Line(n))
					if noise(l) {
						continue
					}
					for _, e := range proxyLogErrors {
						if !strings.Contains(l, e.needle) {
							continue
						}
						if !e.dataplane && n < lastSynced {
							recovered++
							break
						}
						h := hit{ev: []finding.Evidence{f.Evidence(n)}, text: loglines.StripKlog(f.Line(n))}
						if strings.HasSuffix(strings.TrimSpace(l), "=<") {
							// kubectl logs --timestamps stamps continuation lines too.
							for n+1 <= f.Lines() && strings.HasPrefix(loglines.StripTimestamp(f.Line(n+1)), "\t") {
								n++
								cont := strings.TrimSpace(loglines.StripTimestamp(f.Line(n)))
								if cont == "" || strings.HasPrefix(cont, "Try `") {
									continue
								}
								h.ev = append(h.ev, f.Evidence(n))
								h.text += " " + cont
							}
						}
						hits = append(hits, h)
						dataplane = dataplane || e.dataplane
						kinds[e.needle] = true
						break
					}
				}
			}
			if len(hits) == 0 {
				if recovered > 0 {
					c.Note("%s logged %d API error(s) (watch/list failures) and recovered: its informer caches were populated after them", pod, recovered)
				}
				continue
			}
			subject := finding.Subject{Kind: "Pod", Namespace: "kube-system", Name: pod}
			for _, p := range m.PodsIn("kube-system") {
				if p.Name == pod {
					subject.Node = p.Spec.NodeName
				}
			}
			total := len(hits)
			// The message quotes the cause: the last failure that carried its details.
			last := hits[len(hits)-1].text
			for i := len(hits) - 1; i >= 0; i-- {
				if len(hits[i].ev) > 1 {
					last = hits[i].text
					break
				}
			}
			if len(hits) > 3 {
				hits = hits[len(hits)-3:]
			}
			var ev []finding.Evidence
			for _, h := range hits {
				ev = append(ev, h.ev...)
			}
			sev := finding.Warning
			what := "cannot reach or read the API server, so its rules lag behind Service and endpoint changes"
			if dataplane {
				sev = finding.Critical
				what = "failed to write the Service rules, so the node's dataplane is out of date"
			}
			where := ""
			if subject.Node != "" {
				where = " on node " + subject.Node
			}
			var seen []string
			for _, e := range proxyLogErrors {
				if kinds[e.needle] {
					seen = append(seen, fmt.Sprintf("%q", e.needle))
				}
			}
			c.Report(finding.Finding{
				Severity: sev,
				Subject:  subject,
				Message: fmt.Sprintf("kube-proxy %s%s logged %d error(s) (%s): it %s. Last: %s",
					pod, where, total, strings.Join(seen, ", "), what, truncate(last, 400)),
				Evidence: ev,
				Remediation: fmt.Sprintf(`# the errors in context (and the previous container's, if it restarted)
kubectl -n kube-system logs %[1]s --tail=300
kubectl -n kube-system logs %[1]s --previous --tail=100
# iptables-restore failures: the failing line of the rules it tried to write is named; check the
# node's iptables version and backend (legacy vs nft) against kube-proxy's
# forbidden: check the ClusterRole binding of the kube-proxy ServiceAccount
kubectl auth can-i list endpointslices.discovery.k8s.io --as=system:serviceaccount:kube-system:kube-proxy
# after fixing the cause, restart it to resync every rule
kubectl -n kube-system delete pod %[1]s`, pod),
			})
		}
	},
}

func noise(l string) bool {
	for _, n := range proxyLogNoise {
		if strings.Contains(l, n) {
			return true
		}
	}
	return false
}

// lastCacheSync is the line of a client-go component's log where its informer caches were last
// filled ("Caches populated", "Caches are synced"), 0 if none: API errors before it were
// recovered from.
func lastCacheSync(f *bundle.File) int {
	for n := f.Lines(); n >= 1; n-- {
		if l := strings.ToLower(f.Line(n)); strings.Contains(l, "caches populated") || strings.Contains(l, "caches are synced") {
			return n
		}
	}
	return 0
}
