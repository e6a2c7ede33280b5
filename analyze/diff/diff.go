// Package diff compares two bundles of the same cluster — an earlier incident (or a healthy
// baseline) and a later one — and says what changed that matters to networking: findings,
// Services and their endpoints, NetworkPolicy connectivity, Nodes, the networking components,
// and each node's dataplane. Values that change on their own (resourceVersions, timestamps,
// kube-proxy's hashed chain names, ACCEPT counters, list order) never count as a change.
package diff

import (
	"sort"
	"time"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
)

// SchemaVersion is the version of the JSON diff's shape; bump it on incompatible changes.
const SchemaVersion = 1

// Side is one of the two bundles: its model and the result of the rules run over it. A nil
// Result compares no findings.
type Side struct {
	Model  *model.Model
	Result *rules.Result
}

// Op says how a thing changed.
type Op string

const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
	// Grew is a counter that went up between the two collections (drops, REJECTs).
	Grew Op = "grew"
)

// Change is one difference. Subject names the thing in the field's words (a Service "shop/web",
// an iptables chain by meaning "nat SVC(shop/web:http)", a sysctl key); Field is the part of it
// that changed, Old and New its values (empty for an added or removed thing).
type Change struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	Op      Op     `json:"op"`
	Field   string `json:"field,omitempty"`
	Old     string `json:"old,omitempty"`
	New     string `json:"new,omitempty"`
	// Service is the "ns/name[:port]" an iptables rule of kube-proxy's hashed chains belongs to,
	// so renderers can fold a Service's rule churn into one line.
	Service string `json:"service,omitempty"`
	// Delta and PerSecond are a counter's growth and its rate over the wall time between the two
	// collections (0 when the bundles do not say when they were collected).
	Delta     uint64  `json:"delta,omitempty"`
	PerSecond float64 `json:"per_second,omitempty"`
	// Rank orders changes by how likely they are to break traffic: lower first.
	Rank int `json:"rank"`
}

// BundleRef identifies one of the compared bundles.
type BundleRef struct {
	Sources     []string   `json:"sources"`
	Cluster     string     `json:"cluster,omitempty"`
	CollectedAt *time.Time `json:"collected_at,omitempty"`
}

// Findings are the two sides' findings matched by fingerprint.
type Findings struct {
	New        []finding.Finding `json:"new"`
	Resolved   []finding.Finding `json:"resolved"`
	Persisting []finding.Finding `json:"persisting"`
}

// Objects are the changes of cluster objects, one list per kind of object.
type Objects struct {
	Services        []Change `json:"services"`
	Endpoints       []Change `json:"endpoints"`
	NetworkPolicies []Change `json:"network_policies"`
	// Connectivity is the semantic effect of the NetworkPolicy changes: pod-group pairs whose
	// allowed connections differ, as the policy engine computes them on each side.
	Connectivity []Change `json:"connectivity"`
	Nodes        []Change `json:"nodes"`
	// Components are the kube-proxy, CoreDNS and CNI agent pods, matched by owner and node.
	Components []Change `json:"components"`
	ConfigMaps []Change `json:"config_maps"`
}

// Presence says in which bundles a node appears.
type Presence string

const (
	Both    Presence = "both"
	OldOnly Presence = "old-only"
	NewOnly Presence = "new-only"
)

// NodeDiff is one node's dataplane changes, most important first. A node in only one bundle
// has no changes listed: it is reported as present on one side, not as every rule removed.
type NodeDiff struct {
	Node     string   `json:"node"`
	Presence Presence `json:"presence"`
	Changes  []Change `json:"changes"`
}

// Diff is the canonical comparison document; every renderer reads only it.
type Diff struct {
	SchemaVersion int       `json:"schema_version"`
	Old           BundleRef `json:"old"`
	New           BundleRef `json:"new"`
	// ElapsedSeconds is the wall time between the two collections, from the manifests; 0 when
	// unknown. Counter rates are computed over it.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Sections lists the parts compared (findings, objects, dataplane); --only narrows it.
	Sections  []string   `json:"sections"`
	Findings  Findings   `json:"findings"`
	Objects   Objects    `json:"objects"`
	Dataplane []NodeDiff `json:"dataplane"`
}

// The sections of a diff, for Only.
const (
	SectionFindings  = "findings"
	SectionObjects   = "objects"
	SectionDataplane = "dataplane"
)

// Sections are the section names in the order they are reported.
var Sections = []string{SectionFindings, SectionObjects, SectionDataplane}

// Compare diffs two bundles of the same cluster.
func Compare(old, new Side) *Diff {
	d := &Diff{
		SchemaVersion: SchemaVersion,
		Old:           bundleRef(old.Model),
		New:           bundleRef(new.Model),
		Sections:      append([]string(nil), Sections...),
	}
	if d.Old.CollectedAt != nil && d.New.CollectedAt != nil {
		if s := d.New.CollectedAt.Sub(*d.Old.CollectedAt).Seconds(); s > 0 {
			d.ElapsedSeconds = s
		}
	}
	d.Findings = compareFindings(old.Result, new.Result)
	d.Objects = compareObjects(old.Model, new.Model)
	d.Dataplane = compareDataplane(old.Model, new.Model, d.ElapsedSeconds)
	return d
}

func bundleRef(m *model.Model) BundleRef {
	r := BundleRef{Sources: []string{}}
	if m == nil || m.Bundle == nil {
		return r
	}
	r.Sources = append(r.Sources, m.Bundle.Sources...)
	if mf := m.Bundle.Manifest; mf != nil {
		r.Cluster = mf.Cluster
		if !mf.CollectedAt.IsZero() {
			t := mf.CollectedAt.UTC()
			r.CollectedAt = &t
		}
	}
	return r
}

// Only keeps one section of the diff (findings, objects or dataplane) and empties the others.
func (d *Diff) Only(section string) {
	if section == "" || !d.Has(section) {
		return
	}
	d.Sections = []string{section}
	if section != SectionFindings {
		d.Findings = Findings{New: []finding.Finding{}, Resolved: []finding.Finding{}, Persisting: []finding.Finding{}}
	}
	if section != SectionObjects {
		d.Objects = Objects{}
		d.Objects.normalize()
	}
	if section != SectionDataplane {
		d.Dataplane = []NodeDiff{}
	}
}

// Has reports whether the diff compared a section.
func (d *Diff) Has(section string) bool {
	for _, s := range d.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// Changed reports whether anything relevant changed: a finding appeared or was resolved, an
// object changed, or a node's dataplane changed (or a node appeared or disappeared).
// Persisting findings are not a change.
func (d *Diff) Changed() bool {
	if len(d.Findings.New)+len(d.Findings.Resolved) > 0 || d.Objects.Count() > 0 {
		return true
	}
	for _, n := range d.Dataplane {
		if n.Presence != Both || len(n.Changes) > 0 {
			return true
		}
	}
	return false
}

// Lists returns the object change lists with their titles, in report order.
func (o *Objects) Lists() []struct {
	Title   string
	Changes []Change
} {
	return []struct {
		Title   string
		Changes []Change
	}{
		{"Services", o.Services},
		{"Endpoints", o.Endpoints},
		{"NetworkPolicies", o.NetworkPolicies},
		{"NetworkPolicy connectivity", o.Connectivity},
		{"Nodes", o.Nodes},
		{"kube-proxy, CoreDNS and CNI pods", o.Components},
		{"ConfigMaps", o.ConfigMaps},
	}
}

// Count is the number of object changes.
func (o *Objects) Count() int {
	n := 0
	for _, l := range o.Lists() {
		n += len(l.Changes)
	}
	return n
}

// normalize makes every list non-nil, so the JSON has [] rather than null.
func (o *Objects) normalize() {
	for _, p := range []*[]Change{&o.Services, &o.Endpoints, &o.NetworkPolicies, &o.Connectivity, &o.Nodes, &o.Components, &o.ConfigMaps} {
		if *p == nil {
			*p = []Change{}
		}
	}
}

// sortChanges orders changes by rank, then subject, field and values, so output is stable
// whatever order the bundles listed things in.
func sortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Rank != b.Rank {
			return a.Rank < b.Rank
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Old != b.Old {
			return a.Old < b.Old
		}
		return a.New < b.New
	})
}
