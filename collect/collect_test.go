package collect

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netsift/netsift/analyze/bundle"
	"sigs.k8s.io/yaml"
)

// inCI reports whether a missing tool must fail the test instead of skipping it.
func inCI() bool { return os.Getenv("CI") != "" }

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI is set, so this is a failure)", args...)
	}
	t.Skipf(format, args...)
}

func TestEmbeddedScriptIsCollectSh(t *testing.T) {
	onDisk, err := os.ReadFile("collect.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, Script) {
		t.Fatal("Script differs from collect.sh")
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		skipOrFail(t, "shellcheck not installed (apt-get install -y shellcheck)")
	}
	out, err := exec.Command(sc, "--shell=sh", "collect.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck collect.sh: %v\n%s", err, out)
	}
}

// bundleFiles is an unpacked bundle tarball: regular files by path, and every directory.
type bundleFiles struct {
	root  string
	files map[string][]byte // path without the root folder
	dirs  map[string]bool
}

func readBundle(t *testing.T, path string) bundleFiles {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", path, err)
	}
	tr := tar.NewReader(zr)
	b := bundleFiles{files: map[string][]byte{}, dirs: map[string]bool{}}
	roots := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		root, rest, _ := strings.Cut(name, "/")
		roots[root] = true
		switch h.Typeflag {
		case tar.TypeDir:
			b.dirs[strings.TrimSuffix(rest, "/")] = true
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			b.files[rest] = data
			for d := filepath.Dir(rest); d != "."; d = filepath.Dir(d) {
				b.dirs[d] = true
			}
		}
	}
	if len(roots) != 1 {
		t.Fatalf("bundle has %d root folders, want 1: %v", len(roots), roots)
	}
	for r := range roots {
		b.root = r
	}
	if !strings.HasPrefix(b.root, "netsift-") {
		t.Errorf("root folder %q does not start with netsift-", b.root)
	}
	return b
}

func (b bundleFiles) manifest(t *testing.T) bundle.Manifest {
	t.Helper()
	raw, ok := b.files["manifest.json"]
	if !ok {
		t.Fatal("no manifest.json")
	}
	var m bundle.Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.json does not decode into bundle.Manifest: %v\n%s", err, raw)
	}
	if m.FormatVersion != bundle.FormatVersion {
		t.Errorf("format_version = %d", m.FormatVersion)
	}
	if m.CollectedAt.IsZero() || m.CollectedAt.Location() != time.UTC {
		t.Errorf("collected_at = %v, want a UTC time", m.CollectedAt)
	}
	return m
}

// checkRecords: every command has a record whose path exists in the bundle, or a non-zero exit.
func (b bundleFiles) checkRecords(t *testing.T, m bundle.Manifest) map[string]bundle.CommandRecord {
	t.Helper()
	byID := map[string]bundle.CommandRecord{}
	for _, c := range m.Commands {
		key := c.ID
		if c.Node != "" {
			key = c.Node + "/" + c.ID
		}
		byID[key] = c
		if c.ID == "" || c.Command == "" || c.StartedAt.IsZero() {
			t.Errorf("incomplete record %+v", c)
		}
		if c.ExitCode != 0 || c.Path == "" {
			continue
		}
		_, file := b.files[c.Path]
		dir := b.dirs[strings.TrimSuffix(c.Path, "/")]
		if !file && !dir {
			t.Errorf("%s: exit 0 but %s is not in the bundle", c.ID, c.Path)
		}
	}
	return byID
}

// toolDir makes a PATH directory holding only the named tools (busybox applets when useBusybox,
// else the host's), so a test controls exactly which binaries the script finds.
func toolDir(t *testing.T, useBusybox bool, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	bb, _ := exec.LookPath("busybox")
	for _, tool := range tools {
		target := ""
		if useBusybox {
			target = bb
		} else if p, err := exec.LookPath(tool); err == nil {
			target = p
		}
		if target == "" {
			continue
		}
		if err := os.Symlink(target, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// scriptTools are what collect.sh itself needs besides the commands it collects.
var scriptTools = []string{"sh", "awk", "sed", "tar", "gzip", "date", "mkdir", "rm", "rmdir", "cat",
	"wc", "tail", "head", "mv", "cp", "find", "sleep", "tr", "ls", "timeout", "dirname", "basename",
	"grep", "sort", "cut", "mktemp", "hostname", "uname", "env"}

func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/cni/net.d/10-bridge.conflist"),
		`{"cniVersion":"0.4.0","name":"bridge","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}`+"\n")
	write(t, filepath.Join(root, "etc/cni/net.d/calico-kubeconfig"),
		"apiVersion: v1\nusers:\n- name: calico\n  user:\n    token: cni-kubeconfig-token-value\n")
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n")
	return root
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, env []string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v\n%s", name, args, timeout, stderr.String())
	}
	return stderr.String(), err
}

func scriptPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("collect.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNodeInNetns runs the node part inside a network namespace this test builds, and checks the
// bundle shows what it set up.
func TestNodeInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root to create a network namespace")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "%s not installed (apt-get install -y iproute2 iptables procps)", tool)
		}
	}
	ns := fmt.Sprintf("nstest-col-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skipOrFail(t, "ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	in := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	in("sysctl", "-w", "net.ipv4.ip_forward=0")
	in("ip", "link", "set", "lo", "up")
	in("ip", "link", "add", "veth-col0", "type", "veth", "peer", "name", "veth-col1")
	in("ip", "addr", "add", "10.244.1.1/24", "dev", "veth-col0")
	in("ip", "link", "set", "veth-col0", "up")
	in("ip", "link", "set", "veth-col1", "up")
	in("ip", "route", "add", "10.244.2.0/24", "via", "10.244.1.2", "dev", "veth-col0")
	in("iptables", "-P", "FORWARD", "DROP")
	in("iptables", "-A", "INPUT", "-p", "udp", "--dport", "8472", "-j", "DROP")
	in("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-j", "MASQUERADE")

	// Every tool the node table names, from the host, except ipvsadm: it must come out as 127.
	tools := append([]string{}, scriptTools...)
	tools = append(tools, "iptables-save", "iptables-legacy-save", "iptables-nft-save", "ip6tables-save",
		"nft", "ipset", "ip", "bridge", "sysctl", "conntrack", "lsmod", "dmesg", "journalctl", "getenforce")
	bin := toolDir(t, false, tools...)
	out := filepath.Join(t.TempDir(), "node.tar.gz")
	logs, err := run(t, []string{"PATH=" + bin}, 3*time.Minute,
		"ip", "netns", "exec", ns, "/bin/sh", scriptPath(t), "node", "-o", out, "--root", fakeRoot(t))
	if err != nil {
		t.Fatalf("collect.sh node: %v\n%s", err, logs)
	}
	b := readBundle(t, out)
	m := b.manifest(t)
	if m.Mode != "node" || len(m.Nodes) != 1 {
		t.Fatalf("mode %q nodes %v", m.Mode, m.Nodes)
	}
	node := m.Nodes[0]
	recs := b.checkRecords(t, m)
	dir := "nodes/" + node + "/"

	if r, ok := recs[node+"/ipvsadm"]; !ok || r.ExitCode != 127 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("ipvsadm (absent from PATH) record = %+v, want exit 127 and 'not found'", r)
	}
	if _, ok := b.files[dir+"ipvsadm.txt"]; ok {
		t.Error("a missing binary left an ipvsadm.txt")
	}
	if !strings.Contains(string(b.files[dir+"sysctl.txt"]), "net.ipv4.ip_forward = 0") {
		t.Errorf("sysctl.txt lacks net.ipv4.ip_forward = 0")
	}
	ipt := string(b.files[dir+"iptables-save.txt"])
	for _, want := range []string{":FORWARD DROP", "-A INPUT -p udp -m udp --dport 8472 -j DROP",
		"-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -j MASQUERADE"} {
		if !strings.Contains(ipt, want) {
			t.Errorf("iptables-save.txt lacks %q:\n%s", want, ipt)
		}
	}
	if !strings.Contains(string(b.files[dir+"ip-route.txt"]), "10.244.2.0/24 via 10.244.1.2 dev veth-col0") {
		t.Errorf("ip-route.txt lacks the route:\n%s", b.files[dir+"ip-route.txt"])
	}
	if !strings.Contains(string(b.files[dir+"ip-addr.txt"]), "10.244.1.1/24") {
		t.Errorf("ip-addr.txt lacks the address")
	}
	var addrs []map[string]any
	if err := json.Unmarshal(b.files[dir+"ip-addr.json"], &addrs); err != nil || len(addrs) < 2 {
		t.Errorf("ip-addr.json: %v (%d links)", err, len(addrs))
	}
	if _, ok := b.files[dir+"cni/10-bridge.conflist"]; !ok {
		t.Error("cni/10-bridge.conflist missing")
	}
	kc := string(b.files[dir+"cni/calico-kubeconfig"])
	if strings.Contains(kc, "cni-kubeconfig-token-value") || !strings.Contains(kc, "REDACTED") {
		t.Errorf("CNI kubeconfig token not masked:\n%s", kc)
	}
	if !strings.Contains(string(b.files[dir+"resolv.conf"]), "nameserver 10.96.0.10") {
		t.Error("resolv.conf not copied from --root")
	}
}

// TestNodeBusyboxMissingToolsAndNastyStderr runs the node part with busybox's sh and tools only,
// where most collected commands are missing, and one fake command writes hostile stderr.
func TestNodeBusyboxMissingToolsAndNastyStderr(t *testing.T) {
	useBusybox := true
	if _, err := exec.LookPath("busybox"); err != nil {
		if inCI() {
			t.Fatal("busybox not installed (apt-get install -y busybox); CI is set")
		}
		useBusybox = false
	}
	bin := toolDir(t, useBusybox, scriptTools...)
	nasty := "quote\" back\\slash\ttab\r\ncontrol\x01\x1f bell\x07 unicode ü € </script> {\"json\": [1]}\n" +
		"second line \\n not a newline\n"
	write(t, filepath.Join(bin, "lsmod"), "#!/bin/sh\nprintf 'Module Size Used\\n'\nprintf '%s' \"$NASTY\" >&2\nexit 3\n")
	shell := filepath.Join(bin, "sh")
	out := filepath.Join(t.TempDir(), "node.tar.gz")
	logs, err := run(t, []string{"PATH=" + bin, "NASTY=" + nasty}, 2*time.Minute,
		shell, scriptPath(t), "node", "-o", out, "--root", fakeRoot(t), "--node-name", "node-b")
	if err != nil {
		t.Fatalf("collect.sh node: %v\n%s", err, logs)
	}
	b := readBundle(t, out)
	m := b.manifest(t)
	recs := b.checkRecords(t, m)
	if len(m.Nodes) != 1 || m.Nodes[0] != "node-b" {
		t.Fatalf("nodes = %v", m.Nodes)
	}
	r := recs["node-b/lsmod"]
	want := strings.TrimSuffix(nasty, "\n")
	if r.Stderr != want || r.ExitCode != 3 {
		t.Errorf("lsmod record stderr/exit:\n got %q %d\nwant %q 3", r.Stderr, r.ExitCode, want)
	}
	if string(b.files["nodes/node-b/lsmod.txt"]) != "Module Size Used\n" {
		t.Errorf("a failed command's partial output should be kept: %q", b.files["nodes/node-b/lsmod.txt"])
	}
	missing := 0
	for _, c := range m.Commands {
		if first := strings.Fields(c.Command)[0]; strings.Contains(first, "-") || first == "ip" && !useBusybox {
			if c.ExitCode == 127 {
				missing++
			}
		}
	}
	if r := recs["node-b/iptables-save"]; r.ExitCode != 127 || r.Stderr != "iptables-save: command not found" {
		t.Errorf("iptables-save (absent) = %+v", r)
	}
	if missing == 0 {
		t.Error("no missing binary recorded with 127")
	}
}

// fakeCluster puts testdata/fake-kubectl.sh first in PATH as kubectl.
func fakeCluster(t *testing.T) (env []string, dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"secrets.yaml", "empty.yaml", "configmaps.yaml", "pods.yaml", "services.yaml",
		"pods.psv", "version.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, f), string(data))
	}
	fake, err := os.ReadFile("testdata/fake-kubectl.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	write(t, filepath.Join(bin, "kubectl"), string(fake))
	return []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE_DIR=" + dir}, dir
}

func TestClusterFakeKubectl(t *testing.T) {
	for _, impl := range []string{"timeout", "fallback"} {
		t.Run(impl, func(t *testing.T) {
			env, dir := fakeCluster(t)
			env = append(env, "FAKE_HANG=events", "NETSIFT_TIMEOUT_IMPL="+impl)
			out := filepath.Join(t.TempDir(), "cluster.tar.gz")
			start := time.Now()
			logs, err := run(t, env, 2*time.Minute, "sh", scriptPath(t), "cluster", "-o", out,
				"--node-data", "none", "--timeout", "2")
			if err != nil {
				t.Fatalf("collect.sh cluster: %v\n%s", err, logs)
			}
			if d := time.Since(start); d > 60*time.Second {
				t.Errorf("took %v: the hung kubectl was not cut off", d)
			}
			b := readBundle(t, out)
			m := b.manifest(t)
			recs := b.checkRecords(t, m)
			if m.Mode != "cluster" || m.Cluster != "fake-cluster" || m.Context != "fake-ctx" ||
				m.Kubectl.ClientVersion != "v1.32.4" || m.Kubectl.ServerVersion != "v1.31.2" {
				t.Errorf("manifest header = %+v", m)
			}
			if len(m.Nodes) != 1 || m.Nodes[0] != "node-a" {
				t.Errorf("nodes = %v", m.Nodes)
			}
			ev := recs["events"]
			if !ev.TimedOut || ev.ExitCode == 0 || ev.DurationMS > 15000 {
				t.Errorf("hung `kubectl get events` record = %+v, want timed out", ev)
			}
			for _, kind := range []string{"nodes", "namespaces", "pods", "services", "endpoints", "endpointslices",
				"networkpolicies", "ingresses", "daemonsets", "deployments", "configmaps", "serviceaccounts",
				"clusterroles", "clusterrolebindings", "roles", "rolebindings", "ippools.crd.projectcalico.org"} {
				path := "cluster/" + kind + ".yaml"
				data, ok := b.files[path]
				if !ok {
					t.Errorf("%s missing", path)
					continue
				}
				var list struct {
					Kind  string           `json:"kind"`
					Items []map[string]any `json:"items"`
				}
				if err := yaml.Unmarshal(data, &list); err != nil || list.Kind != "List" || len(list.Items) == 0 {
					t.Errorf("%s: %v kind=%q items=%d\n%s", path, err, list.Kind, len(list.Items), data)
				}
				if r := recs[kind]; r.ExitCode != 0 || r.Path != path {
					t.Errorf("record for %s = %+v", kind, r)
				}
			}
			if _, ok := b.files["cluster/version.json"]; !ok {
				t.Error("cluster/version.json missing")
			}
			// Logs: networking pods and the not-Ready one, not the healthy one; previous only on restarts.
			for _, p := range []string{"logs/kube-system/kube-proxy-x1/kube-proxy.log",
				"logs/kube-system/coredns-5d-abc/coredns.log", "logs/shop/checkout-7d9f-abcde/app.log"} {
				if _, ok := b.files[p]; !ok {
					t.Errorf("%s missing", p)
				}
			}
			if _, ok := b.files["logs/shop/healthy-1/app.log"]; ok {
				t.Error("logs of a healthy non-networking pod collected")
			}
			if r := recs["logs.kube-system.coredns-5d-abc.coredns.previous"]; r.ExitCode == 0 || r.Path == "" {
				t.Errorf("previous-log record = %+v", r)
			}
			if _, ok := recs["logs.kube-system.kube-proxy-x1.kube-proxy.previous"]; ok {
				t.Error("previous logs asked for a container that never restarted")
			}

			assertNoSecrets(t, b, dir)
			cm := string(b.files["cluster/configmaps.yaml"])
			for _, want := range []string{"forward . /etc/resolv.conf", "mode: iptables", "REDACTED"} {
				if !strings.Contains(cm, want) {
					t.Errorf("configmaps.yaml lacks %q:\n%s", want, cm)
				}
			}
			pods := string(b.files["cluster/pods.yaml"])
			if !strings.Contains(pods, "automountServiceAccountToken: false") || !strings.Contains(pods, "value: debug") {
				t.Errorf("pods.yaml lost non-secret fields:\n%s", pods)
			}
		})
	}
}

// assertNoSecrets: no Secret object and no secret value from the fake cluster is in the bundle,
// and the collector never asked for Secrets.
func assertNoSecrets(t *testing.T, b bundleFiles, fakeDir string) {
	t.Helper()
	calls, _ := os.ReadFile(filepath.Join(fakeDir, "calls"))
	for _, line := range strings.Split(string(calls), "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			if w == "get" && i+1 < len(f) && strings.HasPrefix(f[i+1], "secret") {
				t.Errorf("collector asked for secrets: %s", line)
			}
			if w == "apply" || w == "edit" || w == "patch" || w == "create" {
				t.Errorf("collector wrote to the cluster: %s", line)
			}
		}
	}
	secrets := []string{"kind: Secret", "c3VwZXJzZWNyZXQtc2VjcmV0LW9iamVjdA==", "s3cr3t-token-value",
		"hunter2-cm-password", "hunter2-env-password", "plain-kubeconfig-token-value",
		"LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTg==", "eyJzdWIiOiJsZWFrIn0"}
	for path, data := range b.files {
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains secret %q", path, s)
			}
		}
	}
}

// TestClusterDebugNodeAndRedact plays `kubectl debug node/...` (the fake runs the streamed node
// part locally), checks the node captures are merged, that only this run's debug pod is deleted,
// and that --redact pseudonymizes names consistently.
func TestClusterDebugNodeAndRedact(t *testing.T) {
	env, dir := fakeCluster(t)
	out := filepath.Join(t.TempDir(), "cluster.tar.gz")
	logs, err := run(t, env, 3*time.Minute, "sh", scriptPath(t), "cluster", "-o", out,
		"--node-data", "debug", "--image", "registry.local/busybox:1", "--redact", "--timeout", "20")
	if err != nil {
		t.Fatalf("collect.sh cluster: %v\n%s", err, logs)
	}
	b := readBundle(t, out)
	m := b.manifest(t)
	recs := b.checkRecords(t, m)
	if r := recs["node-a/node-data.debug"]; r.ExitCode != 0 || r.Path != "" {
		t.Errorf("node-data.debug record = %+v\n%s", r, logs)
	}
	if r := recs["node-a/uname"]; r.ExitCode != 0 || r.Path != "nodes/node-a/uname.txt" {
		t.Errorf("node records not merged: %+v", r)
	}
	if _, ok := b.files["nodes/node-a/uname.txt"]; !ok {
		t.Error("nodes/node-a/uname.txt missing")
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if !bytes.Contains(calls, []byte("delete pod -n default node-debugger-node-a-abcde")) {
		t.Errorf("own debug pod not deleted; calls:\n%s", calls)
	}
	if bytes.Contains(calls, []byte("node-debugger-node-b-other")) || bytes.Contains(calls, []byte("delete pod -n default web-1")) {
		t.Errorf("deleted a pod it did not create; calls:\n%s", calls)
	}
	if !bytes.Contains(calls, []byte("--image=registry.local/busybox:1")) {
		t.Errorf("--image not passed to kubectl debug")
	}
	assertNoSecrets(t, b, dir)

	// --redact: shop/checkout are gone everywhere, consistently; system names and IPs stay.
	for path, data := range b.files {
		for _, name := range []string{"shop", "checkout"} {
			if bytes.Contains(data, []byte(name)) {
				t.Errorf("%s still contains %q", path, name)
			}
		}
		if strings.Contains(path, "shop") || strings.Contains(path, "checkout") {
			t.Errorf("path %s not redacted", path)
		}
	}
	svc := string(b.files["cluster/services.yaml"])
	pods := string(b.files["cluster/pods.yaml"])
	for _, want := range []string{"kube-dns", "kube-system", "10.96.0.42"} {
		if !strings.Contains(svc, want) {
			t.Errorf("services.yaml lacks %q:\n%s", want, svc)
		}
	}
	if !strings.Contains(svc, "namespace: ns-1") || !strings.Contains(pods, "namespace: ns-1") {
		t.Errorf("namespace pseudonym not consistent:\n%s\n%s", svc, pods)
	}
	if !strings.Contains(svc, "app: svc-1") || !strings.Contains(pods, "app: svc-1") {
		t.Errorf("selector/label pseudonym not consistent:\n%s\n%s", svc, pods)
	}
}
