package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/sysctl"
)

// conntrackFullRatio is how full the table may get before new flows are at risk.
const conntrackFullRatio = 0.9

// conntrackSysctl reads a conntrack key under its current name or its pre-4.x alias.
func conntrackSysctl(s *sysctl.Sysctls, name string) (int64, sysctl.Entry, bool) {
	if v, e, ok := s.Int("net.netfilter." + name); ok {
		return v, e, true
	}
	return s.Int("net." + name)
}

var conntrackTableFull = &Rule{
	ID:       "conntrack.table-full",
	Severity: finding.Critical,
	Title:    "Conntrack table full (or nearly)",
	Inputs:   []Input{{NodeFile: model.CapSysctl}},
	Doc: "When nf_conntrack_count reaches nf_conntrack_max the kernel drops the first packet of " +
		"every new flow (dmesg: nf_conntrack: table full, dropping packet). Service NAT, DNS and " +
		"every new connection through the node then fail at random. Fires at 90% or on the log line.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			var ev []finding.Evidence
			var what []string
			limit := int64(0)
			if nd.Sysctl != nil {
				count, ec, ok1 := conntrackSysctl(nd.Sysctl, "nf_conntrack_count")
				max, em, ok2 := conntrackSysctl(nd.Sysctl, "nf_conntrack_max")
				if ok2 {
					limit = max
				}
				if ok1 && ok2 && max > 0 && float64(count) >= conntrackFullRatio*float64(max) {
					what = append(what, fmt.Sprintf("the conntrack table holds %d of %d entries (%.0f%%)", count, max, 100*float64(count)/float64(max)))
					ev = append(ev, c.NodeEvidence(nd, model.CapSysctl, ec.Line), c.NodeEvidence(nd, model.CapSysctl, em.Line))
				}
			} else {
				c.NodeLacks(nd, model.CapSysctl)
			}
			if f := m.NodeLog(name, model.CapDmesg); f != nil {
				var hits []int
				for n := 1; n <= f.Lines(); n++ {
					if strings.Contains(f.Line(n), "table full, dropping packet") {
						hits = append(hits, n)
					}
				}
				if len(hits) > 0 {
					what = append(what, fmt.Sprintf("the kernel logged \"nf_conntrack: table full, dropping packet\" %s in dmesg", countOf(len(hits), "time")))
					for _, n := range hits[max(0, len(hits)-2):] {
						ev = append(ev, f.Evidence(n))
					}
				}
			}
			if len(what) == 0 {
				continue
			}
			raise := "<twice the current value>"
			if limit > 0 {
				raise = fmt.Sprint(2 * limit)
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("On node %s, %s. A full table makes the kernel drop the first packet of every new connection: Service traffic, DNS lookups and pod egress through this node fail at random and recover by themselves.",
					name, strings.Join(what, ", and ")),
				Evidence: ev,
				Remediation: fmt.Sprintf(`# confirm on the node:
sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max
dmesg -T | grep -c 'table full'
# what fills it (flows per source address):
conntrack -L 2>/dev/null | grep -o 'src=[^ ]*' | sort | uniq -c | sort -rn | head
# raise the limit now; kube-proxy sets it at start from conntrack.maxPerCore x CPUs, so raise that in its ConfigMap too:
sysctl -w net.netfilter.nf_conntrack_max=%s`, raise),
			})
		}
	},
}

var conntrackInsertFailed = &Rule{
	ID:       "conntrack.insert-failed",
	Severity: finding.Warning,
	Title:    "Conntrack insert races (the 5-second DNS delay)",
	Inputs:   []Input{{NodeFile: model.CapConntrack}},
	Doc: "conntrack -S insert_failed > 0: two packets of one new flow were NATed at once and one " +
		"lost the race for its conntrack entry and was dropped. The classic case is glibc sending " +
		"the A and AAAA queries in parallel from one UDP socket to the kube-dns ClusterIP: one " +
		"answer never comes and the resolver retries after 5 seconds.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Conntrack == nil {
				c.NodeLacks(nd, model.CapConntrack)
				continue
			}
			total, ok := nd.Conntrack.Total("insert_failed")
			if !ok || total == 0 {
				continue
			}
			cpus := append(nd.Conntrack.CPUs[:0:0], nd.Conntrack.CPUs...)
			sort.SliceStable(cpus, func(i, j int) bool { return cpus[i].Counters["insert_failed"] > cpus[j].Counters["insert_failed"] })
			var ev []finding.Evidence
			for _, cpu := range cpus {
				if cpu.Counters["insert_failed"] == 0 || len(ev) == 3 {
					break
				}
				ev = append(ev, captureEvidence(c, nd, model.CapConntrack, cpu.Line, fmt.Sprintf("cpu=%d insert_failed=%d", cpu.CPU, cpu.Counters["insert_failed"])))
			}
			sort.SliceStable(ev, func(i, j int) bool { return ev[i].Line < ev[j].Line })
			msg := fmt.Sprintf("conntrack -S on node %s counts %d insert_failed: packets dropped because two packets of one new flow were NATed at the same time and one lost the race for the conntrack entry. "+
				"This is the UDP DNS race behind the classic 5-second DNS delays: glibc sends the A and AAAA queries in parallel from one socket to the kube-dns ClusterIP, one is dropped, and the resolver waits 5 s before retrying.", name, total)
			if drop, ok := nd.Conntrack.Total("drop"); ok && drop > 0 {
				msg += fmt.Sprintf(" (drop = %d.)", drop)
			}
			c.Report(finding.Finding{
				Subject:  nodeSubject(name),
				Message:  msg,
				Evidence: ev,
				Remediation: `# confirm: insert_failed grows while lookups from pods on this node take 5 s
conntrack -S
kubectl exec -it <pod> -- sh -c 'time getent hosts kubernetes.default'
# workaround per pod (glibc resolvers): spec.dnsConfig.options: [{name: single-request-reopen}]
# lasting fix: NodeLocal DNSCache, so pod DNS no longer goes through the conntrack NAT race
kubectl -n kube-system get daemonset node-local-dns
# newer kernels (5.x) resolve most of these clashes themselves (clash_resolve counter)`,
			})
		}
	},
}
