package iptables

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netsift/netsift/parsers/diag"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"a \\\"b\\\"\" ! -s 1.2.3.4 -j X\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, w, err := Parse(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		lines := bytes.Count(b, []byte("\n")) + 1
		checkLines(t, d, b)
		checkShared(t, b, d, w)
		checkHeldInText(t, b, d)
		for _, x := range w {
			if x.Line < 1 || x.Line > lines {
				t.Fatalf("warning line %d out of 1..%d: %v", x.Line, lines, x)
			}
		}
		var buf MatchBuf // reused from rule to rule, as a tracer does
		for _, tab := range d.Tables {
			for i, c := range tab.Chains() {
				if byName := tab.Chain(c.Name); byName == nil || tab.Pos(c.Name) != i || *byName != c {
					t.Fatalf("chain %q not found by name", c.Name)
				}
				// Its line is its declaration's, or (a chain a rule created) that rule's.
				decl, ok := d.Line(c.Line())
				f := strings.Fields(strings.TrimPrefix(strings.TrimLeft(decl, " \t"), ":"))
				if !ok || !c.Undeclared && (len(f) == 0 || f[0] != c.Name || !strings.HasPrefix(strings.TrimLeft(decl, " \t"), ":")) {
					t.Fatalf("chain %q: line %d is %q", c.Name, c.Line(), decl)
				}
				for _, r := range c.Rules() {
					if r.Line < 1 || r.Line > lines || r.Chain != c.Name {
						t.Fatalf("bad rule %+v", r)
					}
					checkMatches(t, r, &buf)
					// Accessors must never panic on any input.
					r.Source()
					r.Destination()
					r.DPorts()
					r.SPorts()
					r.Probability()
					r.Nth()
					r.Mark()
					r.MatchSets()
					r.CTStates()
					if r.IsDNAT() != (r.Target.Name == "DNAT") {
						t.Fatalf("line %d: IsDNAT %v for target %q", r.Line, r.IsDNAT(), r.Target.Name)
					}
					if a, aok := r.DNAT(); aok {
						if b, bok := r.Target.ToDestination(); !bok || a != b {
							t.Fatalf("line %d: DNAT %v differs from ToDestination %v", r.Line, a, b)
						}
					}
					r.Target.ToSource()
					r.Target.ToPorts()
					r.Target.MarkOp()
				}
			}
		}
	})
}

// checkHeldInText: matches held as places in their rule's text read back as the parse made
// them.
func checkHeldInText(t *testing.T, b []byte, d *Dump) {
	t.Helper()
	holdInText = false
	asParsed, _, _ := Parse(bytes.NewReader(b))
	holdInText = true
	got, _ := json.Marshal(d)
	want, _ := json.Marshal(asParsed)
	if !bytes.Equal(got, want) {
		t.Fatalf("matches held in text differ from the parse's:\n held  %s\n parse %s", got, want)
	}
}

// checkMatches: the accessors' in-place reading of a rule's matches, and MatchesIn with room
// another rule used, agree with Matches.
func checkMatches(t *testing.T, r Rule, buf *MatchBuf) {
	t.Helper()
	ms := r.Matches()
	if in := r.MatchesIn(buf); !reflect.DeepEqual(in, ms) && len(in)+len(ms) > 0 {
		t.Fatalf("line %d: MatchesIn %+v, Matches %+v", r.Line, in, ms)
	}
	if r.NumMatches() != len(ms) {
		t.Fatalf("line %d: NumMatches %d, Matches has %d", r.Line, r.NumMatches(), len(ms))
	}
	i := 0
	for c := r.cursor(); c.advance(); i++ {
		if i >= len(ms) || !reflect.DeepEqual(c.m.match(), ms[i]) {
			t.Fatalf("line %d: match %d read in place as %+v, Matches has %+v", r.Line, i, c.m.match(), ms)
		}
	}
	for _, m := range ms {
		first := slices.IndexFunc(ms, func(x Match) bool { return x.Module == m.Module && x.Option == m.Option })
		if f, ok := r.Find(m.Module, m.Option); !ok || !reflect.DeepEqual(f, ms[first]) {
			t.Fatalf("line %d: Find(%q, %q) = %+v, %v; want %+v", r.Line, m.Module, m.Option, f, ok, ms[first])
		}
	}
}

// checkLines: Dump.Line gives back every line of the input exactly, so the text can be dropped.
func checkLines(t *testing.T, d *Dump, b []byte) {
	t.Helper()
	want := strings.Split(string(b), "\n")
	if len(want) > 0 && want[len(want)-1] == "" {
		want = want[:len(want)-1] // the file's final newline ends the last line
	}
	for i, l := range want {
		got, ok := d.Line(i + 1)
		if l = strings.TrimSuffix(l, "\r"); !ok || got != l {
			t.Fatalf("Line(%d) = %q, %v; the input has %q", i+1, got, ok, l)
		}
	}
	if _, ok := d.Line(len(want) + 1); ok {
		t.Fatalf("Line(%d) past the end gave a line", len(want)+1)
	}
}

// sameAsOneGoroutine: the parse with rules made ahead (d, w, err from Parse) is the parse on one
// goroutine's: the same dump, lines, warnings in the same order, and error.
func sameAsOneGoroutine(t *testing.T, b []byte, d *Dump, w []diag.Warning, err error) {
	t.Helper()
	parseAhead = false
	one, oneW, oneErr := Parse(bytes.NewReader(b))
	parseAhead = true
	got, _ := json.Marshal(struct {
		D *Dump
		W []diag.Warning
	}{d, w})
	want, _ := json.Marshal(struct {
		D *Dump
		W []diag.Warning
	}{one, oneW})
	if !bytes.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(oneErr) {
		t.Fatalf("made ahead, the parse differs from one goroutine's:\n ahead %s (%v)\n one   %s (%v)", got, err, want, oneErr)
	}
	for n := 1; n <= d.LineCount()+1; n++ {
		a, aok := d.Line(n)
		o, ook := one.Line(n)
		if a != o || aok != ook {
			t.Fatalf("Line(%d): made ahead %q %v, one goroutine %q %v", n, a, aok, o, ook)
		}
	}
}

// checkShared: parsing with a Cache that has seen the same rules (here: the same input, then
// the input again) gives exactly what a parse of its own gives.
func checkShared(t *testing.T, b []byte, d *Dump, w []diag.Warning) {
	t.Helper()
	want, _ := json.Marshal(struct {
		D *Dump
		W []diag.Warning
	}{d, w})
	sameAsOneGoroutine(t, b, d, w, nil)
	fastChains = false
	slow, slowW, _ := Parse(bytes.NewReader(b))
	fastChains = true
	if got, _ := json.Marshal(struct {
		D *Dump
		W []diag.Warning
	}{slow, slowW}); !bytes.Equal(got, want) {
		t.Fatalf("the fast chain path differs from the general one:\n fast %s\n slow %s", want, got)
	}
	c := NewCache()
	for round := range 2 {
		sd, sw, err := ParseShared(bytes.NewReader(b), c)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(struct {
			D *Dump
			W []diag.Warning
		}{sd, sw})
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: shared parse differs:\n got %s\nwant %s", round, got, want)
		}
		checkLines(t, sd, b)
	}
	// The parses since reused the first one's buffers (scratch): what it returned is unchanged.
	if again, _ := json.Marshal(struct {
		D *Dump
		W []diag.Warning
	}{d, w}); !bytes.Equal(again, want) {
		t.Fatalf("later parses changed an earlier dump:\n now %s\n was %s", again, want)
	}
	checkLines(t, d, b)
}

// kubeProxyDump builds a kube-proxy-shaped nat table with about n rules: per service a
// KUBE-SERVICES match, a KUBE-SVC chain with statistic branches, and KUBE-SEP chains with DNAT.
func kubeProxyDump(n int) []byte {
	var b strings.Builder
	b.WriteString("# Generated by iptables-nft-save v1.8.9 (nf_tables) on Mon Jan  1 00:00:00 2024\n*nat\n")
	b.WriteString(":PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	b.WriteString(":KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n")
	const eps = 3
	perSvc := 2 + eps + 2*eps // KUBE-SERVICES + masq rule + one branch per endpoint + 2 rules per SEP
	svcs := n / perSvc
	for s := 0; s < svcs; s++ {
		fmt.Fprintf(&b, ":KUBE-SVC-%016X - [0:0]\n", s)
		for e := 0; e < eps; e++ {
			fmt.Fprintf(&b, ":KUBE-SEP-%08X%08X - [0:0]\n", s, e)
		}
	}
	b.WriteString("[0:0] -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	b.WriteString("[0:0] -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	probs := []string{"0.33333333349", "0.50000000000"}
	for s := 0; s < svcs; s++ {
		ip := fmt.Sprintf("10.96.%d.%d", s/256%256, s%256)
		name := fmt.Sprintf("ns%d/svc%d:http", s%50, s)
		fmt.Fprintf(&b, "[12:720] -A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%016X\n", ip, name, s)
		fmt.Fprintf(&b, "[0:0] -A KUBE-SVC-%016X ! -s 10.244.0.0/16 -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", s, ip, name)
		for e := 0; e < eps; e++ {
			ep := fmt.Sprintf("10.244.%d.%d", s%256, e+2)
			if e < eps-1 {
				fmt.Fprintf(&b, "[4:240] -A KUBE-SVC-%016X -m comment --comment \"%s -> %s:8080\" -m statistic --mode random --probability %s -j KUBE-SEP-%08X%08X\n", s, name, ep, probs[e], s, e)
			} else {
				fmt.Fprintf(&b, "[4:240] -A KUBE-SVC-%016X -m comment --comment \"%s -> %s:8080\" -j KUBE-SEP-%08X%08X\n", s, name, ep, s, e)
			}
		}
		for e := 0; e < eps; e++ {
			ep := fmt.Sprintf("10.244.%d.%d", s%256, e+2)
			fmt.Fprintf(&b, "[0:0] -A KUBE-SEP-%08X%08X -s %s/32 -m comment --comment %s -j KUBE-MARK-MASQ\n", s, e, ep, name)
			fmt.Fprintf(&b, "[4:240] -A KUBE-SEP-%08X%08X -p tcp -m comment --comment %s -m tcp -j DNAT --to-destination %s:8080\n", s, e, name, ep)
		}
	}
	b.WriteString("[0:0] -A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n")
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

func TestKubeProxyDumpGenerator(t *testing.T) {
	in := kubeProxyDump(1400)
	d, w, err := Parse(bytes.NewReader(in))
	if err != nil || len(w) != 0 {
		t.Fatalf("%v %v", err, w)
	}
	n := 0
	for _, c := range d.Table("nat").Chains() {
		n += c.Len()
	}
	if n < 1300 {
		t.Fatalf("only %d rules", n)
	}
}

// BenchmarkParse100k parses a 100k-rule dump, with rules made ahead on other goroutines
// (parseAhead) and on one goroutine: compare the two within one run.
func BenchmarkParse100k(b *testing.B) {
	in := kubeProxyDump(100_000)
	for _, ahead := range []bool{true, false} {
		b.Run(map[bool]string{true: "ahead", false: "one-goroutine"}[ahead], func(b *testing.B) {
			defer func(saved bool) { parseAhead = saved }(parseAhead)
			parseAhead = ahead
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				d, w, err := Parse(bytes.NewReader(in))
				if err != nil || len(w) != 0 || d.Table("nat") == nil {
					b.Fatalf("%v %v", err, w)
				}
			}
		})
	}
}

// BenchmarkParseShared100k is a node's dump whose rules another node's dump already put in the
// Cache: what 49 of 50 nearly identical nodes cost.
func BenchmarkParseShared100k(b *testing.B) {
	in := kubeProxyDump(100_000)
	c := NewCache()
	if _, _, err := ParseShared(bytes.NewReader(in), c); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d, w, err := ParseShared(bytes.NewReader(in), c)
		if err != nil || len(w) != 0 || d.Table("nat") == nil {
			b.Fatalf("%v %v", err, w)
		}
	}
}

// BenchmarkDumpLines reads every line of a parsed 100k-rule dump back in order, as a scan of
// the file through the bundle does: each rule is decoded once, not once per line before it.
func BenchmarkDumpLines(b *testing.B) {
	in := kubeProxyDump(100_000)
	d, _, err := Parse(bytes.NewReader(in))
	if err != nil {
		b.Fatal(err)
	}
	n := d.LineCount()
	b.ReportAllocs()
	for b.Loop() {
		for i := 1; i <= n; i++ {
			if _, ok := d.Line(i); !ok {
				b.Fatalf("no line %d", i)
			}
		}
	}
}

// Dump.Line gives back every line of a dump whose chains are longer than markEvery, with other
// chains' rules in between (kubeProxyDump interleaves KUBE-SERVICES with each Service's chains),
// read in order, backwards, and again.
func TestLinesOfLongChains(t *testing.T) {
	in := kubeProxyDump(5000)
	d, _, err := Parse(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Table("nat").Chain("KUBE-SERVICES").Len(); n <= 2*markEvery {
		t.Fatalf("KUBE-SERVICES has %d rules: too few to test the marks", n)
	}
	checkLines(t, d, in)
	want := strings.Split(string(in), "\n")
	for i := len(want) - 1; i >= 1; i-- {
		if got, ok := d.Line(i); !ok || got != want[i-1] {
			t.Fatalf("backwards: Line(%d) = %q, want %q", i, got, want[i-1])
		}
	}
	checkLines(t, d, in)
}
