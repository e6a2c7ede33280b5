package model

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod is a Pod as the model holds it: the fields of corev1.Pod that a rule, the trace, diff or a
// report reads, under corev1's Go names and JSON keys, so code reads p.Spec.NodeName as it would
// on a corev1.Pod. A large cluster holds 60,000 pods, and a corev1.Pod is 1,240 bytes before any
// of its contents: most of that is fields nothing here reads (volumes, affinity, security
// contexts, the whole of PodSpec's scheduling). This one is a fifth of that. A rule that needs
// another field adds it here with corev1's JSON key; `netsift get pods -o yaml|json` re-reads a
// pod whole (Model.Reread).
type Pod struct {
	PodMeta `json:"metadata"`
	Spec    PodSpec   `json:"spec"`
	Status  PodStatus `json:"status"`
	Src     Source
}

// PodMeta is the part of metav1.ObjectMeta that is read of a pod.
type PodMeta struct {
	Name              string                  `json:"name,omitempty"`
	Namespace         string                  `json:"namespace,omitempty"`
	Labels            map[string]string       `json:"labels,omitempty"`
	OwnerReferences   []metav1.OwnerReference `json:"ownerReferences,omitempty"`
	DeletionTimestamp *metav1.Time            `json:"deletionTimestamp,omitempty"`
}

// PodSpec is the part of corev1.PodSpec that is read.
type PodSpec struct {
	NodeName       string             `json:"nodeName,omitempty"`
	HostNetwork    bool               `json:"hostNetwork,omitempty"`
	DNSPolicy      corev1.DNSPolicy   `json:"dnsPolicy,omitempty"`
	InitContainers []corev1.Container `json:"initContainers,omitempty"`
	Containers     []corev1.Container `json:"containers"`
}

// PodStatus is the part of corev1.PodStatus that is read.
type PodStatus struct {
	Phase                 corev1.PodPhase          `json:"phase,omitempty"`
	Reason                string                   `json:"reason,omitempty"`
	Conditions            []corev1.PodCondition    `json:"conditions,omitempty"`
	PodIP                 string                   `json:"podIP,omitempty"`
	PodIPs                []corev1.PodIP           `json:"podIPs,omitempty"`
	StartTime             *metav1.Time             `json:"startTime,omitempty"`
	InitContainerStatuses []corev1.ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []corev1.ContainerStatus `json:"containerStatuses,omitempty"`
}
