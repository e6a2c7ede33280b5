package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/iproute"
	"github.com/netsift/netsift/parsers/sysctl"
)

// hostRules is this file's part of the catalogue; registry.go lists it. They are the node-level
// rules: kernel settings, devices, CNI configuration and the CNI's own failure messages.
var hostRules = []*Rule{
	sysctlIPForwardOff,
	sysctlBridgeNFOff,
	nodeSELinuxBlocksCNI,
	hairpinDisabled,
	sysctlRPFilterStrict,
	sysctlPortRangeOverlap,
	conntrackTableFull,
	conntrackInsertFailed,
	linkMTUMismatch,
	linkDown,
	cniConfigMissing,
	cniConfigMultiple,
	nodePodCIDRUnassigned,
	cniSandboxFailed,
	cniIPAMExhausted,
}

// maxEvidenceLine is the longest line quoted as it is; a longer one (compact `ip -j` output is a
// single line) is cited as the file with a summary instead, so a report stays readable.
const maxEvidenceLine = 300

// captureEvidence quotes line n of a node capture, or cites the file with summary when the line
// is too long to be read in a report.
func captureEvidence(c *Context, nd *model.NodeData, capture string, n int, summary string) finding.Evidence {
	ev := c.NodeEvidence(nd, capture, n)
	if len(ev.Excerpt) > maxEvidenceLine || ev.Line == 0 {
		return finding.Evidence{File: nd.Path(capture), Excerpt: "(" + summary + ")"}
	}
	return ev
}

// bridgeCNIs are the CNIs that attach pods to a Linux bridge, where bridged pod traffic passes
// iptables only through br_netfilter and reaching oneself needs hairpin.
var bridgeCNIs = map[string]bool{"bridge": true, "flannel": true, "canal": true, "weave": true, "kubenet": true}

// bridgePluginTypes are the CNI plugin types that put pods on a bridge.
var bridgePluginTypes = map[string]bool{"bridge": true, "flannel": true, "weave-net": true}

// nodeBridgeCNI tells whether a node's pods hang off a Linux bridge, and why: its active CNI
// config when there is one, else the CNI detected for the cluster.
func nodeBridgeCNI(m *model.Model, nd *model.NodeData) (bool, string) {
	if a := nd.CNIActive; a != nil && len(a.Plugins) > 0 {
		for _, p := range a.Plugins {
			if bridgePluginTypes[p.Type] {
				return true, fmt.Sprintf("its CNI config %s uses plugin %q", a.Path, p.Type)
			}
		}
		return false, ""
	}
	if nd.KubeletCmdline != nil {
		if f, ok := nd.KubeletCmdline.NetworkPlugin(); ok && f.Value == "kubenet" {
			return true, "the kubelet runs --network-plugin=kubenet"
		}
	}
	if cni := m.CNI(); bridgeCNIs[cni.Name] {
		return true, "the cluster's CNI is " + cni.Name
	}
	return false, ""
}

// sysctlDevice returns the device of a per-device key (net.ipv4.conf.<dev>.<param>), with the
// slashes sysctl prints for a device's dots turned back.
func sysctlDevice(key, prefix, param string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix+".")
	if !ok {
		return "", false
	}
	dev, ok := strings.CutSuffix(rest, "."+param)
	if !ok || dev == "" {
		return "", false
	}
	return strings.ReplaceAll(dev, "/", "."), true
}

// deviceSysctl reads a per-device key in either spelling (flannel/1 as sysctl prints it, or
// flannel.1 as some tools write it).
func deviceSysctl(s *sysctl.Sysctls, prefix, dev, param string) (int64, sysctl.Entry, bool) {
	if v, e, ok := s.Int(sysctl.DeviceKey(prefix, dev, param)); ok {
		return v, e, true
	}
	return s.Int(prefix + "." + dev + "." + param)
}

// netDev is one network device of a node, from `ip -d link` (preferred) or `ip addr`.
type netDev struct {
	Name, Master, Kind, State string
	Index, MTU                int
	Up, LowerUp, Promisc      bool
	Hairpin                   *bool // bridge_slave hairpin, when ip -d link shows it
	Flags                     []string
	Line                      int
	Capture                   string
}

// nodeDevices lists a node's devices and the capture they come from; nil when neither
// ip-link nor ip-addr is there.
func nodeDevices(nd *model.NodeData) ([]netDev, string) {
	var out []netDev
	if nd.Links != nil {
		for _, l := range nd.Links.Links {
			d := netDev{Name: l.Name, Master: l.Master, Kind: l.Kind, State: l.OperState, Index: l.Index, MTU: l.MTU,
				Up: l.Up(), LowerUp: l.LowerUp(), Promisc: l.Promisc(), Flags: l.Flags, Line: l.Line, Capture: model.CapLink}
			if l.BridgePort != nil {
				h := l.BridgePort.Hairpin
				d.Hairpin = &h
			}
			out = append(out, d)
		}
		return out, model.CapLink
	}
	if nd.Addrs != nil {
		for _, i := range nd.Addrs.Interfaces {
			out = append(out, netDev{Name: i.Name, Master: i.Master, State: i.State, Index: i.Index, MTU: i.MTU,
				Up: i.Up(), LowerUp: linkHasFlag(i.Flags, "LOWER_UP"), Promisc: linkHasFlag(i.Flags, "PROMISC"), Flags: i.Flags,
				Line: i.Line, Capture: model.CapAddr})
		}
		return out, model.CapAddr
	}
	return nil, ""
}

func linkHasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// devEvidence quotes a device's header line. When the capture read is compact JSON, the text
// twin (ip-link.txt / ip-addr.txt) is quoted instead where the bundle has it.
func devEvidence(c *Context, nd *model.NodeData, d netDev) finding.Evidence {
	summary := fmt.Sprintf("%s: mtu %d, flags %s", d.Name, d.MTU, strings.Join(d.Flags, ","))
	if strings.HasSuffix(nd.Path(d.Capture), ".json") {
		if f := c.Model.Bundle.File("nodes/" + nd.Name + "/" + d.Capture + ".txt"); f != nil {
			for n := 1; n <= f.Lines(); n++ {
				l := f.Line(n)
				if strings.HasPrefix(l, fmt.Sprintf("%d: %s:", d.Index, d.Name)) || strings.HasPrefix(l, fmt.Sprintf("%d: %s@", d.Index, d.Name)) {
					return f.Evidence(n)
				}
			}
		}
	}
	return captureEvidence(c, nd, d.Capture, d.Line, summary)
}

// cniBridgeNames are the bridges CNIs create for pods; a CNI config's "bridge" adds to them.
var cniBridgeNames = []string{"cni0", "cbr0", "kube-bridge", "weave", "docker0"}

// tunnelDevice tells whether a device is a CNI tunnel and the encapsulation overhead it adds.
func tunnelDevice(d netDev) (encap string, overhead int, ok bool) {
	switch {
	case d.Kind == "vxlan" || strings.HasPrefix(d.Name, "flannel.") || d.Name == "vxlan.calico" || d.Name == "cilium_vxlan" || strings.HasPrefix(d.Name, "vxlan_sys"):
		return "VXLAN", 50, true
	case d.Kind == "geneve" || d.Name == "cilium_geneve" || strings.HasPrefix(d.Name, "genev_sys"):
		return "Geneve", 50, true
	case d.Kind == "wireguard" || strings.HasPrefix(d.Name, "flannel-wg") || d.Name == "wireguard.cali" || d.Name == "cilium_wg0":
		return "WireGuard", 60, true
	case d.Kind == "ipip" || d.Name == "tunl0" || d.Name == "flannel.ipip":
		return "IPIP", 20, true
	}
	return "", 0, false
}

// cniBridges returns the names of the node's pod bridges: the known names and any bridge a CNI
// config names.
func cniBridges(nd *model.NodeData) map[string]bool {
	out := map[string]bool{}
	for _, b := range cniBridgeNames {
		out[b] = true
	}
	for _, cf := range nd.CNI {
		for _, p := range cf.Plugins {
			if p.Bridge != "" {
				out[p.Bridge] = true
			}
			if p.Delegate != nil && p.Delegate.Bridge != "" {
				out[p.Delegate.Bridge] = true
			}
		}
	}
	return out
}

// uplinks returns the devices of the node's IPv4 default routes (any table but local); else the
// device holding the node's InternalIP.
func uplinks(m *model.Model, nd *model.NodeData) []string {
	var out []string
	seen := map[string]bool{}
	if nd.Routes != nil {
		for _, r := range nd.Routes.All() {
			if isDefaultV4(r.Dst) && r.Table != "local" && (r.Type == "" || r.Type == "unicast") {
				for _, dev := range routeDevs(r) {
					if dev != "" && !seen[dev] {
						seen[dev] = true
						out = append(out, dev)
					}
				}
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	if n := m.Node(nd.Name); n != nil && nd.Addrs != nil {
		for _, a := range n.Status.Addresses {
			if a.Type != "InternalIP" {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				if i := nd.Addrs.Owner(ip); i != nil && !seen[i.Name] {
					seen[i.Name] = true
					out = append(out, i.Name)
				}
			}
		}
	}
	return out
}

func isDefaultV4(p netip.Prefix) bool { return p.IsValid() && p.Bits() == 0 && p.Addr().Is4() }

// routeDevs returns a route's device and its nexthops' devices.
func routeDevs(r iproute.Route) []string {
	out := []string{r.Dev}
	for _, h := range r.Nexthops {
		out = append(out, h.Dev)
	}
	return out
}

func devByName(devs []netDev, name string) (netDev, bool) {
	for _, d := range devs {
		if d.Name == name {
			return d, true
		}
	}
	return netDev{}, false
}

// plural returns "1 port" / "3 ports".
func countOf(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// listNames joins up to max names, saying how many more there are.
func joinMax(names []string, max int) string {
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
	}
	return strings.Join(names, ", ")
}
