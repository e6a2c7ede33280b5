package model

import corev1 "k8s.io/api/core/v1"

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
