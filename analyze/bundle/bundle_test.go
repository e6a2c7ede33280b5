package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mholt/archives"
)

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const manifest = `{"format_version":1,"cluster":"lab","mode":"cluster","collected_at":"2026-11-20T10:15:00Z",
"commands":[
 {"id":"pods","command":"kubectl get pods -A -o yaml","path":"cluster/pods.yaml","exit_code":0,"bytes":10},
 {"id":"nodes","command":"kubectl get nodes -o yaml","path":"cluster/nodes.yaml","exit_code":1,"stderr":"line one\nError from server (Forbidden): nodes is forbidden"},
 {"id":"ipt","node":"n1","command":"iptables-save -c","path":"nodes/n1/iptables-save.txt","exit_code":0,"bytes":0},
 {"id":"ipvs","node":"n1","command":"ipvsadm -Ln","path":"nodes/n1/ipvsadm.txt","exit_code":127,"stderr":"sh: ipvsadm: not found"}
]}`

func sampleFiles() map[string]string {
	return map[string]string{
		"netsift-lab-20261120T101500Z/manifest.json":                    manifest,
		"netsift-lab-20261120T101500Z/cluster/pods.yaml":                "apiVersion: v1\nkind: List\nitems: []\n",
		"netsift-lab-20261120T101500Z/nodes/n1/iptables-save.txt":       "",
		"netsift-lab-20261120T101500Z/nodes/n1/sysctl.txt":              "net.ipv4.ip_forward = 1\r\nnet.ipv4.conf.all.rp_filter = 0\n",
		"netsift-lab-20261120T101500Z/nodes/n1/cni/10-flannel.conflist": "{}",
	}
}

// archiveOf packs dir into an archive of the given format, as the collector would.
func archiveOf(t *testing.T, dir, out string, format archives.Archiver) string {
	t.Helper()
	files, err := archives.FilesFromDisk(context.Background(), nil, map[string]string{dir + string(os.PathSeparator): ""})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := format.Archive(context.Background(), f, files); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenEveryFormat(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, sampleFiles())
	tmp := t.TempDir()
	cases := map[string]string{
		"directory": src,
		"tar.gz":    archiveOf(t, src, filepath.Join(tmp, "b.tar.gz"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}}),
		"tgz":       archiveOf(t, src, filepath.Join(tmp, "b.tgz"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}}),
		"tar":       archiveOf(t, src, filepath.Join(tmp, "b.tar"), archives.Tar{}),
		"tar.zst":   archiveOf(t, src, filepath.Join(tmp, "b.tar.zst"), archives.CompressedArchive{Compression: archives.Zstd{}, Archival: archives.Tar{}}),
		"tar.xz":    archiveOf(t, src, filepath.Join(tmp, "b.tar.xz"), archives.CompressedArchive{Compression: archives.Xz{}, Archival: archives.Tar{}}),
		"zip":       archiveOf(t, src, filepath.Join(tmp, "b.zip"), archives.Zip{}),
		// A name that says nothing: the format is found from the content.
		"no extension": archiveOf(t, src, filepath.Join(tmp, "bundle-upload"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}}),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := Open(context.Background(), []string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if b.Manifest == nil || b.Manifest.Cluster != "lab" {
				t.Fatalf("manifest not read: %+v", b.Manifest)
			}
			f := b.File("nodes/n1/sysctl.txt")
			if f == nil {
				t.Fatalf("files are not keyed by their path under the root: %v", b.Paths())
			}
			if got := f.Line(1); got != "net.ipv4.ip_forward = 1" {
				t.Errorf("line 1 = %q (CR must be stripped)", got)
			}
			if got := f.Line(2); got != "net.ipv4.conf.all.rp_filter = 0" {
				t.Errorf("line 2 = %q", got)
			}
			if f.Lines() != 2 || f.Line(3) != "" {
				t.Errorf("Lines() = %d, Line(3) = %q", f.Lines(), f.Line(3))
			}
			if got := b.Nodes(); len(got) != 1 || got[0] != "n1" {
				t.Errorf("Nodes() = %v", got)
			}
			if len(b.Warnings) != 0 {
				t.Errorf("unexpected warnings: %v", b.Warnings)
			}
		})
	}
}

func TestCaptureStates(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sampleFiles())
	b, err := Open(context.Background(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want CaptureState
		why  string
	}{
		{"cluster/pods.yaml", Collected, ""},
		{"cluster/nodes.yaml", Failed, "cluster/nodes.yaml: `kubectl get nodes -o yaml` failed (exit 1): Error from server (Forbidden): nodes is forbidden"},
		{"nodes/n1/iptables-save.txt", Empty, "nodes/n1/iptables-save.txt (empty)"},
		{"nodes/n1/ipvsadm.txt", Failed, "nodes/n1/ipvsadm.txt: `ipvsadm -Ln` failed (exit 127): sh: ipvsadm: not found"},
		{"nodes/n1/ip-route.json", NotCollected, "nodes/n1/ip-route.json (not in the bundle)"},
	}
	for _, c := range cases {
		got := b.Capture(c.path)
		if got.State != c.want {
			t.Errorf("%s: state %v, want %v", c.path, got.State, c.want)
		}
		if got.Why() != c.why {
			t.Errorf("%s: Why() = %q, want %q", c.path, got.Why(), c.why)
		}
	}
}

func TestMergeClusterAndNodeBundles(t *testing.T) {
	cluster := t.TempDir()
	writeTree(t, cluster, sampleFiles())
	node := t.TempDir()
	writeTree(t, node, map[string]string{
		"netsift-n2-20261120T101700Z/manifest.json":       `{"format_version":1,"mode":"node","nodes":["n2"],"commands":[{"id":"sysctl","node":"n2","command":"sysctl -a","path":"nodes/n2/sysctl.txt","exit_code":0,"bytes":24}]}`,
		"netsift-n2-20261120T101700Z/nodes/n2/sysctl.txt": "net.ipv4.ip_forward = 0\n",
	})
	// Node bundle first: the cluster bundle must still give the identity.
	b, err := Open(context.Background(), []string{node, cluster}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Cluster != "lab" || b.Manifest.Mode != "cluster" {
		t.Errorf("identity should come from the cluster bundle: %+v", b.Manifest)
	}
	if got := b.Nodes(); strings.Join(got, ",") != "n1,n2" {
		t.Errorf("Nodes() = %v", got)
	}
	if b.Capture("nodes/n2/sysctl.txt").State != Collected || b.Capture("nodes/n2/sysctl.txt").Record == nil {
		t.Errorf("node bundle's capture or its record missing")
	}
	if len(b.Manifest.Commands) != 5 {
		t.Errorf("merged commands = %d, want 5", len(b.Manifest.Commands))
	}
}

func TestBrokenInputs(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	writeTree(t, src, sampleFiles())
	tmp := t.TempDir()
	good := archiveOf(t, src, filepath.Join(tmp, "good.tgz"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}})

	t.Run("truncated tgz keeps what was read and says so", func(t *testing.T) {
		data, _ := os.ReadFile(good)
		cut := filepath.Join(tmp, "cut.tgz")
		os.WriteFile(cut, data[:len(data)*2/3], 0o644)
		b, err := Open(ctx, []string{cut}, Options{})
		if err != nil {
			// Nothing at all could be read: the error must name the file.
			if !strings.Contains(err.Error(), "cut.tgz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !hasWarning(b, "cut.tgz", "read stopped early") {
			t.Errorf("no warning naming the truncated archive: %v", b.Warnings)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"top/cluster/pods.yaml": "kind: List\n"})
		b, err := Open(ctx, []string{dir}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if b.File("cluster/pods.yaml") == nil {
			t.Errorf("single top folder should be the root: %v", b.Paths())
		}
		if !hasWarning(b, "manifest.json", "no manifest.json") {
			t.Errorf("missing-manifest warning absent: %v", b.Warnings)
		}
	})
	t.Run("corrupt manifest names its line", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"r/manifest.json": "{\n\"format_version\": 1,\n\"commands\": [ oops ]\n}", "r/cluster/pods.yaml": "kind: List\n"})
		b, err := Open(ctx, []string{dir}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, w := range b.Warnings {
			if strings.HasSuffix(w.File, "manifest.json") && w.Line == 3 {
				found = true
			}
		}
		if !found {
			t.Errorf("want a warning at manifest.json:3, got %v", b.Warnings)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		b, err := Open(ctx, []string{t.TempDir()}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !hasWarning(b, "", "no files in bundle") {
			t.Errorf("want a 'no files' warning, got %v", b.Warnings)
		}
	})
	t.Run("not an archive", func(t *testing.T) {
		p := filepath.Join(tmp, "notes.txt")
		os.WriteFile(p, []byte("hello, this is not a bundle\n"), 0o644)
		_, err := Open(ctx, []string{p}, Options{})
		if err == nil || !strings.Contains(err.Error(), "notes.txt") || !strings.Contains(err.Error(), "not a bundle") {
			t.Fatalf("want a clear error naming the file, got %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Open(ctx, []string{filepath.Join(tmp, "nope.tgz")}, Options{})
		if err == nil || !strings.Contains(err.Error(), "nope.tgz") {
			t.Fatalf("want an error naming the file, got %v", err)
		}
	})
	t.Run("unsafe entries are not read", func(t *testing.T) {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		add := func(h *tar.Header, body string) {
			h.Size = int64(len(body))
			if h.Typeflag == 0 {
				h.Typeflag = tar.TypeReg
			}
			h.Mode = 0o644
			tw.WriteHeader(h)
			tw.Write([]byte(body))
		}
		add(&tar.Header{Name: "r/manifest.json"}, `{"format_version":1}`)
		add(&tar.Header{Name: "r/../../etc/evil"}, "x")
		add(&tar.Header{Name: "/abs/evil"}, "x")
		add(&tar.Header{Name: "r/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, "")
		add(&tar.Header{Name: "r/cluster/pods.yaml"}, "kind: List\n")
		tw.Close()
		gz.Close()
		p := filepath.Join(tmp, "evil.tgz")
		os.WriteFile(p, buf.Bytes(), 0o644)
		b, err := Open(ctx, []string{p}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range b.Paths() {
			if strings.Contains(path, "evil") || path == "link" {
				t.Errorf("unsafe entry read as %q", path)
			}
		}
		if b.File("cluster/pods.yaml") == nil {
			t.Errorf("safe entries must still be read: %v", b.Paths())
		}
		if !hasWarning(b, "", "unsafe entry") || !hasWarning(b, "link", "not a regular file") {
			t.Errorf("unsafe entries must be warned about: %v", b.Warnings)
		}
	})
	t.Run("size budget", func(t *testing.T) {
		b, err := Open(ctx, []string{src}, Options{MaxFileBytes: 8})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(b.File("manifest.json").Data); got != 8 {
			t.Errorf("file not cut at the per-file cap: %d bytes", got)
		}
		if !hasWarning(b, "manifest.json", "larger than") {
			t.Errorf("no warning for the cut file: %v", b.Warnings)
		}
	})
}

func hasWarning(b *Bundle, file, text string) bool {
	for _, w := range b.Warnings {
		if strings.Contains(w.File, file) && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}

func TestExpansionRatioWarns(t *testing.T) {
	src := t.TempDir()
	files := sampleFiles()
	files["netsift-lab-20261120T101500Z/nodes/n1/dmesg.txt"] = strings.Repeat("\x00", 8<<20)
	writeTree(t, src, files)
	p := archiveOf(t, src, filepath.Join(t.TempDir(), "bomb.tgz"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}})
	b, err := Open(context.Background(), []string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(b, "bomb.tgz", "decompression bomb") || !hasWarning(b, "bomb.tgz", "dmesg.txt") {
		t.Errorf("no expansion warning naming the largest entry: %v", b.Warnings)
	}
}

// Options.ClaimStream takes a file as it is read: its Stream gets exactly the file's bytes (cut
// at MaxFileBytes, with the bundle's warning), the bundle keeps what End returns and no bytes,
// and Claim is not offered the file. From an archive and from a directory alike.
func TestOpenStreamsClaimedFiles(t *testing.T) {
	src := t.TempDir()
	big := strings.Repeat("0123456789abcdef\n", 64<<10) // over MaxFileBytes, in many writes
	writeTree(t, src, map[string]string{"cluster/version.json": "{}\n", "nodes/n1/a.txt": "hello\n",
		"nodes/n1/blank.txt": " \n\t\n", "nodes/n1/big.txt": big, "nodes/n1/kept.txt": "not streamed\n"})
	archive := archiveOf(t, src, filepath.Join(t.TempDir(), "b.tgz"), archives.CompressedArchive{Compression: archives.Gz{}, Archival: archives.Tar{}})
	const maxFile = 1 << 20
	for _, source := range []string{archive, src} {
		t.Run(filepath.Base(source), func(t *testing.T) {
			got := map[string]*recordStream{}
			var claimed []string
			b, err := Open(context.Background(), []string{source}, Options{MaxFileBytes: maxFile,
				ClaimStream: func(name string, size int64) Stream {
					if path.Base(name) == "kept.txt" || !strings.Contains(name, "nodes/") {
						return nil
					}
					s := &recordStream{size: size}
					got[path.Base(name)] = s
					return s
				},
				Claim: func(name string, data []byte) Content {
					claimed = append(claimed, path.Base(name))
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]string{"a.txt": "hello\n", "blank.txt": " \n\t\n", "big.txt": big[:maxFile]} {
				s, f := got[name], b.File("nodes/n1/"+name)
				if s == nil || f == nil {
					t.Fatalf("%s: stream %v, file %v", name, s, f)
				}
				if s.String() != want || s.ends != 1 || s.size != int64(len(s.String())) && name != "big.txt" {
					t.Errorf("%s: streamed %d bytes (want %d), %d ends, size hint %d", name, s.Len(), len(want), s.ends, s.size)
				}
				if f.Data != nil || f.Claimed() != Content(s) || f.Size() != len(want) || f.Blank() != (name == "blank.txt") {
					t.Errorf("%s: data %v, claimed %v, size %d, blank %v", name, f.Data != nil, f.Claimed() == Content(s), f.Size(), f.Blank())
				}
			}
			if !hasWarning(b, "big.txt", "only its start was read") {
				t.Errorf("no warning for the cut file: %v", b.Warnings)
			}
			if slices.Contains(claimed, "a.txt") || !slices.Contains(claimed, "kept.txt") {
				t.Errorf("Claim offered %v", claimed)
			}
		})
	}
}

// recordStream keeps what is streamed to it; it is the Content End returns.
type recordStream struct {
	bytes.Buffer
	size int64
	ends int
}

func (s *recordStream) End() Content { s.ends++; return s }
func (s *recordStream) Line(n int) (string, bool) {
	lines := strings.Split(s.String(), "\n")
	if n < 1 || n > len(lines) {
		return "", false
	}
	return lines[n-1], true
}
func (s *recordStream) Lines() int { return strings.Count(s.String(), "\n") }
