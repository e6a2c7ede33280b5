package model

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model/internal/fastyaml"
)

// Load parses files while the archive is read, drops iptables dumps' bytes and shares rule
// texts between nodes; Build parses a bundle already in memory. They must build the same
// model: same objects, same warnings, same parsed captures, and every line of every file
// readable the same way.
func TestLoadMatchesBuild(t *testing.T) {
	for _, src := range fixtureSources(t) {
		t.Run(src, func(t *testing.T) { loadMatchesBuild(t, src) })
	}
	// Every cluster file and node capture claimed and packed once decoded or parsed, as big ones
	// are.
	defer func(n int) { packMin = n }(packMin)
	packMin = 1
	for _, src := range fixtureSources(t) {
		t.Run("packed/"+src, func(t *testing.T) { loadMatchesBuild(t, src) })
	}
}

// A bundle whose root folder is named "cluster", read from the folder above it: while reading,
// every file is taken for a cluster file (cluster/pods.yaml is first guessed to be at
// cluster/cluster/pods.yaml, a node's capture to be a cluster file), packed, and its bytes
// dropped. Build then finds each file at its real path and must decode or parse it again from
// its packed lines.
func TestLoadWrongGuessedPaths(t *testing.T) {
	src, err := filepath.Glob("../../fixtures/bundles/healthy/netsift-*")
	if err != nil || len(src) != 1 {
		t.Fatalf("the healthy fixture: %v %v", src, err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "cluster"), os.DirFS(src[0])); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { packMin = n }(packMin)
	packMin = 1
	loadMatchesBuild(t, dir)
	m, err := Load(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pods) == 0 || len(m.NodeNames()) == 0 || m.NodeData(m.NodeNames()[0]).Routes.Len() == 0 {
		t.Fatalf("%d pods, %d nodes: the files were not read again", len(m.Pods), len(m.NodeNames()))
	}
}

func loadMatchesBuild(t *testing.T, src string) {
	b, err := bundle.Open(context.Background(), []string{src}, bundle.Options{})
	if err != nil {
		t.Skipf("not a bundle: %v", err)
	}
	want := Build(b)
	got, err := Load(context.Background(), []string{src}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.parse != nil {
		t.Error("Load keeps the caches nodes were parsed with: every node is parsed by then")
	}
	if g, w := digest(t, got), digest(t, want); g != w {
		t.Fatalf("Load and Build differ:\n Load  %s\n Build %s", g, w)
	}
	for _, p := range want.Bundle.Paths() {
		wf, gf := want.Bundle.File(p), got.Bundle.File(p)
		if gf == nil || gf.Lines() != wf.Lines() || gf.Blank() != wf.Blank() || gf.Size() != wf.Size() {
			t.Fatalf("%s: Load's file differs", p)
		}
		for n := 1; n <= wf.Lines(); n++ {
			if gf.Line(n) != wf.Line(n) {
				t.Fatalf("%s:%d: Load gives %q, the file has %q", p, n, gf.Line(n), wf.Line(n))
			}
		}
	}
}

// The cluster YAML is decoded item by item, by the fast converter where it can: the objects
// (with their lines) and warnings must be those of yaml.v3 item by item, and of yaml.v3 on
// the whole file.
func TestListDecodingMatchesYAMLv3(t *testing.T) {
	defer func() { fastConvert, byItem = fastyaml.Convert, true }()
	sameModel(t, "yaml.v3 item by item", func() { fastConvert = nil }, func() { fastConvert = fastyaml.Convert })
	sameModel(t, "yaml.v3 on the whole file", func() { byItem = false }, func() { byItem = true })
}

// Objects are decoded with json-iterator, for speed: the model must be what encoding/json gives.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	saved := fastJSON
	sameModel(t, "encoding/json without objectUnread", func() { fastJSON = prunedStdJSON{objectUnread} }, func() { fastJSON = saved })
}

// sameModel builds every fixture bundle as it is, then with slow set (a reference path turned
// on), and fails when the two models differ; restore undoes slow.
func sameModel(t *testing.T, what string, slow, restore func()) {
	t.Helper()
	for _, src := range fixtureSources(t) {
		t.Run(what+"/"+src, func(t *testing.T) {
			b, err := bundle.Open(context.Background(), []string{src}, bundle.Options{})
			if err != nil {
				t.Skipf("not a bundle: %v", err)
			}
			fast := digest(t, Build(b))
			slow()
			defer restore()
			if ref := digest(t, Build(b)); ref != fast {
				t.Fatalf("the fast path and %s differ:\n fast %s\n ref  %s", what, fast, ref)
			}
		})
	}
}

// fixtureSources lists every bundle of the repository: scenarios, hostile, lab.
func fixtureSources(t *testing.T) []string {
	t.Helper()
	var sources []string
	for _, pattern := range []string{"../../fixtures/bundles/*", "../../fixtures/hostile/*/*", "../../fixtures/lab-bundles/*/*", "../../fixtures/demo.tgz"} {
		m, _ := filepath.Glob(pattern)
		for _, p := range m {
			if st, err := os.Stat(p); err == nil && (st.IsDir() && filepath.Base(p) != "gen" || filepath.Ext(p) != ".md" && filepath.Ext(p) != ".go" && !st.IsDir()) {
				sources = append(sources, p)
			}
		}
	}
	if len(sources) < 20 {
		t.Fatalf("found only %d fixture bundles", len(sources))
	}
	return sources
}

// digest is the model as JSON: its objects, warnings and every node's parsed captures.
func digest(t *testing.T, m *Model) string {
	t.Helper()
	nodes := map[string]*NodeData{}
	for _, n := range m.NodeNames() {
		nodes[n] = m.NodeData(n)
	}
	b, err := json.Marshal(struct {
		Nodes, Pods, Services, Endpoints, Slices, Policies, Events, Others, Warnings any
		Captures                                                                     map[string]*NodeData
	}{m.Nodes, m.Pods, m.Services, m.Endpoints, m.EndpointSlices, m.NetworkPolicies, m.Events, m.Others, m.Warnings, nodes})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// json-iterator keeps invalid UTF-8 bytes in strings where encoding/json puts U+FFFD: such an
// object must decode as encoding/json decodes it (with the unread fields left out).
func TestDecodeInvalidUTF8(t *testing.T) {
	data := []byte("{\"metadata\":{\"name\":\"web\xff\",\"uid\":\"u\",\"labels\":{\"app\xfe\":\"x\xff\"}}}")
	m := &Model{}
	add, err := decoders["Pod"](rawObject{Kind: "Pod", JSON: data})
	if err != nil {
		t.Fatal(err)
	}
	add(m)
	var want Pod
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if got := m.Pods[0]; !reflect.DeepEqual(*got, want) || want.Name != "web\uFFFD" {
		t.Fatalf("got %q %q, encoding/json gives %q %q", got.Name, got.Labels, want.Name, want.Labels)
	}
}

// Pods are decoded without the fields nothing reads (podUnread): exactly as encoding/json
// decodes them with those fields cleared, and no other field lost.
func TestPodUnreadFields(t *testing.T) {
	saved := podJSON
	sameModel(t, "encoding/json without podUnread", func() { podJSON = prunedStdJSON{podUnread} }, func() { podJSON = saved })

	// Every name on the lists is a field of its type: a misspelt one would be read.
	for _, set := range []fieldSet{podUnread, objectUnread} {
		for typ, names := range set {
			for _, n := range names {
				if _, ok := typ.FieldByName(n); !ok {
					t.Errorf("%s has no field %s", typ, n)
				}
			}
		}
	}
	// What is dropped and what is kept, on a pod that has both.
	data := []byte(`{"metadata":{"name":"web","uid":"u1","annotations":{"a":"b"},"labels":{"app":"web"}},
		"spec":{"nodeName":"n1","tolerations":[{"operator":"Exists"}],"containers":[{"name":"c","image":"i","env":[{"name":"X"}],"ports":[{"containerPort":80}]}]},
		"status":{"podIP":"10.0.0.1","hostIP":"172.0.0.1","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}],
		"containerStatuses":[{"name":"c","ready":true,"restartCount":3,"containerID":"containerd://x"}]}}`)
	var p Pod
	if err := podJSON.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Containers[0].Env != nil || !p.Status.Conditions[0].LastTransitionTime.IsZero() || p.Status.ContainerStatuses[0].ContainerID != "" {
		t.Errorf("an unread field was decoded: %+v", p)
	}
	if p.Name != "web" || p.Labels["app"] != "web" || p.Spec.NodeName != "n1" || p.Spec.Containers[0].Image != "i" ||
		p.Spec.Containers[0].Ports[0].ContainerPort != 80 || p.Status.PodIP != "10.0.0.1" || p.Status.Conditions[0].Status != "True" ||
		p.Status.ContainerStatuses[0].RestartCount != 3 || !p.Status.ContainerStatuses[0].Ready {
		t.Errorf("a read field was lost: %+v", p)
	}
}

type prunedStdJSON struct{ unread fieldSet }

func (s prunedStdJSON) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	s.unread.clear(v)
	return nil
}

// The model's own types (Pod, Event...) hold fields of the k8s.io/api types they stand for, under
// their names, types and JSON keys: a rule reads p.Spec.NodeName as on a corev1.Pod, and a
// misspelt key would decode nothing, silently. A struct of the model's own in place of theirs
// (through pointers and slices alike) is checked the same way, field by field.
func TestMirrorsMatchK8sAPI(t *testing.T) {
	for mine, theirs := range map[reflect.Type]reflect.Type{
		reflect.TypeFor[Pod]():           reflect.TypeFor[corev1.Pod](),
		reflect.TypeFor[Service]():       reflect.TypeFor[corev1.Service](),
		reflect.TypeFor[Event]():         reflect.TypeFor[corev1.Event](),
		reflect.TypeFor[Endpoints]():     reflect.TypeFor[corev1.Endpoints](),
		reflect.TypeFor[EndpointSlice](): reflect.TypeFor[discoveryv1.EndpointSlice](),
	} {
		checkMirror(t, mine, theirs)
	}
}

// checkMirror checks each field of mine against the field of theirs of the same name, or for
// an embedded one (the metadata) of the same JSON key.
func checkMirror(t *testing.T, mine, theirs reflect.Type) {
	t.Helper()
	for i := range mine.NumField() {
		f := mine.Field(i)
		if f.Type == reflect.TypeFor[Source]() {
			continue
		}
		g, ok := theirs.FieldByName(f.Name)
		if f.Anonymous {
			g, ok = fieldByKey(theirs, jsonKey(f))
		}
		switch {
		case !ok:
			t.Errorf("%s.%s: %s has no such field", mine.Name(), f.Name, theirs)
		case jsonKey(f) != jsonKey(g):
			t.Errorf("%s.%s: key %q, %s has %q", mine.Name(), f.Name, f.Tag.Get("json"), theirs, g.Tag.Get("json"))
		default:
			checkMirrorType(t, mine.Name()+"."+f.Name, f.Type, g.Type)
		}
	}
}

func checkMirrorType(t *testing.T, where string, mine, theirs reflect.Type) {
	t.Helper()
	switch {
	case mine == theirs:
	case mine.Kind() == reflect.Struct && theirs.Kind() == reflect.Struct && mine.PkgPath() == reflect.TypeFor[Model]().PkgPath():
		checkMirror(t, mine, theirs)
	case (mine.Kind() == reflect.Pointer || mine.Kind() == reflect.Slice) && mine.Kind() == theirs.Kind():
		checkMirrorType(t, where, mine.Elem(), theirs.Elem())
	default:
		t.Errorf("%s: type %s, k8s.io/api has %s", where, mine, theirs)
	}
}

func fieldByKey(typ reflect.Type, key string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		if f := typ.Field(i); jsonKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return key
}
