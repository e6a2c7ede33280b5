package model

import corev1 "k8s.io/api/core/v1"

// Service is a Service as the model holds it: corev1's spec and status whole (the rules read
// most of them), and of its metadata only what is read, under corev1's names and JSON keys. A
// corev1.ObjectMeta is ~250 bytes before its contents: 2.7 MB of large's 10,000 Services.
// `netsift get services -o yaml|json` re-reads a Service whole (Model.Reread).
type Service struct {
	ServiceMeta `json:"metadata"`
	Spec        corev1.ServiceSpec   `json:"spec,omitempty"`
	Status      corev1.ServiceStatus `json:"status,omitempty"`
	Src         Source
}

// ServiceMeta is the part of metav1.ObjectMeta that is read of a Service: its labels say
// whether kube-proxy serves it (service.kubernetes.io/service-proxy-name).
type ServiceMeta struct {
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}
