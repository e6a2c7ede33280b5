package loglines

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

func TestKlog(t *testing.T) {
	tests := []struct {
		in        string
		sev, file string
		fileLine  int
		tid       int
		prefix    string
		msg       string
		ok        bool
	}{
		{`E1126 05:01:02.123456       1 proxier.go:1500] "Failed to execute iptables-restore" err=<`, "E", "proxier.go", 1500, 1, "", `"Failed to execute iptables-restore" err=<`, true},
		{`Nov 26 05:01:40 worker-1 kubelet[812]: I1126 05:01:40.551204     812 kubelet.go:2855] "ready"`, "I", "kubelet.go", 2855, 812, "Nov 26 05:01:40 worker-1 kubelet[812]:", `"ready"`, true},
		{`W0102 03:04:05.000006 7 k8s.io/client-go/reflector.go:561] msg`, "W", "k8s.io/client-go/reflector.go", 561, 7, "", "msg", true},
		{`E1326 05:01:02.123456 1 a.go:1] bad month`, "", "", 0, 0, "", "", false},
		{`INFO something`, "", "", 0, 0, "", "", false},
		{`XE1126 05:01:02.123456 1 a.go:1] glued`, "", "", 0, 0, "", "", false},
	}
	for _, tt := range tests {
		k, ok := ParseKlog(tt.in)
		if ok != tt.ok || k.Severity != tt.sev || k.File != tt.file || k.FileLine != tt.fileLine || k.ThreadID != tt.tid || k.Prefix != tt.prefix || k.Message != tt.msg {
			t.Errorf("ParseKlog(%q) = %+v %v", tt.in, k, ok)
		}
		if !ok && StripKlog(tt.in) != tt.in {
			t.Errorf("StripKlog changed a non-klog line")
		}
	}
	if StripKlog(tests[0].in) != tests[0].msg {
		t.Error("StripKlog did not strip")
	}
}

func TestDmesg(t *testing.T) {
	tests := []struct {
		in, stamp, msg string
		secs           float64
		hasSecs, ok    bool
	}{
		{"[    0.000000] Linux version 5.15", "0.000000", "Linux version 5.15", 0, true, true},
		{"[87654.123456] IPVS: rr: no destination", "87654.123456", "IPVS: rr: no destination", 87654.123456, true, true},
		{"[Tue Nov 26 05:01:02 2024] nf_conntrack: table full", "Tue Nov 26 05:01:02 2024", "nf_conntrack: table full", 0, false, true},
		{"kern  :warn  : [ 8812.551902] nf_conntrack: table full", "8812.551902", "nf_conntrack: table full", 8812.551902, true, true},
		{"[NaN] x", "", "", 0, false, false},
		{"[unclosed x", "", "", 0, false, false},
		{"no stamp", "", "", 0, false, false},
	}
	for _, tt := range tests {
		d, ok := ParseDmesg(tt.in)
		if ok != tt.ok || d.Stamp != tt.stamp || d.Message != tt.msg || (d.Seconds != nil) != tt.hasSecs || (d.Seconds != nil && *d.Seconds != tt.secs) {
			t.Errorf("ParseDmesg(%q) = %+v %v", tt.in, d, ok)
		}
	}
}

func TestScannerLongLinesAndUTF8(t *testing.T) {
	long := strings.Repeat("x", 200)
	in := "first\r\n" + long + "\n" + "bad \xff\xfe utf8\n" + "last without newline"
	s := NewScannerMax(strings.NewReader(in), 100)
	var got []Line
	for s.Scan() {
		got = append(got, s.Line())
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if len(got) != 4 {
		t.Fatalf("lines = %+v", got)
	}
	if got[0].Text != "first" || len(got[1].Text) != 100 || !got[1].Truncated || got[2].Text != "bad \uFFFD utf8" || got[3].Text != "last without newline" || got[3].Number != 4 {
		t.Errorf("lines = %+v", got)
	}
	if len(s.Warnings) != 1 || s.Warnings[0].Line != 2 {
		t.Errorf("warnings = %+v", s.Warnings)
	}
}

func TestScannerDefaultHandlesLinesBeyond64KiB(t *testing.T) {
	line := strings.Repeat("a", 5<<20)
	s := NewScanner(strings.NewReader(line + "\nnext\n"))
	if !s.Scan() || len(s.Text()) != 5<<20 || s.Line().Truncated {
		t.Fatalf("5 MiB line not read whole: len %d", len(s.Text()))
	}
	if !s.Scan() || s.Text() != "next" || s.Number() != 2 || s.Scan() {
		t.Fatal("line after a long line lost")
	}
}

func TestScannerReadError(t *testing.T) {
	s := NewScanner(io.MultiReader(strings.NewReader("ok\n"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if !s.Scan() || s.Text() != "ok" {
		t.Fatal("first line lost")
	}
	if s.Scan() || s.Err() != io.ErrUnexpectedEOF {
		t.Errorf("Err = %v", s.Err())
	}
	if _, err := Parse(iotest.ErrReader(io.ErrClosedPipe)); err != io.ErrClosedPipe {
		t.Errorf("Parse error = %v", err)
	}
}

func TestGrep(t *testing.T) {
	in := "a Failed to execute iptables-restore\nb fine\nc can't use the IPVS proxier\n"
	m, err := Grep(strings.NewReader(in), "iptables-restore", "IPVS proxier")
	if err != nil || len(m.Lines) != 2 || m.Lines[0].Number != 1 || m.Lines[1].Number != 3 {
		t.Errorf("Grep = %+v %v", m, err)
	}
	m, _ = GrepRegexp(strings.NewReader(in), regexp.MustCompile(`^b `))
	if len(m.Lines) != 1 || m.Lines[0].Number != 2 {
		t.Errorf("GrepRegexp = %+v", m)
	}
}

func TestStripTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-26T10:10:24.114031Z \tline 33: CHAIN_DEL failed": "\tline 33: CHAIN_DEL failed",
		"2026-11-26T10:10:24Z  > ipFamily=\"IPv4\"":               " > ipFamily=\"IPv4\"",
		"2026-11-26T10:10:24.1+02:00 E1126 msg":                   "E1126 msg",
		"E1126 10:10:24.114031    1537 proxier.go:1406] x":        "E1126 10:10:24.114031    1537 proxier.go:1406] x",
		"2026-13-26T10:10:24Z not a date":                         "2026-13-26T10:10:24Z not a date",
		"\tcontinuation":                                          "\tcontinuation",
		"":                                                        "",
		"short x":                                                 "short x",
	} {
		if got := StripTimestamp(in); got != want {
			t.Errorf("StripTimestamp(%q) = %q, want %q", in, got, want)
		}
	}
}
