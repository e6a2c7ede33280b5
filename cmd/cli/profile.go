package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// writeHeapProfile writes the live heap to NETSIFT_MEMPROFILE+suffix, when set: analyze writes
// one when the model is loaded (".load") and one when the rules have run ("").
func writeHeapProfile(errOut io.Writer, suffix string) {
	p := os.Getenv("NETSIFT_MEMPROFILE")
	if p == "" {
		return
	}
	p += suffix
	f, err := os.Create(p)
	if err == nil {
		runtime.GC()
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(errOut, "netsift: NETSIFT_MEMPROFILE:", err)
	}
}
