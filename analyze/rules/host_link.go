package rules

import (
	"fmt"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/kubelet"
)

var hairpinDisabled = &Rule{
	ID:       "hairpin.disabled",
	Severity: finding.Warning,
	Title:    "Pods cannot reach themselves through their Service (hairpin off)",
	Inputs:   []Input{{NodeFile: model.CapKubeletConfig}},
	Doc: "On a bridge CNI, a pod whose connection to its own Service is load-balanced back to " +
		"itself needs the packet sent back out the port it came in on: hairpin_mode on the pod's " +
		"bridge port (set by the CNI bridge plugin's hairpinMode, or by the kubelet's " +
		"hairpin-veth mode with kubenet/dockershim), or the bridge in promiscuous mode (the " +
		"kubelet's promiscuous-bridge mode, kubenet only). With CNI the plugin's setting decides; " +
		"the ports' real state, when captured, outranks both configurations.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if bridged, _ := nodeBridgeCNI(m, nd); !bridged {
				continue
			}
			if nd.KubeletConfig == nil && nd.KubeletCmdline == nil && nd.Hairpin == nil && nd.Links == nil {
				c.NodeLacks(nd, model.CapKubeletConfig)
				continue
			}
			mode := kubelet.EffectiveHairpinMode(nd.KubeletConfig, nd.KubeletCmdline)
			var modeEv []finding.Evidence
			switch mode.Source {
			case "flag":
				modeEv = append(modeEv, captureEvidence(c, nd, model.CapKubeletCmdline, mode.Line, "--hairpin-mode="+mode.Value))
			case "config":
				modeEv = append(modeEv, c.NodeEvidence(nd, model.CapKubeletConfig, mode.Line))
			}
			bridges := cniBridges(nd)
			devs, _ := nodeDevices(nd)
			// The observed state of the pod ports: hairpin.txt, else ip -d link bridge_slave.
			var off []string
			var offEv []finding.Evidence
			seen, bridgeOf := 0, map[string]bool{}
			if nd.Hairpin != nil {
				for _, e := range nd.Hairpin.Entries {
					if !bridges[e.Bridge] {
						continue
					}
					seen++
					bridgeOf[e.Bridge] = true
					if e.Value == 0 {
						off = append(off, e.Bridge+"/"+e.Port)
						if len(offEv) < 4 {
							offEv = append(offEv, c.NodeEvidence(nd, model.CapHairpin, e.Line))
						}
					}
				}
			} else if nd.Links != nil {
				for _, d := range devs {
					if d.Hairpin == nil || !bridges[d.Master] {
						continue
					}
					seen++
					bridgeOf[d.Master] = true
					if !*d.Hairpin {
						off = append(off, d.Master+"/"+d.Name)
						if len(offEv) < 4 {
							offEv = append(offEv, devEvidence(c, nd, d))
						}
					}
				}
			}
			// A promiscuous bridge delivers hairpin traffic without the port flag.
			promisc := false
			for b := range bridgeOf {
				if d, ok := devByName(devs, b); ok && d.Promisc {
					promisc = true
				}
			}
			var msg string
			var ev []finding.Evidence
			switch {
			case seen > 0 && len(off) > 0 && !promisc:
				verb := "have"
				if len(off) == 1 {
					verb = "has"
				}
				msg = fmt.Sprintf("On node %s, %d of %d pod bridge ports %s hairpin_mode 0 (%s) and the bridge is not promiscuous: a pod behind such a port that calls its own Service and is load-balanced to itself gets no answer (connection times out).",
					name, len(off), seen, verb, joinMax(off, 4))
				ev = append(offEv, modeEv...)
				if h := cniHairpinSetting(c, nd); h != "" {
					msg += " " + upperFirst(h)
					if strings.Contains(h, "enables hairpin") {
						msg += " Those ports predate the setting or were reset: recreate their pods, or set the flag by hand."
					}
				}
			case seen > 0:
				continue // the ports show hairpin working, whatever the configuration says
			case mode.Value == kubelet.HairpinNone:
				msg = fmt.Sprintf("The kubelet on node %s runs with hairpinMode none (%s): nothing enables hairpin, so a pod that calls its own Service and is load-balanced to itself gets no answer. "+
					"(The bridge ports were not captured to confirm: no hairpin.txt or ip -d link.)", name, mode.Source)
				ev = modeEv
				if h := cniHairpinSetting(c, nd); h != "" {
					if strings.Contains(h, "enables hairpin") {
						continue // the CNI plugin sets the ports itself
					}
					msg += " " + upperFirst(h)
					ev = append(ev, cniHairpinEvidence(c, nd)...)
				}
			default:
				h := cniHairpinSetting(c, nd)
				if !strings.Contains(h, "does not enable hairpin") {
					continue
				}
				msg = fmt.Sprintf("On node %s, %s A pod that calls its own Service and is load-balanced to itself gets no answer. (The bridge ports were not captured to confirm: no hairpin.txt or ip -d link.)", name, h)
				ev = append(ev, cniHairpinEvidence(c, nd)...)
				ev = append(ev, modeEv...)
			}
			if len(ev) == 0 {
				ev = append(ev, cniHairpinEvidence(c, nd)...)
			}
			c.Report(finding.Finding{
				Subject:  nodeSubject(name),
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# confirm on the node: 1 = hairpin on for that pod port
grep . /sys/class/net/*/brif/*/hairpin_mode
# fix for new pods: "hairpinMode": true in the bridge plugin (flannel: in "delegate") of /etc/cni/net.d/*.conf*
# (flannel: edit ConfigMap kube-flannel-cfg cni-conf.json; its DaemonSet rewrites the file)
# fix for running pods at once:
for f in /sys/class/net/%s/brif/*/hairpin_mode; do echo 1 > "$f"; done
# kubenet only: the kubelet's hairpinMode (KubeletConfiguration) hairpin-veth or promiscuous-bridge, not none`, hairpinBridge(off)),
			})
		}
	},
}

// hairpinBridge is the bridge of the first port found off, cni0 when none was seen.
func hairpinBridge(off []string) string {
	if len(off) > 0 {
		if b, _, ok := strings.Cut(off[0], "/"); ok {
			return b
		}
	}
	return "cni0"
}

// cniHairpinSetting describes the active CNI config's hairpinMode for the bridge plugin (or
// flannel's delegate), "" when the config is not a bridge config or absent.
func cniHairpinSetting(c *Context, nd *model.NodeData) string {
	a := nd.CNIActive
	if a == nil {
		return ""
	}
	for _, p := range a.Plugins {
		switch {
		case p.Type == "bridge":
			if p.HairpinMode != nil && *p.HairpinMode {
				return fmt.Sprintf("its CNI config %s enables hairpin (bridge plugin hairpinMode: true).", cniFileName(a.Path))
			}
			if p.HairpinMode == nil {
				return fmt.Sprintf("its CNI config %s does not enable hairpin: the bridge plugin has no hairpinMode and defaults to false.", cniFileName(a.Path))
			}
			return fmt.Sprintf("its CNI config %s does not enable hairpin: the bridge plugin has hairpinMode: false.", cniFileName(a.Path))
		case p.Type == "flannel":
			if p.Delegate != nil && p.Delegate.HairpinMode != nil && !*p.Delegate.HairpinMode {
				return fmt.Sprintf("its CNI config %s does not enable hairpin: flannel's delegate has hairpinMode: false.", cniFileName(a.Path))
			}
			if p.Delegate != nil && p.Delegate.HairpinMode != nil {
				return fmt.Sprintf("its CNI config %s enables hairpin (flannel delegate hairpinMode: true).", cniFileName(a.Path))
			}
			return ""
		}
	}
	return ""
}

// cniHairpinEvidence quotes the hairpinMode line of the active config (or its plugin type line).
func cniHairpinEvidence(c *Context, nd *model.NodeData) []finding.Evidence {
	a := nd.CNIActive
	if a == nil {
		return nil
	}
	f := c.Model.Bundle.File(a.Path)
	if f == nil {
		return nil
	}
	for n := 1; n <= f.Lines(); n++ {
		if strings.Contains(f.Line(n), `"hairpinMode"`) {
			return []finding.Evidence{f.Evidence(n)}
		}
	}
	for _, p := range a.Plugins {
		if p.Type == "bridge" && p.TypeLine > 0 {
			return []finding.Evidence{f.Evidence(p.TypeLine)}
		}
	}
	return []finding.Evidence{{File: a.Path, Excerpt: "(no hairpinMode: the bridge plugin defaults to false)"}}
}

// podDevice tells whether a device is a pod's host-side interface or the pod bridge, for the MTU
// check. Cilium's lxc* devices are left out: Cilium keeps them at the uplink MTU and lowers the
// MTU on the pods' routes instead.
func podDevice(d netDev, bridges map[string]bool) bool {
	return (bridges[d.Name] && d.Name != "docker0") || bridges[d.Master] || strings.HasPrefix(d.Name, "cali")
}

// routeMTUDevice: tunnels whose device MTU is not the path limit by design — Cilium's (it sets
// the MTU on routes) and the flow-based OVS tunnels of OVN/Antrea (MTU 65000).
func routeMTUDevice(name string) bool {
	return strings.HasPrefix(name, "cilium_") || strings.HasPrefix(name, "vxlan_sys") || strings.HasPrefix(name, "genev_sys")
}

var linkMTUMismatch = &Rule{
	ID:       "link.mtu-mismatch",
	Severity: finding.Warning,
	Title:    "Pod MTU larger than the network path allows",
	Inputs:   []Input{{NodeFile: model.CapLink}},
	Doc: "An overlay adds headers (VXLAN and Geneve 50 bytes, IPIP 20, WireGuard 60), so the tunnel " +
		"device, the pod bridge and the pod veths must be that much below the uplink MTU. Larger, " +
		"big packets are dropped or fragmented: small requests work while large responses, TLS " +
		"handshakes and image pulls hang. Uplinks of different MTU across nodes do the same.",
	Check: func(c *Context) {
		m := c.Model
		uplinkMTU := map[string]netDev{}
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			devs, _ := nodeDevices(nd)
			if devs == nil {
				c.NodeLacks(nd, model.CapLink)
				continue
			}
			ups := uplinks(m, nd)
			if len(ups) == 0 {
				c.Note("node %s not checked: no default route or InternalIP device to take the uplink MTU from", name)
				continue
			}
			up, ok := devByName(devs, ups[0])
			if !ok || up.MTU == 0 {
				continue
			}
			uplinkMTU[name] = up
			allowed, limitBy := up.MTU, fmt.Sprintf("the uplink %s (MTU %d)", up.Name, up.MTU)
			var tunnelEv []finding.Evidence
			for _, d := range devs {
				encap, overhead, ok := tunnelDevice(d)
				if !ok || d.MTU == 0 || !d.Up || routeMTUDevice(d.Name) {
					continue
				}
				limit := up.MTU - overhead
				if d.MTU > limit {
					c.Report(finding.Finding{
						Subject: nodeSubject(name),
						Key:     d.Name,
						Message: fmt.Sprintf("The %s tunnel %s on node %s has MTU %d, but the uplink %s has MTU %d and %s adds %d bytes: at most %d fits. "+
							"Full-size packets between pods on different nodes are dropped (or fragmented): small requests work, large responses and TLS handshakes hang.",
							encap, d.Name, name, d.MTU, up.Name, up.MTU, encap, overhead, limit),
						Evidence: []finding.Evidence{devEvidence(c, nd, d), devEvidence(c, nd, up)},
						Remediation: mtuFix(d.Name, limit) + fmt.Sprintf(`
# and set the CNI's MTU to %d (flannel: derived from the uplink at start, restart it; calico: veth_mtu in calico-config; cilium: --mtu)`, limit),
					})
				}
				if limit < allowed {
					allowed, limitBy = min(limit, d.MTU), fmt.Sprintf("the %s tunnel %s (MTU %d over uplink %s %d)", encap, d.Name, d.MTU, up.Name, up.MTU)
					tunnelEv = []finding.Evidence{devEvidence(c, nd, d), devEvidence(c, nd, up)}
				} else if d.MTU < allowed {
					allowed, limitBy = d.MTU, fmt.Sprintf("the %s tunnel %s (MTU %d)", encap, d.Name, d.MTU)
					tunnelEv = []finding.Evidence{devEvidence(c, nd, d)}
				}
			}
			if tunnelEv == nil {
				tunnelEv = []finding.Evidence{devEvidence(c, nd, up)}
			}
			// Pod-facing devices: bridge and veths.
			bridges := cniBridges(nd)
			var big []string
			var bigEv []finding.Evidence
			worst := 0
			for _, d := range devs {
				if !podDevice(d, bridges) || d.MTU <= allowed {
					continue
				}
				big = append(big, fmt.Sprintf("%s (%d)", d.Name, d.MTU))
				worst = max(worst, d.MTU)
				if len(bigEv) < 3 {
					bigEv = append(bigEv, devEvidence(c, nd, d))
				}
			}
			if len(big) > 0 {
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     "pod-devices",
					Message: fmt.Sprintf("On node %s, %s have an MTU above the %d that %s allows: %s. "+
						"Pods send packets up to %d bytes that the path cannot carry: they are dropped (or fragmented), so small requests work while large responses, TLS handshakes and uploads hang.",
						name, countOf(len(big), "pod device"), allowed, limitBy, joinMax(big, 5), worst),
					Evidence: append(bigEv, tunnelEv...),
					Remediation: fmt.Sprintf(`# confirm: a full-size packet from a pod to a pod on another node (DF set) fails
kubectl exec -it <pod> -- ping -M do -s %d <pod IP on another node>
# the devices above the limit:
ip -o link show | grep -E 'mtu %d'
# fix: the CNI's MTU setting to %d (flannel/bridge: "mtu" in the CNI config; calico: veth_mtu; cilium: --mtu); existing pods keep the old MTU until recreated`, allowed-28, worst, allowed),
				})
			}
			// The CNI config's own MTU.
			for _, cf := range nd.CNI {
				for _, p := range cf.Plugins {
					mtu := p.MTU
					if mtu == nil && p.Delegate != nil {
						mtu = p.Delegate.MTU
					}
					if mtu == nil || *mtu <= allowed {
						continue
					}
					ev := cniKeyEvidence(c, cf, `"mtu"`)
					c.Report(finding.Finding{
						Subject: nodeSubject(name),
						Key:     "cni-config:" + cniFileName(cf.Path),
						Message: fmt.Sprintf("The CNI config %s on node %s sets mtu %d, above the %d that %s allows: pods created from now on get an MTU the path cannot carry, and large packets between nodes are dropped.",
							cniFileName(cf.Path), name, *mtu, allowed, limitBy),
						Evidence: append([]finding.Evidence{ev}, tunnelEv...),
						Remediation: fmt.Sprintf(`# set "mtu": %d in /etc/cni/net.d/%s (or where the CNI's installer takes it from), then recreate the pods on the node
grep -n mtu /etc/cni/net.d/%s`, allowed, cniFileName(cf.Path), cniFileName(cf.Path)),
					})
				}
			}
		}
		// Uplinks that differ across nodes: the larger side sends what the smaller cannot take.
		most := 0
		for _, d := range uplinkMTU {
			most = max(most, d.MTU)
		}
		for _, name := range hostSortedKeys(uplinkMTU) {
			d := uplinkMTU[name]
			if d.MTU >= most {
				continue
			}
			var others []string
			var ev []finding.Evidence
			ev = append(ev, devEvidence(c, m.NodeData(name), d))
			for _, o := range hostSortedKeys(uplinkMTU) {
				if uplinkMTU[o].MTU == most {
					others = append(others, o)
					if len(ev) < 3 {
						ev = append(ev, devEvidence(c, m.NodeData(o), uplinkMTU[o]))
					}
				}
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Key:     "uplink",
				Message: fmt.Sprintf("Node %s's uplink %s has MTU %d while %s use %d: pod MTUs derived from the larger uplinks produce packets this node cannot receive, so large transfers between these nodes hang.",
					name, d.Name, d.MTU, joinMax(others, 4), most),
				Evidence: ev,
				Remediation: fmt.Sprintf(`# on every node: the uplink MTU must be the same (or the CNI MTU set for the smallest)
ip link show %s
# confirm the path: ping -M do -s %d <other node IP>`, d.Name, most-28),
			})
		}
	},
}

func mtuFix(dev string, mtu int) string {
	return fmt.Sprintf(`# confirm on the node:
ip -d link show %[1]s
# fix now (the CNI may reset it on restart):
ip link set dev %[1]s mtu %[2]d`, dev, mtu)
}

// cniKeyEvidence quotes the first line of a CNI config holding key.
func cniKeyEvidence(c *Context, cf *model.CNIConfig, key string) finding.Evidence {
	if f := c.Model.Bundle.File(cf.Path); f != nil {
		for n := 1; n <= f.Lines(); n++ {
			if strings.Contains(f.Line(n), key) {
				return f.Evidence(n)
			}
		}
	}
	return finding.Evidence{File: cf.Path, Excerpt: "(" + key + " set)"}
}

var linkDown = &Rule{
	ID:       "link.down",
	Severity: finding.Critical,
	Title:    "CNI bridge, tunnel, uplink or pod veth is down",
	Inputs:   []Input{{NodeFile: model.CapLink}},
	Doc: "A device of the pod path that is administratively DOWN, or UP without carrier " +
		"(no LOWER_UP), passes nothing: the CNI bridge or pod veth (pods on the node cut off), the " +
		"tunnel (flannel.1, tunl0, vxlan.calico, cilium_*: no traffic to other nodes), or the uplink.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			devs, _ := nodeDevices(nd)
			if devs == nil {
				c.NodeLacks(nd, model.CapLink)
				continue
			}
			bridges := cniBridges(nd)
			ups := map[string]bool{}
			for _, u := range uplinks(m, nd) {
				ups[u] = true
			}
			ports := map[string]int{}
			for _, d := range devs {
				if d.Master != "" {
					ports[d.Master]++
				}
			}
			var vethDown []string
			var vethEv []finding.Evidence
			for _, d := range devs {
				state := devState(d)
				if state == "" {
					continue
				}
				encap, _, tunnel := tunnelDevice(d)
				if d.Name == "tunl0" && m.CNI().Detail != "ipip" {
					// the ipip module creates tunl0 wherever it is loaded; Calico uses it only in IPIP mode
					tunnel = false
				}
				role := ""
				switch {
				case ups[d.Name]:
					role = "the uplink"
				case tunnel:
					role = "the " + encap + " tunnel"
				case bridges[d.Name] && d.Name != "docker0":
					if !d.Up || ports[d.Name] > 0 {
						role = "the pod bridge"
					}
				case strings.HasPrefix(d.Name, "cilium_") && d.Name != "cilium_wg0":
					role = "the Cilium device"
				case bridges[d.Master] || strings.HasPrefix(d.Name, "cali") || strings.HasPrefix(d.Name, "lxc"):
					short := "down"
					if d.Up {
						short = "no carrier"
					}
					vethDown = append(vethDown, d.Name+" ("+short+")")
					if len(vethEv) < 4 {
						vethEv = append(vethEv, devEvidence(c, nd, d))
					}
				}
				if role == "" {
					continue
				}
				impact := "pods on the node are cut off"
				switch role {
				case "the uplink":
					impact = "the node has lost its network: nothing reaches other nodes"
				case "the pod bridge":
					impact = "no pod on the node can send or receive anything"
				default:
					if tunnel {
						impact = "pods on the node cannot reach pods on other nodes, nor they them"
					}
				}
				c.Report(finding.Finding{
					Subject:  nodeSubject(name),
					Key:      d.Name,
					Message:  fmt.Sprintf("%s %s on node %s is %s: %s.", upperFirst(role), d.Name, name, state, impact),
					Evidence: []finding.Evidence{devEvidence(c, nd, d)},
					Remediation: fmt.Sprintf(`# confirm on the node:
ip -d link show %[1]s
# bring it up; if it has no carrier (NO-CARRIER), check its lower device or the CNI agent that owns it:
ip link set dev %[1]s up
%[2]s`, d.Name, agentLogsHint(m, name)),
				})
			}
			if len(vethDown) > 0 {
				c.Report(finding.Finding{
					Subject: nodeSubject(name),
					Key:     "pod-veths",
					Message: fmt.Sprintf("On node %s, %s down: %s. The pods behind them have no network (their sandbox or the veth peer is gone or down); a leftover veth of a deleted pod is harmless but shows the CNI DEL did not run.",
						name, countOf(len(vethDown), "pod veth")+map[bool]string{true: " is", false: " are"}[len(vethDown) == 1], joinMax(vethDown, 5)),
					Evidence: vethEv,
					Remediation: `# confirm on the node: which pod owns each veth (its peer netns), and its state
ip -d link show type veth
# a veth of a running pod that is down: recreate the pod; a leftover of a deleted pod: ip link del <veth>`,
				})
			}
		}
	},
}

// devState says how a device is down: "DOWN" (admin down) or "UP without carrier", "" when up.
func devState(d netDev) string {
	switch {
	case !d.Up:
		return "DOWN"
	case !d.LowerUp:
		return "UP but without carrier (NO-CARRIER, no LOWER_UP)"
	}
	return ""
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
