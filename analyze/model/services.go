package model

import (
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// ServiceEndpoint is one address behind a Service, as the endpoints controller published it.
type ServiceEndpoint struct {
	IP       string
	Ready    bool
	NodeName string
	// Pod is "namespace/name" of the target pod, when the controller recorded it.
	Pod   string
	Ports []discoveryv1.EndpointPort
	// Src and Path locate the endpoint in the bundle for evidence.
	Src  Source
	Path []string
}

// ServiceEndpoints returns the endpoints of a Service from its EndpointSlices, or from its
// Endpoints object when the bundle has no slices for it. found is false when neither exists.
func (m *Model) ServiceEndpoints(svc *Service) (eps []ServiceEndpoint, found bool) {
	slices := m.SlicesOf(svc.Namespace, svc.Name)
	if len(slices) > 0 {
		// Sized exactly: the proxy rules keep pointers into it for the whole of their run.
		n := 0
		for _, s := range slices {
			for _, e := range s.Endpoints {
				n += len(e.Addresses)
			}
		}
		eps = make([]ServiceEndpoint, 0, n)
		for _, s := range slices {
			for i, e := range s.Endpoints {
				// A nil ready condition means "unknown"; consumers treat it as ready.
				ready := e.Conditions.Ready == nil || *e.Conditions.Ready
				ep := ServiceEndpoint{Ready: ready, Ports: s.Ports, Src: s.Src, Path: []string{"endpoints", itoa(i)}}
				if e.NodeName != nil {
					ep.NodeName = *e.NodeName
				}
				if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
					ep.Pod = Key(e.TargetRef.Namespace, e.TargetRef.Name)
				}
				for _, a := range e.Addresses {
					ep.IP = a
					eps = append(eps, ep)
				}
			}
		}
		return eps, true
	}
	e := m.EndpointsOf(svc.Namespace, svc.Name)
	if e == nil {
		return nil, false
	}
	n := 0
	for _, sub := range e.Subsets {
		n += len(sub.Addresses) + len(sub.NotReadyAddresses)
	}
	eps = make([]ServiceEndpoint, 0, n)
	for si, sub := range e.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range sub.Ports {
			p := p
			ports = append(ports, discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol})
		}
		add := func(list string, addrs []EndpointAddress, ready bool) {
			for ai, a := range addrs {
				ep := ServiceEndpoint{IP: a.IP, Ready: ready, Ports: ports, Src: e.Src, Path: []string{"subsets", itoa(si), list, itoa(ai)}}
				if a.NodeName != nil {
					ep.NodeName = *a.NodeName
				}
				if a.TargetRef != nil && a.TargetRef.Kind == "Pod" {
					ep.Pod = Key(a.TargetRef.Namespace, a.TargetRef.Name)
				}
				eps = append(eps, ep)
			}
		}
		add("addresses", sub.Addresses, true)
		add("notReadyAddresses", sub.NotReadyAddresses, false)
	}
	return eps, true
}

// EndpointsSource returns where a Service's endpoints are recorded, for evidence: its first
// EndpointSlice, else its Endpoints object. ok is false when there is neither.
func (m *Model) EndpointsSource(svc *Service) (Source, bool) {
	if s := m.SlicesOf(svc.Namespace, svc.Name); len(s) > 0 {
		return s[0].Src, true
	}
	if e := m.EndpointsOf(svc.Namespace, svc.Name); e != nil {
		return e.Src, true
	}
	return Source{}, false
}

// EventsFor returns the events about one object, oldest first as collected.
func (m *Model) EventsFor(kind, namespace, name string) []*Event {
	m.eventsOnce.Do(func() {
		m.eventsByObject = map[string][]*Event{}
		for _, e := range m.Events {
			k := e.InvolvedObject.Kind + "/" + Key(e.InvolvedObject.Namespace, e.InvolvedObject.Name)
			m.eventsByObject[k] = append(m.eventsByObject[k], e)
		}
	})
	return m.eventsByObject[kind+"/"+Key(namespace, name)]
}

func itoa(i int) string { return strconv.Itoa(i) }
