package cli

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcPercent is the collector's goal unless GOGC says otherwise: the heap grows to 1.25× what is
// live before a collection, not 2×. A big bundle's model stays live to the end of the run, so
// Go's default doubles the peak for it. On the large workload (README "Performance"), 50 was
// −20% peak RSS against 100; 25 is another −16% (750 → 633 MB; large-ipvs −19%) for ~10% more
// CPU, which the time target has room for; 15 and 10 cost 2–4 s more for −7% and −12%.
const gcPercent = 25

// setMemoryLimit sets the collector's goal (gcPercent), and gives it a soft limit of 3/4 of the
// memory this process may use (the machine's, or its cgroup's when lower), unless GOMEMLIMIT
// says otherwise: near the limit the collector works harder instead of the kernel killing an
// analysis of a big bundle on a small laptop. Far from it, nothing changes.
func setMemoryLimit() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	total := memTotal(readFile("/proc/meminfo"))
	if c := cgroupLimit(readFile("/sys/fs/cgroup/memory.max")); c > 0 && (total == 0 || c < total) {
		total = c
	}
	if total > 0 {
		debug.SetMemoryLimit(total / 4 * 3)
	}
}

// releaseLoadGarbage collects once a bundle is loaded, and gives the memory freed back to the
// system. What the load kept to parse and decode the next file (the iptables dumps' buffers
// and caches, pools, the files' bytes before they were packed) is garbage by then, and the
// collector would otherwise keep its pages for the rules to reuse as they please: on large,
// 50-90 MB more than the heap in use while the rules ran, which was the run's peak RSS
// (520-540 → 483-489 MB in interleaved runs, with no time that could be told apart: the
// collection it forces is one the rules would have started soon).
func releaseLoadGarbage() { debug.FreeOSMemory() }

func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

// memTotal reads MemTotal (kB) from /proc/meminfo, in bytes; 0 when absent.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 || kb > 1<<50 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit reads a cgroup v2 memory.max, in bytes; 0 for "max" or anything unreadable.
func cgroupLimit(memoryMax []byte) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(string(memoryMax)), 10, 64)
	if err != nil || v <= 0 {
		return 0
	}
	return v
}
