package model

// Meta is the part of metav1.ObjectMeta that is read of the kinds whose metadata gives only
// their name (Event, Endpoints). A kind whose labels or owners are read has a meta of its own
// (PodMeta, EndpointSliceMeta).
type Meta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// ObjectReference is the part of corev1.ObjectReference that is read: what an Event is about,
// an endpoint's pod. A corev1.ObjectReference is 112 bytes; this one is 48.
type ObjectReference struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}
