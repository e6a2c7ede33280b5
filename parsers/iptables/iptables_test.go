package iptables

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/netsift/netsift/internal/golden"
	"github.com/netsift/netsift/parsers/diag"
)

func parse(t *testing.T, s string) (*Dump, []diag.Warning) {
	t.Helper()
	d, w, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d, w
}

// one parses a single rule in a filter table that declares the chains it jumps to.
func one(t *testing.T, rule string) (*Rule, []diag.Warning) {
	t.Helper()
	d, w := parse(t, "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-SVC - [0:0]\n"+rule+"\nCOMMIT\n")
	rs := d.Table("filter").Chain("INPUT").RuleList()
	if len(rs) != 1 {
		t.Fatalf("got %d rules, want 1 (warnings %v)", len(rs), w)
	}
	return &rs[0], w
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) < 4 {
		t.Fatalf("expected the captures under testdata, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, w, err := Parse(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(w) != 0 {
				t.Errorf("real capture gave warnings: %v", w)
			}
			for _, tab := range d.Tables {
				if !tab.Committed {
					t.Errorf("table %s not committed", tab.Name)
				}
				for _, c := range tab.Chains() {
					for _, r := range c.Rules() {
						if len(r.Unparsed()) != 0 {
							t.Errorf("line %d: unparsed %q", r.Line, r.Unparsed())
						}
						// Every rule's raw text is exactly its line in the file.
						if got := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")[r.Line-1]; got != r.Raw() {
							t.Errorf("line %d: raw %q, file has %q", r.Line, r.Raw(), got)
						}
					}
				}
			}
			checkLines(t, d, b)
			checkShared(t, b, d, w)
			golden.JSON(t, strings.TrimSuffix(f, ".txt")+".json", struct {
				Dump     *Dump          `json:"dump"`
				Warnings []diag.Warning `json:"warnings"`
			}{d, w})
		})
	}
}

// TestKubeProxyCapture checks, on the real nft capture, the facts a packet tracer relies on.
func TestKubeProxyCapture(t *testing.T) {
	f, err := os.Open("testdata/iptables-nft-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, _, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Backend(); got != "nf_tables" {
		t.Errorf("Backend = %q", got)
	}
	if names := tableNames(d); !reflect.DeepEqual(names, []string{"mangle", "filter", "nat"}) {
		t.Errorf("tables %v", names)
	}
	fwd := d.Table("filter").Chain("FORWARD")
	if fwd.Policy != "DROP" || !fwd.Builtin() {
		t.Errorf("FORWARD policy %q", fwd.Policy)
	}
	if pk, by := d.Table("filter").Chain("INPUT").Counters(); pk != 4 || by != 352 {
		t.Errorf("INPUT counters %d:%d", pk, by)
	}
	nat := d.Table("nat")
	if kc := nat.Chain("KUBE-MARK-MASQ"); kc.Builtin() || kc.Policy != "" {
		t.Errorf("user chain has policy %q", kc.Policy)
	}
	svc := nat.Chain("KUBE-SVC-TCOU7JCQXEZGVUNU").RuleList()
	if len(svc) != 4 {
		t.Fatalf("dns svc rules %d", len(svc))
	}
	if p, ok := svc[1].Probability(); !ok || p != 0.33333333349 {
		t.Errorf("probability %v %v", p, ok)
	}
	if _, ok := svc[3].Probability(); ok {
		t.Errorf("last endpoint has a probability")
	}
	if !svc[3].Counters {
		t.Errorf("no counters on %+v", svc[3])
	}
	if src, neg, ok := svc[0].Source(); !ok || !neg || src != netip.MustParsePrefix("10.244.0.0/16") {
		t.Errorf("Source %v %v %v", src, neg, ok)
	}
	if svc[0].Target.Name != "KUBE-MARK-MASQ" || !svc[0].Target.IsChainJump(nat) {
		t.Errorf("target %+v", svc[0].Target)
	}
	sep := nat.Chain("KUBE-SEP-IT2ZTR26TO4XFPTO").Rule(1)
	if nr, ok := sep.Target.ToDestination(); !ok || nr.Min != netip.MustParseAddr("192.168.56.10") || nr.MinPort != 6443 {
		t.Errorf("DNAT %+v %v", nr, ok)
	}
	if every, pkt, ok := nat.Chain("KUBE-SVC-JD5MR3NA4I4DYORP").Rule(0).Nth(); !ok || every != 2 || pkt != 0 {
		t.Errorf("nth %d %d %v", every, pkt, ok)
	}
	mm := nat.Chain("KUBE-MARK-MASQ").Rule(0)
	if v, m, ok := mm.Target.MarkOp(); !ok || v != 0x4000 || m != 0x4000 {
		t.Errorf("MarkOp %x %x %v", v, m, ok)
	}
	post := nat.Chain("KUBE-POSTROUTING").RuleList()
	if v, m, neg, ok := post[0].Mark(); !ok || !neg || v != 0x4000 || m != 0x4000 {
		t.Errorf("Mark %x %x %v %v", v, m, neg, ok)
	}
	if !post[2].Target.RandomFully() || post[2].Target.Name != "MASQUERADE" {
		t.Errorf("masquerade %+v", post[2].Target)
	}
	svcs := d.Table("filter").Chain("KUBE-SERVICES").RuleList()
	if c := svcs[1].Comment(); c != `default/web:"metrics" has no endpoints` {
		t.Errorf("escaped comment %q", c)
	}
	if svcs[0].Target.RejectWith() != "icmp-port-unreachable" || svcs[2].Target.RejectWith() != "tcp-reset" {
		t.Errorf("reject-with")
	}
	if pr, _, ok := svcs[2].DPorts(); !ok || !reflect.DeepEqual(pr, []PortRange{{8000, 8010}, {9000, 9000}}) {
		t.Errorf("multiport %v %v", pr, ok)
	}
	fw := d.Table("filter").Chain("KUBE-FIREWALL").Rule(0)
	if st, neg, ok := fw.CTStates(); !ok || !neg || !reflect.DeepEqual(st, []string{"RELATED", "ESTABLISHED", "DNAT"}) {
		t.Errorf("ctstate %v %v %v", st, neg, ok)
	}
	ext := d.Table("filter").Chain("KUBE-EXTERNAL-SERVICES").Rule(0)
	if typ, _, ok := ext.DstType(); !ok || typ != "LOCAL" {
		t.Errorf("addrtype %q", typ)
	}
	// Interning: the chain name on every rule is the same string as the chain's.
	for _, r := range svc {
		if r.Chain != "KUBE-SVC-TCOU7JCQXEZGVUNU" {
			t.Errorf("rule chain %q", r.Chain)
		}
	}
}

func TestIPv6Capture(t *testing.T) {
	b, err := os.ReadFile("testdata/ip6tables-nft-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, _, _ := Parse(bytes.NewReader(b))
	nat := d.Table("nat")
	sep := nat.Chain("KUBE-SEP-3Q2EVZ5NWG5B2KMY").Rule(1)
	nr, ok := sep.Target.ToDestination()
	if !ok || nr.Min != netip.MustParseAddr("fd00:10:244:1::5") || nr.MinPort != 6443 {
		t.Errorf("v6 DNAT %+v %v", nr, ok)
	}
	r := nat.Chain("KUBE-SVC-NPX46M4PTMTKRN6Y").Rule(0)
	if p, neg, ok := r.Source(); !ok || !neg || p != netip.MustParsePrefix("fd00:10:244::/56") {
		t.Errorf("v6 source %v %v %v", p, neg, ok)
	}
	if p, _, ok := r.Destination(); !ok || p != netip.MustParsePrefix("fd00:10:96::1/128") {
		t.Errorf("v6 dest %v", p)
	}
	log := d.Table("filter").Chain("INPUT").Rule(1)
	if v, _ := log.Target.Option("--log-prefix"); len(v) != 1 || v[0] != `ssh "new" ` {
		t.Errorf("log prefix %q", v)
	}
	if m, ok := log.Find("tcp", "--tcp-flags"); !ok || !reflect.DeepEqual(m.Values, []string{"FIN,SYN,RST,ACK", "SYN"}) {
		t.Errorf("tcp-flags %+v", m)
	}
}

// In the namespace the legacy nat table did the NAT, so its capture holds the hit counters.
func TestLegacyCaptureCounters(t *testing.T) {
	b, err := os.ReadFile("testdata/iptables-legacy-save.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, _, _ := Parse(bytes.NewReader(b))
	if d.Backend() != "legacy" {
		t.Errorf("backend %q", d.Backend())
	}
	last := d.Table("nat").Chain("KUBE-SVC-TCOU7JCQXEZGVUNU").Rule(3)
	if last.Packets != 3 || last.Bytes != 87 || last.Line != 68 {
		t.Errorf("counters %d:%d line %d", last.Packets, last.Bytes, last.Line)
	}
	if pk, by := d.Table("filter").Chain("OUTPUT").Counters(); pk != 10 || by != 619 {
		t.Errorf("OUTPUT policy counters %d:%d", pk, by)
	}
}

func tableNames(d *Dump) []string {
	var n []string
	for _, t := range d.Tables {
		n = append(n, t.Name)
	}
	return n
}

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want []Match
		tgt  Target
		unp  []string
	}{
		{
			name: "negation before option",
			rule: `-A INPUT ! -s 10.0.0.0/8 -j ACCEPT`,
			want: []Match{{Option: "-s", Negated: true, Values: []string{"10.0.0.0/8"}}},
			tgt:  Target{Name: "ACCEPT"},
		},
		{
			name: "old negation after option",
			rule: `-A INPUT -s ! 10.0.0.0/8 -p tcp -m tcp --dport ! 22 -j ACCEPT`,
			want: []Match{
				{Option: "-s", Negated: true, Values: []string{"10.0.0.0/8"}},
				{Option: "-p", Values: []string{"tcp"}},
				{Module: "tcp", Option: "--dport", Negated: true, Values: []string{"22"}},
			},
			tgt: Target{Name: "ACCEPT"},
		},
		{
			name: "long option names normalised",
			rule: `-A INPUT --source 1.2.3.4 --in-interface eth0 --protocol udp -j DROP`,
			want: []Match{
				{Option: "-s", Values: []string{"1.2.3.4"}},
				{Option: "-i", Values: []string{"eth0"}},
				{Option: "-p", Values: []string{"udp"}},
			},
			tgt: Target{Name: "DROP"},
		},
		{
			name: "quoted comment with escaped quotes and backslash",
			rule: `-A INPUT -m comment --comment "say \"hi\" \\ there" -j ACCEPT`,
			want: []Match{{Module: "comment", Option: "--comment", Values: []string{`say "hi" \ there`}}},
			tgt:  Target{Name: "ACCEPT"},
		},
		{
			name: "comment that looks like an option",
			rule: `-A INPUT -m comment --comment "-j DROP" -j ACCEPT`,
			want: []Match{{Module: "comment", Option: "--comment", Values: []string{"-j DROP"}}},
			tgt:  Target{Name: "ACCEPT"},
		},
		{
			name: "bare module then module with options",
			rule: `-A INPUT -p tcp -m tcp -j DNAT --to-destination 10.1.2.3:8080`,
			want: []Match{{Option: "-p", Values: []string{"tcp"}}, {Module: "tcp"}},
			tgt:  Target{Name: "DNAT", Options: []Option{{Name: "--to-destination", Values: []string{"10.1.2.3:8080"}}}},
		},
		{
			name: "unknown module kept and flagged",
			rule: `-A INPUT -m frobnicate --frob 3 -j ACCEPT`,
			want: []Match{{Module: "frobnicate", Option: "--frob", Values: []string{"3"}}},
			tgt:  Target{Name: "ACCEPT"},
			unp:  []string{"-m frobnicate"},
		},
		{
			name: "goto user chain",
			rule: `-A INPUT -g KUBE-SVC`,
			tgt:  Target{Name: "KUBE-SVC", Goto: true},
		},
		{
			name: "set match and physdev and fragment",
			rule: `-A INPUT -f -m physdev --physdev-is-in --physdev-out veth+ -m set ! --match-set KUBE-CLUSTER-IP dst,dst -j RETURN`,
			want: []Match{
				{Option: "-f"},
				{Module: "physdev", Option: "--physdev-is-in"},
				{Module: "physdev", Option: "--physdev-out", Values: []string{"veth+"}},
				{Module: "set", Option: "--match-set", Negated: true, Values: []string{"KUBE-CLUSTER-IP", "dst,dst"}},
			},
			tgt: Target{Name: "RETURN"},
		},
		{
			name: "addrtype limit-iface and recent and limit",
			rule: `-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -m recent --rcheck --seconds 60 --name x -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "drop: "`,
			want: []Match{
				{Module: "addrtype", Option: "--dst-type", Values: []string{"LOCAL"}},
				{Module: "addrtype", Option: "--limit-iface-in"},
				{Module: "recent", Option: "--rcheck"},
				{Module: "recent", Option: "--seconds", Values: []string{"60"}},
				{Module: "recent", Option: "--name", Values: []string{"x"}},
				{Module: "limit", Option: "--limit", Values: []string{"5/min"}},
				{Module: "limit", Option: "--limit-burst", Values: []string{"10"}},
			},
			tgt: Target{Name: "LOG", Options: []Option{{Name: "--log-prefix", Values: []string{"drop: "}}}},
		},
		{
			name: "stray word",
			rule: `-A INPUT -p tcp bogus -j ACCEPT`,
			want: []Match{{Option: "-p", Values: []string{"tcp", "bogus"}}},
			tgt:  Target{Name: "ACCEPT"},
		},
		{
			name: "word before any option is unparsed",
			rule: `-A INPUT bogus -j ACCEPT`,
			tgt:  Target{Name: "ACCEPT"},
			unp:  []string{"bogus"},
		},
		{
			name: "icmp type and no target",
			rule: `-A INPUT -p icmp -m icmp --icmp-type 8`,
			want: []Match{{Option: "-p", Values: []string{"icmp"}}, {Module: "icmp", Option: "--icmp-type", Values: []string{"8"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := one(t, tc.rule)
			if !reflect.DeepEqual(r.Matches(), tc.want) && !(len(r.Matches()) == 0 && len(tc.want) == 0) {
				t.Errorf("matches\n got %#v\nwant %#v", r.Matches(), tc.want)
			}
			if !reflect.DeepEqual(r.Target, tc.tgt) {
				t.Errorf("target got %#v want %#v", r.Target, tc.tgt)
			}
			if !reflect.DeepEqual(r.Unparsed(), tc.unp) {
				t.Errorf("unparsed got %q want %q", r.Unparsed(), tc.unp)
			}
			if r.Raw() != tc.rule || r.Line != 4 {
				t.Errorf("raw %q line %d", r.Raw(), r.Line)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lines []int  // lines of the expected warnings, in order
		sub   string // a substring of the first warning
		rules int    // rules kept overall
	}{
		{"clean", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n", nil, "", 1},
		{"rule before table", "-A INPUT -j ACCEPT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", []int{1}, "outside a table", 0},
		{"rule after commit", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n-A INPUT -j ACCEPT\n", []int{4}, "outside a table", 0},
		{"missing commit at eof", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n", []int{1}, "no COMMIT", 1},
		{"missing commit before next table", "*filter\n:INPUT ACCEPT [0:0]\n*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", []int{3}, "no COMMIT", 0},
		{"undeclared chain", "*filter\n:INPUT ACCEPT [0:0]\n-A FOO -j ACCEPT\nCOMMIT\n", []int{3}, `undeclared chain "FOO"`, 1},
		{"jump to undeclared chain", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-NOPE\nCOMMIT\n", []int{3}, "KUBE-NOPE", 1},
		{"garbage line", "*filter\n:INPUT ACCEPT [0:0]\nhello world\n-A INPUT -j ACCEPT\nCOMMIT\n", []int{3}, "unrecognised", 1},
		{"bad counters", "*filter\n:INPUT ACCEPT [x:0]\n[1:y] -A INPUT -j ACCEPT\nCOMMIT\n", []int{2, 3}, "counters", 1},
		{"bad policy", "*filter\n:INPUT MAYBE [0:0]\nCOMMIT\n", []int{2}, "policy", 0},
		{"duplicate chain", "*filter\n:INPUT ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\nCOMMIT\n", []int{3}, "twice", 0},
		{"unterminated quote", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"oops -j ACCEPT\nCOMMIT\n", []int{3}, "quote", 1},
		{"commit outside table", "COMMIT\n", []int{1}, "COMMIT outside", 0},
		{"no -A", "*filter\n:INPUT ACCEPT [0:0]\n-I INPUT -j ACCEPT\nCOMMIT\n", []int{3}, "expected -A", 0},
		{"dangling jump", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j\nCOMMIT\n", []int{3}, "without a target", 1},
		{"chain outside table", ":INPUT ACCEPT [0:0]\n", []int{1}, "outside a table", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, w := parse(t, tc.in)
			var lines []int
			for _, x := range w {
				lines = append(lines, x.Line)
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Fatalf("warning lines %v want %v (%v)", lines, tc.lines, w)
			}
			if tc.sub != "" && !strings.Contains(w[0].Message, tc.sub) {
				t.Errorf("warning %q does not mention %q", w[0].Message, tc.sub)
			}
			n := 0
			for _, tab := range d.Tables {
				for _, c := range tab.Chains() {
					n += c.Len()
				}
			}
			if n != tc.rules {
				t.Errorf("kept %d rules, want %d", n, tc.rules)
			}
		})
	}
}

func TestCRLFAndCountersAndLegacyWarning(t *testing.T) {
	in := "# Generated by iptables-nft-save v1.8.7 on Mon Jan  1 00:00:00 2024\r\n" +
		"*nat\r\n" +
		":PREROUTING ACCEPT [12:720]\r\n" +
		":KUBE-SERVICES - [0:0]\r\n" +
		"[5:300] -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\r\n" +
		"COMMIT\r\n" +
		"# Completed on Mon Jan  1 00:00:00 2024\r\n" +
		"# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\r\n"
	d, w := parse(t, in)
	if len(w) != 0 {
		t.Fatalf("warnings %v", w)
	}
	c := d.Table("nat").Chain("PREROUTING")
	if pk, by := c.Counters(); pk != 12 || by != 720 || c.Policy != "ACCEPT" {
		t.Errorf("chain %+v", c)
	}
	r := c.Rule(0)
	if !r.Counters || r.Packets != 5 || r.Bytes != 300 || r.Line != 5 || strings.ContainsAny(r.Raw(), "\r\n") {
		t.Errorf("rule %+v", r)
	}
	if r.Comment() != "kubernetes service portals" {
		t.Errorf("comment %q", r.Comment())
	}
	if d.Backend() != "nf_tables" {
		t.Errorf("backend %q", d.Backend())
	}
	if len(d.Comments) != 3 || !strings.HasPrefix(d.Comments[2].Text, "Warning: iptables-legacy tables present") || d.Comments[2].Line != 8 {
		t.Errorf("comments %+v", d.Comments)
	}
}

func TestDashCCounters(t *testing.T) {
	r, w := one(t, "-A INPUT -c 7 420 -j ACCEPT")
	if len(w) != 0 || !r.Counters || r.Packets != 7 || r.Bytes != 420 {
		t.Errorf("%+v %v", r, w)
	}
}

func TestAccessors(t *testing.T) {
	r, _ := one(t, `-A INPUT -s 10.0.0.0/255.255.0.0 -d 192.168.1.1 -i eth0+ ! -o cni0 -p tcp -m tcp --sport 1024: --dport 30000:32767 -m multiport --ports 80,443 -m statistic --mode random --probability 0.25 -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MARK --set-mark 0x8/0xc`)
	if p, _, ok := r.Source(); !ok || p != netip.MustParsePrefix("10.0.0.0/16") {
		t.Errorf("dotted mask %v %v", p, ok)
	}
	if p, _, ok := r.Destination(); !ok || p != netip.MustParsePrefix("192.168.1.1/32") {
		t.Errorf("bare address %v", p)
	}
	if n, neg, ok := r.InInterface(); n != "eth0+" || neg || !ok {
		t.Errorf("in %q", n)
	}
	if n, neg, ok := r.OutInterface(); n != "cni0" || !neg || !ok {
		t.Errorf("out %q %v", n, neg)
	}
	if p, _, _ := r.Protocol(); p != "tcp" {
		t.Errorf("proto %q", p)
	}
	if sp, _, ok := r.SPorts(); !ok || !reflect.DeepEqual(sp, []PortRange{{1024, 65535}}) {
		t.Errorf("sport %v", sp)
	}
	dp, _, ok := r.DPorts()
	if !ok || !reflect.DeepEqual(dp, []PortRange{{30000, 32767}}) || !dp[0].Contains(30080) || dp[0].Contains(80) {
		t.Errorf("dport %v", dp)
	}
	if pp, _, ok := r.Ports(); !ok || len(pp) != 2 {
		t.Errorf("ports %v", pp)
	}
	if p, ok := r.Probability(); !ok || p != 0.25 {
		t.Errorf("prob %v", p)
	}
	if ms := r.MatchSets(); len(ms) != 1 || ms[0].Name != "KUBE-LOOP-BACK" || !reflect.DeepEqual(ms[0].Flags, []string{"dst", "dst", "src"}) {
		t.Errorf("sets %+v", ms)
	}
	// --set-mark 0x8/0xc: clear 0xc, set 0x8  ==  xmark value 0x8 mask 0xc.
	if v, m, ok := r.Target.MarkOp(); !ok || v != 0x8 || m != 0xc {
		t.Errorf("markop %x/%x", v, m)
	}
	for _, tc := range []struct {
		opt  string
		v, m uint32
	}{{"--or-mark 0x4000", 0x4000, 0x4000}, {"--and-mark 0xff", 0, 0xffffff00}, {"--xor-mark 0x1", 1, 0}, {"--set-xmark 0x4000/0x0", 0x4000, 0}} {
		r, _ := one(t, "-A INPUT -j MARK "+tc.opt)
		if v, m, ok := r.Target.MarkOp(); !ok || v != tc.v || m != tc.m {
			t.Errorf("%s: %x/%x %v", tc.opt, v, m, ok)
		}
	}
	if _, _, ok := r.CTStates(); ok {
		t.Errorf("ctstate on a rule without one")
	}
	st, _ := one(t, "-A INPUT -m state --state NEW,ESTABLISHED -j ACCEPT")
	if s, _, ok := st.CTStates(); !ok || len(s) != 2 {
		t.Errorf("state %v", s)
	}
}

func TestParseNATRange(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want NATRange
	}{
		{"10.0.0.1", true, NATRange{Min: netip.MustParseAddr("10.0.0.1"), Max: netip.MustParseAddr("10.0.0.1")}},
		{"10.0.0.1:80", true, NATRange{Min: netip.MustParseAddr("10.0.0.1"), Max: netip.MustParseAddr("10.0.0.1"), MinPort: 80, MaxPort: 80}},
		{"10.0.0.1-10.0.0.3:80-90", true, NATRange{Min: netip.MustParseAddr("10.0.0.1"), Max: netip.MustParseAddr("10.0.0.3"), MinPort: 80, MaxPort: 90}},
		{"[fd00::1]:443", true, NATRange{Min: netip.MustParseAddr("fd00::1"), Max: netip.MustParseAddr("fd00::1"), MinPort: 443, MaxPort: 443}},
		{"fd00::1", true, NATRange{Min: netip.MustParseAddr("fd00::1"), Max: netip.MustParseAddr("fd00::1")}},
		{":8080", true, NATRange{MinPort: 8080, MaxPort: 8080}},
		{"10.0.0.3-10.0.0.1", false, NATRange{}},
		{"10.0.0.1:", false, NATRange{}},
		{"[fd00::1", false, NATRange{}},
		{"bogus", false, NATRange{}},
		{"10.0.0.1:99999", false, NATRange{}},
	}
	for _, tc := range tests {
		got, ok := ParseNATRange(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseNATRange(%q) = %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("*filter\n:INPUT ACCEPT [0:0]\n"), iotest.ErrReader(boom))
	d, _, err := Parse(r)
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if d == nil || d.Table("filter") == nil {
		t.Errorf("partial dump lost")
	}
}

func TestHasTarget(t *testing.T) {
	d, _ := parse(t, "*filter\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n-A INPUT -j X\n-A X -s 1.2.3.4 -j DROP\nCOMMIT\n")
	tab := d.Table("filter")
	if tab.Chain("INPUT").HasTarget("DROP", "REJECT") || !tab.Chain("X").HasTarget("DROP", "REJECT") || !tab.Chain("INPUT").HasTarget("X") {
		t.Error("HasTarget")
	}
}

// Dumps parsed with one Cache share what their chains say: by position while the tables declare
// the same chains, by name when one declares others, and not where a chain's rules differ from
// the last dump's.
func TestShapesShared(t *testing.T) {
	base := kubeProxyDump(2000)
	parse := natParser(t)
	const sep = "KUBE-SEP-0000000000000000"
	first := parse(base)
	same := parse(base)
	// One SEP rule differs (same chains, read by position); then one more chain declared at
	// the start moves every position (read by name).
	changed := parse(bytes.Replace(base, []byte("--to-destination 10.244.0.2:8080"), []byte("--to-destination 10.244.0.9:8080"), 1))
	moved := parse(bytes.Replace(base, []byte(":KUBE-MARK-MASQ - [0:0]\n"), []byte(":KUBE-MARK-MASQ - [0:0]\n:KUBE-EXTRA - [0:0]\n"), 1))
	for _, c := range first.Chains() {
		ch := &c
		if !same.Chain(ch.Name).SameRules(ch) {
			t.Errorf("same dump: %s not shared", ch.Name)
		}
		if got := changed.Chain(ch.Name).SameRules(ch); got != (ch.Name != sep) {
			t.Errorf("one rule changed: %s shared %v", ch.Name, got)
		}
		// The SEP chain's last shape is the changed one, which differs from this dump's.
		if got := moved.Chain(ch.Name).SameRules(ch); got != (ch.Name != sep) {
			t.Errorf("moved chains: %s shared %v", ch.Name, got)
		}
	}
}

// A chain declared twice, or declared after a rule appended to it, stays the first chain of
// its name: rules and jumps after the second declaration find it.
func TestRedeclaredChainKeepsFirst(t *testing.T) {
	for _, tc := range []struct{ name, in, warn string }{
		{"twice", "*filter\n:INPUT ACCEPT [0:0]\n:FOO - [0:0]\n:BAR - [0:0]\n:FOO - [0:0]\n-A FOO -j ACCEPT\n-A INPUT -j FOO\nCOMMIT\n", "twice"},
		{"after use", "*filter\n:INPUT ACCEPT [0:0]\n:BAR - [0:0]\n-A FOO -j ACCEPT\n:FOO - [0:0]\n-A INPUT -j FOO\nCOMMIT\n", "after rules used it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, w := parse(t, tc.in)
			if len(w) == 0 || !strings.Contains(w[len(w)-1].Message, tc.warn) && !strings.Contains(w[0].Message, tc.warn) {
				t.Fatalf("warnings %v do not say %q", w, tc.warn)
			}
			tab := d.Table("filter")
			if tab.NumChains() != 3 {
				t.Fatalf("%d chains, want INPUT, FOO, BAR once each", tab.NumChains())
			}
			first := -1
			for i, c := range tab.Chains() {
				if c.Name == "FOO" && first < 0 {
					first = i
				}
			}
			foo := tab.Chain("FOO")
			if foo == nil || foo.Len() != 1 || *foo != tab.ChainAt(first) {
				t.Fatalf("FOO = %+v", foo)
			}
			for _, r := range tab.Chain("INPUT").Rules() {
				if r.Target.Name != "FOO" || len(r.Unparsed()) != 0 {
					t.Fatalf("INPUT's jump: %+v", r)
				}
			}
		})
	}
}

// TestJoinRuns: rules listed chain by chain in declaration order (as iptables-save lists them)
// are indexed by one span per table, not a run per chain; any other order keeps its runs, and
// Line gives back every line either way.
func TestJoinRuns(t *testing.T) {
	for _, tc := range []struct {
		name, dump string
		runs       int
	}{
		{"in order, with empty chains", `*nat
:PREROUTING ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
:D - [0:0]
[1:2] -A PREROUTING -j A
-A A -j B
-A A -j C
[3:4] -A C -j D
COMMIT
*filter
:INPUT ACCEPT [0:0]
:E - [0:0]
-A E -j ACCEPT
-A E -j DROP
COMMIT
`, 4}, // each table: its declarations, one span
		{"out of order", `*nat
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A C -j B
-A A -j B
-A B -j ACCEPT
-A A -j C
COMMIT
`, 5}, // declarations; span C; A's first rule; span B; A's second rule
		{"a chain listed apart", `*nat
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A A -j ACCEPT
-A C -j ACCEPT
-A B -j ACCEPT
COMMIT
`, 4}, // declarations; spans A, C and B (declared before C: it cannot follow C)
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, w, err := Parse(strings.NewReader(tc.dump))
			if err != nil || len(w) > 0 {
				t.Fatal(err, w)
			}
			checkLines(t, d, []byte(tc.dump))
			if len(d.runs) != tc.runs {
				t.Errorf("%d runs, want %d: %+v", len(d.runs), tc.runs, d.runs)
			}
		})
	}
}

// Tables parsed with one Cache hold their chains' shapes in blocks shared with the last table
// whose chains there said the same: a chain that differs costs its block, not the table.
func TestTableShapeBlocksShared(t *testing.T) {
	base := kubeProxyDump(30000)
	parse := natParser(t)
	first := parse(base)
	if len(first.shapes) < 3 {
		t.Fatalf("%d chains make %d blocks: too few to tell", first.NumChains(), len(first.shapes))
	}
	shared := func(a, b *Table) []bool {
		out := make([]bool, len(a.shapes))
		for k := range a.shapes {
			out[k] = k < len(b.shapes) && &a.shapes[k][0] == &b.shapes[k][0]
		}
		return out
	}
	same := parse(base)
	for k, ok := range shared(first, same) {
		if !ok {
			t.Errorf("same dump: block %d not shared", k)
		}
	}
	// The first Service's first endpoint chain is in block 0.
	changed := parse(bytes.Replace(base, []byte("--to-destination 10.244.0.2:8080"), []byte("--to-destination 10.244.0.9:8080"), 1))
	if changed.Pos("KUBE-SEP-0000000000000000")/shapeBlock != 0 {
		t.Fatal("the changed chain is not in block 0")
	}
	for k, ok := range shared(same, changed) {
		if ok != (k != 0) {
			t.Errorf("one chain changed in block 0: block %d shared %v", k, ok)
		}
	}
	for i, ch := range changed.Chains() {
		if want := first.ChainAt(i); ch.Name != want.Name || ch.SameRules(&want) != (ch.Name != "KUBE-SEP-0000000000000000") || changed.SameRulesAt(i, first) != ch.SameRules(&want) {
			t.Fatalf("chain %d: %s, SameRules %v", i, ch.Name, ch.SameRules(&want))
		}
	}
}

// natParser parses dumps with one Cache, each without a warning, and returns their nat table.
func natParser(t *testing.T) func([]byte) *Table {
	c := NewCache()
	return func(in []byte) *Table {
		t.Helper()
		d, w, err := ParseShared(bytes.NewReader(in), c)
		if err != nil || len(w) != 0 {
			t.Fatalf("%v %v", err, w)
		}
		return d.Table("nat")
	}
}

// Rules made ahead on other goroutines (parseAhead) give the parse on one goroutine: on
// batches' edges, lines longer than the reader's buffer, warnings of every kind, and a read
// that fails part way (lines before it parsed, the error returned).
func TestParseAheadSame(t *testing.T) {
	var odd strings.Builder
	odd.WriteString("*nat\n:A - [0:0]\n:B - [0:0]\n")
	for i := range 3 * aheadLines {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&odd, "[%d:%d] -A A -s 10.0.%d.0/24 -j B\n", i, i*60, i%256)
		case 1:
			fmt.Fprintf(&odd, "-A A -j NOWHERE%d -j B -j ALSO%d --bad\n", i, i) // two undeclared targets, a second target
		case 2:
			fmt.Fprintf(&odd, "-A C%d -m nosuch --x 1 -j B\n", i%3) // undeclared chain, unknown module
		case 3:
			fmt.Fprintf(&odd, "  -A A -m comment --comment \"unterminated %d\n", i)
		case 4:
			fmt.Fprintf(&odd, "[1:x] -A A ! -j B\n-A\n:D%d ACCEPT\n", i)
		case 5:
			if i%70 != 5 {
				fmt.Fprintf(&odd, "-A B -m comment --comment %q -j RETURN\n", strings.Repeat("x", i))
				continue
			}
			fmt.Fprintf(&odd, "-A B -m comment --comment %q -c 1 2 -j RETURN\n", strings.Repeat("long ", 30000)) // past 64 KB
		default:
			odd.WriteString("# a comment\n\n-A A -p tcp --dport ! 80 -j DNAT --to-destination 10.1.1.1:8080\n")
		}
	}
	odd.WriteString("COMMIT\n-A A -j B\n")
	inputs := map[string][]byte{"odd": []byte(odd.String()), "kube-proxy": kubeProxyDump(3000)}
	files, _ := filepath.Glob("testdata/*.txt")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = b
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			d, w, err := Parse(bytes.NewReader(in))
			if name == "odd" && len(w) < 3*aheadLines/2 {
				t.Fatalf("only %d warnings: the input does not test what it should", len(w))
			}
			sameAsOneGoroutine(t, in, d, w, err)
			cut := io.MultiReader(bytes.NewReader(in[:len(in)/2]), iotest.ErrReader(errors.New("disk gone")))
			d, w, err = Parse(cut)
			if err == nil {
				t.Fatal("the read error was lost")
			}
			parseAhead = false
			one, oneW, oneErr := Parse(io.MultiReader(bytes.NewReader(in[:len(in)/2]), iotest.ErrReader(errors.New("disk gone"))))
			parseAhead = true
			if a, b := fmt.Sprint(d.LineCount(), len(w), err), fmt.Sprint(one.LineCount(), len(oneW), oneErr); a != b {
				t.Fatalf("cut short: made ahead %s, one goroutine %s", a, b)
			}
		})
	}
}

// A rule's matches are held as places in its text; a word that is not in the text, or a line
// past what a place can name, keeps them as parsed. Either way they read back the same.
func TestMatchesHeldInText(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name, rule string
		want       []Match
		asParsed   bool
	}{
		{"kube-proxy rule", `-A INPUT -s 10.0.0.0/8 ! -d 10.1.0.0/16 -p tcp -m comment --comment "ns/svc:http cluster IP" -m tcp --dport 80 -j KUBE-SVC`,
			[]Match{{Option: "-s", Values: []string{"10.0.0.0/8"}}, {Option: "-d", Negated: true, Values: []string{"10.1.0.0/16"}},
				{Option: "-p", Values: []string{"tcp"}}, {Module: "comment", Option: "--comment", Values: []string{"ns/svc:http cluster IP"}},
				{Module: "tcp", Option: "--dport", Values: []string{"80"}}}, false},
		{"long spelling found in the text", `-A INPUT --source 1.2.3.4 -j ACCEPT`,
			[]Match{{Option: "-s", Values: []string{"1.2.3.4"}}}, false},
		{"canonical spelling not in the text", `-A INPUT --ipv4 -j ACCEPT`,
			[]Match{{Option: "-4"}}, true},
		{"escaped quote", `-A INPUT -m comment --comment "a \"b\"" -j ACCEPT`,
			[]Match{{Module: "comment", Option: "--comment", Values: []string{`a "b"`}}}, true},
		{"value longer than a place", `-A INPUT -m comment --comment ` + long + ` -j ACCEPT`,
			[]Match{{Module: "comment", Option: "--comment", Values: []string{long}}}, true},
		{"value past what a place reaches", `-A INPUT -m comment --comment ` + long + ` -m mark --mark 0x1 -j ACCEPT`,
			[]Match{{Module: "comment", Option: "--comment", Values: []string{long}}, {Module: "mark", Option: "--mark", Values: []string{"0x1"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := one(t, tc.rule)
			if got := r.Matches(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("matches\n got %#v\nwant %#v", got, tc.want)
			}
			if asParsed := r.odd() != nil; asParsed != tc.asParsed || !asParsed && len(r.enc) == 0 {
				t.Errorf("held as parsed: %v, want %v (%d words)", asParsed, tc.asParsed, len(r.enc))
			}
			checkMatches(t, *r, &MatchBuf{})
		})
	}
}

// chainOffsets gives back every start it was made from: steps of a byte, steps too big for one,
// starts that go back, across blocks.
func TestChainOffsets(t *testing.T) {
	var offs []uint32
	off := uint32(7)
	for i := range 200 {
		switch {
		case i%37 == 5:
			off += 300 // a step past a byte
		case i%53 == 9:
			off -= 3 // a start before the one it follows
		case i%offsetBlock == 0:
			off += 70000
		default:
			off += uint32(2 + i%200)
		}
		offs = append(offs, off)
	}
	for _, n := range []int{0, 1, offsetBlock, offsetBlock + 1, len(offs)} {
		o := newChainOffsets(offs[:n])
		if o.len() != n {
			t.Fatalf("len %d, want %d", o.len(), n)
		}
		prev := uint32(0)
		for i, want := range offs[:n] {
			if got := o.at(i); got != want {
				t.Fatalf("%d chains: at(%d) = %d, want %d", n, i, got, want)
			}
			if prev = o.after(i, prev); prev != want {
				t.Fatalf("%d chains: after(%d) = %d, want %d", n, i, prev, want)
			}
		}
	}
	if o := newChainOffsets(offs); len(o.far) == 0 || len(o.far) > len(offs)/8 {
		t.Fatalf("%d far starts of %d: the test does not cover them, or steps are not bytes", len(o.far), len(offs))
	}
}

// specIndex answers as a map from text to Spec does, through its growth and replacements.
func TestSpecIndex(t *testing.T) {
	x := newSpecIndex()
	want := map[string]*Spec{}
	for i := range 5000 {
		text := fmt.Sprintf("-A KUBE-SVC-%d -j KUBE-SEP-%d", i%3000, i%7) // some texts twice
		s := &Spec{Text: text}
		x.put(s)
		want[text] = s
		if i%500 == 0 || i == 4999 {
			if x.n != len(want) {
				t.Fatalf("after %d puts: %d entries, want %d", i+1, x.n, len(want))
			}
			for k, v := range want {
				if got := x.get([]byte(k)); got != v {
					t.Fatalf("get(%q) = %p, want %p", k, got, v)
				}
			}
			if got := x.get([]byte("-A KUBE-SVC-none -j X")); got != nil {
				t.Fatalf("get of a text never put = %v", got)
			}
		}
	}
	if empty := newSpecIndex(); empty.get([]byte("x")) != nil {
		t.Fatal("an empty index found a Spec")
	}
}
