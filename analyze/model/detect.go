package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/parsers/kubeproxy"
)

// Detection is what the analysis assumed about the cluster (its CNI, its proxy mode) and why.
type Detection struct {
	Name string `json:"name"`
	// Detail refines Name: the overlay backend (vxlan, host-gw, ipip, bgp…) for a CNI.
	Detail string   `json:"detail,omitempty"`
	Why    []string `json:"why"`
}

// CNIAgents are the known CNI agents, recognised by the name of the DaemonSet (or pod prefix)
// that runs them.
var CNIAgents = []struct{ Prefix, CNI string }{
	{"kube-flannel-ds", "flannel"}, {"kube-flannel", "flannel"}, {"flannel", "flannel"},
	{"calico-node", "calico"}, {"canal", "canal"}, {"cilium", "cilium"},
	{"weave-net", "weave"}, {"kube-ovn-cni", "kube-ovn"}, {"ovs-ovn", "kube-ovn"},
	{"antrea-agent", "antrea"}, {"kube-router", "kube-router"},
}

// cniNamespaces are where CNI agents run.
var cniNamespaces = map[string]bool{
	"kube-system": true, "kube-flannel": true, "calico-system": true, "cilium": true,
	"kube-ovn": true, "antrea-system": true, "kube-router": true, "weave": true,
}

// CNIAgentOf tells whether a pod is a CNI agent, and which CNI: by its owning DaemonSet's name,
// else (a pod without owner, in a system or CNI namespace) by its own name. Pods owned by
// anything else (a flannel-exporter Deployment) and operators (cilium-operator) are not agents.
func CNIAgentOf(p *Pod) (string, bool) {
	name := ""
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			name = o.Name
		}
	}
	if name == "" {
		if len(p.OwnerReferences) > 0 || !cniNamespaces[p.Namespace] {
			return "", false
		}
		name = p.Name
	}
	if strings.Contains(name, "operator") {
		return "", false
	}
	for _, a := range CNIAgents {
		if strings.HasPrefix(name, a.Prefix) {
			return a.CNI, true
		}
	}
	return "", false
}

// cniPluginTypes maps a CNI config plugin type to the CNI it belongs to.
var cniPluginTypes = map[string]string{
	"flannel": "flannel", "calico": "calico", "cilium-cni": "cilium", "weave-net": "weave",
	"kube-ovn": "kube-ovn", "antrea": "antrea", "bridge": "bridge", "ptp": "ptp",
	"macvlan": "macvlan", "ipvlan": "ipvlan", "multus": "multus", "kube-router": "kube-router",
}

// cniDevices are devices a CNI creates on every node.
var cniDevices = []struct{ prefix, cni, detail string }{
	{"flannel.", "flannel", "vxlan"}, {"flannel-wg", "flannel", "wireguard"},
	{"vxlan.calico", "calico", "vxlan"}, {"tunl0", "calico", "ipip"}, {"cali", "calico", ""},
	{"cilium_host", "cilium", ""}, {"cilium_vxlan", "cilium", "vxlan"}, {"cilium_geneve", "cilium", "geneve"},
	{"weave", "weave", ""}, {"antrea-gw0", "antrea", ""}, {"ovn0", "kube-ovn", ""},
}

// CNI detects the cluster's network plugin from its agents, the nodes' CNI configs and devices.
func (m *Model) CNI() Detection {
	if m.cni != nil {
		return *m.cni
	}
	votes := map[string][]string{}
	detail := ""
	for _, ds := range m.DaemonSets {
		for _, a := range CNIAgents {
			if strings.HasPrefix(ds.Name, a.Prefix) && !strings.Contains(ds.Name, "operator") {
				votes[a.CNI] = append(votes[a.CNI], fmt.Sprintf("DaemonSet %s/%s", ds.Namespace, ds.Name))
				break
			}
		}
	}
	for _, name := range m.NodeNames() {
		nd := m.NodeData(name)
		if c := nd.CNIActive; c != nil {
			for _, p := range c.Plugins {
				if cni, ok := cniPluginTypes[p.Type]; ok {
					votes[cni] = append(votes[cni], fmt.Sprintf("%s (type %q)", c.Path, p.Type))
					break
				}
			}
		}
		if nd.Links != nil {
			for _, l := range nd.Links.Links {
				for _, d := range cniDevices {
					if strings.HasPrefix(l.Name, d.prefix) {
						votes[d.cni] = append(votes[d.cni], fmt.Sprintf("device %s on %s", l.Name, name))
						if detail == "" {
							detail = d.detail
						}
						break
					}
				}
			}
		}
	}
	if b := m.flannelBackend(); b != "" {
		detail = b
	}
	d := Detection{Name: "unknown", Why: []string{"no CNI agent DaemonSet, CNI config or CNI device found in the bundle"}}
	best := 0.0
	for _, cni := range sortedKeys(votes) {
		// Agents outrank generic plugins: flannel delegates to bridge, canal is calico+flannel.
		// A generic plugin still wins when nothing else voted (a plain bridge cluster).
		weight := float64(len(votes[cni]))
		if cni == "bridge" || cni == "ptp" || cni == "multus" {
			weight /= 4
		}
		if cni == "canal" {
			weight += 1000 // a canal DaemonSet is decisive; calico and flannel votes are its parts
		}
		if weight > best {
			best = weight
			d = Detection{Name: cni, Why: dedupeStrings(votes[cni], 4)}
		}
	}
	if d.Name == "flannel" || d.Name == "calico" || d.Name == "cilium" || d.Name == "canal" {
		d.Detail = detail
	}
	m.cni = &d
	return d
}

// flannelBackend reads the Backend.Type of flannel's net-conf.json, when the ConfigMap is there.
func (m *Model) flannelBackend() string {
	for _, cm := range m.ConfigMaps {
		conf, ok := cm.Data["net-conf.json"]
		if !ok {
			continue
		}
		var nc struct {
			Backend struct {
				Type string `json:"Type"`
			} `json:"Backend"`
		}
		if json.Unmarshal([]byte(conf), &nc) == nil && nc.Backend.Type != "" {
			return strings.ToLower(nc.Backend.Type)
		}
	}
	return ""
}

// EnforcesNetworkPolicy tells whether the detected CNI enforces NetworkPolicies.
func (d Detection) EnforcesNetworkPolicy() bool {
	switch d.Name {
	case "calico", "canal", "cilium", "weave", "antrea", "kube-ovn", "kube-router":
		return true
	}
	return false
}

// KubeProxyConfig is kube-proxy's configuration as found in its ConfigMap.
type KubeProxyConfig struct {
	*kubeproxy.Config
	ConfigMap *ConfigMap
	Key       string
}

// KubeProxyConfig parses the KubeProxyConfiguration in kube-system/kube-proxy (key config.conf,
// or any key holding one). Nil when the bundle has none.
func (m *Model) KubeProxyConfig() *KubeProxyConfig {
	if m.kubeProxy != nil {
		return *m.kubeProxy
	}
	var out *KubeProxyConfig
	cm := m.ConfigMap("kube-system", "kube-proxy")
	if cm != nil {
		keys := sortedKeys(cm.Data)
		sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "config.conf" && keys[j] != "config.conf" })
		for _, k := range keys {
			if !strings.Contains(cm.Data[k], "KubeProxyConfiguration") && k != "config.conf" {
				continue
			}
			cfg, err := kubeproxy.Parse(strings.NewReader(cm.Data[k]))
			base := m.Evidence(cm.Src, "data", k).Line
			for _, w := range innerWarnings(cfg) {
				m.warn(cm.Src.File, base+w.Line, "kube-proxy %s: %s", k, w.Message)
			}
			if err == nil && cfg != nil {
				out = &KubeProxyConfig{Config: cfg, ConfigMap: cm, Key: k}
				break
			}
		}
	}
	m.kubeProxy = &out
	return out
}

// Evidence quotes a key of the embedded configuration (dotted path, e.g. "mode"), or the
// ConfigMap key itself when that key is absent. The embedded text is a YAML block scalar, so
// its line n stands n lines below the key's line.
func (m *Model) KubeProxyEvidence(kp *KubeProxyConfig, keyPath string) finding.Evidence {
	base := m.Evidence(kp.ConfigMap.Src, "data", kp.Key)
	if l := kp.Line(keyPath); l > 0 && base.Line > 0 {
		f := m.Bundle.File(kp.ConfigMap.Src.File)
		return f.Evidence(base.Line + l)
	}
	return base
}

// ProxyMode detects how Services are implemented: kube-proxy's configured mode, checked against
// the dataplane the nodes show.
func (m *Model) ProxyMode() Detection {
	if m.proxy != nil {
		return *m.proxy
	}
	var why []string
	mode := ""
	if kp := m.KubeProxyConfig(); kp != nil {
		mode = kp.EffectiveMode()
		why = append(why, fmt.Sprintf("ConfigMap kube-system/kube-proxy %s: mode %q", kp.Key, kp.Mode))
	}
	for _, p := range m.PodsIn("kube-system") {
		if !strings.HasPrefix(p.Name, "kube-proxy") {
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, a := range append(append([]string{}, c.Command...), c.Args...) {
				if v, ok := strings.CutPrefix(a, "--proxy-mode="); ok {
					mode = v
					why = append(why, fmt.Sprintf("pod %s flag %s", p.Name, a))
				}
			}
		}
		break
	}
	ipvs, ipt := 0, 0
	for _, name := range m.NodeNames() {
		nd := m.NodeData(name)
		if nd.IPVS != nil && len(nd.IPVS.VirtualServers) > 0 {
			ipvs++
		}
		if nd.IPTables != nil {
			if t := nd.IPTables.Table("nat"); t != nil && t.Chain("KUBE-SERVICES") != nil && t.Chain("KUBE-SERVICES").Len() > 0 {
				ipt++
			}
		}
	}
	if ipvs > 0 {
		why = append(why, fmt.Sprintf("%d node(s) have IPVS virtual servers", ipvs))
	}
	if ipt > 0 {
		why = append(why, fmt.Sprintf("%d node(s) have KUBE-SERVICES rules in the nat table", ipt))
	}
	if mode == "" {
		switch {
		case ipvs > 0:
			mode = "ipvs"
		case ipt > 0:
			mode = "iptables"
		case m.CNI().Name == "cilium" && !m.hasKubeProxy():
			mode = "none"
			why = append(why, "no kube-proxy DaemonSet; Cilium replaces it")
		default:
			mode = "unknown"
			why = append(why, "no kube-proxy ConfigMap, flags or Service rules found")
		}
	}
	d := Detection{Name: mode, Why: why}
	m.proxy = &d
	return d
}

func (m *Model) hasKubeProxy() bool {
	for _, ds := range m.DaemonSets {
		if strings.HasPrefix(ds.Name, "kube-proxy") {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func dedupeStrings(s []string, max int) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("and %d more", len(out)-max))
	}
	return out
}
