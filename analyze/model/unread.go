package model

import (
	"reflect"

	jsoniter "github.com/json-iterator/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podUnread names the fields of a Pod that no rule, trace, diff or report reads. A large
// cluster's pods are most of its YAML (60,000 pods, 215 MB); decoding skips these fields, which
// are about a third of a pod's bytes and more of its decoding time (timestamps, probes,
// volumes, environments, managedFields). `netsift get pods -o yaml|json` re-reads a pod whole
// (Model.Reread). A rule that needs one of them takes it off this list.
var podUnread = fieldSet{
	reflect.TypeFor[metav1.ObjectMeta](): {"UID", "ResourceVersion", "Generation", "CreationTimestamp",
		"ManagedFields", "Annotations", "Finalizers", "GenerateName", "SelfLink"},
	reflect.TypeFor[corev1.PodSpec](): {"Volumes", "Tolerations", "Affinity", "SecurityContext", "SchedulerName",
		"TerminationGracePeriodSeconds", "ServiceAccountName", "DeprecatedServiceAccount", "EnableServiceLinks",
		"PreemptionPolicy", "PriorityClassName", "ImagePullSecrets", "TopologySpreadConstraints", "Overhead",
		"ReadinessGates", "RestartPolicy", "AutomountServiceAccountToken"},
	reflect.TypeFor[corev1.Container](): {"Env", "EnvFrom", "VolumeMounts", "VolumeDevices", "ReadinessProbe",
		"LivenessProbe", "StartupProbe", "Lifecycle", "TerminationMessagePath", "TerminationMessagePolicy",
		"ImagePullPolicy", "SecurityContext", "Resources", "ResizePolicy", "WorkingDir"},
	reflect.TypeFor[corev1.PodStatus]():    {"HostIP", "HostIPs", "QOSClass", "Resize", "ResourceClaimStatuses"},
	reflect.TypeFor[corev1.PodCondition](): {"LastProbeTime", "LastTransitionTime"},
	reflect.TypeFor[corev1.ContainerStatus](): {"ContainerID", "ImageID", "Started", "AllocatedResources",
		"Resources", "VolumeMounts", "User", "AllocatedResourcesStatus"},
}

// fieldSet lists, per struct type, the Go names of fields left out of decoding.
type fieldSet map[reflect.Type][]string

// podJSON decodes Pods without podUnread: json-iterator's encoding/json-compatible
// configuration, whose struct decoders do not know the unread fields' names and so skip their
// values. Tests compare it with encoding/json followed by fieldSet.clear.
var podJSON unmarshaler = func() jsoniter.API {
	api := jsoniter.Config{EscapeHTML: true, SortMapKeys: true, ValidateJsonRawMessage: true}.Froze()
	api.RegisterExtension(&skipFields{set: podUnread})
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
