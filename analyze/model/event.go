package model

import corev1 "k8s.io/api/core/v1"

// Event is an Event as the model holds it: the fields of corev1.Event that a rule reads (the
// object it is about, its reason, message, type, count and reporting host), under corev1's Go
// names and JSON keys, so code reads e.InvolvedObject.Name as it would on a corev1.Event. A large
// cluster's bundle holds 20,000 events, and a corev1.Event is 600 bytes before its contents,
// most of it timestamps, series, related objects and metadata nothing reads; this one is 208
// (the events' live heap on large: 15.5 MB → 6.1 MB). A rule that needs another field adds it
// here with corev1's JSON key; `netsift get events -o yaml|json` re-reads an event whole
// (Model.Reread).
type Event struct {
	Meta           `json:"metadata"`
	InvolvedObject ObjectReference    `json:"involvedObject"`
	Reason         string             `json:"reason,omitempty"`
	Message        string             `json:"message,omitempty"`
	Source         corev1.EventSource `json:"source,omitempty"`
	Count          int32              `json:"count,omitempty"`
	Type           string             `json:"type,omitempty"`
	Src            Source
}
