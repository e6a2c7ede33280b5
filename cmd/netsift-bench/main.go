// Command netsift-bench is `make bench`: it measures `netsift analyze` on the generated scale
// bundles (fixtures/bench, written by `make bench-data`) against the floor a streaming analyzer
// cannot beat, decompressing the same archive, and prints one Markdown table of ratios.
//
// Everything is measured back to back in one run, so the ratios hold on a shared machine even
// when the absolute times do not.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/analyze/rules"
	"github.com/netsift/netsift/analyze/trace"
	"github.com/netsift/netsift/parsers/iptables"
)

func main() {
	bin := flag.String("bin", "bin/netsift", "the netsift binary to measure")
	dir := flag.String("dir", "fixtures/bench", "where make bench-data wrote the bundles")
	names := flag.String("workloads", "small,medium,large,medium-ipvs,large-ipvs", "workloads to measure, when present")
	runs := flag.Int("runs", 3, "runs of each measurement (the median is reported)")
	profile := flag.String("cpuprofile", "", "instead of the table: analyze the first workload in-process and write a CPU profile here")
	flag.Parse()
	if *profile != "" {
		if err := profileAnalyze(*profile, filepath.Join(*dir, strings.Split(*names, ",")[0]+".tgz")); err != nil {
			fmt.Fprintln(os.Stderr, "netsift-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Stdout, *bin, *dir, strings.Split(*names, ","), *runs); err != nil {
		fmt.Fprintln(os.Stderr, "netsift-bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name                 string
	tgzBytes, zstBytes   int64
	rawBytes             int64
	gunzip, analyzeGz    time.Duration
	unzstd, analyzeZst   time.Duration
	rssGz                int64 // KiB
	biggestIPTables      []byte
	biggestIPTablesNodes int
}

func run(w io.Writer, bin, dir string, names []string, runs int) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: build it first (make build)", bin)
	}
	var results []*result
	for _, name := range names {
		tgz := filepath.Join(dir, name+".tgz")
		st, err := os.Stat(tgz)
		if err != nil {
			fmt.Fprintf(os.Stderr, "skipping %s: %s not found (make bench-data)\n", name, tgz)
			continue
		}
		fmt.Fprintf(os.Stderr, "measuring %s...\n", name)
		r := &result{name: name, tgzBytes: st.Size()}
		if r.rawBytes, r.biggestIPTables, err = inspect(tgz); err != nil {
			return err
		}
		var gz, an []time.Duration
		var rss []int64
		for range runs {
			d, _, err := timeCmd("", "gzip", "-dc", tgz)
			if err != nil {
				return err
			}
			gz = append(gz, d)
			d, kib, err := timeCmd("", bin, "analyze", tgz, "-o", "json", "--out", os.DevNull)
			if err != nil {
				return err
			}
			an, rss = append(an, d), append(rss, kib)
		}
		r.gunzip, r.analyzeGz, r.rssGz = median(gz), median(an), slices.Max(rss)
		zst := filepath.Join(dir, name+".tar.zst")
		if st, err := os.Stat(zst); err == nil {
			r.zstBytes = st.Size()
			var zd, za []time.Duration
			for range runs {
				d, _, err := timeCmd("", "zstd", "-dcq", zst)
				if err != nil {
					return err
				}
				zd = append(zd, d)
				d, _, err = timeCmd("", bin, "analyze", zst, "-o", "json", "--out", os.DevNull)
				if err != nil {
					return err
				}
				za = append(za, d)
			}
			r.unzstd, r.analyzeZst = median(zd), median(za)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return errors.New("no bundle to measure: run `make bench-data` first")
	}
	report(w, results)
	parserVsRestore(w, results, runs)
	traceTimes(w, dir, results)
	return nil
}

// inspect reads the archive once: its uncompressed size and its biggest iptables-save dump.
func inspect(tgz string) (int64, []byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, nil, err
	}
	tr := tar.NewReader(zr)
	var total int64
	var biggest []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, biggest, nil
		}
		if err != nil {
			return 0, nil, err
		}
		total += h.Size
		if strings.HasSuffix(h.Name, "/iptables-save.txt") && h.Size > int64(len(biggest)) {
			if biggest, err = io.ReadAll(tr); err != nil {
				return 0, nil, err
			}
		}
	}
}

// timeCmd runs a command with stdout to /dev/null (stdin from a file when given) and returns
// its wall time and peak resident set (the child's VmHWM, KiB).
func timeCmd(stdin string, name string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(name, args...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdin != "" {
		in, err := os.Open(stdin)
		if err != nil {
			return 0, 0, err
		}
		defer in.Close()
		cmd.Stdin = in
	}
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	var kib int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		kib = ru.Maxrss
	}
	if err != nil {
		return d, kib, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return d, kib, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
func secs(d time.Duration) string {
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func report(w io.Writer, rs []*result) {
	fmt.Fprintf(w, "netsift bench: %d cores (GOMAXPROCS %d), %s/%s, %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(w, "| workload | uncompressed | .tgz | .tar.zst | gzip -dc | analyze .tgz | ratio (target ≤ 2) | zstd -dc | analyze .tar.zst | ratio | peak RSS | RSS / uncompressed (target ≤ 25%) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		zst := "| – | – | – "
		if r.zstBytes > 0 {
			zst = fmt.Sprintf("| %s | %s | %.1f× ", secs(r.unzstd), secs(r.analyzeZst), r.analyzeZst.Seconds()/r.unzstd.Seconds())
		}
		zsize := "–"
		if r.zstBytes > 0 {
			zsize = mb(r.zstBytes)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.1f× %s| %s | %.1f%% |\n", r.name, mb(r.rawBytes), mb(r.tgzBytes), zsize,
			secs(r.gunzip), secs(r.analyzeGz), r.analyzeGz.Seconds()/r.gunzip.Seconds(), zst, mb(r.rssGz*1024), 100*float64(r.rssGz*1024)/float64(r.rawBytes))
	}
	// Scaling: time and memory per uncompressed byte, relative to the previous size.
	var prev *result
	first := true
	for _, r := range rs {
		if strings.HasSuffix(r.name, "-ipvs") {
			continue
		}
		if prev != nil {
			if first {
				fmt.Fprintln(w, "\n| scaling | size × | analyze time × | deviation from linear (target ≤ 15%) | peak RSS × | deviation |")
				fmt.Fprintln(w, "|---|---|---|---|---|---|")
				first = false
			}
			size := float64(r.rawBytes) / float64(prev.rawBytes)
			t := r.analyzeGz.Seconds() / prev.analyzeGz.Seconds()
			m := float64(r.rssGz) / float64(prev.rssGz)
			fmt.Fprintf(w, "| %s → %s | %.1f | %.1f | %+.0f%% | %.1f | %+.0f%% |\n", prev.name, r.name, size, t, 100*(t/size-1), m, 100*(m/size-1))
		}
		prev = r
	}
}

// parserVsRestore times netsift's iptables parser against `iptables-restore --test` on the
// biggest dump, in a throwaway network namespace. The two are timed in turns, a parse then a
// restore, and the ratio reported is the median of each turn's: a shared machine's load drifts
// over a minute, and a ratio of medians taken minutes apart carries that drift. Nine turns at
// least: with five, one run's median moved from 9× to 12× on the same code.
func parserVsRestore(w io.Writer, rs []*result, runs int) {
	var dump []byte
	for _, r := range rs {
		if len(r.biggestIPTables) > len(dump) {
			dump = r.biggestIPTables
		}
	}
	if len(dump) == 0 {
		return
	}
	lines := bytes.Count(dump, []byte("\n"))
	tmp, err := os.CreateTemp("", "netsift-bench-*.rules")
	if err == nil {
		defer os.Remove(tmp.Name())
		_, err = tmp.Write(dump)
		tmp.Close()
	}
	var parse, restore []time.Duration
	var ratios []float64
	for range max(runs, 9) {
		start := time.Now()
		if _, _, err := iptables.Parse(bytes.NewReader(dump)); err != nil {
			fmt.Fprintln(w, "\niptables parse:", err)
			return
		}
		parse = append(parse, time.Since(start))
		if err != nil {
			continue
		}
		var d time.Duration
		if d, _, err = timeCmd(tmp.Name(), "unshare", "--net", "iptables-restore", "--test", "--counters"); err == nil {
			restore = append(restore, d)
			ratios = append(ratios, d.Seconds()/parse[len(parse)-1].Seconds())
		}
	}
	fmt.Fprintf(w, "\niptables-save of %d lines (%s): netsift parser %s", lines, mb(int64(len(dump))), secs(median(parse)))
	if err != nil {
		fmt.Fprintf(w, "; iptables-restore --test not measured: %v\n", firstLine(err.Error()))
		return
	}
	slices.Sort(ratios)
	fmt.Fprintf(w, ", `unshare --net iptables-restore --test --counters` %s: %.1f× faster, median of %d turns (%.1f–%.1f×; target ≥ 10×)\n",
		secs(median(restore)), ratios[len(ratios)/2], len(ratios), ratios[0], ratios[len(ratios)-1])
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// traceTimes loads the biggest iptables-mode bundle and times one trace and an all-nodes trace
// to kube-dns, after the load.
func traceTimes(w io.Writer, dir string, rs []*result) {
	var r *result
	for _, x := range rs {
		if !strings.HasSuffix(x.name, "-ipvs") && (r == nil || x.rawBytes > r.rawBytes) {
			r = x
		}
	}
	if r == nil {
		return
	}
	m, err := analyze.Load(context.Background(), []string{filepath.Join(dir, r.name+".tgz")}, bundle.Options{})
	if err != nil {
		fmt.Fprintln(w, "trace:", err)
		return
	}
	pol := trace.DefaultPolicy(m)
	var from string
	for _, p := range m.Pods {
		if !p.Spec.HostNetwork && p.Status.PodIP != "" && m.NodeData(p.Spec.NodeName).IPTables != nil {
			from = p.Namespace + "/" + p.Name
			break
		}
	}
	start := time.Now()
	one := trace.Trace(m, trace.Request{From: from, To: "svc/kube-system/kube-dns:53", Protocol: "udp", Policy: pol})
	d1 := time.Since(start)
	start = time.Now()
	verdicts := map[string]int{}
	for _, n := range m.NodeNames() {
		res := trace.Trace(m, trace.Request{From: "node/" + n, To: "svc/kube-system/kube-dns:53", Protocol: "udp", Policy: pol})
		verdicts[string(res.Verdict)]++
	}
	dAll := time.Since(start)
	fmt.Fprintf(w, "trace on %s after load: one flow (%s → kube-dns, %s) %s (target ≤ 0.1 s); --from all-nodes (%d nodes, %v) %s (target ≤ 2 s)\n",
		r.name, from, one.Verdict, secs(d1), len(m.NodeNames()), verdicts, secs(dAll))
}

// profileAnalyze runs the whole analysis in-process under the CPU profiler, printing how long
// each stage took.
func profileAnalyze(out, src string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	start := time.Now()
	b, err := bundle.Open(context.Background(), []string{src}, bundle.Options{})
	if err != nil {
		return err
	}
	opened := time.Now()
	m := model.Build(b)
	built := time.Now()
	if _, err := rules.Run(m, rules.All(), rules.Options{}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "open %s, build %s, rules %s\n", opened.Sub(start), built.Sub(opened), time.Since(built))
	return nil
}
