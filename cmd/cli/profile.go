package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"time"
)

// writeHeapProfile writes the live heap to NETSIFT_MEMPROFILE+suffix, when set: analyze writes
// one when the model is loaded (".load") and one when the rules have run ("").
func writeHeapProfile(errOut io.Writer, suffix string) {
	p := os.Getenv("NETSIFT_MEMPROFILE")
	if p == "" {
		return
	}
	runtime.GC()
	if err := heapProfileTo(p + suffix); err != nil {
		fmt.Fprintln(errOut, "netsift: NETSIFT_MEMPROFILE:", err)
	}
}

func heapProfileTo(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// watchPeakHeap writes NETSIFT_MEMPROFILE+".peak", when set, each time a collection finds more
// live heap than any before: what is live at the peak, which the profiles at the stages' ends
// miss (the rules' working sets, the load's buffers in flight). The profile is that of the last
// collections, so it can lag the peak by one or two. stop ends the watch; it may be called again.
func watchPeakHeap(errOut io.Writer) (stop func()) {
	p := os.Getenv("NETSIFT_MEMPROFILE")
	if p == "" {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > peak {
				peak = live
				if err := heapProfileTo(p + ".peak"); err != nil {
					fmt.Fprintln(errOut, "netsift: NETSIFT_MEMPROFILE:", err)
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}
