package collect

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runIn runs the collector from dir with TMPDIR inside tmp, returning its exit code and output.
func runIn(t *testing.T, dir, tmp string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{scriptPath(t)}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "TMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("collect.sh %v did not finish\n%s", args, out.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

// TestHostileNamesRunNothing feeds the collector pod, container and node names that are shell
// code, options and paths. None may run, become an option of kubectl, or place a file outside
// the bundle; well-formed names beside them are still collected.
func TestHostileNamesRunNothing(t *testing.T) {
	env, dir := fakeCluster(t)
	pwned := t.TempDir()
	p := func(n string) string { return filepath.Join(pwned, n) }
	psv := strings.Join([]string{
		"shop|$(touch " + p("cmdsubst") + ")||Running|False|app=0 ",
		"shop|x;touch " + p("semicolon") + "||Running|False|app=0 ",
		"shop|`touch " + p("backtick") + "`||Running|False|app=0 ",
		"shop|a && touch " + p("and") + "||Running|False|app=0 ",
		"shop|;rm -rf " + pwned + "||Running|False|app=0 ",
		"$(touch " + p("namespace") + ")|web-9||Running|False|app=0 ",
		"..|..||Running|False|app=0 ",
		"shop|../../../escape||Running|False|app=0 ",
		"shop|--kubeconfig=/etc/passwd||Running|False|app=0 ",
		"shop|web-2||Running|False|$(touch " + p("container") + ")=1 *=0 ../x=0 -p=0 app=0 ",
		"kube-system|kube-proxy-x1|kube-proxy|Running|True|kube-proxy=0 ",
	}, "\n") + "\n"
	write(t, filepath.Join(dir, "pods.psv"), psv)
	env = append(env, "FAKE_NODES=node-a $(touch "+p("node")+") ;touch${IFS}"+p("node2")+" .. -n * ../up")

	work, tmp := t.TempDir(), t.TempDir()
	out := filepath.Join(t.TempDir(), "cluster.tar.gz")
	// exec first: it lists the node's pods (none usable here), then falls back to debug, which the
	// fake plays by running the node part locally, only for node-a.
	code, logs := runIn(t, work, tmp, env, "cluster", "-o", out, "--node-data", "exec", "--timeout", "20")
	if code != 0 {
		t.Fatalf("collect.sh cluster exited %d\n%s", code, logs)
	}
	if des, _ := os.ReadDir(pwned); len(des) > 0 {
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		t.Errorf("hostile names ran commands: %v\n%s", names, logs)
	}
	if _, err := os.Stat(pwned); err != nil {
		t.Errorf("the `;rm -rf` name removed %s", pwned)
	}
	for _, d := range []string{work, tmp} {
		if des, _ := os.ReadDir(d); len(des) > 0 {
			t.Errorf("collector left files in %s: %v", d, des)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(out), "escape")); err == nil {
		t.Error("a pod name placed a file outside the bundle")
	}

	b := readBundle(t, out)
	m := b.manifest(t)
	b.checkRecords(t, m)
	for path := range b.files {
		if strings.Contains(path, "..") || strings.HasPrefix(path, "/") {
			t.Errorf("bundle path %q climbs out of the bundle", path)
		}
	}
	for _, want := range []string{"logs/shop/web-2/app.log", "logs/kube-system/kube-proxy-x1/kube-proxy.log", "nodes/node-a/uname.txt"} {
		if _, ok := b.files[want]; !ok {
			t.Errorf("%s missing: a hostile name beside it stopped its collection", want)
		}
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	for _, line := range strings.Split(string(calls), "\n") {
		isLogs := strings.Contains(line, " logs ")
		isNode := strings.Contains(line, "debug node/") || strings.Contains(line, "spec.nodeName=")
		if !isLogs && !isNode {
			continue
		}
		for _, bad := range []string{"touch", "rm -rf", "..", "--kubeconfig=/etc", "$(", "`", " -p ", " * "} {
			if strings.Contains(line, bad) {
				t.Errorf("kubectl called with a hostile name (%q): %s", bad, line)
			}
		}
	}
	for _, want := range []string{"skipping logs of a pod", "skipping logs of a container", "skipping a node"} {
		if !strings.Contains(logs, want) {
			t.Errorf("collector log does not say %q:\n%s", want, logs)
		}
	}
}

// TestOutputNotOverwritten: -o FILE refuses an existing file, or a link, without --force, before
// collecting anything; with --force it replaces the file itself, never a link's target.
func TestOutputNotOverwritten(t *testing.T) {
	env, dir := fakeCluster(t)
	outDir := t.TempDir()
	existing := filepath.Join(outDir, "bundle.tar.gz")
	write(t, existing, "keep me\n")
	victim := filepath.Join(outDir, "victim")
	write(t, victim, "victim\n")
	link := filepath.Join(outDir, "link.tar.gz")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{"cluster", "--node-data", "none"}, {"node", "--root", t.TempDir()}} {
		for _, target := range []string{existing, link} {
			code, logs := runIn(t, t.TempDir(), t.TempDir(), env, append(mode, "-o", target)...)
			if code == 0 || !strings.Contains(logs, "already exists; use --force") {
				t.Errorf("%s -o %s (exists): exit %d, want a refusal naming --force\n%s", mode[0], target, code, logs)
			}
		}
	}
	if calls, _ := os.ReadFile(filepath.Join(dir, "calls")); len(calls) > 0 {
		t.Errorf("the refused runs still called kubectl:\n%s", calls)
	}
	for path, want := range map[string]string{existing: "keep me\n", victim: "victim\n"} {
		if got, _ := os.ReadFile(path); string(got) != want {
			t.Errorf("%s was changed: %q", path, got)
		}
	}

	for _, target := range []string{existing, link} {
		code, logs := runIn(t, t.TempDir(), t.TempDir(), env, "cluster", "--node-data", "none", "-o", target, "--force")
		if code != 0 {
			t.Fatalf("--force: exit %d\n%s", code, logs)
		}
		readBundle(t, target)
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
		t.Errorf("--force wrote through the link instead of replacing it: %v %v", st.Mode(), err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "victim\n" {
		t.Errorf("--force overwrote the link's target: %q", got)
	}
}
