package trace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
)

// load reads a bundle directory of the repository's fixtures.
func load(t testing.TB, dir string) *model.Model {
	t.Helper()
	m, err := analyze.Load(context.Background(), []string{dir}, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// build writes a minimal bundle (the files given, plus a manifest) to a temp dir and loads it.
func build(t testing.TB, files map[string]string) *model.Model {
	t.Helper()
	dir := t.TempDir()
	files["manifest.json"] = `{"format_version":1,"commands":[]}`
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.TrimLeft(data, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := load(t, dir)
	for _, w := range m.Warnings {
		t.Errorf("input warning: %s", w)
	}
	return m
}

// list wraps YAML items into a kubectl List.
func list(items ...string) string {
	return "apiVersion: v1\nkind: List\nitems:\n" + strings.Join(items, "")
}

func node(name, ip, cidr string) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Node
  metadata:
    name: %s
  spec:
    podCIDR: %s
  status:
    addresses:
    - type: InternalIP
      address: %s
`, name, cidr, ip)
}

func pod(ns, name, nodeName, ip string, labels string) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Pod
  metadata:
    namespace: %s
    name: %s
    labels: {%s}
  spec:
    nodeName: %s
    containers:
    - name: c
      image: x
  status:
    phase: Running
    podIP: %s
`, ns, name, labels, nodeName, ip)
}

func service(ns, name, ip, ports string) string {
	return fmt.Sprintf(`- apiVersion: v1
  kind: Service
  metadata:
    namespace: %s
    name: %s
  spec:
    clusterIP: %s
    ports:
%s`, ns, name, ip, ports)
}

// addrs writes `ip addr` text for devices given as "name=addr/len,addr/len".
func addrs(devs ...string) string {
	var b strings.Builder
	for i, d := range devs {
		name, as, _ := strings.Cut(d, "=")
		fmt.Fprintf(&b, "%d: %s: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000\n", i+1, name)
		fmt.Fprintf(&b, "    link/ether 52:54:00:00:00:%02x brd ff:ff:ff:ff:ff:ff\n", i+1)
		for _, a := range strings.Split(as, ",") {
			if a != "" {
				fmt.Fprintf(&b, "    inet %s scope global %s\n       valid_lft forever preferred_lft forever\n", a, name)
			}
		}
	}
	return b.String()
}

func osReadFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
