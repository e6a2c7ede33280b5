package model

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Endpoints is an Endpoints object as the model holds it: the fields of corev1.Endpoints that are
// read (each subset's ready and not-ready addresses with their node and pod, and its ports),
// under corev1's Go names and JSON keys, so code reads sub.Addresses[i].IP as it would on a
// corev1.Endpoints. A large cluster has 10,000 of them with 50,000 addresses; a
// corev1.Endpoints is 288 bytes and each of its addresses 48 with a 112-byte target reference,
// and their labels, hostnames and the rest of their metadata are read by nothing. Here they are
// 96, 32 and 48 bytes (the Endpoints' live heap on large: 20.5 MB → 10.5 MB). A rule that needs
// another field adds it here with corev1's JSON key; `netsift get endpoints -o yaml|json`
// re-reads an object whole (Model.Reread).
type Endpoints struct {
	Meta    `json:"metadata"`
	Subsets []EndpointSubset `json:"subsets,omitempty"`
	Src     Source
}

// EndpointSubset is the part of corev1.EndpointSubset that is read.
type EndpointSubset struct {
	Addresses         []EndpointAddress     `json:"addresses,omitempty"`
	NotReadyAddresses []EndpointAddress     `json:"notReadyAddresses,omitempty"`
	Ports             []corev1.EndpointPort `json:"ports,omitempty"`
}

// EndpointAddress is the part of corev1.EndpointAddress that is read.
type EndpointAddress struct {
	IP        string           `json:"ip"`
	NodeName  *string          `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// EndpointSlice is an EndpointSlice as the model holds it: the fields of
// discoveryv1.EndpointSlice that are read (its Service's name label, its endpoints' addresses,
// readiness, node and pod, and its ports), under discoveryv1's Go names and JSON keys. A large
// cluster has 10,000 slices with 50,000 endpoints; a discoveryv1.EndpointSlice is 328 bytes and
// each of its endpoints 96 with a 112-byte target reference and three conditions, of which only
// ready is read. Here they are 144, 48 and 48 bytes (the slices' live heap on large: 27.4 MB →
// 16.6 MB). A rule that needs another field adds it here with discoveryv1's JSON key; `netsift
// get endpointslices -o yaml|json` re-reads a slice whole (Model.Reread).
type EndpointSlice struct {
	EndpointSliceMeta `json:"metadata"`
	Endpoints         []Endpoint                 `json:"endpoints"`
	Ports             []discoveryv1.EndpointPort `json:"ports"`
	Src               Source
}

// EndpointSliceMeta is the part of metav1.ObjectMeta that is read of an EndpointSlice: its
// labels name its Service (discoveryv1.LabelServiceName).
type EndpointSliceMeta struct {
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Endpoint is the part of discoveryv1.Endpoint that is read.
type Endpoint struct {
	Addresses  []string           `json:"addresses"`
	Conditions EndpointConditions `json:"conditions,omitempty"`
	NodeName   *string            `json:"nodeName,omitempty"`
	TargetRef  *ObjectReference   `json:"targetRef,omitempty"`
}

// EndpointConditions is the part of discoveryv1.EndpointConditions that is read. Ready stays a
// pointer, as in discoveryv1: nil means unknown, which consumers take for ready.
type EndpointConditions struct {
	Ready *bool `json:"ready,omitempty"`
}
