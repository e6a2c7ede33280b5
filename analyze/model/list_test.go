package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/parsers/diag"
)

// decodeList finds a List's items in the file's bytes without splitting it into lines first:
// the items it cuts (kinds, names, where each starts and ends) must be those the whole-file
// decoder finds, whatever the file's line endings and blank lines.
func TestDecodeListEdges(t *testing.T) {
	pod := func(name string) string {
		return "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: " + name + "\n    namespace: ns\n"
	}
	head, tail := "apiVersion: v1\nitems:\n", "kind: List\nmetadata:\n  resourceVersion: \"\"\n"
	cases := map[string]string{
		"plain":               head + pod("a") + pod("b") + tail,
		"no final newline":    head + pod("a") + pod("b") + strings.TrimSuffix(tail, "\n"),
		"items last":          "apiVersion: v1\nkind: List\nitems:\n" + pod("a") + pod("b"),
		"items last, no eol":  "apiVersion: v1\nkind: List\nitems:\n" + pod("a") + strings.TrimSuffix(pod("b"), "\n"),
		"items last, blanks":  "apiVersion: v1\nkind: List\nitems:\n" + pod("a") + pod("b") + "\n\n",
		"blank inside":        head + pod("a") + "\n" + pod("b") + "\n  \n" + tail,
		"crlf":                strings.ReplaceAll(head+pod("a")+pod("b")+tail, "\n", "\r\n"),
		"one item":            head + pod("a") + tail,
		"trailing spaces":     head + strings.ReplaceAll(pod("a"), "\n", "  \n") + pod("b") + tail,
		"blank before items":  "apiVersion: v1\n\nitems:\n" + pod("a") + tail,
		"item then blank eof": "apiVersion: v1\nkind: List\nitems:\n" + pod("a") + "\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := decodeList("cluster/pods.yaml", []byte(in))
			if !ok {
				t.Fatalf("not decoded item by item:\n%s", in)
			}
			raw, errs := splitObjects("cluster/pods.yaml", []byte(in))
			if len(errs) > 0 {
				t.Fatalf("whole-file decoder: %v", errs)
			}
			if len(got) != len(raw) {
				t.Fatalf("%d items, the whole-file decoder finds %d", len(got), len(raw))
			}
			for i := range got {
				want := decodeObject(raw[i])
				g := fmt.Sprintf("%s %s %+v %v", got[i].kind, got[i].apiVersion, got[i].src, got[i].err)
				w := fmt.Sprintf("%s %s %+v %v", want.kind, want.apiVersion, want.src, want.err)
				if g != w {
					t.Errorf("item %d: %s, want %s", i, g, w)
				}
			}
			// And the objects themselves: what each item's text decodes to.
			items, _, _ := listItems([]byte(in))
			for i, it := range items {
				o, ok := itemObject("cluster/pods.yaml", dedentItem(nil, []byte(in)[it.from:it.to]), it.start, nil)
				var g, w any
				if !ok || json.Unmarshal(o.JSON, &g) != nil || json.Unmarshal(raw[i].JSON, &w) != nil || !reflect.DeepEqual(g, w) {
					t.Errorf("item %d decodes to %s, want %s", i, o.JSON, raw[i].JSON)
				}
			}
		})
	}
}

// Pods decoded with one interner share their repeated strings: fields, label keys and values,
// named string types (the phase).
func TestPodStringsInterned(t *testing.T) {
	doc := func(name string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"shop","labels":{"app":"web"}},` +
			`"spec":{"nodeName":"node-1","containers":[{"name":"web","image":"nginx:1.27"}]},"status":{"phase":"Running"}}`)
	}
	decode := func(strs *interner) (a, b *Pod) {
		a, b = new(Pod), new(Pod)
		if err := unmarshalInterned(podJSON, doc("a"), a, strs); err != nil {
			t.Fatal(err)
		}
		if err := unmarshalInterned(podJSON, doc("b"), b, strs); err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	a, b := decode(&interner{})
	if a.Name != "a" || b.Name != "b" || b.Namespace != "shop" || b.Labels["app"] != "web" || b.Status.Phase != corev1.PodRunning {
		t.Fatalf("decoded %+v", b)
	}
	for what, ok := range map[string]bool{
		"namespace":   same(a.Namespace, b.Namespace),
		"label value": same(a.Labels["app"], b.Labels["app"]),
		"node name":   same(a.Spec.NodeName, b.Spec.NodeName),
		"image":       same(a.Spec.Containers[0].Image, b.Spec.Containers[0].Image),
		"phase":       same(string(a.Status.Phase), string(b.Status.Phase)),
	} {
		if !ok {
			t.Errorf("%s: two copies", what)
		}
	}
	if a, b := decode(nil); same(a.Namespace, b.Namespace) {
		t.Error("without an interner, the namespaces share a copy: the test cannot tell")
	}
	if err := unmarshalInterned(podJSON, append(doc("c"), `{}`...), new(Pod), &interner{}); err == nil {
		t.Error("bytes after the object were not refused")
	}
	// Every other kind, through fastJSON.
	strs := &interner{}
	var svcs [2]corev1.Service
	for i := range svcs {
		if err := unmarshalInterned(fastJSON, []byte(`{"metadata":{"name":"s`+fmt.Sprint(i)+`","namespace":"shop"},"spec":{"selector":{"app":"web"}}}`), &svcs[i], strs); err != nil {
			t.Fatal(err)
		}
	}
	if !same(svcs[0].Namespace, svcs[1].Namespace) || !same(svcs[0].Spec.Selector["app"], svcs[1].Spec.Selector["app"]) || svcs[1].Name != "s1" {
		t.Errorf("Services through fastJSON: %+v", svcs[1].ObjectMeta)
	}
}

// Pods decoded with one interner share their equal slices and maps (sharedTypes): containers,
// container states, conditions without their times, owners, labels. A value that differs in
// anything decoded has its own.
func TestPodValuesShared(t *testing.T) {
	doc := func(name, image, since string) []byte {
		return []byte(`{"metadata":{"name":"` + name + `","namespace":"shop","labels":{"app":"web","tier":"front"},` +
			`"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-1","uid":"u1","controller":true}]},` +
			`"spec":{"containers":[{"name":"web","image":"` + image + `","ports":[{"containerPort":80}]}]},` +
			`"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"` + since + `"}],` +
			`"containerStatuses":[{"name":"web","image":"` + image + `","ready":true,"state":{"running":{"startedAt":"` + since + `"}}}]}}`)
	}
	strs := &interner{}
	var pods [3]corev1.Pod
	for i, d := range [][]byte{
		doc("a", "nginx:1.27", "2026-11-17T22:05:29Z"),
		doc("b", "nginx:1.27", "2026-11-18T10:00:00Z"), // another time: still alike
		doc("c", "nginx:1.28", "2026-11-17T22:05:29Z"),
	} {
		if err := unmarshalInterned(podJSON, d, &pods[i], strs); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := &pods[0], &pods[1], &pods[2]
	if b.Name != "b" || len(b.Spec.Containers) != 1 || b.Spec.Containers[0].Ports[0].ContainerPort != 80 ||
		b.Status.Conditions[0].Status != corev1.ConditionTrue || b.Status.ContainerStatuses[0].State.Running == nil ||
		b.Labels["tier"] != "front" || b.OwnerReferences[0].Name != "web-1" {
		t.Fatalf("decoded %+v", b)
	}
	mapOf := func(m map[string]string) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }
	for what, ok := range map[string]bool{
		"containers":         &a.Spec.Containers[0] == &b.Spec.Containers[0],
		"container statuses": &a.Status.ContainerStatuses[0] == &b.Status.ContainerStatuses[0],
		"conditions":         &a.Status.Conditions[0] == &b.Status.Conditions[0],
		"owners":             &a.OwnerReferences[0] == &b.OwnerReferences[0],
		"labels":             mapOf(a.Labels) == mapOf(b.Labels),
	} {
		if !ok {
			t.Errorf("%s: two copies", what)
		}
	}
	if &a.Spec.Containers[0] == &c.Spec.Containers[0] || &a.Status.ContainerStatuses[0] == &c.Status.ContainerStatuses[0] {
		t.Error("another image shares the first pod's containers")
	}
	if &a.Status.Conditions[0] != &c.Status.Conditions[0] {
		t.Error("conditions alike are not shared across images")
	}
	var d corev1.Pod
	if err := unmarshalInterned(podJSON, doc("d", "nginx:1.27", "2026-11-17T22:05:29Z"), &d, nil); err != nil {
		t.Fatal(err)
	}
	if &d.Spec.Containers[0] == &a.Spec.Containers[0] {
		t.Error("without an interner, a pod shares containers: the test cannot tell")
	}
}

// decodeListBlocks, reading a packed file block by block and decoding a batch of items at a
// time, finds what decodeList finds in the whole text: the same items, the same sources, the
// same objects, with items cut across blocks and batches; and refuses what it refuses.
func TestDecodeListBlocks(t *testing.T) {
	defer func(n int) { listBatch = n }(listBatch)
	listBatch = 10 << 10
	var b strings.Builder
	b.WriteString("apiVersion: v1\nitems:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p%d\n    namespace: ns%d\n", i, i%7)
		if i%5 == 0 {
			b.WriteString("  spec:\n    containers:\n    - image: nginx\n      name: web\n")
		}
		if i%11 == 0 {
			b.WriteString("\n") // a blank line inside the List
		}
	}
	list := b.String()
	tail := "kind: List\nmetadata:\n  resourceVersion: \"\"\n"
	for name, tc := range map[string]struct {
		in string
		ok bool
	}{
		"list":             {list + tail, true},
		"crlf":             {strings.ReplaceAll(list+tail, "\n", "\r\n"), true},
		"lone cr":          {strings.Replace(list, "name: p7\n", "name: p\r7\n", 1) + tail, true},
		"no final newline": {list + strings.TrimSuffix(tail, "\n"), true},
		"items last":       {"kind: List\n" + list, true},
		"not a List":       {list + "kind: Pod\n", false},
		"a comment":        {list + "# done\n" + tail, false},
	} {
		t.Run(name, func(t *testing.T) {
			if len(tc.in) < 3*128<<10 {
				t.Fatalf("%d bytes: fewer than three blocks", len(tc.in))
			}
			want, wok := decodeList("cluster/pods.yaml", diag.NoLoneCR([]byte(tc.in)))
			blocks, _ := bundle.Blocks(bundle.Pack([]byte(tc.in)))
			got, ok := decodeListBlocks("cluster/pods.yaml", blocks, len(tc.in)/3) // a short size hint: the batch grows
			if ok != tc.ok || wok != tc.ok {
				t.Fatalf("decoded item by item: %v from blocks, %v whole; want %v", ok, wok, tc.ok)
			}
			if len(got) != len(want) {
				t.Fatalf("%d items from blocks, %d whole", len(got), len(want))
			}
			mg, mw := &Model{}, &Model{}
			for i := range got {
				g := fmt.Sprintf("%s %s %+v %v", got[i].kind, got[i].apiVersion, got[i].src, got[i].err)
				w := fmt.Sprintf("%s %s %+v %v", want[i].kind, want[i].apiVersion, want[i].src, want[i].err)
				if g != w {
					t.Fatalf("item %d: %s, want %s", i, g, w)
				}
				got[i].append(mg)
				want[i].append(mw)
			}
			if !reflect.DeepEqual(mg.Pods, mw.Pods) {
				t.Error("the pods differ")
			}
		})
	}
}
