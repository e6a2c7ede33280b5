package diff_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/diff"
	"github.com/netsift/netsift/analyze/rules"
)

const bundles = "../../fixtures/bundles/"

func run(t testing.TB, old, new string) *diff.Diff {
	t.Helper()
	d, err := diff.Run(context.Background(), []string{old}, []string{new}, bundle.Options{}, &rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFaultPairs diffs the healthy bundle against each fault's bundle and checks the fault is
// the top change of its section.
func TestFaultPairs(t *testing.T) {
	t.Run("forward-drop", func(t *testing.T) {
		d := run(t, bundles+"healthy", bundles+"forward-drop")
		if !d.Changed() || len(d.Findings.New) == 0 || d.Findings.New[0].ID != "iptables.forward-drop" {
			t.Fatalf("want new finding iptables.forward-drop first, got %+v", d.Findings.New)
		}
		if len(d.Dataplane) != 1 || d.Dataplane[0].Node != "worker-2" {
			t.Fatalf("want only worker-2's dataplane changed, got %+v", d.Dataplane)
		}
		top := d.Dataplane[0].Changes[0]
		if top.Subject != "iptables filter FORWARD" || top.Field != "policy" || top.Old != "ACCEPT" || top.New != "DROP" {
			t.Errorf("top change %+v, want FORWARD policy ACCEPT → DROP", top)
		}
		if n := d.Objects.Count(); n != 0 {
			t.Errorf("%d object changes, want none: %+v", n, d.Objects)
		}
	})
	t.Run("svc-selector-mismatch", func(t *testing.T) {
		d := run(t, bundles+"healthy", bundles+"svc-selector-mismatch")
		if s := d.Objects.Services; len(s) != 1 || s[0].Field != "selector" || s[0].Old != "app=web" || s[0].New != "app=web-frontend" {
			t.Errorf("services: %+v", s)
		}
		if e := d.Objects.Endpoints; len(e) != 3 || e[0].Op != diff.Removed || e[0].Subject != "shop/web" {
			t.Errorf("endpoints: %+v", e)
		}
		if len(d.Dataplane) != 3 {
			t.Fatalf("want the 3 nodes' kube-proxy rules changed, got %d nodes", len(d.Dataplane))
		}
		for _, n := range d.Dataplane {
			top := n.Changes[0]
			if top.Op != diff.Added || !strings.Contains(top.New, "-j REJECT") || !strings.Contains(top.New, "shop/web has no endpoints") {
				t.Errorf("node %s: top change %+v, want the REJECT rule added", n.Node, top)
			}
			for _, c := range n.Changes[1:] {
				if c.Service != "shop/web" {
					t.Errorf("node %s: change %+v is not about shop/web", n.Node, c)
				}
			}
		}
	})
	t.Run("ip-forward-off", func(t *testing.T) {
		d := run(t, bundles+"healthy", bundles+"ip-forward-off")
		if len(d.Dataplane) != 1 || d.Dataplane[0].Node != "worker-1" {
			t.Fatalf("dataplane: %+v", d.Dataplane)
		}
		found := false
		for _, c := range d.Dataplane[0].Changes {
			if c.Kind != "sysctl" {
				t.Errorf("unexpected change %+v", c)
			}
			found = found || (c.Subject == "net.ipv4.ip_forward" && c.Old == "1" && c.New == "0")
		}
		if !found {
			t.Error("net.ipv4.ip_forward 1 → 0 not reported")
		}
	})
	t.Run("duplicate-pod-ip", func(t *testing.T) {
		d := run(t, bundles+"healthy", bundles+"duplicate-pod-ip")
		if len(d.Findings.New) == 0 || d.Findings.New[0].ID != "pod.duplicate-ip" {
			t.Errorf("new findings: %+v", d.Findings.New)
		}
		e := d.Objects.Endpoints
		if len(e) != 2 || e[0].Field != "10.244.2.5:9090" || e[0].Op != diff.Removed || e[1].Field != "10.244.1.7:9090" || e[1].Op != diff.Added {
			t.Errorf("endpoints: %+v", e)
		}
	})
}

// TestSameBundle: a bundle against itself is no change at all.
func TestSameBundle(t *testing.T) {
	d := run(t, bundles+"healthy", bundles+"healthy")
	if d.Changed() || len(d.Findings.Persisting) == 0 {
		t.Errorf("changed %v, %d persisting", d.Changed(), len(d.Findings.Persisting))
	}
}

// copyTree copies a bundle directory, letting edit rewrite each file (relative path, content).
func copyTree(t testing.TB, src string, edit func(rel string, data []byte) []byte) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if edit != nil {
			data = edit(filepath.ToSlash(rel), data)
		}
		if data == nil {
			return nil
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

var (
	hashedChainRE = regexp.MustCompile(`KUBE-(SVC|SEP|EXT|FW)-[A-Z2-7]{16}`)
	counterRE     = regexp.MustCompile(`^\[(\d+):(\d+)\]`)
	chainCountRE  = regexp.MustCompile(`^(:\S+ (ACCEPT|DROP|-) )\[(\d+):(\d+)\]`)
	timestampRE   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	rvRE          = regexp.MustCompile(`resourceVersion: "(\d+)"`)
	proxyPodRE    = regexp.MustCompile(`kube-proxy-[a-z0-9]{5}\b`)
)

// minutesLater rewrites a healthy bundle as if collected again five minutes later from a
// cluster where nothing broke: the Services were recreated with the same ports (so every
// kube-proxy chain hash differs), kube-proxy's pods were recreated (new name suffixes), ACCEPT
// counters and every timestamp and resourceVersion moved, and every List is in another order.
func minutesLater(t testing.TB, src string) string {
	rng := rand.New(rand.NewPCG(1, 2))
	return copyTree(t, src, func(rel string, data []byte) []byte {
		s := string(data)
		s = timestampRE.ReplaceAllStringFunc(s, func(ts string) string {
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				return ts
			}
			return tm.Add(5 * time.Minute).UTC().Format(time.RFC3339Nano)
		})
		s = rvRE.ReplaceAllStringFunc(s, func(m string) string {
			n, _ := strconv.Atoi(rvRE.FindStringSubmatch(m)[1])
			return fmt.Sprintf(`resourceVersion: "%d"`, n+4711)
		})
		s = proxyPodRE.ReplaceAllStringFunc(s, func(m string) string { return m[:len(m)-5] + "zz" + m[len(m)-3:] })
		switch {
		case strings.HasSuffix(rel, "iptables-save.txt"):
			s = hashedChainRE.ReplaceAllStringFunc(s, func(m string) string {
				h := sha256.Sum256([]byte("recreated " + m))
				prefix := m[:strings.LastIndexByte(m, '-')+1]
				return prefix + base32.StdEncoding.EncodeToString(h[:])[:16]
			})
			s = strings.ReplaceAll(s, "10:15:07 2026", "10:20:07 2026")
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				if m := counterRE.FindStringSubmatch(l); m != nil && !strings.Contains(l, "-j DROP") && !strings.Contains(l, "-j REJECT") {
					p, _ := strconv.Atoi(m[1])
					b, _ := strconv.Atoi(m[2])
					lines[i] = fmt.Sprintf("[%d:%d]", p*2+17, b*2+1234) + l[len(m[0]):]
				}
				if m := chainCountRE.FindStringSubmatch(l); m != nil && m[2] != "DROP" {
					p, _ := strconv.Atoi(m[3])
					lines[i] = fmt.Sprintf("%s[%d:%d]", m[1], p+100, p*90) + l[len(m[0]):]
				}
			}
			s = strings.Join(lines, "\n")
		case strings.HasPrefix(rel, strings.Split(rel, "/")[0]+"/cluster/") && strings.HasSuffix(rel, ".yaml"):
			s = shuffleList(t, s, rng)
		}
		return []byte(s)
	})
}

// shuffleList reorders the items of a YAML List.
func shuffleList(t testing.TB, s string, rng *rand.Rand) string {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil || len(doc.Content) == 0 {
		return s
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "items" {
			items := root.Content[i+1].Content
			rng.Shuffle(len(items), func(a, b int) { items[a], items[b] = items[b], items[a] })
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestSameClusterMinutesApart: two collections of a healthy cluster minutes apart diff to
// nothing — no churn from chain hashes, ACCEPT counters, timestamps, pod suffixes or order.
func TestSameClusterMinutesApart(t *testing.T) {
	later := minutesLater(t, bundles+"healthy")
	d := run(t, bundles+"healthy", later)
	if d.ElapsedSeconds != 300 {
		t.Errorf("elapsed %v s, want 300", d.ElapsedSeconds)
	}
	if d.Changed() {
		t.Errorf("a healthy cluster minutes later changed:\nfindings new %v resolved %v\nobjects %+v\ndataplane %+v",
			d.Findings.New, d.Findings.Resolved, d.Objects, d.Dataplane)
	}
}

// TestDropCounterRate: a DROP rule whose packet counter grew is reported with its rate over
// the time between the collections.
func TestDropCounterRate(t *testing.T) {
	later := minutesLater(t, bundles+"healthy")
	grown := copyTree(t, later, func(rel string, data []byte) []byte {
		if strings.HasSuffix(rel, "worker-1/iptables-save.txt") {
			return []byte(strings.Replace(string(data), "[36:3564] -A KUBE-FORWARD -m conntrack --ctstate INVALID", "[636:73000] -A KUBE-FORWARD -m conntrack --ctstate INVALID", 1))
		}
		return data
	})
	d := run(t, bundles+"healthy", grown)
	if len(d.Dataplane) != 1 || len(d.Dataplane[0].Changes) != 1 {
		t.Fatalf("dataplane: %+v", d.Dataplane)
	}
	c := d.Dataplane[0].Changes[0]
	if c.Op != diff.Grew || c.Delta != 600 || c.PerSecond != 2 || d.Dataplane[0].Node != "worker-1" {
		t.Errorf("change %+v, want +600 packets at 2/s on worker-1", c)
	}
}

// TestNetworkPolicyRemoved: deleting the only NetworkPolicy is reported as the policy removed
// and as the pod-group pairs that gained connectivity to shop's api pods.
func TestNetworkPolicyRemoved(t *testing.T) {
	noPolicy := copyTree(t, bundles+"healthy", func(rel string, data []byte) []byte {
		if strings.HasSuffix(rel, "cluster/networkpolicies.yaml") {
			return []byte("apiVersion: v1\nkind: List\nitems: []\n")
		}
		return data
	})
	d := run(t, bundles+"healthy", noPolicy)
	if p := d.Objects.NetworkPolicies; len(p) != 1 || p[0].Subject != "shop/api-allow-web" || p[0].Op != diff.Removed {
		t.Errorf("network policies: %+v", p)
	}
	if len(d.Objects.Connectivity) == 0 {
		t.Fatal("no connectivity change")
	}
	for _, c := range d.Objects.Connectivity {
		if !strings.Contains(c.Subject, "→ shop/[app=api") || c.New != "All Connections" {
			t.Errorf("connectivity change %+v: want a pair into shop/[app=api] now allowed", c)
		}
	}
}

// TestNodeInOneBundle: a node present in one bundle only is reported once, not as all of its
// rules, routes and sysctls removed.
func TestNodeInOneBundle(t *testing.T) {
	without := copyTree(t, bundles+"healthy", func(rel string, data []byte) []byte {
		if strings.Contains(rel, "/nodes/worker-2/") {
			return nil
		}
		if strings.HasSuffix(rel, "cluster/nodes.yaml") {
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			root := doc.Content[0]
			for i := 0; i+1 < len(root.Content); i += 2 {
				if root.Content[i].Value == "items" {
					var keep []*yaml.Node
					for _, it := range root.Content[i+1].Content {
						if b, _ := yaml.Marshal(it); !strings.Contains(string(b), "name: worker-2\n") {
							keep = append(keep, it)
						}
					}
					root.Content[i+1].Content = keep
				}
			}
			out, _ := yaml.Marshal(&doc)
			return out
		}
		return data
	})
	d := run(t, bundles+"healthy", without)
	if len(d.Dataplane) != 1 || d.Dataplane[0].Node != "worker-2" || d.Dataplane[0].Presence != diff.OldOnly || len(d.Dataplane[0].Changes) != 0 {
		t.Errorf("dataplane: %+v", d.Dataplane)
	}
	if n := d.Objects.Nodes; len(n) != 1 || n[0].Op != diff.Removed || n[0].Subject != "worker-2" {
		t.Errorf("nodes: %+v", n)
	}
}

// TestOnly keeps one section.
func TestOnly(t *testing.T) {
	d := run(t, bundles+"healthy", bundles+"forward-drop")
	d.Only(diff.SectionObjects)
	if d.Changed() || !d.Has(diff.SectionObjects) || d.Has(diff.SectionDataplane) {
		t.Errorf("--only objects of forward-drop: changed %v, sections %v", d.Changed(), d.Sections)
	}
}
