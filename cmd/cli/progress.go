package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/netsift/netsift/analyze"
	"github.com/netsift/netsift/analyze/bundle"
	"github.com/netsift/netsift/analyze/model"
)

// progress draws one status line on stderr while a bundle loads and the rules run, so a 2 GB
// bundle does not look hung. Only on a terminal, and only once the work has taken a second.
type progress struct {
	w           io.Writer
	label       string
	read, total atomic.Int64
	stage       atomic.Pointer[string]
	start       time.Time
	stop        chan struct{}
	wg          sync.WaitGroup
	drawn       bool
}

// progressDelay is how long the work runs before the line appears; progressEvery how often
// it is redrawn.
const (
	progressDelay = time.Second
	progressEvery = 200 * time.Millisecond
)

// startProgress starts the line on s.Err when it is a terminal; it returns nil otherwise (the
// methods of a nil *progress do nothing).
func startProgress(s Streams, label string) *progress {
	if !isTerminal(s.Err) {
		return nil
	}
	p := newProgress(s.Err, label)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		delay := time.NewTimer(progressDelay)
		defer delay.Stop()
		select {
		case <-p.stop:
			return
		case <-delay.C:
		}
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			p.draw()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, start: time.Now(), stop: make(chan struct{})}
	p.setStage("reading")
	return p
}

// options are bundle options that report to the line.
func (p *progress) options(maxBytes int64) bundle.Options {
	o := bundle.Options{MaxTotalBytes: maxBytes}
	if p != nil {
		o.Progress = p.bytes
	}
	return o
}

// bytes is bundle.Options.Progress.
func (p *progress) bytes(read, total int64) {
	if p == nil {
		return
	}
	p.read.Store(read)
	p.total.Store(total)
}

// setStage names what is being done now ("reading", "running rules"…).
func (p *progress) setStage(s string) {
	if p == nil {
		return
	}
	p.stage.Store(&s)
}

// line is the status line as drawn.
func (p *progress) line() string {
	read, total := p.read.Load(), p.total.Load()
	stage := *p.stage.Load()
	if stage == "reading" && total > 0 && read >= total {
		stage = "parsing" // the archive is read; the last files are still being parsed
	}
	s := fmt.Sprintf("netsift: %s %s", stage, p.label)
	if stage == "reading" && total > 0 {
		pct := min(100, read*100/total)
		const width = 24
		filled := int(pct * width / 100)
		s += fmt.Sprintf(" [%s%s] %3d%% %s/%s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, mb(read), mb(total))
	}
	return s + fmt.Sprintf(" %.0fs", time.Since(p.start).Seconds())
}

func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\x1b[K%s", p.line())
	p.drawn = true
}

// done stops the line and erases it, leaving the terminal as it was.
func (p *progress) done() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

// loadWithProgress loads one bundle for a command that reads the model only (trace, policy,
// get), with the status line.
func loadWithProgress(cmd *cobra.Command, s Streams, source string) (*model.Model, error) {
	p := startProgress(s, source)
	defer p.done()
	m, err := analyze.Load(cmd.Context(), []string{source}, p.options(0))
	if err == nil {
		releaseLoadGarbage()
	}
	return m, err
}
