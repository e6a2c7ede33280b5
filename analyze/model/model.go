// Package model turns a bundle into the cluster model rules read: Kubernetes objects decoded into
// k8s.io/api types, each with the file and line it came from, and indexes over them. Rules read
// the model, never files.
package model

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/parsers/iptables"
)

// Source is where an object stands in the bundle: its file and the lines it spans.
type Source struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	EndLine int    `json:"end_line"`
	// Column is the 1-based column of the object's first key, used to re-read its lines alone.
	Column int `json:"-"`
}

// The object types: a k8s.io/api object plus where it came from.
type (
	Node struct {
		*corev1.Node
		Src Source
	}
	Namespace struct {
		*corev1.Namespace
		Src Source
	}
	NetworkPolicy struct {
		*networkingv1.NetworkPolicy
		Src Source
	}
	Ingress struct {
		*networkingv1.Ingress
		Src Source
	}
	DaemonSet struct {
		*appsv1.DaemonSet
		Src Source
	}
	Deployment struct {
		*appsv1.Deployment
		Src Source
	}
	ConfigMap struct {
		*corev1.ConfigMap
		Src Source
	}
	ServiceAccount struct {
		*corev1.ServiceAccount
		Src Source
	}
	ClusterRole struct {
		*rbacv1.ClusterRole
		Src Source
	}
	ClusterRoleBinding struct {
		*rbacv1.ClusterRoleBinding
		Src Source
	}
	Role struct {
		*rbacv1.Role
		Src Source
	}
	RoleBinding struct {
		*rbacv1.RoleBinding
		Src Source
	}
	// Other is any other kind (CNI CRDs such as Calico IPPools), kept unstructured.
	Other struct {
		*unstructured.Unstructured
		Src Source
	}
)

// Model is the decoded cluster.
type Model struct {
	Bundle *bundle.Bundle

	Nodes               []*Node
	Namespaces          []*Namespace
	Pods                []*Pod
	Services            []*Service
	Endpoints           []*Endpoints
	EndpointSlices      []*EndpointSlice
	NetworkPolicies     []*NetworkPolicy
	Ingresses           []*Ingress
	Events              []*Event
	DaemonSets          []*DaemonSet
	Deployments         []*Deployment
	ConfigMaps          []*ConfigMap
	ServiceAccounts     []*ServiceAccount
	ClusterRoles        []*ClusterRole
	ClusterRoleBindings []*ClusterRoleBinding
	Roles               []*Role
	RoleBindings        []*RoleBinding
	Others              []*Other

	// Version is cluster/version.json's serverVersion.gitVersion, when present.
	Version string

	Warnings []finding.InputWarning

	// kinds records which kinds the bundle holds data for (even an empty List), by Kind name.
	kinds map[string]string // Kind → file that provided it

	nodeNames       []string // NodeNames, once built
	nodesByName     map[string]*Node
	nodesByIP       map[string]*Node
	podsByNS        map[string][]*Pod
	podsByNode      map[string][]*Pod
	podsByIP        map[string][]*Pod
	servicesByKey   map[string]*Service
	endpointsByKey  map[string]*Endpoints
	slicesByService map[string][]*EndpointSlice
	eventsByObject  map[string][]*Event
	eventsOnce      sync.Once
	nodeDataMu      sync.Mutex // rules run concurrently; NodeData may parse a node on first use
	nodeData        map[string]*NodeData
	cni, proxy      *Detection
	kubeProxy       **KubeProxyConfig

	parse *parseEnv // for nodes parsed after Build (NodeData of a node without captures)

	evidenceMu sync.Mutex
	evidence   map[evidenceKey]finding.Evidence
}

// Key is "namespace/name", the index key of namespaced objects.
func Key(namespace, name string) string { return namespace + "/" + name }

// pluralToKind maps the collector's file names (cluster/<plural>.yaml) to the kind they hold, so
// a file with an empty List still proves the kind was collected.
var pluralToKind = map[string]string{
	"nodes": "Node", "namespaces": "Namespace", "pods": "Pod", "services": "Service",
	"endpoints": "Endpoints", "endpointslices": "EndpointSlice", "networkpolicies": "NetworkPolicy",
	"ingresses": "Ingress", "events": "Event", "daemonsets": "DaemonSet", "deployments": "Deployment",
	"configmaps": "ConfigMap", "serviceaccounts": "ServiceAccount", "clusterroles": "ClusterRole",
	"clusterrolebindings": "ClusterRoleBinding", "roles": "Role", "rolebindings": "RoleBinding",
}

// KindFile returns the path the collector writes a kind to.
func KindFile(kind string) string {
	for plural, k := range pluralToKind {
		if k == kind {
			return "cluster/" + plural + ".yaml"
		}
	}
	return "cluster/" + strings.ToLower(kind) + "s.yaml"
}

// Build decodes every cluster/*.yaml|yml|json file of the bundle into the model, and parses
// every node's captures.
//
// The files and the nodes are independent, so they are decoded on every core (see build.go);
// their results are then merged in the order of a sequential build, so the model's lists and
// warnings do not depend on scheduling.
func Build(b *bundle.Bundle) *Model {
	return build(b, newParseEnv())
}

// Load reads the sources and builds their model, parsing each file as soon as it is read.
func Load(ctx context.Context, sources []string, opts bundle.Options) (*Model, error) {
	env := newParseEnv()
	pre := newPrefetch(env)
	opts.Claim = pre.claim
	opts.ClaimStream = pre.claimStream
	b, err := bundle.Open(ctx, sources, opts)
	pre.finish()
	if err != nil {
		return nil, err
	}
	m := build(b, env)
	// What was kept to decode and parse the next file is garbage now. A pool would hold it
	// through two more collections, the first ones of the rules: 120 MB of buffers on large.
	drain(&itemScratchPool)
	drain(&pipeChunkPool)
	iptables.ReleaseScratch()
	// Every node is parsed: the caches that shared rules, servers and routes between them are
	// maps of every text and name seen (~20 MB on large); the model holds what they found.
	m.parse = nil
	b.Compact() // the files' bytes are needed only to quote lines now
	return m, nil
}

// drain empties a pool, so that what it holds is freed at the next collection.
func drain(p *sync.Pool) {
	for p.Get() != nil {
	}
}

func build(b *bundle.Bundle, env *parseEnv) *Model {
	m := &Model{Bundle: b, kinds: map[string]string{}, parse: env}
	clusterFiles := b.Dir("cluster")
	files := make([]fileResult, len(clusterFiles))
	captured := b.Nodes()
	nodes := make([]nodeResult, len(captured))
	var jobs []job
	for i, f := range clusterFiles {
		jobs = append(jobs, job{cost: f.Size(), run: func() { files[i] = env.decodeCluster(f) }})
	}
	for i, n := range captured {
		jobs = append(jobs, job{cost: nodeCost(b, n), run: func() {
			var w warnings
			nodes[i] = nodeResult{parseNode(b, n, &w, env), w}
		}})
	}
	runJobs(jobs)

	for i, f := range clusterFiles {
		m.mergeFile(f, files[i])
		files[i] = fileResult{}
	}
	m.index()
	// Rules ask for the names hundreds of times: 2,000 names sorted each time were 56 MB of
	// garbage on the large workload. The list is complete once the cluster files are merged.
	m.nodeNames = m.collectNodeNames()
	// Warnings in NodeNames order, as if each node were parsed then.
	m.nodeData = map[string]*NodeData{}
	byName := map[string]nodeResult{}
	for i, n := range captured {
		byName[n] = nodes[i]
	}
	for _, n := range m.NodeNames() {
		if r, ok := byName[n]; ok {
			m.Warnings = append(m.Warnings, r.warns...)
			m.nodeData[n] = r.nd
			continue
		}
		m.NodeData(n)
	}
	m.KubeProxyConfig()
	return m
}

// env is how nodes parse after Build: with the model's rule cache, or a new one for a model
// made by hand.
func (m *Model) env() *parseEnv {
	if m.parse == nil {
		m.parse = newParseEnv()
	}
	return m.parse
}

// mergeFile adds one decoded cluster file to the model.
func (m *Model) mergeFile(f *bundle.File, r fileResult) {
	if f.Path == "cluster/version.json" {
		m.readVersion(f)
		return
	}
	if r.skip {
		return
	}
	if r.kind != "" {
		m.kinds[r.kind] = f.Path
	}
	if r.empty {
		m.warn(f.Path, 0, "empty file")
		return
	}
	for _, e := range r.errs {
		m.warn(f.Path, e.line, "%s", e.msg)
	}
	for _, d := range r.objs {
		m.apply(d)
	}
}

func (m *Model) warn(file string, line int, format string, args ...any) {
	m.Warnings = append(m.Warnings, finding.InputWarning{File: file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (m *Model) readVersion(f *bundle.File) {
	var v struct {
		ServerVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"serverVersion"`
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(fileText(f), &v); err != nil {
		m.warn(f.Path, 0, "cannot parse: %v", err)
		return
	}
	m.Version = v.ServerVersion.GitVersion
	if m.Version == "" {
		m.Version = v.GitVersion
	}
}

// fastJSON decodes objects into k8s.io/api types about twice as fast as encoding/json, with the
// same results (json-iterator's configuration compatible with the standard library; it is in
// the module graph through k8s.io/apimachinery already) but for the fields of objectUnread, with
// its strings interned (internStrings). Tests check both agree on every object of every fixture.
var fastJSON unmarshaler = func() jsoniter.API {
	api := jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true}.Froze()
	api.RegisterExtension(&skipFields{set: objectUnread})
	api.RegisterExtension(&internStrings{})
	api.RegisterExtension(&shareValues{})
	return api
}()

type unmarshaler interface {
	Unmarshal(data []byte, v any) error
}

// decoder decodes one object's JSON into its k8s.io/api type; the returned function appends it
// to its list in the model. Decoding is the costly half and runs on any goroutine; appending
// runs in file order.
type decoder func(o rawObject) (func(m *Model), error)

// into builds the decoder of one kind: T is the k8s.io/api type, W the model's wrapper.
func into[T any, W any](list func(*Model) *[]*W, wrap func(*T, Source) *W) decoder {
	return intoVia(&fastJSON, objectUnread, list, wrap)
}

// intoVia is into decoding with *fast, which leaves out the fields of unread (nil: none).
func intoVia[T any, W any](fast *unmarshaler, unread fieldSet, list func(*Model) *[]*W, wrap func(*T, Source) *W) decoder {
	return func(o rawObject) (func(m *Model), error) {
		v := new(T)
		// encoding/json decides when json-iterator fails, and words the error as the warnings
		// always have; it also decodes invalid UTF-8, whose bytes json-iterator keeps where
		// encoding/json puts U+FFFD.
		if !utf8.Valid(o.JSON) || unmarshalInterned(*fast, o.JSON, v, o.strs) != nil {
			v = new(T)
			if err := json.Unmarshal(o.JSON, v); err != nil {
				return nil, err
			}
			unread.clear(v)
		}
		w := wrap(v, o.Src)
		return func(m *Model) {
			l := list(m)
			*l = append(*l, w)
		}, nil
	}
}

// decoders is the one table from Kind to model list.
var decoders = map[string]decoder{
	"Node":               into(func(m *Model) *[]*Node { return &m.Nodes }, func(v *corev1.Node, s Source) *Node { return &Node{v, s} }),
	"Namespace":          into(func(m *Model) *[]*Namespace { return &m.Namespaces }, func(v *corev1.Namespace, s Source) *Namespace { return &Namespace{v, s} }),
	"Pod":                intoVia(&podJSON, podUnread, func(m *Model) *[]*Pod { return &m.Pods }, func(v *Pod, s Source) *Pod { v.Src = s; return v }),
	"Service":            into(func(m *Model) *[]*Service { return &m.Services }, func(v *Service, s Source) *Service { v.Src = s; return v }),
	"Endpoints":          into(func(m *Model) *[]*Endpoints { return &m.Endpoints }, func(v *Endpoints, s Source) *Endpoints { v.Src = s; return v }),
	"EndpointSlice":      into(func(m *Model) *[]*EndpointSlice { return &m.EndpointSlices }, func(v *EndpointSlice, s Source) *EndpointSlice { v.Src = s; return v }),
	"NetworkPolicy":      into(func(m *Model) *[]*NetworkPolicy { return &m.NetworkPolicies }, func(v *networkingv1.NetworkPolicy, s Source) *NetworkPolicy { return &NetworkPolicy{v, s} }),
	"Ingress":            into(func(m *Model) *[]*Ingress { return &m.Ingresses }, func(v *networkingv1.Ingress, s Source) *Ingress { return &Ingress{v, s} }),
	"Event":              into(func(m *Model) *[]*Event { return &m.Events }, func(v *Event, s Source) *Event { v.Src = s; return v }),
	"DaemonSet":          into(func(m *Model) *[]*DaemonSet { return &m.DaemonSets }, func(v *appsv1.DaemonSet, s Source) *DaemonSet { return &DaemonSet{v, s} }),
	"Deployment":         into(func(m *Model) *[]*Deployment { return &m.Deployments }, func(v *appsv1.Deployment, s Source) *Deployment { return &Deployment{v, s} }),
	"ConfigMap":          into(func(m *Model) *[]*ConfigMap { return &m.ConfigMaps }, func(v *corev1.ConfigMap, s Source) *ConfigMap { return &ConfigMap{v, s} }),
	"ServiceAccount":     into(func(m *Model) *[]*ServiceAccount { return &m.ServiceAccounts }, func(v *corev1.ServiceAccount, s Source) *ServiceAccount { return &ServiceAccount{v, s} }),
	"ClusterRole":        into(func(m *Model) *[]*ClusterRole { return &m.ClusterRoles }, func(v *rbacv1.ClusterRole, s Source) *ClusterRole { return &ClusterRole{v, s} }),
	"ClusterRoleBinding": into(func(m *Model) *[]*ClusterRoleBinding { return &m.ClusterRoleBindings }, func(v *rbacv1.ClusterRoleBinding, s Source) *ClusterRoleBinding { return &ClusterRoleBinding{v, s} }),
	"Role":               into(func(m *Model) *[]*Role { return &m.Roles }, func(v *rbacv1.Role, s Source) *Role { return &Role{v, s} }),
	"RoleBinding":        into(func(m *Model) *[]*RoleBinding { return &m.RoleBindings }, func(v *rbacv1.RoleBinding, s Source) *RoleBinding { return &RoleBinding{v, s} }),
}

// decodedObject is one object decoded off the model: what apply needs to add it.
type decodedObject struct {
	kind, apiVersion string
	src              Source
	append           func(m *Model)
	err              error
}

// decodeObject decodes one object by its kind (any kind without a typed decoder is kept
// unstructured). It touches no model state.
func decodeObject(o rawObject) decodedObject {
	d := decodedObject{kind: o.Kind, apiVersion: o.APIVersion, src: o.Src}
	if o.Kind == "" {
		return d
	}
	if dec, ok := decoders[o.Kind]; ok {
		d.append, d.err = dec(o)
		return d
	}
	u := &unstructured.Unstructured{}
	if d.err = u.UnmarshalJSON(o.JSON); d.err == nil {
		other := &Other{u, o.Src}
		d.append = func(m *Model) { m.Others = append(m.Others, other) }
	}
	return d
}

// add decodes one object by its kind and adds it; a malformed object is a warning at its line.
func (m *Model) add(o rawObject) { m.apply(decodeObject(o)) }

// apply adds a decoded object to the model, with the warnings a malformed or unknown one gets.
func (m *Model) apply(d decodedObject) {
	if d.kind == "" {
		m.warn(d.src.File, d.src.Line, "object without a kind; skipped")
		return
	}
	if d.err != nil {
		m.warn(d.src.File, d.src.Line, "%s skipped: %s", d.kind, cleanJSONError(d.err))
		return
	}
	d.append(m)
	if _, typed := decoders[d.kind]; !typed && !knownExtraKinds[d.kind] {
		m.warn(d.src.File, d.src.Line, "kind %s (%s) is not used by any rule; kept as is", d.kind, d.apiVersion)
	}
	if _, seen := m.kinds[d.kind]; !seen {
		m.kinds[d.kind] = d.src.File
	}
}

// knownExtraKinds are kinds the collector gathers on purpose beyond the typed ones.
var knownExtraKinds = map[string]bool{
	"IPPool": true, "IPAMBlock": true, "BGPConfiguration": true, "BGPPeer": true, "FelixConfiguration": true,
	"CiliumNode": true, "CiliumNetworkPolicy": true, "CiliumClusterwideNetworkPolicy": true,
	"GlobalNetworkPolicy": true, "ReplicaSet": true, "StatefulSet": true,
}

func cleanJSONError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "json: ")
	return s
}

// Has reports whether the bundle holds data for kind, and the file that holds it.
func (m *Model) Has(kind string) (string, bool) {
	f, ok := m.kinds[kind]
	return f, ok
}

func (m *Model) index() {
	m.nodesByName = map[string]*Node{}
	m.nodesByIP = map[string]*Node{}
	for _, n := range m.Nodes {
		m.nodesByName[n.Name] = n
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				m.nodesByIP[a.Address] = n
			}
		}
	}
	m.podsByNS = map[string][]*Pod{}
	m.podsByIP = map[string][]*Pod{}
	m.podsByNode = map[string][]*Pod{}
	for _, p := range m.Pods {
		m.podsByNS[p.Namespace] = append(m.podsByNS[p.Namespace], p)
		m.podsByNode[p.Spec.NodeName] = append(m.podsByNode[p.Spec.NodeName], p)
		for _, ip := range PodIPs(p) {
			m.podsByIP[ip] = append(m.podsByIP[ip], p)
		}
	}
	m.servicesByKey = map[string]*Service{}
	for _, s := range m.Services {
		m.servicesByKey[Key(s.Namespace, s.Name)] = s
	}
	m.endpointsByKey = map[string]*Endpoints{}
	for _, e := range m.Endpoints {
		m.endpointsByKey[Key(e.Namespace, e.Name)] = e
	}
	m.slicesByService = map[string][]*EndpointSlice{}
	for _, s := range m.EndpointSlices {
		if svc := s.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := Key(s.Namespace, svc)
			m.slicesByService[k] = append(m.slicesByService[k], s)
		}
	}
	for _, l := range m.slicesByService {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
}

// PodIPs returns the pod's IPs (status.podIPs, else status.podIP).
func PodIPs(p *Pod) []string {
	var out []string
	for _, ip := range p.Status.PodIPs {
		if ip.IP != "" {
			out = append(out, ip.IP)
		}
	}
	if len(out) == 0 && p.Status.PodIP != "" {
		out = append(out, p.Status.PodIP)
	}
	return out
}

// Node returns the node named name, or nil.
func (m *Model) Node(name string) *Node { return m.nodesByName[name] }

// NodeByIP returns the node with that InternalIP or ExternalIP, or nil.
func (m *Model) NodeByIP(ip string) *Node { return m.nodesByIP[ip] }

// PodsByIP returns the pods that report ip.
func (m *Model) PodsByIP(ip string) []*Pod { return m.podsByIP[ip] }

// PodsOn returns the pods scheduled on a node, in file order ("": the unscheduled ones).
func (m *Model) PodsOn(node string) []*Pod { return m.podsByNode[node] }

// PodsIn returns the pods of a namespace.
func (m *Model) PodsIn(namespace string) []*Pod { return m.podsByNS[namespace] }

// Service returns the Service namespace/name, or nil.
func (m *Model) Service(namespace, name string) *Service {
	return m.servicesByKey[Key(namespace, name)]
}

// EndpointsOf returns the Endpoints object of a Service, or nil.
func (m *Model) EndpointsOf(namespace, name string) *Endpoints {
	return m.endpointsByKey[Key(namespace, name)]
}

// SlicesOf returns the EndpointSlices of a Service, by name.
func (m *Model) SlicesOf(namespace, name string) []*EndpointSlice {
	return m.slicesByService[Key(namespace, name)]
}

// SelectPods returns the pods of a namespace that a Service-style selector (a label map) matches.
// An empty selector selects nothing, as for Services.
func (m *Model) SelectPods(namespace string, selector map[string]string) []*Pod {
	if len(selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(labels.Set(selector))
	var out []*Pod
	for _, p := range m.podsByNS[namespace] {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// PodsWithLabels returns the pods in any namespace (or one namespace, if given) a selector matches.
func (m *Model) PodsWithLabels(namespace string, sel labels.Selector) []*Pod {
	pods := m.Pods
	if namespace != "" {
		pods = m.podsByNS[namespace]
	}
	var out []*Pod
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// ConfigMap returns the ConfigMap namespace/name, or nil.
func (m *Model) ConfigMap(namespace, name string) *ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Namespace == namespace && c.Name == name {
			return c
		}
	}
	return nil
}
