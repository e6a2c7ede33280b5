package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/parsers/cniconf"
)

// cniAgentsOn returns the CNI agent pods scheduled on a node.
// agentName is " (flannel)" for the detected CNI, "" when unknown.
func agentName(m *model.Model) string {
	if n := m.CNI().Name; n != "unknown" {
		return " (" + n + ")"
	}
	return ""
}

// agentRestartHint is ":\nkubectl -n NS delete pod AGENT" for the CNI agent on a node.
func agentRestartHint(m *model.Model, node string) string {
	if agents := cniAgentsOn(m, node); len(agents) > 0 {
		return fmt.Sprintf(":\nkubectl -n %s delete pod %s", agents[0].Namespace, agents[0].Name)
	}
	return ""
}

func prefixNL(s string) string {
	if s == "" {
		return ""
	}
	return "\n" + s
}

func cniAgentsOn(m *model.Model, node string) []*model.Pod {
	var out []*model.Pod
	for _, p := range m.PodsOn(node) {
		if _, ok := model.CNIAgentOf(p); ok {
			out = append(out, p)
		}
	}
	return out
}

// agentLogsHint is the remediation line that reads the CNI agent's logs on a node ("" when
// the bundle shows no agent pod there).
func agentLogsHint(m *model.Model, node string) string {
	agents := cniAgentsOn(m, node)
	if len(agents) == 0 {
		return ""
	}
	p := agents[0]
	ctr := failingContainer(p)
	if ctr == "" && len(p.Spec.Containers) > 0 {
		ctr = p.Spec.Containers[0].Name
	}
	return fmt.Sprintf("kubectl -n %s logs %s -c %s --previous", p.Namespace, p.Name, ctr)
}

var nodeSELinuxBlocksCNI = &Rule{
	ID:       "node.selinux-blocks-cni",
	Severity: finding.Critical,
	Title:    "SELinux stops the CNI installer writing /etc/cni/net.d",
	Inputs:   append(Kinds("Pod"), Input{NodeFile: model.CapSELinux}),
	Doc: "The CNI agent's installer (flannel install-cni, calico install-cni …) logs Permission " +
		"denied writing /etc/cni/net.d on a node whose SELinux is Enforcing: the CNI config is never " +
		"installed, the node stays NetworkPluginNotReady and no pod there gets a network.",
	Check: func(c *Context) {
		m := c.Model
		type hit struct {
			pod *model.Pod
			ev  []finding.Evidence
		}
		byNode := map[string][]hit{}
		for _, p := range m.Pods {
			if _, ok := model.CNIAgentOf(p); !ok || p.Spec.NodeName == "" {
				continue
			}
			var ev []finding.Evidence
			for _, e := range grepLogs(m.Bundle, p, 6, "permission denied") {
				if strings.Contains(e.Excerpt, "/etc/cni") || strings.Contains(e.Excerpt, "net.d") {
					ev = append(ev, e)
				}
			}
			if len(ev) > 0 {
				byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], hit{p, ev[:min(len(ev), 2)]})
			}
		}
		for _, name := range hostSortedKeys(byNode) {
			nd := m.NodeData(name)
			hits := byNode[name]
			if nd.SELinux == nil {
				c.NodeLacks(nd, model.CapSELinux)
				continue
			}
			mode, modeEv := selinuxMode(c, nd)
			if mode != "enforcing" {
				c.Note("node %s: CNI installer logs Permission denied on /etc/cni/net.d, but SELinux is %s there (not the cause)", name, firstNonEmpty(mode, "unknown"))
				continue
			}
			var ev []finding.Evidence
			var pods []string
			for _, h := range hits {
				ev = append(ev, h.ev...)
				pods = append(pods, h.pod.Namespace+"/"+h.pod.Name)
			}
			ev = append(ev, modeEv)
			p := hits[0].pod
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("On node %s the CNI installer cannot write /etc/cni/net.d (Permission denied, pod %s) and SELinux is Enforcing there. "+
					"The CNI config is never installed: the kubelet reports NetworkPluginNotReady (cni plugin not initialized), the node stays NotReady, and no pod on it gets a network. "+
					"The installer container runs confined and the directory's label does not let it write.", name, strings.Join(pods, ", ")),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# confirm on the node: the mode, the AVC denials and the directory's label
getenforce
ausearch -m avc -ts recent | grep -i cni
ls -Zd /etc/cni/net.d
# fix: relabel the directory to its policy default, or run the installer container with securityContext.seLinuxOptions.type: spc_t
restorecon -Rv /etc/cni/net.d
# stopgap: permissive now and at boot
setenforce 0
sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
# then let the agent retry at once:
kubectl -n %s delete pod %s`, p.Namespace, p.Name),
			})
		}
	},
}

// selinuxMode is the node's SELinux mode and the line that says it. The collector writes
// "mode: enforcing" (collect/FORMAT.md), which parsers/selinux does not read yet (it knows
// getenforce, sestatus and the config file); that line is read here until it does.
func selinuxMode(c *Context, nd *model.NodeData) (string, finding.Evidence) {
	if nd.SELinux.Mode != "" {
		return nd.SELinux.Mode, captureEvidence(c, nd, model.CapSELinux, nd.SELinux.Line, "SELinux mode: "+nd.SELinux.Mode)
	}
	if f := c.Model.Bundle.File(nd.Path(model.CapSELinux)); f != nil {
		for n := 1; n <= f.Lines(); n++ {
			if v, ok := strings.CutPrefix(strings.TrimSpace(f.Line(n)), "mode:"); ok {
				return strings.ToLower(strings.TrimSpace(v)), f.Evidence(n)
			}
		}
	}
	return "", finding.Evidence{}
}

func hostSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cniDirRecordEvidence quotes the manifest line of the command that listed a node's
// /etc/cni/net.d, so "collected and empty" cites what proves it.
func cniDirRecordEvidence(b *bundle.Bundle, node string) (finding.Evidence, bool) {
	if b.Manifest == nil {
		return finding.Evidence{}, false
	}
	var rec *bundle.CommandRecord
	for i, r := range b.Manifest.Commands {
		if r.Node == node && r.ExitCode == 0 && !r.TimedOut && (r.ID == "cni" || strings.HasSuffix(r.ID, ".cni") ||
			strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "/cni")) {
			rec = &b.Manifest.Commands[i]
		}
	}
	if rec == nil {
		return finding.Evidence{}, false
	}
	f := b.File("manifest.json")
	if f == nil {
		return finding.Evidence{}, false
	}
	for n := 1; n <= f.Lines(); n++ {
		if !strings.Contains(f.Line(n), rec.Command) {
			continue
		}
		for k := max(1, n-4); k <= min(f.Lines(), n+4); k++ {
			if strings.Contains(f.Line(k), `"`+node+`"`) {
				return f.Evidence(n), true
			}
		}
	}
	return finding.Evidence{File: "manifest.json", Excerpt: fmt.Sprintf("(record %s on %s: `%s` exit 0, %d bytes)", rec.ID, node, rec.Command, rec.Bytes)}, true
}

var cniConfigMissing = &Rule{
	ID:       "cni.config-missing",
	Severity: finding.Critical,
	Title:    "No CNI configuration on a node",
	Inputs:   Kinds("Node"),
	Doc: "A node whose /etc/cni/net.d holds no config (.conf, .conflist, .json), or whose kubelet " +
		"reports NetworkPluginNotReady / cni plugin not initialized, cannot give any pod a network: " +
		"it is NotReady and every sandbox fails. The CNI agent writes the file when it starts.",
	Check: func(c *Context) {
		m := c.Model
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			var ev []finding.Evidence
			var what []string
			if len(nd.CNI) == 0 {
				listed, ok := cniDirRecordEvidence(m.Bundle, name)
				switch {
				case len(m.Bundle.Dir(nd.Path(model.CapCNIDir))) > 0:
					var names []string
					for _, f := range m.Bundle.Dir(nd.Path(model.CapCNIDir)) {
						names = append(names, strings.TrimPrefix(f.Path, nd.Path(model.CapCNIDir)+"/"))
						ev = append(ev, finding.Evidence{File: f.Path, Excerpt: "(not a CNI config the runtime loads: it reads only *.conf, *.conflist, *.json that parse)"})
					}
					what = append(what, fmt.Sprintf("/etc/cni/net.d holds no usable CNI config (only %s)", joinMax(names, 4)))
				case ok:
					what = append(what, "/etc/cni/net.d was listed and is empty")
					ev = append(ev, listed)
				case nd.CNIDirListed:
					what = append(what, "/etc/cni/net.d was collected and is empty")
					ev = append(ev, finding.Evidence{File: "manifest.json", Excerpt: "(" + nd.Path(model.CapCNIDir) + ": collected, no files)"})
				}
			}
			if n := m.Node(name); n != nil {
				for i, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue && isNetworkCause(cond.Message+" "+cond.Reason) {
						what = append(what, fmt.Sprintf("its kubelet reports Ready=%s: %s", cond.Status, truncate(cond.Message, 160)))
						ev = append(ev, m.Evidence(n.Src, "status", "conditions", itoa(i), "message"))
					}
				}
			}
			if len(what) == 0 {
				if len(nd.CNI) == 0 && !nd.CNIDirListed && m.Bundle.Capture(nd.Path(model.CapCNIDir)).State != bundle.Collected {
					if _, ok := cniDirRecordEvidence(m.Bundle, name); !ok {
						c.NodeLacks(nd, model.CapCNIDir)
					}
				}
				continue
			}
			c.Report(finding.Finding{
				Subject: nodeSubject(name),
				Message: fmt.Sprintf("Node %s has no working CNI configuration: %s. "+
					"The container runtime cannot wire any pod there: the node is NotReady (NetworkPluginNotReady) and every new pod on it fails with FailedCreatePodSandBox. "+
					"The CNI agent%s writes the config when it starts; its pod on this node says why it did not.", name, strings.Join(what, "; "), agentName(m)),
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`# on the node: the config directory and the plugin binaries
ls -la /etc/cni/net.d /opt/cni/bin
# the CNI agent on the node, and why it did not install its config:
kubectl get pods -A -o wide --field-selector spec.nodeName=%s%s
# once the config is there the kubelet picks it up by itself (no restart needed)`, name, prefixNL(agentLogsHint(m, name))),
			})
		}
	},
}

// cniOfPluginType maps a CNI config plugin type to the CNI it belongs to (as model.CNI names it).
var cniOfPluginType = map[string]string{
	"flannel": "flannel", "calico": "calico", "cilium-cni": "cilium", "weave-net": "weave",
	"kube-ovn": "kube-ovn", "antrea": "antrea", "bridge": "bridge", "ptp": "ptp",
	"macvlan": "macvlan", "ipvlan": "ipvlan", "multus": "multus", "kube-router": "kube-router",
}

func configCNI(cf *model.CNIConfig) (string, []string) {
	var types []string
	cni := ""
	for _, p := range cf.Plugins {
		types = append(types, p.Type)
		if x, ok := cniOfPluginType[p.Type]; ok && cni == "" {
			cni = x
		}
	}
	return cni, types
}

// intendedCNI is the CNI the cluster runs by its agent DaemonSets; the config files cannot
// say it here, since they are what is in question. Without agents, the model's detection.
func intendedCNI(m *model.Model) model.Detection {
	var names, why []string
	for _, ds := range m.DaemonSets {
		for _, a := range model.CNIAgents {
			if strings.HasPrefix(ds.Name, a.Prefix) && !strings.Contains(ds.Name, "operator") {
				if !containsString(names, a.CNI) {
					names = append(names, a.CNI)
				}
				why = append(why, "DaemonSet "+ds.Namespace+"/"+ds.Name)
				break
			}
		}
	}
	if len(names) == 1 {
		return model.Detection{Name: names[0], Why: why}
	}
	return m.CNI()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sameCNI(configCNI, detected string) bool {
	return configCNI == detected || detected == "canal" && (configCNI == "calico" || configCNI == "flannel")
}

var cniConfigMultiple = &Rule{
	ID:       "cni.config-multiple",
	Severity: finding.Warning,
	Title:    "Several CNI configs on a node",
	Inputs:   []Input{{NodeFile: model.CapCNIDir}},
	Doc: "The runtime uses only the lexically first config of /etc/cni/net.d. Leftovers of an " +
		"earlier CNI, or a second installer, decide which network new pods join by how their " +
		"file names sort. Critical when the winner is not the cluster's CNI.",
	Check: func(c *Context) {
		m := c.Model
		detected := intendedCNI(m)
		for _, name := range m.NodeNames() {
			nd := m.NodeData(name)
			if !nd.CNIDirListed && len(nd.CNI) == 0 {
				if _, listed := cniDirRecordEvidence(m.Bundle, name); !listed {
					c.NodeLacks(nd, model.CapCNIDir)
				}
				continue
			}
			if len(nd.CNI) < 2 {
				continue
			}
			winner := nd.CNIActive
			if winner == nil {
				winner = nd.CNI[0]
			}
			wcni, wtypes := configCNI(winner)
			if wcni == "multus" {
				continue // multus is meant to sit first and delegate to the others
			}
			var names []string
			var ev []finding.Evidence
			for _, cf := range nd.CNI {
				names = append(names, cniFileName(cf.Path))
				line := 0
				if len(cf.Plugins) > 0 {
					line = cf.Plugins[0].TypeLine
				}
				if f := m.Bundle.File(cf.Path); f != nil && line > 0 {
					ev = append(ev, f.Evidence(line))
				} else {
					ev = append(ev, finding.Evidence{File: cf.Path, Excerpt: "(no plugin type)"})
				}
			}
			sev := finding.Warning
			verdict := ""
			switch {
			case detected.Name == "unknown" || wcni == "":
				verdict = "Whether it is the intended one cannot be told from the bundle."
			case sameCNI(wcni, detected.Name):
				verdict = fmt.Sprintf("It is the cluster's CNI (%s), so pods are wired right today, but the others are leftovers a rename or a new file can bring into force.", detected.Name)
			default:
				sev = finding.Critical
				verdict = fmt.Sprintf("It is NOT the cluster's CNI (%s, from %s): new pods on this node join the wrong network (wrong IPAM range, no routes to other nodes).", detected.Name, strings.Join(detected.Why, ", "))
			}
			// Move away what is not the cluster's CNI; when that cannot be told, what does not win.
			var losers []string
			for _, cf := range nd.CNI {
				own, _ := configCNI(cf)
				foreign := detected.Name != "unknown" && own != "" && !sameCNI(own, detected.Name)
				if foreign || (sev != finding.Critical && cf != winner && !(detected.Name != "unknown" && sameCNI(own, detected.Name))) {
					losers = append(losers, cniFileName(cf.Path))
				}
			}
			if len(losers) == 0 {
				for _, n := range names {
					if n != cniFileName(winner.Path) {
						losers = append(losers, n)
					}
				}
			}
			c.Report(finding.Finding{
				Subject:  nodeSubject(name),
				Severity: sev,
				Message: fmt.Sprintf("Node %s has %d CNI configs in /etc/cni/net.d (%s). The runtime uses only the lexically first, %s (plugins %s). %s",
					name, len(nd.CNI), strings.Join(names, ", "), cniFileName(winner.Path), strings.Join(wtypes, ", "), verdict),
				Evidence: ev,
				Remediation: fmt.Sprintf(`# on the node:
ls -la /etc/cni/net.d
# keep only the config of the CNI the cluster runs; move the others out of the directory:
mkdir -p /root/cni-net.d.bak
mv /etc/cni/net.d/%s /root/cni-net.d.bak/
# pods created meanwhile may be on the wrong network: recreate them
kubectl get pods -A -o wide --field-selector spec.nodeName=%s`, strings.Join(losers, " /etc/cni/net.d/"), name),
			})
		}
	},
}

func cniFileName(p string) string { return p[strings.LastIndex(p, "/")+1:] }

// podCIDRCNIs need the node's spec.podCIDR: they carve pod addresses out of it.
var podCIDRCNIs = map[string]bool{"flannel": true, "canal": true, "kube-router": true, "bridge": true, "kubenet": true}

var nodePodCIDRUnassigned = &Rule{
	ID:       "node.podcidr-unassigned",
	Severity: finding.Critical,
	Title:    "Node has no podCIDR while the CNI needs one",
	Inputs:   Kinds("Node"),
	Doc: "flannel, canal, kube-router, kubenet and host-local IPAM over the node's podCIDR take pod " +
		"addresses from spec.podCIDR, which kube-controller-manager assigns when it runs with " +
		"--allocate-node-cidrs=true and --cluster-cidr. Without it the agent fails (flannel: pod " +
		"cidr not assigned) and the node's pods get no network.",
	Check: func(c *Context) {
		m := c.Model
		cni := m.CNI()
		kcm, kcmEv := controllerManagerCIDRFlags(m)
		for _, n := range m.Nodes {
			if n.Spec.PodCIDR != "" || len(n.Spec.PodCIDRs) > 0 {
				continue
			}
			var logs []finding.Evidence
			for _, p := range cniAgentsOn(m, n.Name) {
				logs = append(logs, grepLogs(m.Bundle, p, 2, "pod cidr not assigned", "podcidr not assigned", "no pod cidr")...)
			}
			nd := m.NodeData(n.Name)
			need, why := podCIDRCNIs[cni.Name], "the cluster's CNI is "+cni.Name
			if nd.KubeletCmdline != nil {
				if f, ok := nd.KubeletCmdline.NetworkPlugin(); ok && f.Value == "kubenet" {
					need, why = true, "the kubelet runs --network-plugin=kubenet"
				}
			}
			if usePodCIDR(nd) {
				need, why = true, "its CNI config takes addresses from the node's podCIDR (usePodCidr)"
			}
			if len(logs) > 0 {
				need, why = true, "the CNI agent logs that the pod CIDR is not assigned"
			}
			if !need {
				continue
			}
			ev := []finding.Evidence{m.Evidence(n.Src, "spec")}
			ev = append(ev, logs...)
			msg := fmt.Sprintf("Node %s has no spec.podCIDR, and %s: the CNI has no range to give its pods addresses from, so its agent fails and pods on %s get no network.", n.Name, why, n.Name)
			if kcm != "" {
				msg += " " + kcm
				ev = append(ev, kcmEv...)
			}
			c.Report(finding.Finding{
				Subject:  nodeSubject(n.Name),
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR
# the controller-manager assigns podCIDRs only with both flags (kubeadm: networking.podSubnet):
kubectl -n kube-system get pods -l component=kube-controller-manager -o yaml | grep -E 'allocate-node-cidrs|cluster-cidr|node-cidr-mask-size'
# fix: add --allocate-node-cidrs=true --cluster-cidr=<pod network> to /etc/kubernetes/manifests/kube-controller-manager.yaml, then restart the CNI agent on the node%s`, agentRestartHint(m, n.Name)),
			})
		}
	},
}

// usePodCIDR tells whether a node's CNI config takes host-local ranges from the podCIDR.
func usePodCIDR(nd *model.NodeData) bool {
	for _, cf := range nd.CNI {
		for _, p := range cf.Plugins {
			if p.IPAM != nil && (p.IPAM.Subnet == "usePodCidr" || rangesUsePodCIDR(p.IPAM.Ranges)) {
				return true
			}
		}
	}
	return false
}

func rangesUsePodCIDR(rs [][]cniconf.Range) bool {
	for _, set := range rs {
		for _, r := range set {
			if r.Subnet == "usePodCidr" {
				return true
			}
		}
	}
	return false
}

// controllerManagerCIDRFlags says why kube-controller-manager assigns no podCIDRs, when its
// pod is in the bundle and its flags show it.
func controllerManagerCIDRFlags(m *model.Model) (string, []finding.Evidence) {
	for _, p := range m.PodsIn("kube-system") {
		if !strings.HasPrefix(p.Name, "kube-controller-manager") {
			continue
		}
		for i, ctr := range p.Spec.Containers {
			args := append(append([]string{}, ctr.Command...), ctr.Args...)
			alloc, allocIdx, cidr := "", -1, ""
			for j, a := range args {
				if v, ok := strings.CutPrefix(a, "--allocate-node-cidrs="); ok {
					alloc, allocIdx = v, j
				}
				if v, ok := strings.CutPrefix(a, "--cluster-cidr="); ok {
					cidr = v
				}
			}
			field, idx := "command", allocIdx
			if allocIdx >= len(ctr.Command) {
				field, idx = "args", allocIdx-len(ctr.Command)
			}
			switch {
			case alloc == "" || alloc == "false":
				ev := m.Evidence(p.Src, "spec", "containers", itoa(i), "command")
				if allocIdx >= 0 {
					ev = m.Evidence(p.Src, "spec", "containers", itoa(i), field, itoa(idx))
				}
				return fmt.Sprintf("kube-controller-manager (%s) runs without --allocate-node-cidrs=true, so it assigns no podCIDRs.", p.Name), []finding.Evidence{ev}
			case cidr == "":
				return fmt.Sprintf("kube-controller-manager (%s) has --allocate-node-cidrs=true but no --cluster-cidr to carve podCIDRs from.", p.Name),
					[]finding.Evidence{m.Evidence(p.Src, "spec", "containers", itoa(i), field, itoa(idx))}
			}
			return "", nil
		}
	}
	return "", nil
}

// sandboxCauses explain a FailedCreatePodSandBox message, most specific first.
var sandboxCauses = []struct {
	re   *regexp.Regexp
	says string
}{
	{regexp.MustCompile(`failed to find plugin "([^"]+)"`), "the CNI plugin binary %q is missing from /opt/cni/bin on the node (the CNI agent's install-cni step did not run or the path differs)"},
	{regexp.MustCompile(`no IP addresses available in range set`), "IPAM has no free address in the node's range (see cni.ipam-exhausted)"},
	{regexp.MustCompile(`cni plugin not initialized|no networks found|network plugin is not ready`), "the node has no CNI config (see cni.config-missing)"},
	{regexp.MustCompile(`/run/flannel/subnet.env`), "flannel is not running on the node (it writes /run/flannel/subnet.env when it starts)"},
	{regexp.MustCompile(`(?i)calico.*(connection refused|i/o timeout|dial tcp)|stat /var/lib/calico/nodename`), "the Calico CNI plugin cannot reach calico-node or the API server (calico-node not running on the node?)"},
	{regexp.MustCompile(`(?i)unable to connect to cilium|cilium.*(connection refused|no such file)`), "the Cilium agent on the node is not running"},
	{regexp.MustCompile(`(?i)(connection refused|i/o timeout|dial tcp)`), "the CNI plugin cannot reach its agent or the API server"},
}

func sandboxCause(msg string) string {
	for _, sc := range sandboxCauses {
		if sm := sc.re.FindStringSubmatch(msg); sm != nil {
			if strings.Contains(sc.says, "%q") && len(sm) > 1 {
				return fmt.Sprintf(sc.says, sm[1])
			}
			return sc.says
		}
	}
	return ""
}

func isSandboxFailure(e *model.Event) bool {
	msg := strings.ToLower(e.Message)
	return e.Reason == "FailedCreatePodSandBox" || strings.Contains(msg, "failed to setup network for sandbox") || strings.Contains(msg, "failed to find plugin")
}

func findPod(m *model.Model, ns, name string) *model.Pod {
	for _, p := range m.PodsIn(ns) {
		if p.Name == name {
			return p
		}
	}
	return nil
}

var cniSandboxFailed = &Rule{
	ID:       "cni.sandbox-failed",
	Severity: finding.Critical,
	Title:    "Pod sandbox network setup fails",
	Inputs:   Kinds("Event"),
	Doc: "FailedCreatePodSandBox / failed to setup network for sandbox / failed to find plugin: the " +
		"runtime called the CNI plugin for a new pod and it failed, so the pod never starts. The " +
		"message names the cause (plugin binary missing, IPAM exhausted, no config, agent down).",
	Check: func(c *Context) {
		m := c.Model
		type group struct {
			ns, name, host string
			events         []*model.Event
		}
		var order []string
		groups := map[string]*group{}
		for _, e := range m.Events {
			if !isSandboxFailure(e) || e.InvolvedObject.Kind != "Pod" {
				continue
			}
			k := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
			g, ok := groups[k]
			if !ok {
				g = &group{ns: e.InvolvedObject.Namespace, name: e.InvolvedObject.Name, host: e.Source.Host}
				groups[k] = g
				order = append(order, k)
			}
			g.events = append(g.events, e)
		}
		for _, k := range order {
			g := groups[k]
			p := findPod(m, g.ns, g.name)
			subject := finding.Subject{Kind: "Pod", Namespace: g.ns, Name: g.name, Node: g.host}
			if p != nil {
				if ready, _ := podReady(p); ready && p.Status.Phase == corev1.PodRunning {
					c.Note("pod %s: sandbox creation failed earlier but the pod is Running and Ready now (transient)", k)
					continue
				}
				subject = podSubject(p)
				if subject.Node == "" {
					subject.Node = g.host
				}
			}
			last := g.events[len(g.events)-1]
			count := 0
			var ev []finding.Evidence
			for i, e := range g.events {
				count += max(int(e.Count), 1)
				if i < 2 || i == len(g.events)-1 {
					ev = append(ev, m.Evidence(e.Src, "message"))
				}
			}
			node := firstNonEmpty(subject.Node, "(unknown node)")
			msg := fmt.Sprintf("Pod %s on node %s cannot get a network: the runtime failed to set up its sandbox (%s, %d time(s)): %s.", k, node, last.Reason, count, truncate(last.Message, 300))
			if cause := sandboxCause(last.Message); cause != "" {
				msg += " Cause: " + cause + "."
			}
			c.Report(finding.Finding{
				Subject:  subject,
				Message:  msg,
				Evidence: dedupeEvidence(ev),
				Remediation: fmt.Sprintf(`kubectl -n %s describe pod %s
# on node %s: the CNI config, the plugin binaries, and the kubelet's view
ls -la /etc/cni/net.d /opt/cni/bin
journalctl -u kubelet --since -1h | grep -iE 'sandbox|cni' | tail -20%s`, g.ns, g.name, node, prefixNL(agentLogsHint(m, subject.Node))),
			})
		}
	},
}

var ipamExhaustedRe = regexp.MustCompile(`no IP addresses available in range set:?\s*([0-9a-fA-F.:/-]+)?`)

var cniIPAMExhausted = &Rule{
	ID:       "cni.ipam-exhausted",
	Severity: finding.Critical,
	Title:    "Node's pod IP range is exhausted",
	Inputs:   Kinds("Event"),
	Doc: "host-local IPAM reports no IP addresses available in range set: every address of the " +
		"node's range is allocated, usually leaked by containers that died without a CNI DEL, or " +
		"maxPods larger than the podCIDR. New pods on the node cannot start.",
	Check: func(c *Context) {
		m := c.Model
		ev := map[string][]finding.Evidence{}
		ranges := map[string]string{}
		note := func(node, text string, e finding.Evidence) {
			if len(ev[node]) < 4 {
				ev[node] = append(ev[node], e)
			}
			if sm := ipamExhaustedRe.FindStringSubmatch(text); sm != nil && sm[1] != "" && ranges[node] == "" {
				ranges[node] = sm[1]
			}
		}
		for _, e := range m.Events {
			if !strings.Contains(e.Message, "no IP addresses available in range set") {
				continue
			}
			node := e.Source.Host
			if p := findPod(m, e.InvolvedObject.Namespace, e.InvolvedObject.Name); p != nil && p.Spec.NodeName != "" {
				node = p.Spec.NodeName
			}
			note(firstNonEmpty(node, "(unknown node)"), e.Message, m.Evidence(e.Src, "message"))
		}
		for _, name := range m.NodeNames() {
			f := m.NodeLog(name, model.CapKubeletLog)
			if f == nil {
				continue
			}
			var hits []int
			for n := 1; n <= f.Lines(); n++ {
				if strings.Contains(f.Line(n), "no IP addresses available in range set") {
					hits = append(hits, n)
				}
			}
			for _, n := range hits[max(0, len(hits)-2):] {
				note(name, f.Line(n), f.Evidence(n))
			}
		}
		for _, node := range hostSortedKeys(ev) {
			rng := ranges[node]
			desc := "its range"
			if rng != "" {
				desc = "its range " + rng
			}
			subject := nodeSubject(node)
			if node == "(unknown node)" {
				subject = finding.Subject{Kind: "Node", Name: node}
			}
			c.Report(finding.Finding{
				Subject: subject,
				Message: fmt.Sprintf("IPAM on node %s has no free pod address left in %s: new pods there fail with FailedCreatePodSandBox and never start. "+
					"With host-local IPAM an address stays allocated (a file under /var/lib/cni/networks/<network>/) when a container dies without a CNI DEL, so leaks pile up; "+
					"or the kubelet's maxPods exceeds what the node's podCIDR holds.", node, desc),
				Evidence: dedupeEvidence(ev[node]),
				Remediation: fmt.Sprintf(`# on node %[1]s: allocated addresses vs pods really running there
ls /var/lib/cni/networks/*/ | wc -l
kubectl get pods -A -o wide --field-selector spec.nodeName=%[1]s --no-headers | wc -l
# list allocations whose sandbox no longer exists (leaks); remove those files to free them
for f in /var/lib/cni/networks/*/[0-9]*; do id=$(head -n1 "$f"); crictl inspectp "$id" >/dev/null 2>&1 || echo "leaked: $f"; done
# if it is not a leak: a larger podCIDR per node (smaller --node-cidr-mask-size) or a lower maxPods`, node),
			})
		}
	},
}
