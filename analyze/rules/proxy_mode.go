package rules

import (
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
)

// The two rules of this file check kube-proxy's own configuration: the mode it was told to run
// in against the dataplane the nodes show, and whether it can tell pod traffic from the rest.

// usesKubeProxy tells whether Services are implemented by kube-proxy at all, noting why not:
// proxy mode none, or Cilium's kube-proxy replacement.
func usesKubeProxy(c *Context) bool {
	m := c.Model
	d := m.ProxyMode()
	if d.Name == "none" {
		c.Note("proxy mode %q (%s): Services are not implemented by kube-proxy", d.Name, strings.Join(d.Why, "; "))
		return false
	}
	if m.CNI().Name == "cilium" && len(kubeProxyPods(m)) == 0 && !hasKubeProxyDaemonSet(m) {
		c.Note("Cilium without a kube-proxy DaemonSet or pods: Services are implemented by Cilium's kube-proxy replacement, not checked here")
		return false
	}
	return true
}

// kubeProxyFlag returns a command-line flag of the kube-proxy pods (--name=value or --name
// value), from the first pod that sets it, with the line that sets it.
func kubeProxyFlag(m *model.Model, name string) (value string, pod *model.Pod, ev finding.Evidence, ok bool) {
	for _, p := range m.PodsIn("kube-system") {
		if !isKubeProxyPod(p) {
			continue
		}
		for ci, c := range p.Spec.Containers {
			for _, list := range []struct {
				field string
				args  []string
			}{{"command", c.Command}, {"args", c.Args}} {
				for i, a := range list.args {
					v, found := strings.CutPrefix(a, "--"+name+"=")
					if !found && a == "--"+name && i+1 < len(list.args) {
						v, found = list.args[i+1], true
					}
					if found {
						return v, p, m.Evidence(p.Src, "spec", "containers", itoa(ci), list.field, itoa(i)), true
					}
				}
			}
		}
	}
	return "", nil, finding.Evidence{}, false
}

// configuredMode is the proxy mode kube-proxy is told to use, where it is told, and the line
// that says it ("" in the ConfigMap means iptables on Linux).
type configuredMode struct {
	mode  string
	where string
	ev    finding.Evidence
}

// configuredProxyMode reads the mode as kube-proxy would: its --proxy-mode flag, else its
// ConfigMap. ok is false when the bundle has neither.
func configuredProxyMode(m *model.Model) (configuredMode, bool) {
	if v, p, ev, ok := kubeProxyFlag(m, "proxy-mode"); ok {
		return configuredMode{mode: v, where: "flag --proxy-mode=" + v + " of pod " + p.Name, ev: ev}, true
	}
	if kp := m.KubeProxyConfig(); kp != nil {
		where := fmt.Sprintf("ConfigMap kube-system/kube-proxy %s mode: %q", kp.Key, kp.Mode)
		if kp.Mode == "" {
			where = fmt.Sprintf("ConfigMap kube-system/kube-proxy %s (mode unset: iptables)", kp.Key)
		}
		return configuredMode{mode: kp.EffectiveMode(), where: where, ev: m.KubeProxyEvidence(kp, "mode")}, true
	}
	return configuredMode{}, false
}

// kubeProxyLogs are the log files of the kube-proxy pods, by pod name, previous logs first.
func kubeProxyLogs(b *bundle.Bundle) map[string][]*bundle.File {
	out := map[string][]*bundle.File{}
	for _, f := range b.Dir("logs/kube-system") {
		pod := path.Base(path.Dir(f.Path))
		if strings.HasPrefix(pod, "kube-proxy") && strings.HasSuffix(f.Path, ".log") {
			out[pod] = append(out[pod], f)
		}
	}
	for _, files := range out {
		sort.SliceStable(files, func(i, j int) bool {
			return strings.HasSuffix(files[i].Path, ".previous.log") && !strings.HasSuffix(files[j].Path, ".previous.log")
		})
	}
	return out
}

// grepFiles returns the last max lines of the files containing a needle (lower case).
func grepFiles(files []*bundle.File, max int, needles ...string) []finding.Evidence {
	var out []finding.Evidence
	for _, f := range files {
		for n := 1; n <= f.Lines(); n++ {
			l := strings.ToLower(f.Line(n))
			for _, needle := range needles {
				if strings.Contains(l, needle) {
					out = append(out, f.Evidence(n))
					break
				}
			}
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// ipvsFallbackLogs are what kube-proxy logs when it cannot run the IPVS proxier: older
// versions then fall back to iptables, 1.28 and later exit (and crash-loop).
var ipvsFallbackLogs = []string{
	"falling back to iptables proxier",
	"can't use the ipvs proxier",
	"ipvs proxier will not be used",
	"can't determine whether to use ipvs proxy",
}

// ipvsModules are the kernel modules kube-proxy's IPVS proxier checks for (nf_conntrack_ipv4
// on kernels before 4.19).
var ipvsModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

var kubeProxyModeMismatch = &Rule{
	ID:       "kube-proxy.mode-mismatch",
	Severity: finding.Warning,
	Title:    "kube-proxy runs another proxy mode than configured",
	Inputs:   Kinds("ConfigMap"),
	Doc: "The mode kube-proxy is configured with (--proxy-mode, else the kube-proxy ConfigMap; " +
		"unset means iptables) must be the dataplane the nodes show: IPVS virtual servers in " +
		"IPVS mode, nat KUBE-SERVICES jumps to KUBE-SVC- chains in iptables mode. A node showing " +
		"the other one runs a kube-proxy that fell back (IPVS kernel modules missing) or was not " +
		"restarted after the ConfigMap changed. Also reported: kube-proxy logging that it cannot " +
		"use the IPVS proxier, and IPVS mode on a node whose lsmod lacks the ip_vs modules while " +
		"it has no virtual server.",
	Check: func(c *Context) {
		m := c.Model
		if !usesKubeProxy(c) {
			return
		}
		st := proxyState(m)
		type nodeReport struct {
			why []string
			ev  []finding.Evidence
		}
		reports := map[string]*nodeReport{}
		add := func(node, why string, ev ...finding.Evidence) {
			r := reports[node]
			if r == nil {
				r = &nodeReport{}
				reports[node] = r
			}
			r.why = append(r.why, why)
			r.ev = append(r.ev, ev...)
		}
		cfg, configured := configuredProxyMode(m)
		switch {
		case !configured:
			c.Note("no kube-proxy ConfigMap or --proxy-mode flag in the bundle: the configured mode is unknown, only kube-proxy logs are checked")
		case cfg.mode != "iptables" && cfg.mode != "ipvs":
			c.Note("kube-proxy is configured for mode %q (%s): only iptables and IPVS modes are compared with the nodes", cfg.mode, cfg.where)
		}
		// Per node: the dataplane found against the configured mode, and the IPVS modules.
		var nodes []*model.NodeData
		if configured && (cfg.mode == "iptables" || cfg.mode == "ipvs") {
			nodes = nodesWithData(m)
		}
		for _, nd := range nodes {
			ix := st.node(nd)
			var iptRule int // first KUBE-SERVICES jump to a KUBE-SVC chain
			if ix.v4 != nil && len(ix.v4.clusterIP) > 0 {
				first := int32(math.MaxInt32)
				for _, i := range ix.v4.clusterIP {
					first = min(first, i)
				}
				iptRule = ix.v4.services.Rule(int(first)).Line
			}
			virtualServers := 0
			if ix.ipvs != nil {
				virtualServers = len(ix.ipvs.table.VirtualServers)
			}
			switch cfg.mode {
			case "ipvs":
				if iptRule > 0 && virtualServers == 0 {
					why := "its nat KUBE-SERVICES chain jumps to KUBE-SVC- chains, which only the iptables proxier writes"
					ev := []finding.Evidence{c.NodeEvidence(nd, model.CapIPTables, iptRule)}
					if ix.ipvs != nil {
						why += ", and IPVS has no virtual server"
						ev = append(ev, finding.Evidence{File: nd.Path(model.CapIPVS), Excerpt: "no IPVS virtual server"})
					}
					add(nd.Name, why, ev...)
				}
				if nd.Lsmod == nil {
					if virtualServers == 0 {
						c.NodeLacks(nd, model.CapLsmod)
					}
					break
				}
				if virtualServers > 0 {
					break // IPVS works here: the modules are loaded or built into the kernel
				}
				wanted := append([]string{}, ipvsModules...)
				if kp := m.KubeProxyConfig(); kp != nil && kp.IPVS.Scheduler != "" {
					if mod := "ip_vs_" + kp.IPVS.Scheduler; !slices.Contains(wanted, mod) {
						wanted = append(wanted, mod)
					}
				}
				var missing []string
				for _, mod := range wanted {
					if _, ok := nd.Lsmod.Loaded(mod); ok {
						continue
					}
					if _, ok := nd.Lsmod.Loaded(mod + "_ipv4"); ok && mod == "nf_conntrack" {
						continue
					}
					missing = append(missing, mod)
				}
				if len(missing) > 0 {
					add(nd.Name, fmt.Sprintf("lsmod lists no %s module, which the IPVS proxier needs", strings.Join(missing, ", ")),
						finding.Evidence{File: nd.Path(model.CapLsmod), Excerpt: "no " + strings.Join(missing, ", ") + " in lsmod"})
				}
			case "iptables":
				if virtualServers > 0 && iptRule == 0 {
					vs := ix.ipvs.table.VirtualServers[0]
					add(nd.Name, fmt.Sprintf("it has %d IPVS virtual server(s) and no nat KUBE-SERVICES jump to a KUBE-SVC- chain: the IPVS proxier runs there", virtualServers),
						c.NodeEvidence(nd, model.CapIPVS, vs.Line))
				}
			}
		}
		// The kube-proxy logs that say it could not use IPVS, whatever the configuration says.
		podNode := map[string]string{}
		for node, pods := range kubeProxyPods(m) {
			for _, p := range pods {
				podNode[p.Name] = node
			}
		}
		logs := kubeProxyLogs(m.Bundle)
		logged := map[string]bool{}
		for _, pod := range proxyKeys(logs) {
			ev := grepFiles(logs[pod], 3, ipvsFallbackLogs...)
			if len(ev) == 0 {
				continue
			}
			node := podNode[pod]
			if node == "" {
				node = "pod " + pod
			}
			add(node, fmt.Sprintf("pod %s logged that it cannot use the IPVS proxier: %s", pod, truncate(ev[len(ev)-1].Excerpt, 300)), ev...)
			logged[node] = true
		}
		for _, node := range proxyKeys(reports) {
			r := reports[node]
			subject := nodeSubject(node)
			target := "node " + node
			if pod, ok := strings.CutPrefix(node, "pod "); ok {
				subject = finding.Subject{Kind: "Pod", Namespace: "kube-system", Name: pod}
				target = "pod " + pod
			}
			var ev []finding.Evidence
			msg := fmt.Sprintf("kube-proxy on %s cannot run the IPVS proxier: %s.", target, strings.Join(r.why, "; "))
			if configured {
				msg = fmt.Sprintf("kube-proxy is configured for %s mode (%s), but %s does not run it: %s.", modeWord(cfg.mode), cfg.where, target, strings.Join(r.why, "; "))
				ev = append(ev, cfg.ev)
			}
			switch {
			case logged[node]:
				msg += " kube-proxy 1.28 and later exit when they cannot use IPVS (older ones fall back to iptables): the node then keeps the rules of its previous kube-proxy, no longer updated (see kube-proxy.not-running)."
			case configured && cfg.mode == "ipvs":
				msg += " Its kube-proxy fell back to iptables, or was not restarted since the ConfigMap changed: the IPVS settings (scheduler, strictARP for MetalLB) do not apply on this node, and Services behave differently there than on IPVS nodes."
			case configured && cfg.mode == "iptables":
				msg += " Its kube-proxy was started with IPVS (before the ConfigMap changed, or by a flag) and not restarted since: its next restart (node reboot, upgrade) silently switches this node's dataplane."
			}
			ev = append(ev, r.ev...)
			pod := ""
			if p := kubeProxyPodOn(m, node); p != nil {
				pod = p.Name
			}
			c.Report(finding.Finding{
				Subject:     subject,
				Key:         node,
				Message:     msg,
				Evidence:    dedupeEvidence(ev),
				Remediation: modeMismatchRemediation(node, pod, cfg.mode),
			})
		}
	},
}

func modeMismatchRemediation(node, pod, mode string) string {
	sel := "$(kubectl -n kube-system get pods -l k8s-app=kube-proxy --field-selector spec.nodeName=" + node + " -o name)"
	if pod != "" {
		sel = pod
	}
	if strings.HasPrefix(node, "pod ") {
		sel = strings.TrimPrefix(node, "pod ")
	}
	s := fmt.Sprintf(`# which proxier kube-proxy started, and why ("Using ipvs Proxier" / "Using iptables Proxier" / "can't use the IPVS proxier")
kubectl -n kube-system logs %[1]s | grep -iE 'proxier|ipvs|kernel module'
# the mode it is configured with (ConfigMap and flags)
kubectl -n kube-system get configmap kube-proxy -o yaml | grep -E '^ *mode:'
kubectl -n kube-system get daemonset kube-proxy -o yaml | grep -E -- '--proxy-mode|--config'
`, sel)
	if mode == "ipvs" {
		s += `# on the node: load the IPVS modules now and at every boot (kube-proxy 1.28+ exits instead of falling back)
modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack
printf '%s\n' ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack > /etc/modules-load.d/ipvs.conf
lsmod | grep -E '^(ip_vs|nf_conntrack)'
`
	}
	s += `# if the configured mode is not the one intended, fix it first:  kubectl -n kube-system edit configmap kube-proxy
# restart kube-proxy so every pod runs the configured mode (it removes the other mode's rules at start)
kubectl -n kube-system rollout restart daemonset kube-proxy`
	return s
}

var kubeProxyClusterCIDRUnset = &Rule{
	ID:       "kube-proxy.cluster-cidr-unset",
	Severity: finding.Warning,
	Title:    "kube-proxy has no clusterCIDR to tell pod traffic from the rest",
	Inputs:   Kinds("ConfigMap"),
	Doc: "With detectLocalMode ClusterCIDR (the default) kube-proxy recognises traffic from pods " +
		"by the clusterCIDR (or --cluster-cidr). Without it kube-proxy logs \"Detect-local-mode " +
		"set to ClusterCIDR, but no cluster CIDR defined\" and falls back to a no-op detector: " +
		"ClusterIP traffic from outside the pod network is not masqueraded, and pods cannot " +
		"short-circuit to LoadBalancer IPs of externalTrafficPolicy: Local Services, so from " +
		"nodes without a local endpoint that traffic is dropped.",
	Check: func(c *Context) {
		m := c.Model
		if !usesKubeProxy(c) {
			return
		}
		kp := m.KubeProxyConfig()
		if kp == nil {
			c.Note("no KubeProxyConfiguration in ConfigMap kube-system/kube-proxy: kube-proxy's clusterCIDR is not checked")
			return
		}
		if v, p, _, ok := kubeProxyFlag(m, "cluster-cidr"); ok && strings.TrimSpace(v) != "" {
			c.Note("pod %s sets --cluster-cidr=%s", p.Name, v)
			return
		}
		if strings.TrimSpace(kp.ClusterCIDR) != "" || len(detectLocalClusterCIDRs(kp)) > 0 {
			return
		}
		localMode := kp.DetectLocalMode
		if v, _, _, ok := kubeProxyFlag(m, "detect-local-mode"); ok {
			localMode = v
		}
		if localMode != "" && localMode != "ClusterCIDR" {
			return // NodeCIDR, BridgeInterface, InterfaceNamePrefix do not use the clusterCIDR
		}
		ev := []finding.Evidence{m.KubeProxyEvidence(kp, "clusterCIDR")}
		if kp.Line("detectLocalMode") > 0 {
			ev = append(ev, m.KubeProxyEvidence(kp, "detectLocalMode"))
		}
		logs := kubeProxyLogs(m.Bundle)
		for _, pod := range proxyKeys(logs) {
			if l := grepFiles(logs[pod], 1, "but no cluster cidr defined", "no cluster cidr specified for primary ip family", "but no ipv4 cluster cidr defined"); len(l) > 0 {
				ev = append(ev, l...)
				break
			}
		}
		mode := "ClusterCIDR (the default)"
		if localMode == "ClusterCIDR" {
			mode = "ClusterCIDR"
		}
		cidr, from := podNetworkHint(m)
		msg := fmt.Sprintf("kube-proxy's configuration (ConfigMap kube-system/kube-proxy, key %s) has no clusterCIDR while detectLocalMode is %s, and no kube-proxy pod passes --cluster-cidr. kube-proxy then cannot tell traffic from pods from traffic from elsewhere: it does not masquerade ClusterIP traffic arriving from outside the pod network, so when such traffic is sent to a pod on another node the reply returns to the client directly, un-NATed, and the connection fails; and pods on a node without a local endpoint of an externalTrafficPolicy: Local Service cannot reach its LoadBalancer IP (dropped).", kp.Key, mode)
		set := "<the pod network CIDR>"
		if cidr != "" {
			msg += fmt.Sprintf(" The pod network is %s (%s).", cidr, from)
			set = cidr
		}
		c.Report(finding.Finding{
			Subject:  finding.Subject{Kind: "ConfigMap", Namespace: "kube-system", Name: kp.ConfigMap.Name},
			Key:      kp.Key,
			Message:  msg,
			Evidence: dedupeEvidence(ev),
			Remediation: fmt.Sprintf(`# kube-proxy says so at start
kubectl -n kube-system logs -l k8s-app=kube-proxy --tail=-1 | grep -i 'detect-local'
# in key %[1]s set the pod network:  clusterCIDR: %[2]s
kubectl -n kube-system edit configmap kube-proxy
# kube-proxy reads its configuration only at start
kubectl -n kube-system rollout restart daemonset kube-proxy
# kubeadm clusters: also set networking.podSubnet in the kubeadm-config ConfigMap so upgrades keep it
kubectl -n kube-system get configmap kubeadm-config -o yaml | grep -i podSubnet`, kp.Key, set),
		})
	},
}

// detectLocalClusterCIDRs reads detectLocal.clusterCIDRs, the v1alpha2 form of clusterCIDR,
// which the kube-proxy config parser does not keep.
func detectLocalClusterCIDRs(kp *model.KubeProxyConfig) []string {
	var v struct {
		DetectLocal struct {
			ClusterCIDRs []string `yaml:"clusterCIDRs"`
		} `yaml:"detectLocal"`
	}
	if yaml.Unmarshal([]byte(kp.ConfigMap.Data[kp.Key]), &v) != nil {
		return nil
	}
	var out []string
	for _, s := range v.DetectLocal.ClusterCIDRs {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// podNetworkHint says what the pod network is, for the remediation: kubeadm's podSubnet,
// else flannel's Network.
func podNetworkHint(m *model.Model) (cidr, from string) {
	if cm := m.ConfigMap("kube-system", "kubeadm-config"); cm != nil {
		var cc struct {
			Networking struct {
				PodSubnet string `yaml:"podSubnet"`
			} `yaml:"networking"`
		}
		if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc) == nil && cc.Networking.PodSubnet != "" {
			return cc.Networking.PodSubnet, "networking.podSubnet of ConfigMap kube-system/kubeadm-config"
		}
	}
	for _, cm := range m.ConfigMaps {
		conf, ok := cm.Data["net-conf.json"]
		if !ok {
			continue
		}
		var nc struct {
			Network string `yaml:"Network"`
		}
		if yaml.Unmarshal([]byte(conf), &nc) == nil && nc.Network != "" {
			return nc.Network, fmt.Sprintf("Network of ConfigMap %s/%s net-conf.json", cm.Namespace, cm.Name)
		}
	}
	return "", ""
}

func proxyKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
