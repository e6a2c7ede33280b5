package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netsift/netsift/collect"
	"github.com/netsift/netsift/report"
)

// TestCollectNodeThenAnalyze is the collector's contract with the analyzer, end to end on the
// real kernel: a network namespace with forwarding off and a FORWARD DROP policy is collected by
// the embedded collect.sh, and `netsift analyze` reads every capture without a warning and names
// both faults.
func TestCollectNodeThenAnalyze(t *testing.T) {
	if os.Geteuid() != 0 {
		skipUnlessCI(t, "needs root to create a network namespace")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipUnlessCI(t, tool+" not installed (apt-get install -y iproute2 iptables procps)")
		}
	}
	ns := fmt.Sprintf("nstest-e2e-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skipUnlessCI(t, fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	in := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	in("sysctl", "-w", "net.ipv4.ip_forward=0")
	in("ip", "link", "set", "lo", "up")
	in("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
	in("ip", "addr", "add", "192.168.56.11/24", "dev", "eth0")
	in("ip", "link", "set", "eth0", "up")
	in("iptables", "-P", "FORWARD", "DROP")

	dir := t.TempDir()
	script := filepath.Join(dir, "collect.sh")
	if err := os.WriteFile(script, collect.Script, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "etc", "cni", "net.d"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "resolv.conf"), []byte("nameserver 192.168.56.1\n"), 0o644)
	out := filepath.Join(dir, "node.tgz")
	cmd := exec.Command("ip", "netns", "exec", ns, "/bin/sh", script, "node", "-o", out, "--root", root, "--node-name", "worker-1")
	if logs, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("collect.sh node: %v\n%s", err, logs)
	}

	var stdout, stderr bytes.Buffer
	if code := Main(strings.NewReader(""), &stdout, &stderr, []string{"analyze", out, "-o", "json"}); code != 0 {
		t.Fatalf("analyze exit %d: %s", code, stderr.String())
	}
	var rep report.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	for _, w := range rep.Warnings {
		t.Errorf("input warning on the collector's own output: %s", w)
	}
	fired := map[string]bool{}
	for _, f := range rep.Findings {
		fired[f.ID] = true
		if f.Subject.Node != "" && f.Subject.Node != "worker-1" {
			t.Errorf("%s names node %q, want worker-1", f.ID, f.Subject.Node)
		}
	}
	for _, id := range []string{"sysctl.ip-forward-off", "iptables.forward-drop"} {
		if !fired[id] {
			t.Errorf("%s did not fire on a node with that fault; findings: %v", id, fired)
		}
	}
}

func skipUnlessCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
