package model

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze/bundle"
)

func load(t *testing.T, files map[string]string) *Model {
	t.Helper()
	dir := t.TempDir()
	files["manifest.json"] = `{"format_version":1,"mode":"cluster","commands":[]}`
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bundle.Open(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Build(b)
}

const podsList = `apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    labels:
      app: web
      app.kubernetes.io/name: web
    name: web-1
    namespace: shop
  spec:
    containers:
    - name: web
      ports:
      - containerPort: 8080
        name: http
    nodeName: worker-1
  status:
    phase: Running
    podIP: 10.244.1.5
    startTime: "2026-11-20T09:00:00Z"
- apiVersion: v1
  kind: Pod
  metadata:
    labels:
      app: api
    name: api-1
    namespace: shop
  spec:
    containers:
    - name: api
  status:
    podIPs:
    - ip: 10.244.2.9
kind: List
metadata:
  resourceVersion: ""
`

func TestDecodeListWithLines(t *testing.T) {
	m := load(t, map[string]string{"cluster/pods.yaml": podsList})
	if len(m.Warnings) != 0 {
		t.Fatalf("warnings: %v", m.Warnings)
	}
	if len(m.Pods) != 2 {
		t.Fatalf("pods = %d", len(m.Pods))
	}
	p := m.Pods[0]
	if p.Name != "web-1" || p.Spec.Containers[0].Ports[0].ContainerPort != 8080 || p.Status.StartTime == nil {
		t.Errorf("pod decoded wrong: %+v", p.PodMeta)
	}
	if p.Src.File != "cluster/pods.yaml" || p.Src.Line != 3 || p.Src.EndLine != 21 {
		t.Errorf("source = %+v, want cluster/pods.yaml lines 3-21", p.Src)
	}
	if got := m.PodsByIP("10.244.2.9"); len(got) != 1 || got[0].Name != "api-1" {
		t.Errorf("PodsByIP via podIPs = %v", got)
	}
	if got := m.SelectPods("shop", map[string]string{"app": "web"}); len(got) != 1 || got[0].Name != "web-1" {
		t.Errorf("SelectPods = %v", got)
	}
	if got := m.SelectPods("shop", nil); len(got) != 0 {
		t.Errorf("empty selector must select nothing, got %d", len(got))
	}
	if f, ok := m.Has("Pod"); !ok || f != "cluster/pods.yaml" {
		t.Errorf("Has(Pod) = %q %v", f, ok)
	}
	if _, ok := m.Has("Service"); ok {
		t.Errorf("Has(Service) with no services file")
	}
}

func TestEvidenceLocatesFields(t *testing.T) {
	m := load(t, map[string]string{"cluster/pods.yaml": podsList})
	web, api := m.Pods[0].Src, m.Pods[1].Src
	cases := []struct {
		src     Source
		path    []string
		line    int
		excerpt string
	}{
		{web, []string{"status", "podIP"}, 20, "podIP: 10.244.1.5"},
		{web, []string{"metadata", "labels", "app.kubernetes.io/name"}, 8, "app.kubernetes.io/name: web"},
		{web, []string{"spec", "containers", "0", "ports", "0", "name"}, 16, "name: http"},
		{web, []string{"spec", "containers"}, 12, "containers:"},
		// Absent field: its nearest present ancestor.
		{web, []string{"status", "conditions"}, 18, "status:"},
		{api, []string{"status", "podIPs", "0", "ip"}, 34, "- ip: 10.244.2.9"},
		// Nothing of the path exists: the name line.
		{api, []string{"nope"}, 27, "name: api-1"},
	}
	for _, c := range cases {
		e := m.Evidence(c.src, c.path...)
		if e.File != "cluster/pods.yaml" || e.Line != c.line || e.Excerpt != c.excerpt {
			t.Errorf("Evidence(%v) = %s %q, want line %d %q", c.path, e.Location(), e.Excerpt, c.line, c.excerpt)
		}
	}
	lines := m.EvidenceLines(web, 5, "metadata", "labels")
	if len(lines) != 3 || lines[1].Excerpt != "app: web" || lines[2].Line != 8 {
		t.Errorf("EvidenceLines = %+v", lines)
	}
}

func TestDecodeMultiDocumentAndJSON(t *testing.T) {
	m := load(t, map[string]string{
		"cluster/services.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: x\nspec:\n  ports:\n  - port: 80\n---\n# comment\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: x\n",
		"cluster/nodes.json":    `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.0.1"}]}}]}`,
	})
	if len(m.Warnings) != 0 {
		t.Fatalf("warnings: %v", m.Warnings)
	}
	if len(m.Services) != 2 || m.Services[1].Name != "b" || m.Services[1].Src.Line != 11 {
		t.Fatalf("services: %d, second at %+v", len(m.Services), m.Services[len(m.Services)-1].Src)
	}
	if n := m.NodeByIP("192.168.0.1"); n == nil || n.Name != "n1" {
		t.Errorf("NodeByIP from JSON = %v", n)
	}
}

func TestGarbageInTheMiddleLosesOnlyThatObject(t *testing.T) {
	broken := strings.Replace(podsList, "    name: api-1\n", "    name: api-1\n  spec: [ garbage : here\n", 1)
	m := load(t, map[string]string{"cluster/pods.yaml": broken})
	if len(m.Pods) != 1 || m.Pods[0].Name != "web-1" {
		t.Fatalf("the valid pod must survive: %d pods", len(m.Pods))
	}
	if m.Pods[0].Src.Line != 3 {
		t.Errorf("recovered pod keeps its line: %+v", m.Pods[0].Src)
	}
	if len(m.Warnings) != 1 || m.Warnings[0].File != "cluster/pods.yaml" || m.Warnings[0].Line < 22 || m.Warnings[0].Line > 29 {
		t.Fatalf("want one warning inside the broken item (lines 22-29), got %v", m.Warnings)
	}
}

func TestBadObjectsAreWarnings(t *testing.T) {
	m := load(t, map[string]string{
		"cluster/pods.yaml":  "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: bad\n  spec:\n    containers: 12\n- kind: Widget\n  apiVersion: example.com/v1\n  metadata:\n    name: w\n- metadata:\n    name: nokind\n",
		"cluster/empty.yaml": "",
		"cluster/text.yaml":  "just a sentence\n",
	})
	want := map[string]bool{
		"cluster/pods.yaml:4:Pod skipped":            false,
		"cluster/pods.yaml:10:kind Widget":           false,
		"cluster/pods.yaml:14:object without a kind": false,
		"cluster/empty.yaml:0:empty file":            false,
		"cluster/text.yaml:1:expected a Kubernetes":  false,
	}
	for _, w := range m.Warnings {
		for k := range want {
			parts := strings.SplitN(k, ":", 3)
			if w.File == parts[0] && itoa(w.Line) == parts[1] && strings.Contains(w.Message, parts[2]) {
				want[k] = true
			}
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("missing warning %s; got %v", k, m.Warnings)
		}
	}
	if len(m.Others) != 1 {
		t.Errorf("unknown kinds are kept unstructured: %d", len(m.Others))
	}
}

func TestYAMLBombIsRefused(t *testing.T) {
	bomb := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += "  " + n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	m := load(t, map[string]string{"cluster/configmaps.yaml": bomb})
	if len(m.ConfigMaps) != 0 || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0].Message, "bomb") {
		t.Fatalf("a YAML bomb must be refused with a warning: %d configmaps, %v", len(m.ConfigMaps), m.Warnings)
	}
}

// The model's EndpointSlice and Endpoints keep what ServiceEndpoints reads, with the API's
// meanings: an endpoint without a ready condition is ready (nil is "unknown"), one with
// ready: false is not; a not-ready address of an Endpoints object is not ready.
func TestServiceEndpointsReadiness(t *testing.T) {
	m := load(t, map[string]string{
		"cluster/services.yaml": "apiVersion: v1\nkind: List\nitems:\n" +
			"- {apiVersion: v1, kind: Service, metadata: {name: a, namespace: x}, spec: {ports: [{port: 80}]}}\n" +
			"- {apiVersion: v1, kind: Service, metadata: {name: b, namespace: x}, spec: {ports: [{port: 80}]}}\n",
		"cluster/endpointslices.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: a-1, namespace: x, labels: {kubernetes.io/service-name: a}}
  addressType: IPv4
  endpoints:
  - {addresses: [10.0.0.1], conditions: {ready: true}, nodeName: n1, targetRef: {kind: Pod, namespace: x, name: p1, uid: u1}}
  - {addresses: [10.0.0.2], conditions: {ready: false, serving: true}}
  - {addresses: [10.0.0.3]}
  ports: [{name: http, port: 8080, protocol: TCP}]
`,
		"cluster/endpoints.yaml": `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Endpoints
  metadata: {name: b, namespace: x}
  subsets:
  - addresses: [{ip: 10.0.1.1, nodeName: n2, targetRef: {kind: Pod, namespace: x, name: q1}}]
    notReadyAddresses: [{ip: 10.0.1.2, hostname: h}]
    ports: [{name: http, port: 8080, protocol: TCP}]
`,
	})
	if len(m.Warnings) != 0 {
		t.Fatalf("warnings: %v", m.Warnings)
	}
	type ep struct {
		ip, node, pod string
		ready         bool
		port          int32
	}
	for _, c := range []struct {
		svc  string
		want []ep
	}{
		{"a", []ep{{"10.0.0.1", "n1", "x/p1", true, 8080}, {"10.0.0.2", "", "", false, 8080}, {"10.0.0.3", "", "", true, 8080}}},
		{"b", []ep{{"10.0.1.1", "n2", "x/q1", true, 8080}, {"10.0.1.2", "", "", false, 8080}}},
	} {
		eps, found := m.ServiceEndpoints(m.Service("x", c.svc))
		var got []ep
		for _, e := range eps {
			got = append(got, ep{e.IP, e.NodeName, e.Pod, e.Ready, *e.Ports[0].Port})
		}
		if !found || !reflect.DeepEqual(got, c.want) {
			t.Errorf("service %s: endpoints %+v (found %v), want %+v", c.svc, got, found, c.want)
		}
	}
}
