package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/sysctl"
)

// podFacingPrefixes are device name prefixes of pod veths and CNI devices whose per-device
// forwarding matters: the kernel checks forwarding on the device a packet arrived on.
var podFacingPrefixes = []string{"cali", "lxc", "veth", "cilium_", "flannel", "tunl0", "vxlan.calico", "weave", "antrea-gw", "ovn0", "kube-bridge", "cni0", "cbr0"}

var sysctlIPForwardOff = &Rule{
	ID:       "sysctl.ip-forward-off",
	Severity: finding.Critical,
	Title:    "IP forwarding is disabled on a node",
	Inputs:   []Input{{NodeFile: model.CapSysctl}},
	Doc: "With net.ipv4.ip_forward = 0 the node routes nothing: its pods cannot reach other nodes, " +
		"Services with endpoints elsewhere or the outside, and other nodes cannot reach them. " +
		"Forwarding switched off on one CNI, tunnel or uplink device (conf.<dev>.forwarding = 0) " +
		"drops what arrives on that device the same way.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Sysctl == nil {
				c.NodeLacks(nd, model.CapSysctl)
				continue
			}
			v, e, ok := nd.Sysctl.Int("net.ipv4.ip_forward")
			if !ok {
				c.Note("node %s not checked: %s has no net.ipv4.ip_forward", name, nd.Path(model.CapSysctl))
				continue
			}
			if v == 0 {
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Message: fmt.Sprintf("Node %s has IPv4 forwarding switched off (net.ipv4.ip_forward = 0): the kernel drops every packet it would route. "+
						"Pods on %s cannot reach pods on other nodes, Services whose endpoints are elsewhere, or anything outside the node, and nothing from other nodes reaches its pods. "+
						"Usually a hardening profile or a sysctl file applied at boot; kubelet does not turn it back on.", name, name),
					Evidence: []finding.Evidence{c.NodeEvidence(nd, model.CapSysctl, e.Line)},
					Remediation: `# confirm on the node:
sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding
# fix now (takes effect at once, no restart needed):
sysctl -w net.ipv4.ip_forward=1
# find what sets it to 0 at boot, and persist the fix after it:
grep -rn 'ip_forward\|\.forwarding' /etc/sysctl.conf /etc/sysctl.d/ /usr/lib/sysctl.d/ /run/sysctl.d/
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-kubernetes-ip-forward.conf
sysctl --system`,
				})
				continue
			}
			// Forwarding on, but off on a device that carries pod traffic.
			relevant := map[string]bool{}
			for _, u := range uplinks(m, nd) {
				relevant[u] = true
			}
			for b := range cniBridges(nd) {
				relevant[b] = true
			}
			var devs []string
			var ev []finding.Evidence
			for _, en := range nd.Sysctl.Entries {
				dev, ok := sysctlDevice(en.Key, "net.ipv4.conf", "forwarding")
				if !ok || dev == "all" || dev == "default" || dev == "lo" || strings.TrimSpace(en.Value) != "0" {
					continue
				}
				if !relevant[dev] && !devHasPrefix(dev, podFacingPrefixes) {
					continue
				}
				devs = append(devs, dev)
				if len(ev) < 6 {
					ev = append(ev, c.NodeEvidence(nd, model.CapSysctl, en.Line))
				}
			}
			if len(devs) == 0 {
				continue
			}
			var cmds []string
			for _, d := range devs {
				cmds = append(cmds, sysctl.DeviceKey("net.ipv4.conf", d, "forwarding")+"=1")
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Key:     "conf.forwarding",
				Message: fmt.Sprintf("Node %s forwards IPv4 in general (ip_forward = 1) but forwarding is off on %s: %s. "+
					"The kernel drops packets arriving on such a device that it would route, so pod traffic entering there (from pods, the tunnel or the uplink) goes nowhere.",
					name, countOf(len(devs), "device"), joinMax(devs, 6)),
				Evidence: append([]finding.Evidence{c.NodeEvidence(nd, model.CapSysctl, e.Line)}, ev...),
				Remediation: fmt.Sprintf(`# confirm on the node:
sysctl -a 2>/dev/null | grep '\.forwarding = 0'
# fix now:
sysctl -w %s
# find the file that sets it, and persist the fix in /etc/sysctl.d/:
grep -rn 'forwarding' /etc/sysctl.conf /etc/sysctl.d/ /usr/lib/sysctl.d/ /run/sysctl.d/`, strings.Join(cmds, " ")),
			})
		}
	},
}

func devHasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

var sysctlBridgeNFOff = &Rule{
	ID:       "sysctl.bridge-nf-off",
	Severity: finding.Critical,
	Title:    "Bridged pod traffic bypasses iptables (br_netfilter off)",
	Inputs:   []Input{{NodeFile: model.CapSysctl}},
	Doc: "On a bridge-based CNI (bridge, flannel, canal, weave, kubenet) traffic between pods on " +
		"the same node is switched by the Linux bridge and reaches iptables only when br_netfilter " +
		"is loaded and net.bridge.bridge-nf-call-iptables = 1. Without it, a pod calling a Service " +
		"whose chosen endpoint is on the same node gets its reply un-NATed and drops it, and " +
		"NetworkPolicies do not apply between local pods. Routed CNIs (calico, cilium) do not need it.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			bridged, why := nodeBridgeCNI(m, nd)
			if !bridged {
				continue
			}
			if nd.Sysctl == nil {
				c.NodeLacks(nd, model.CapSysctl)
				continue
			}
			var ev []finding.Evidence
			var state string
			v, e, ok := nd.Sysctl.Int("net.bridge.bridge-nf-call-iptables")
			switch {
			case ok && v != 0:
				continue
			case ok:
				state = "net.bridge.bridge-nf-call-iptables = 0"
				ev = append(ev, c.NodeEvidence(nd, model.CapSysctl, e.Line))
			case !nd.Sysctl.BridgeNFLoaded():
				state = "br_netfilter is not loaded (sysctl.txt has no net.bridge.* keys)"
				ev = append(ev, finding.Evidence{File: nd.Path(model.CapSysctl), Excerpt: "(no net.bridge.* keys: br_netfilter not loaded)"})
			default:
				state = "net.bridge.bridge-nf-call-iptables is absent"
				ev = append(ev, finding.Evidence{File: nd.Path(model.CapSysctl), Excerpt: "(no net.bridge.bridge-nf-call-iptables key)"})
			}
			if nd.Lsmod != nil {
				if mod, ok := nd.Lsmod.Loaded("br_netfilter"); ok {
					if !nd.Sysctl.BridgeNFLoaded() {
						state += "; lsmod lists br_netfilter, so sysctl -a was likely read in another network namespace — confirm on the host"
					}
					ev = append(ev, c.NodeEvidence(nd, model.CapLsmod, mod.Line))
				} else {
					ev = append(ev, finding.Evidence{File: nd.Path(model.CapLsmod), Excerpt: "(no br_netfilter module)"})
				}
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("Node %s puts pods on a Linux bridge (%s) but %s. "+
					"Traffic between two pods on this node is switched by the bridge and never passes iptables: "+
					"a pod calling a Service whose chosen endpoint is on the same node gets replies that were never un-NATed and drops them (intermittent timeouts, e.g. DNS when CoreDNS runs on the node), "+
					"and NetworkPolicies are not enforced between local pods.", name, why, state),
				Evidence: ev,
				Remediation: `# confirm on the node:
lsmod | grep br_netfilter; sysctl net.bridge.bridge-nf-call-iptables
# fix now:
modprobe br_netfilter
sysctl -w net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
# persist across reboots:
echo br_netfilter > /etc/modules-load.d/k8s.conf
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' > /etc/sysctl.d/99-kubernetes-bridge-nf.conf
sysctl --system`,
			})
		}
	},
}

var sysctlRPFilterStrict = &Rule{
	ID:       "sysctl.rp-filter-strict",
	Severity: finding.Warning,
	Title:    "Strict reverse-path filter on a device with asymmetric traffic",
	Inputs:   []Input{{NodeFile: model.CapSysctl}},
	Doc: "The kernel applies rp_filter = max(conf.all, conf.<dev>). In strict mode (1) a packet is " +
		"dropped when the route back to its source does not leave through the device it came in on. " +
		"That is wrong wherever paths are asymmetric: policy routing rules, several default routes " +
		"(uplinks), IPIP tunnels (tunl0). Loose mode (2) keeps spoofing protection and accepts them.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Sysctl == nil {
				c.NodeLacks(nd, model.CapSysctl)
				continue
			}
			if nd.Routes == nil && nd.Rules == nil && nd.Links == nil && nd.Addrs == nil {
				c.NodeLacks(nd, model.CapRoute)
				continue
			}
			all, ea, ok := nd.Sysctl.Int("net.ipv4.conf.all.rp_filter")
			if !ok {
				c.Note("node %s not checked: %s has no net.ipv4.conf.all.rp_filter", name, nd.Path(model.CapSysctl))
				continue
			}
			// Why paths are asymmetric on this node, and on which devices.
			type cause struct {
				why string
				ev  []finding.Evidence
			}
			devCauses := map[string][]cause{}
			var order []string
			add := func(dev string, cs cause) {
				if _, ok := devCauses[dev]; !ok {
					order = append(order, dev)
				}
				devCauses[dev] = append(devCauses[dev], cs)
			}
			ups := uplinks(m, nd)
			if nd.Rules != nil {
				var extra []iproute.Rule
				for _, r := range nd.Rules.Rules {
					if !defaultIPRule(r) {
						extra = append(extra, r)
					}
				}
				if len(extra) > 0 {
					cs := cause{why: fmt.Sprintf("%s beyond the defaults (policy routing)", countOf(len(extra), "ip rule"))}
					for i, r := range extra {
						if i == 3 {
							break
						}
						cs.ev = append(cs.ev, captureEvidence(c, nd, model.CapRule, r.Line, fmt.Sprintf("rule priority %d", r.Priority)))
					}
					for _, u := range ups {
						add(u, cs)
					}
					for _, r := range extra {
						if r.IIF != "" && r.IIF != "lo" {
							add(r.IIF, cs)
						}
					}
				}
			}
			if nd.Routes != nil {
				var defs []iproute.Route
				devs := map[string]bool{}
				for _, r := range nd.Routes.All() {
					if isDefaultV4(r.Dst) && r.Table != "local" && (r.Type == "" || r.Type == "unicast") {
						defs = append(defs, r)
						for _, d := range routeDevs(r) {
							if d != "" {
								devs[d] = true
							}
						}
					}
				}
				if len(devs) > 1 {
					cs := cause{why: fmt.Sprintf("default routes through %d devices (%s)", len(devs), strings.Join(sortedNames(devs), ", "))}
					for i, r := range defs {
						if i == 3 {
							break
						}
						cs.ev = append(cs.ev, captureEvidence(c, nd, model.CapRoute, r.Line, "default route via "+r.Dev))
					}
					for _, d := range sortedNames(devs) {
						add(d, cs)
					}
				}
			}
			devs, _ := nodeDevices(nd)
			if d, ok := devByName(devs, "tunl0"); ok || hasIPIP(devs) {
				if !ok {
					for _, x := range devs {
						if x.Kind == "ipip" {
							d = x
						}
					}
				}
				cs := cause{why: "IPIP tunnel " + d.Name + " (pod traffic from other nodes arrives on it, replies may leave by the uplink)", ev: []finding.Evidence{devEvidence(c, nd, d)}}
				add(d.Name, cs)
				for _, u := range ups {
					add(u, cs)
				}
			}
			for _, dev := range order {
				dv, ed, ok := deviceSysctl(nd.Sysctl, "net.ipv4.conf", dev, "rp_filter")
				if !ok || max(all, dv) != 1 {
					continue
				}
				var whys []string
				ev := []finding.Evidence{c.NodeEvidence(nd, model.CapSysctl, ea.Line), c.NodeEvidence(nd, model.CapSysctl, ed.Line)}
				for _, cs := range devCauses[dev] {
					whys = append(whys, cs.why)
					ev = append(ev, cs.ev...)
				}
				key := sysctl.DeviceKey("net.ipv4.conf", dev, "rp_filter")
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     dev,
					Message: fmt.Sprintf("Reverse-path filtering is strict on device %s of node %s (effective rp_filter = max(all %d, %s %d) = 1), and the node's paths are asymmetric: %s. "+
						"A strict filter drops every packet whose source is not routed back out the device it arrived on, so replies that come in the other way are silently dropped: connections hang or time out one way.",
						dev, name, all, dev, dv, strings.Join(whys, "; ")),
					Evidence: dedupeEvidence(ev),
					Remediation: fmt.Sprintf(`# confirm: packets the reverse-path filter dropped (grows while the fault is seen)
nstat -az TcpExtIPReversePathFilter
sysctl net.ipv4.conf.all.rp_filter %[1]s
# loose mode (2) keeps spoofing protection and accepts asymmetric paths; the kernel uses max(all, dev):
sysctl -w %[1]s=2
# persist in /etc/sysctl.d/ (and check no file sets it back to 1):
grep -rn 'rp_filter' /etc/sysctl.conf /etc/sysctl.d/ /usr/lib/sysctl.d/`, key),
				})
			}
		}
	},
}

// defaultIPRule: the three rules every kernel starts with (local, main, default).
func defaultIPRule(r iproute.Rule) bool {
	if r.Not || r.FwMark != nil || r.IIF != "" || r.OIF != "" || r.From.IsValid() && r.From.Bits() != 0 || r.To.IsValid() && r.To.Bits() != 0 {
		return false
	}
	switch {
	case r.Priority == 0 && r.Table == "local", r.Priority == 32766 && r.Table == "main", r.Priority == 32767 && r.Table == "default":
		return true
	}
	return false
}

func hasIPIP(devs []netDev) bool {
	for _, d := range devs {
		if d.Kind == "ipip" {
			return true
		}
	}
	return false
}

func sortedNames(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi int }

func (r portRange) String() string { return fmt.Sprintf("%d-%d", r.lo, r.hi) }

// parsePortRange reads "30000-32767", "32768\t60999" or "30000+2768" (the apiserver's forms).
func parsePortRange(s string) (portRange, bool) {
	s = strings.TrimSpace(s)
	var a, b string
	switch {
	case strings.Contains(s, "-"):
		a, b, _ = strings.Cut(s, "-")
	case strings.Contains(s, "+"):
		a, b, _ = strings.Cut(s, "+")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		n, err2 := strconv.Atoi(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return portRange{}, false
		}
		return portRange{lo, lo + n}, true
	default:
		f := strings.Fields(s)
		if len(f) == 1 {
			f = append(f, f[0])
		}
		if len(f) != 2 {
			return portRange{}, false
		}
		a, b = f[0], f[1]
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo > hi {
		return portRange{}, false
	}
	return portRange{lo, hi}, true
}

// nodePortRange is the apiserver's --service-node-port-range (default 30000-32767), with the
// evidence of the flag when set.
func nodePortRange(m *model.Model) (portRange, string, *finding.Evidence) {
	for _, p := range m.PodsIn("kube-system") {
		if !strings.HasPrefix(p.Name, "kube-apiserver") {
			continue
		}
		for i, ctr := range p.Spec.Containers {
			for _, field := range []string{"command", "args"} {
				list := ctr.Command
				if field == "args" {
					list = ctr.Args
				}
				for j, a := range list {
					if v, ok := strings.CutPrefix(a, "--service-node-port-range="); ok {
						if r, ok := parsePortRange(v); ok {
							ev := m.Evidence(p.Src, "spec", "containers", itoa(i), field, itoa(j))
							return r, "the apiserver's --service-node-port-range", &ev
						}
					}
				}
			}
		}
	}
	return portRange{30000, 32767}, "the default NodePort range", nil
}

// reservedCovers tells whether ip_local_reserved_ports ("30000-32767,40000") covers all of r.
func reservedCovers(reserved string, r portRange) bool {
	var rs []portRange
	for _, part := range strings.Split(reserved, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		if pr, ok := parsePortRange(part); ok {
			rs = append(rs, pr)
		}
	}
	for p := r.lo; p <= r.hi; p++ {
		in := false
		for _, x := range rs {
			if p >= x.lo && p <= x.hi {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

var sysctlPortRangeOverlap = &Rule{
	ID:       "sysctl.port-range-overlap",
	Severity: finding.Warning,
	Title:    "Ephemeral port range overlaps the NodePort range",
	Inputs:   []Input{{NodeFile: model.CapSysctl}},
	Doc: "When net.ipv4.ip_local_port_range overlaps the NodePort range and ip_local_reserved_ports " +
		"does not reserve it, the kernel can give an outgoing connection a NodePort as source port: " +
		"the connection and the NodePort then collide (sporadic failures of either).",
	Check: func(c *Context) {
		m := c.Model
		np, npWhy, npEv := nodePortRange(m)
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if nd.Sysctl == nil {
				c.NodeLacks(nd, model.CapSysctl)
				continue
			}
			e, ok := nd.Sysctl.Get("net.ipv4.ip_local_port_range")
			if !ok {
				c.Note("node %s not checked: %s has no net.ipv4.ip_local_port_range", name, nd.Path(model.CapSysctl))
				continue
			}
			local, ok := parsePortRange(e.Value)
			if !ok || local.lo > np.hi || local.hi < np.lo {
				continue
			}
			overlap := portRange{max(local.lo, np.lo), min(local.hi, np.hi)}
			res, hasRes := nd.Sysctl.Get("net.ipv4.ip_local_reserved_ports")
			if hasRes && reservedCovers(res.Value, overlap) {
				continue
			}
			ev := []finding.Evidence{c.NodeEvidence(nd, model.CapSysctl, e.Line)}
			if hasRes {
				ev = append(ev, c.NodeEvidence(nd, model.CapSysctl, res.Line))
			}
			if npEv != nil {
				ev = append(ev, *npEv)
			}
			reserve := np.String()
			if hasRes && strings.TrimSpace(res.Value) != "" {
				reserve = strings.TrimSpace(res.Value) + "," + reserve
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("On node %s the ephemeral port range %s (net.ipv4.ip_local_port_range) overlaps %s %s in ports %s, and net.ipv4.ip_local_reserved_ports does not reserve them. "+
					"The kernel may pick a NodePort as the source port of an outgoing connection; that connection then collides with the Service's NodePort rules and listeners, giving sporadic connection failures on either side.",
					name, local, npWhy, np, overlap),
				Evidence: ev,
				Remediation: fmt.Sprintf(`# confirm on the node:
sysctl net.ipv4.ip_local_port_range net.ipv4.ip_local_reserved_ports
# reserve the NodePort range so the kernel never hands it out as a source port:
sysctl -w net.ipv4.ip_local_reserved_ports=%[1]s
echo 'net.ipv4.ip_local_reserved_ports = %[1]s' > /etc/sysctl.d/99-kubernetes-nodeport-reserved.conf`, reserve),
			})
		}
	},
}
