package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "big.tgz")
	p.bytes(50e6, 200e6)
	l := p.line()
	for _, want := range []string{"reading big.tgz", "[######..................]", " 25%", "50 MB/200 MB"} {
		if !strings.Contains(l, want) {
			t.Errorf("line %q lacks %q", l, want)
		}
	}
	p.bytes(200e6, 200e6)
	if l := p.line(); !strings.Contains(l, "parsing big.tgz") {
		t.Errorf("archive read, files still parsing: %q", l)
	}
	p.setStage("running rules on")
	if l := p.line(); !strings.Contains(l, "running rules on big.tgz") || strings.Contains(l, "%") {
		t.Errorf("after reading: %q", l)
	}
	p.draw()
	p.done()
	if out := buf.String(); !strings.HasPrefix(out, "\r\x1b[Knetsift: running rules on") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("drawn %q: want the line, then erased", out)
	}
}

// Not a terminal (a file, a pipe, CI logs): no line at all, and the nil progress is inert.
func TestProgressOnlyOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := startProgress(Streams{Err: &buf}, "x")
	if p != nil {
		t.Fatal("progress started on a buffer")
	}
	p.bytes(1, 2)
	p.setStage("x")
	if o := p.options(7); o.Progress != nil || o.MaxTotalBytes != 7 {
		t.Errorf("options %+v", o)
	}
	p.done()
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}
