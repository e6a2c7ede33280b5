package diff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/model"
)

func compareObjects(om, nm *model.Model) Objects {
	var o Objects
	o.Services, o.Endpoints = compareServices(om, nm)
	o.NetworkPolicies = comparePolicyObjects(om, nm)
	o.Connectivity = compareConnectivity(om, nm)
	o.Nodes = compareNodes(om, nm)
	o.Components = compareComponents(om, nm)
	o.ConfigMaps = compareConfigMaps(om, nm)
	for _, l := range [][]Change{o.Services, o.Endpoints, o.NetworkPolicies, o.Connectivity, o.Nodes, o.Components, o.ConfigMaps} {
		sortChanges(l)
	}
	o.normalize()
	return o
}

// changes collects the changes of one kind of object.
type changes struct {
	kind string
	list []Change
}

// field records a changed field when the two values differ.
func (c *changes) field(subject, field, old, new string, rank int) {
	if old != new {
		c.list = append(c.list, Change{Kind: c.kind, Subject: subject, Op: Changed, Field: field, Old: old, New: new, Rank: rank})
	}
}

func (c *changes) add(ch Change) {
	ch.Kind = c.kind
	c.list = append(c.list, ch)
}

// keyedUnion returns the sorted union of two maps' keys.
func keyedUnion[A, B any](a map[string]A, b map[string]B) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func labelString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func sortedJoin(s []string) string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

// --- Services and endpoints ---

func servicePorts(s *model.Service) map[string]string {
	out := map[string]string{}
	for _, p := range s.Spec.Ports {
		key := p.Name
		if key == "" {
			key = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
		v := fmt.Sprintf("%d/%s → %s", p.Port, p.Protocol, p.TargetPort.String())
		if p.NodePort != 0 {
			v += fmt.Sprintf(" nodePort %d", p.NodePort)
		}
		out[key] = v
	}
	return out
}

func clusterIPs(s *model.Service) string {
	if len(s.Spec.ClusterIPs) > 0 {
		return strings.Join(s.Spec.ClusterIPs, ",")
	}
	return s.Spec.ClusterIP
}

func strPtr[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

func compareServices(om, nm *model.Model) (svcs, eps []Change) {
	olds, news := map[string]*model.Service{}, map[string]*model.Service{}
	for _, s := range om.Services {
		olds[model.Key(s.Namespace, s.Name)] = s
	}
	for _, s := range nm.Services {
		news[model.Key(s.Namespace, s.Name)] = s
	}
	sc := &changes{kind: "Service"}
	ec := &changes{kind: "Endpoints"}
	for _, key := range keyedUnion(olds, news) {
		o, n := olds[key], news[key]
		switch {
		case o == nil:
			sc.add(Change{Subject: key, Op: Added, New: string(n.Spec.Type) + " " + clusterIPs(n), Rank: 2})
			continue
		case n == nil:
			sc.add(Change{Subject: key, Op: Removed, Old: string(o.Spec.Type) + " " + clusterIPs(o), Rank: 0})
			continue
		}
		sc.field(key, "selector", labelString(o.Spec.Selector), labelString(n.Spec.Selector), 0)
		sc.field(key, "type", string(o.Spec.Type), string(n.Spec.Type), 1)
		sc.field(key, "clusterIP", clusterIPs(o), clusterIPs(n), 1)
		op, np := servicePorts(o), servicePorts(n)
		for _, p := range keyedUnion(op, np) {
			switch {
			case op[p] == "":
				sc.add(Change{Subject: key, Op: Added, Field: "port " + p, New: np[p], Rank: 1})
			case np[p] == "":
				sc.add(Change{Subject: key, Op: Removed, Field: "port " + p, Old: op[p], Rank: 0})
			default:
				sc.field(key, "port "+p, op[p], np[p], 0)
			}
		}
		sc.field(key, "externalTrafficPolicy", string(o.Spec.ExternalTrafficPolicy), string(n.Spec.ExternalTrafficPolicy), 1)
		sc.field(key, "internalTrafficPolicy", strPtr(o.Spec.InternalTrafficPolicy), strPtr(n.Spec.InternalTrafficPolicy), 1)
		sc.field(key, "sessionAffinity", string(o.Spec.SessionAffinity), string(n.Spec.SessionAffinity), 2)
		sc.field(key, "externalIPs", sortedJoin(o.Spec.ExternalIPs), sortedJoin(n.Spec.ExternalIPs), 2)
		sc.field(key, "externalName", o.Spec.ExternalName, n.Spec.ExternalName, 1)
		sc.field(key, "publishNotReadyAddresses", fmt.Sprint(o.Spec.PublishNotReadyAddresses), fmt.Sprint(n.Spec.PublishNotReadyAddresses), 2)
		compareEndpoints(ec, om, o, nm, n)
	}
	return sc.list, ec.list
}

// endpoint is one backend of one Service port.
type endpoint struct {
	ready bool
	pod   string
}

// endpointsByPort returns, per Service port ("ns/svc:name", or "ns/svc" for an unnamed port),
// the endpoints keyed by IP:port.
func endpointsByPort(m *model.Model, s *model.Service) map[string]map[string]endpoint {
	out := map[string]map[string]endpoint{}
	eps, _ := m.ServiceEndpoints(s)
	for _, e := range eps {
		for _, p := range e.Ports {
			if p.Port == nil {
				continue
			}
			port := model.Key(s.Namespace, s.Name)
			if p.Name != nil && *p.Name != "" {
				port += ":" + *p.Name
			}
			if out[port] == nil {
				out[port] = map[string]endpoint{}
			}
			addr := fmt.Sprintf("%s:%d", e.IP, *p.Port)
			if strings.Contains(e.IP, ":") {
				addr = fmt.Sprintf("[%s]:%d", e.IP, *p.Port)
			}
			out[port][addr] = endpoint{ready: e.Ready, pod: e.Pod}
		}
	}
	return out
}

func podNote(pod string) string {
	if pod == "" {
		return ""
	}
	return "pod " + pod
}

func compareEndpoints(ec *changes, om *model.Model, o *model.Service, nm *model.Model, n *model.Service) {
	ob, nb := endpointsByPort(om, o), endpointsByPort(nm, n)
	for _, port := range keyedUnion(ob, nb) {
		oe, ne := ob[port], nb[port]
		for _, addr := range keyedUnion(oe, ne) {
			a, inOld := oe[addr]
			b, inNew := ne[addr]
			switch {
			case !inNew:
				ec.add(Change{Subject: port, Op: Removed, Field: addr, Old: podNote(a.pod), Rank: 0})
			case !inOld:
				ec.add(Change{Subject: port, Op: Added, Field: addr, New: podNote(b.pod), Rank: 2})
			case a.ready != b.ready:
				rank := 1
				if !b.ready {
					rank = 0
				}
				ec.add(Change{Subject: port, Op: Changed, Field: addr + " ready", Old: fmt.Sprint(a.ready), New: fmt.Sprint(b.ready), Rank: rank})
			}
		}
	}
}

// --- NetworkPolicy objects ---

func comparePolicyObjects(om, nm *model.Model) []Change {
	specs := func(m *model.Model) map[string]string {
		out := map[string]string{}
		for _, p := range m.NetworkPolicies {
			b, _ := json.Marshal(p.Spec)
			out[model.Key(p.Namespace, p.Name)] = string(b)
		}
		return out
	}
	os, ns := specs(om), specs(nm)
	c := &changes{kind: "NetworkPolicy"}
	for _, key := range keyedUnion(os, ns) {
		o, inOld := os[key]
		n, inNew := ns[key]
		switch {
		case !inOld:
			c.add(Change{Subject: key, Op: Added, Rank: 1})
		case !inNew:
			c.add(Change{Subject: key, Op: Removed, Rank: 1})
		case o != n:
			c.add(Change{Subject: key, Op: Changed, Field: "spec", Rank: 1})
		}
	}
	return c.list
}

// --- Nodes ---

func nodeReady(n *model.Node, t corev1.NodeConditionType) string {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			if c.Reason != "" && c.Status != corev1.ConditionTrue {
				return string(c.Status) + " (" + c.Reason + ")"
			}
			return string(c.Status)
		}
	}
	return ""
}

func nodeAddresses(n *model.Node) string {
	var s []string
	for _, a := range n.Status.Addresses {
		s = append(s, string(a.Type)+"="+a.Address)
	}
	return sortedJoin(s)
}

func podCIDRs(n *model.Node) string {
	if len(n.Spec.PodCIDRs) > 0 {
		return strings.Join(n.Spec.PodCIDRs, ",")
	}
	return n.Spec.PodCIDR
}

func compareNodes(om, nm *model.Model) []Change {
	olds, news := map[string]*model.Node{}, map[string]*model.Node{}
	for _, n := range om.Nodes {
		olds[n.Name] = n
	}
	for _, n := range nm.Nodes {
		news[n.Name] = n
	}
	c := &changes{kind: "Node"}
	for _, name := range keyedUnion(olds, news) {
		o, n := olds[name], news[name]
		switch {
		case o == nil:
			c.add(Change{Subject: name, Op: Added, New: "Ready " + nodeReady(n, corev1.NodeReady), Rank: 2})
			continue
		case n == nil:
			c.add(Change{Subject: name, Op: Removed, Old: "Ready " + nodeReady(o, corev1.NodeReady), Rank: 0})
			continue
		}
		or, nr := nodeReady(o, corev1.NodeReady), nodeReady(n, corev1.NodeReady)
		rank := 1
		if nr != "True" {
			rank = 0
		}
		c.field(name, "Ready", or, nr, rank)
		c.field(name, "NetworkUnavailable", nodeReady(o, corev1.NodeNetworkUnavailable), nodeReady(n, corev1.NodeNetworkUnavailable), 0)
		c.field(name, "podCIDR", podCIDRs(o), podCIDRs(n), 0)
		c.field(name, "addresses", nodeAddresses(o), nodeAddresses(n), 1)
		c.field(name, "kubeletVersion", o.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.KubeletVersion, 2)
		c.field(name, "unschedulable", fmt.Sprint(o.Spec.Unschedulable), fmt.Sprint(n.Spec.Unschedulable), 2)
	}
	return c.list
}

// --- kube-proxy, CoreDNS and CNI pods ---

// component names a networking component's pod ("kube-proxy", "coredns", "cni:flannel"), or "".
func component(p *model.Pod) string {
	switch {
	case p.Labels["k8s-app"] == "kube-proxy" || (p.Namespace == "kube-system" && strings.HasPrefix(p.Name, "kube-proxy-")):
		return "kube-proxy"
	case p.Labels["k8s-app"] == "kube-dns" || (p.Namespace == "kube-system" && strings.HasPrefix(p.Name, "coredns-")):
		return "coredns"
	}
	if cni, ok := model.CNIAgentOf(p); ok {
		return "cni:" + cni
	}
	return ""
}

// podOwner is the pod's controller with generated parts removed: a ReplicaSet's pod-template
// hash, so pods of one Deployment match across rollouts. A pod without owner is itself.
func podOwner(p *model.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && !*o.Controller {
			continue
		}
		name := o.Name
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				name = strings.TrimSuffix(name, "-"+h)
			} else if i := strings.LastIndexByte(name, '-'); i > 0 {
				name = name[:i]
			}
			return "Deployment " + p.Namespace + "/" + name
		}
		return o.Kind + " " + p.Namespace + "/" + name
	}
	return "Pod " + p.Namespace + "/" + p.Name
}

type componentPod struct {
	pod      *model.Pod
	restarts map[string]int32
	images   map[string]string
	ready    string
}

func componentPods(m *model.Model) map[string]componentPod {
	groups := map[string][]*model.Pod{}
	for _, p := range m.Pods {
		c := component(p)
		if c == "" {
			continue
		}
		node := p.Spec.NodeName
		if node == "" {
			node = "(unscheduled)"
		}
		key := podOwner(p) + " on " + node
		groups[key] = append(groups[key], p)
	}
	out := map[string]componentPod{}
	for key, ps := range groups {
		// Several pods of one owner on one node (two CoreDNS replicas): pair them in a stable
		// order that does not depend on their generated names.
		sort.Slice(ps, func(i, j int) bool {
			a, b := model.PodIPs(ps[i]), model.PodIPs(ps[j])
			return strings.Join(a, ",") < strings.Join(b, ",")
		})
		for i, p := range ps {
			k := key
			if len(ps) > 1 {
				k = fmt.Sprintf("%s #%d", key, i+1)
			}
			cp := componentPod{pod: p, restarts: map[string]int32{}, images: map[string]string{}, ready: "False"}
			for _, c := range p.Spec.Containers {
				cp.images[c.Name] = c.Image
			}
			for _, c := range p.Spec.InitContainers {
				cp.images["init:"+c.Name] = c.Image
			}
			for _, s := range p.Status.ContainerStatuses {
				cp.restarts[s.Name] = s.RestartCount
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					cp.ready = string(c.Status)
				}
			}
			if p.Status.Phase != corev1.PodRunning {
				cp.ready += " (" + string(p.Status.Phase) + ")"
			}
			out[k] = cp
		}
	}
	return out
}

func compareComponents(om, nm *model.Model) []Change {
	olds, news := componentPods(om), componentPods(nm)
	c := &changes{kind: "Pod"}
	for _, key := range keyedUnion(olds, news) {
		o, inOld := olds[key]
		n, inNew := news[key]
		switch {
		case !inOld:
			c.add(Change{Subject: key, Op: Added, New: model.Key(n.pod.Namespace, n.pod.Name), Rank: 2})
			continue
		case !inNew:
			c.add(Change{Subject: key, Op: Removed, Old: model.Key(o.pod.Namespace, o.pod.Name), Rank: 0})
			continue
		}
		rank := 1
		if n.ready != "True" {
			rank = 0
		}
		c.field(key, "ready", o.ready, n.ready, rank)
		for _, name := range keyedUnion(o.images, n.images) {
			c.field(key, "image "+name, o.images[name], n.images[name], 1)
		}
		for _, name := range keyedUnion(o.restarts, n.restarts) {
			or, nr := o.restarts[name], n.restarts[name]
			if or != nr {
				c.add(Change{Subject: key, Op: Changed, Field: "restarts " + name, Old: fmt.Sprint(or), New: fmt.Sprint(nr), Rank: 1})
			}
		}
	}
	return c.list
}

// --- ConfigMaps of kube-proxy, CoreDNS and the CNI ---

var networkingConfigMapWords = []string{"kube-proxy", "coredns", "flannel", "calico", "cilium", "weave", "canal", "antrea", "kube-router", "ovn", "multus"}

func networkingConfigMap(c *model.ConfigMap) bool {
	switch c.Name {
	case "kube-root-ca.crt", "extension-apiserver-authentication":
		return false
	}
	for _, w := range networkingConfigMapWords {
		if strings.Contains(c.Name, w) {
			return true
		}
	}
	return cniNamespaces[c.Namespace]
}

// cniNamespaces are namespaces that hold only a CNI's objects, so all their ConfigMaps count.
var cniNamespaces = map[string]bool{
	"kube-flannel": true, "calico-system": true, "tigera-operator": true, "cilium": true,
	"kube-ovn": true, "antrea-system": true, "kube-router": true, "weave": true,
}

func configData(c *model.ConfigMap) map[string]string {
	out := map[string]string{}
	for k, v := range c.Data {
		out[k] = v
	}
	for k, v := range c.BinaryData {
		out[k] = fmt.Sprintf("(%d bytes of binary data)", len(v))
	}
	return out
}

// lineChanges is a compact diff of two multi-line values: the lines only in old, and the lines
// only in new (as multisets, trimmed).
func lineChanges(old, new string) (removed, added string) {
	count := map[string]int{}
	for _, l := range strings.Split(old, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			count[l]++
		}
	}
	var add []string
	for _, l := range strings.Split(new, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if count[l] > 0 {
				count[l]--
			} else {
				add = append(add, l)
			}
		}
	}
	var rem []string
	for _, l := range strings.Split(old, "\n") {
		if l = strings.TrimSpace(l); l != "" && count[l] > 0 {
			count[l]--
			rem = append(rem, l)
		}
	}
	return strings.Join(rem, " ⏎ "), strings.Join(add, " ⏎ ")
}

func compareConfigMaps(om, nm *model.Model) []Change {
	pick := func(m *model.Model) map[string]*model.ConfigMap {
		out := map[string]*model.ConfigMap{}
		for _, c := range m.ConfigMaps {
			if networkingConfigMap(c) {
				out[model.Key(c.Namespace, c.Name)] = c
			}
		}
		return out
	}
	olds, news := pick(om), pick(nm)
	c := &changes{kind: "ConfigMap"}
	for _, key := range keyedUnion(olds, news) {
		o, n := olds[key], news[key]
		switch {
		case o == nil:
			c.add(Change{Subject: key, Op: Added, Rank: 1})
			continue
		case n == nil:
			c.add(Change{Subject: key, Op: Removed, Rank: 0})
			continue
		}
		od, nd := configData(o), configData(n)
		for _, k := range keyedUnion(od, nd) {
			ov, inOld := od[k]
			nv, inNew := nd[k]
			switch {
			case !inOld:
				c.add(Change{Subject: key, Op: Added, Field: "data " + k, Rank: 1})
			case !inNew:
				c.add(Change{Subject: key, Op: Removed, Field: "data " + k, Rank: 1})
			case ov != nv:
				rem, add := lineChanges(ov, nv)
				if rem == "" && add == "" {
					continue // only whitespace and line order moved
				}
				c.add(Change{Subject: key, Op: Changed, Field: "data " + k, Old: rem, New: add, Rank: 1})
			}
		}
	}
	return c.list
}
