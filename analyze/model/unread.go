package model

import (
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podUnread names the fields of a pod's containers, conditions and container statuses that no
// rule, trace, diff or report reads (the model's Pod type leaves out those of the pod itself). A
// large cluster's pods are most of its YAML (60,000 pods, 215 MB); decoding skips these fields
// (timestamps, probes, environments). `netsift get pods -o yaml|json` re-reads a pod whole
// (Model.Reread). A rule that needs one of them takes it off this list.
var podUnread = fieldSet{
	reflect.TypeFor[corev1.Container](): {"Env", "EnvFrom", "VolumeMounts", "VolumeDevices", "ReadinessProbe",
		"LivenessProbe", "StartupProbe", "Lifecycle", "TerminationMessagePath", "TerminationMessagePolicy",
		"ImagePullPolicy", "SecurityContext", "Resources", "ResizePolicy", "WorkingDir"},
	reflect.TypeFor[corev1.PodCondition](): {"LastProbeTime", "LastTransitionTime"},
	// Without their times, the states of the containers of one workload's pods are alike, and
	// are shared (shareValues).
	reflect.TypeFor[corev1.ContainerStateRunning]():    {"StartedAt"},
	reflect.TypeFor[corev1.ContainerStateTerminated](): {"StartedAt", "FinishedAt"},
	reflect.TypeFor[corev1.ContainerStatus](): {"ContainerID", "ImageID", "Started", "AllocatedResources",
		"Resources", "VolumeMounts", "User", "AllocatedResourcesStatus"},
}

// objectUnread names the fields of the metadata of the kinds decoded into k8s.io/api types that
// nothing reads: every Service's and Node's annotations, UIDs, resource versions and
// timestamps. (The model's own types, Pod, Event, Endpoints and EndpointSlice, hold only what
// is read, their object references too.) `netsift get KIND -o yaml|json` re-reads an object
// whole (Model.Reread). A rule that needs one of them takes it off this list.
var objectUnread = fieldSet{
	reflect.TypeFor[metav1.ObjectMeta](): {"UID", "ResourceVersion", "Generation", "CreationTimestamp",
		"ManagedFields", "Annotations", "Finalizers", "GenerateName", "SelfLink", "OwnerReferences"},
}

// fieldSet lists, per struct type, the Go names of fields left out of decoding.
type fieldSet map[reflect.Type][]string

// podJSON decodes Pods without podUnread: json-iterator's encoding/json-compatible
// configuration, whose struct decoders do not know the unread fields' names and so skip their
// values. Tests compare it with encoding/json followed by fieldSet.clear.
var podJSON unmarshaler = func() jsoniter.API {
	api := jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true}.Froze()
	api.RegisterExtension(&skipFields{set: podUnread})
	api.RegisterExtension(&internStrings{})
	api.RegisterExtension(&shareValues{})
	return api
}()

type skipFields struct {
	jsoniter.DummyExtension
	set fieldSet
}

func (s *skipFields) UpdateStructDescriptor(d *jsoniter.StructDescriptor) {
	for _, name := range s.set[d.Type.Type1()] {
		if b := d.GetField(name); b != nil {
			b.FromNames = nil
		}
	}
}

// clear zeroes the set's fields wherever they are in v (a pointer), as if they had been
// skipped: for objects decoded by encoding/json.
func (s fieldSet) clear(v any) {
	if len(s) > 0 { // the kinds decoded whole have nothing to walk for
		s.clearValue(reflect.ValueOf(v))
	}
}

func (s fieldSet) clearValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			s.clearValue(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			s.clearValue(v.Index(i))
		}
	case reflect.Struct:
		for _, name := range s[v.Type()] {
			v.FieldByName(name).SetZero()
		}
		for i := range v.NumField() {
			s.clearValue(v.Field(i))
		}
	}
}

// internStrings is the extension of podJSON and fastJSON that gives the strings they decode
// (fields, map keys and values of any type whose kind is string and that does not decode
// itself) to the decoding's interner, when it has one (unmarshalInterned): sixty thousand pods
// repeat their namespaces, labels, images, owners, node names and condition types, and their
// 3.1 million strings are 211,000 values on the large workload.
type internStrings struct{ jsoniter.DummyExtension }

func (*internStrings) CreateDecoder(typ reflect2.Type) jsoniter.ValDecoder {
	if typ.Kind() != reflect.String {
		return nil
	}
	t := typ.Type1()
	for _, u := range []reflect.Type{t, reflect.PointerTo(t)} {
		if u.Implements(jsonUnmarshaler) || u.Implements(textUnmarshaler) {
			return nil
		}
	}
	return internString{}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// internString decodes a string as json-iterator does, then takes the interner's copy of it.
type internString struct{}

func (internString) Decode(ptr unsafe.Pointer, iter *jsoniter.Iterator) {
	s := iter.ReadString()
	if in, ok := iter.Attachment.(*interner); ok {
		s = in.intern(s)
	}
	*(*string)(ptr) = s
}

// shareValues is the extension of podJSON and fastJSON that makes the slices and maps of
// sharedTypes that decode equal one value, through the decoding's interner when it has one:
// the pods of one workload have the same containers, labels and owner, and once their times are
// skipped (podUnread) the same conditions and container states. On the large workload the
// pods' live heap went from 211 MB to 102 MB (−11% peak RSS, no time that can be told apart).
// Nothing writes to a decoded object, which is what makes sharing its parts safe.
type shareValues struct{ jsoniter.DummyExtension }

var sharedTypes = map[reflect.Type]bool{
	reflect.TypeFor[[]corev1.Container]():       true,
	reflect.TypeFor[[]corev1.ContainerStatus](): true,
	reflect.TypeFor[[]corev1.PodCondition]():    true,
	reflect.TypeFor[[]metav1.OwnerReference]():  true,
	reflect.TypeFor[map[string]string]():        true,
}

func (*shareValues) DecorateDecoder(typ reflect2.Type, dec jsoniter.ValDecoder) jsoniter.ValDecoder {
	if !sharedTypes[typ.Type1()] {
		return dec
	}
	return &sharedDecoder{inner: dec, typ: typ}
}

// sharedDecoder decodes a value as json-iterator does, then takes the interner's equal value
// in its place: the same slice's elements or the same map.
type sharedDecoder struct {
	inner jsoniter.ValDecoder
	typ   reflect2.Type
}

func (d *sharedDecoder) Decode(ptr unsafe.Pointer, iter *jsoniter.Iterator) {
	d.inner.Decode(ptr, iter)
	in, ok := iter.Attachment.(*interner)
	if !ok || iter.Error != nil {
		return
	}
	if v := d.typ.UnsafeIndirect(ptr); reflect.ValueOf(v).Len() > 0 {
		in.share(d.typ, ptr, v)
	}
}

// valueKeys writes a decoded value as the key of its kind in an interner: equal values, equal
// keys (map keys are sorted; the fields left unread are zero).
var valueKeys = jsoniter.Config{SortMapKeys: true}.Froze()

// interner keeps one copy of each string it is given, and of each value of sharedTypes. It is
// one goroutine's: a List's items are decoded on every core, each with the interner of its
// scratch.
type interner struct {
	m    map[string]string
	vals map[reflect2.Type]map[string]unsafe.Pointer
	key  *jsoniter.Stream
}

// share replaces the value at ptr (v) by the equal one shared before, or keeps a copy of it to
// share.
func (in *interner) share(typ reflect2.Type, ptr unsafe.Pointer, v any) {
	if in.key == nil {
		in.key = jsoniter.NewStream(valueKeys, nil, 512)
		in.vals = map[reflect2.Type]map[string]unsafe.Pointer{}
	}
	in.key.Reset(nil)
	in.key.WriteVal(v)
	if in.key.Error != nil {
		in.key.Error = nil
		return
	}
	key := in.key.Buffer()
	vals := in.vals[typ]
	if shared, ok := vals[string(key)]; ok {
		typ.UnsafeSet(ptr, shared)
		return
	}
	if vals == nil || len(vals) >= internMax {
		vals = make(map[string]unsafe.Pointer, 256)
		in.vals[typ] = vals
	}
	kept := typ.UnsafeNew()
	typ.UnsafeSet(kept, ptr)
	vals[string(key)] = kept
}

// internMax bounds an interner, which starts again when full: values that never repeat (pod
// names, addresses) would otherwise grow it for good, and a small map stays in the cache. On
// the large workload (three runs each, a noisy machine) 65,536 entries made the analysis ~7%
// slower for 30 MB less live heap than 4,096, whose cost in time is within the noise (−40 MB
// live, −7% peak RSS).
const internMax = 1 << 12

func (in *interner) intern(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if in.m == nil || len(in.m) >= internMax {
		in.m = make(map[string]string, 1024)
	}
	in.m[s] = s
	return s
}

// unmarshalInterned is u.Unmarshal, with strs as the decoding's interner when u is a
// json-iterator API (podJSON, fastJSON) and strs is set.
func unmarshalInterned(u unmarshaler, data []byte, v any, strs *interner) error {
	api, ok := u.(jsoniter.API)
	if !ok || strs == nil {
		return u.Unmarshal(data, v)
	}
	iter := api.BorrowIterator(data)
	defer api.ReturnIterator(iter) // which clears Attachment
	iter.Attachment = strs
	iter.ReadVal(v)
	if iter.Error != nil && iter.Error != io.EOF {
		return iter.Error
	}
	if iter.WhatIsNext() != jsoniter.InvalidValue {
		return errors.New("bytes left after the object")
	}
	return nil
}
