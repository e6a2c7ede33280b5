package fastyaml

import (
	"fmt"
	"testing"
	"time"
)

type tcase struct {
	name string
	in   string
	ok   bool
	json string // if set (and ok), the exact expected output
	line int    // if set (and ok), the expected lastLine
}

var cases = []tcase{
	// Structure.
	{"flat", "a: 1\nb: x\n", true, `{"a":1,"b":"x"}`, 2},
	{"no final newline", "a: 1\nb: x", true, `{"a":1,"b":"x"}`, 2},
	{"nested", "a:\n  b:\n    c: d\n  e: f\ng: h\n", true, `{"a":{"b":{"c":"d"},"e":"f"},"g":"h"}`, 5},
	{"seq same indent", "containers:\n- name: x\n  image: y\n- name: z\nafter: 1\n", true,
		`{"containers":[{"name":"x","image":"y"},{"name":"z"}],"after":1}`, 5},
	{"seq deeper indent", "a:\n  - 1\n  - two\nb: 2\n", true, `{"a":[1,"two"],"b":2}`, 4},
	{"seq of seq compact", "a:\n- - x\n  - y\n- - z\n", true, `{"a":[["x","y"],["z"]]}`, 4},
	{"seq of seq block", "a:\n-\n  - x\n- y\n", true, `{"a":[["x"],"y"]}`, 4},
	{"seq entry mapping on next line", "a:\n-\n  k: v\n  l: w\n", true, `{"a":[{"k":"v","l":"w"}]}`, 4},
	{"seq empty entries", "a:\n-\n- x\n-\n", true, `{"a":[null,"x",null]}`, 4},
	{"seq entry extra spaces", "a:\n-   k: v\n    l: w\n", true, `{"a":[{"k":"v","l":"w"}]}`, 3},
	{"compact map value seq", "a:\n- k:\n  - 1\n  l: 2\n", true, `{"a":[{"k":[1],"l":2}]}`, 4},
	{"compact map null then key", "a:\n- k:\n  l: 2\n", true, `{"a":[{"k":null,"l":2}]}`, 3},
	{"compact map nested", "a:\n- k:\n    m: 1\n  l: 2\n", true, `{"a":[{"k":{"m":1},"l":2}]}`, 4},
	{"empty value", "a:\nb: 1\n", true, `{"a":null,"b":1}`, 2},
	{"empty value last", "a: 1\nb:\n\n\n", true, `{"a":1,"b":null}`, 2},
	{"empty value spaces", "a:   \nb: 1\n", true, `{"a":null,"b":1}`, 2},
	{"blank lines", "\n\na: 1\n\n  \nb:\n\n  c: 2\n", true, `{"a":1,"b":{"c":2}}`, 8},
	{"empty flow", "a: {}\nb: []\nc:\n- {}\n- []\n", true, `{"a":{},"b":[],"c":[{},[]]}`, 5},
	{"space before colon", "a : 1\n", true, `{"a":1}`, 1},
	{"trailing spaces", "a: x   \nb: 'y'  \n", true, `{"a":"x","b":"y"}`, 2},
	{"keys are strings", "true: 1\n1: 2\nnull: 3\n~: 4\n0x10: 5\n", true, `{"true":1,"1":2,"null":3,"~":4,"0x10":5}`, 5},
	{"quoted keys", "'app.kubernetes.io/name': a\n\"key with: colon\": b\n'it''s': c\n\"\\t\": d\n", true,
		`{"app.kubernetes.io/name":"a","key with: colon":"b","it's":"c","\t":"d"}`, 4},
	{"key with colon inside", "a:b: c\nhttp://x: y\n", true, `{"a:b":"c","http://x":"y"}`, 2},
	{"quoted key in seq", "a:\n- 'k': 1\n- \"k\"\n", true, `{"a":[{"k":1},"k"]}`, 3},
	{"deep", "a:\n b:\n  c:\n   d: 1\n", true, `{"a":{"b":{"c":{"d":1}}}}`, 4},

	// Plain scalars.
	{"nulls", "a: null\nb: Null\nc: NULL\nd: ~\ne: nULL\n", true, `{"a":null,"b":null,"c":null,"d":null,"e":"nULL"}`, 5},
	{"bools", "a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\ng: tRUE\n", true,
		`{"a":true,"b":true,"c":true,"d":false,"e":false,"f":false,"g":"tRUE"}`, 7},
	{"yaml 1.1 bools are strings", "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\n", true,
		`{"a":"yes","b":"no","c":"on","d":"off","e":"y","f":"n"}`, 6},
	{"ints", "a: 0\nb: 12\nc: -3\nd: +4\ne: 1_000\nf: 0x1F\ng: 0o17\nh: 0b101\ni: 0755\nj: -0\n", true,
		`{"a":0,"b":12,"c":-3,"d":4,"e":1000,"f":31,"g":15,"h":5,"i":493,"j":0}`, 10},
	{"big ints", "a: 9223372036854775807\nb: 9223372036854775808\nc: 18446744073709551616\nd: 123456789012345678\n", true,
		`{"a":9223372036854775807,"b":"9223372036854775808","c":1.8446744073709552e+19,"d":123456789012345678}`, 4},
	{"floats", "a: 1.5\nb: 1e3\nc: .5\nd: -2.5e-3\ne: 1.\nf: 08\ng: 1_0.5\nh: 1e400\n", true, "", 8},
	{"inf nan are strings", "a: .inf\nb: -.Inf\nc: +.INF\nd: .nan\ne: .NaN\n", true,
		`{"a":".inf","b":"-.Inf","c":"+.INF","d":".nan","e":".NaN"}`, 5},
	{"odd numbers", "a: 0b+1\nb: -0b1\nc: -0o7\nd: 0x\ne: 1_\nf: +\ng: 1e\nh: .\ni: ._5\nj: 0o_7\n", true, "", 10},
	{"timestamps are strings", "a: 2024-01-02T03:04:05Z\nb: 2024-01-02\nc: 2001-12-14 21:59:43.10\n", true,
		`{"a":"2024-01-02T03:04:05Z","b":"2024-01-02","c":"2001-12-14 21:59:43.10"}`, 3},
	{"strings", "a: hello world\nb: 100m\nc: v1.2.3\nd: 10.0.0.1\ne: ::1\nf: -x\ng: ?y\nh: a#b\ni: x: y\n", false, "", 0},
	{"strings ok", "a: hello world\nb: 100m\nc: v1.2.3\nd: 10.0.0.1\ne: ::1\nf: -x\ng: ?y\nh: a#b\ni: a[1]{2},3\nj: say \"hi\" \\o/\n", true,
		`{"a":"hello world","b":"100m","c":"v1.2.3","d":"10.0.0.1","e":"::1","f":"-x","g":"?y","h":"a#b","i":"a[1]{2},3","j":"say \"hi\" \\o/"}`, 10},
	{"args", "args:\n- --ip-masq\n- -f\n- /x\n", true, `{"args":["--ip-masq","-f","/x"]}`, 4},
	{"unicode", "a: héllo wörld ✓ 𝄞\n'ü': \"ß\\u00e9\\x41\\U0001F600\"\n", true, `{"a":"héllo wörld ✓ 𝄞","ü":"ßéA😀"}`, 2},
	{"html chars", "a: <b>&amp;</b>\n", true, `{"a":"<b>&amp;</b>"}`, 1},

	// Quoted scalars.
	{"single", "a: 'x'\nb: ''\nc: 'it''s'\nd: '  sp  '\ne: 'a\"b\\c'\nf: 'tab\there'\n", true,
		`{"a":"x","b":"","c":"it's","d":"  sp  ","e":"a\"b\\c","f":"tab\there"}`, 6},
	{"double", `a: "x"
b: ""
c: "q\"b\\s"
d: "\0\a\b\t\n\v\f\r\e\ \'\N\_\L\P"
e: "\x41\u00e9\U0001F600"
f: "raw	tab"
g: "1"
h: "true"
i: "null"
`, true, "", 9},
	{"quoted numbers stay strings", "a: \"1\"\nb: '2'\nc: \"2024-01-02T03:04:05Z\"\n", true, `{"a":"1","b":"2","c":"2024-01-02T03:04:05Z"}`, 3},

	// Literal block scalars.
	{"literal", "a: |\n  line1\n  line2\nb: 1\n", true, `{"a":"line1\nline2\n","b":1}`, 4},
	{"literal strip", "a: |-\n  x\n\n\nb: 1\n", true, `{"a":"x","b":1}`, 5},
	{"literal keep", "a: |+\n  x\n\n\nb: 1\n", true, `{"a":"x\n\n\n","b":1}`, 5},
	{"literal keep empty", "a: |+\n\nb: 1\n", true, `{"a":"\n","b":1}`, 3},
	{"literal clip trailing", "a: |\n  x\n\n\n", true, `{"a":"x\n"}`, 1},
	{"literal no final newline", "a: |\n  x", true, `{"a":"x"}`, 1},
	{"literal eof after header", "a: |", true, `{"a":""}`, 1},
	{"literal empty", "a: |\nb: 1\n", true, `{"a":"","b":1}`, 2},
	{"literal blank more indented", "a: |\n    \nb: 1\n", true, `{"a":"","b":1}`, 3},
	{"literal inner indent", "a: |\n  x\n    y\n  z\n", true, `{"a":"x\n  y\nz\n"}`, 1},
	{"literal inner blank", "a: |\n  x\n\n  \n   \n  y\n", true, `{"a":"x\n\n\n \ny\n"}`, 1},
	{"literal explicit indent", "a: |2\n    x\n  y\n", true, `{"a":"  x\ny\n"}`, 1},
	{"literal explicit indent chomp", "a: |-1\n  x\nb: |1+\n  y\n", true, "", 3},
	{"literal in seq", "a:\n- |\n  x\n- |-\n   y\n   z\n- w\n", true, `{"a":["x\n","y\nz","w"]}`, 7},
	{"literal in compact map", "a:\n- k: |\n    x\n  l: 1\n", true, `{"a":[{"k":"x\n","l":1}]}`, 4},
	{"literal content", "a: |\n  # not a comment\n  - not: a list\n  tab\there \"q\" \\\n  ---\n", true,
		`{"a":"# not a comment\n- not: a list\ntab\there \"q\" \\\n---\n"}`, 1},
	{"literal header spaces", "a: |-  \n  x\n", true, `{"a":"x"}`, 1},
	{"literal then deeper nested", "a:\n  b: |\n    x\n  c: 1\nd: 2\n", true, `{"a":{"b":"x\n","c":1},"d":2}`, 5},
	{"literal trailing spaces line", "a: |\n  x\n    \n  y\n", true, `{"a":"x\n  \ny\n"}`, 1},

	// Structural corners.
	{"nested empty seq", "a:\n- -\n- - -\n", true, `{"a":[[null],[[null]]]}`, 3},
	{"triple compact seq", "a:\n- - - x\n    - y\n  - z\n", true, `{"a":[[["x","y"],"z"]]}`, 4},
	{"indicator-led plain keys", "-a: 1\n?a: 2\n:a: 3\na:: 4\n", true, `{"-a":1,"?a":2,":a":3,"a:":4}`, 4},
	{"colon inside plain value", "a: b :c\nb: x:y\n", true, `{"a":"b :c","b":"x:y"}`, 2},
	{"markers inside values", "a: ---\nb: ...\nc:\n- ---\n", true, `{"a":"---","b":"...","c":["---"]}`, 4},
	{"literal in indentless seq", "a:\n- |\n x\n", true, `{"a":["x\n"]}`, 2},
	{"literal explicit in nested seq", "a:\n  - |1\n    x\n", true, `{"a":[" x\n"]}`, 2},
	{"literal explicit in indentless seq", "a:\n- |2\n   x\n", true, `{"a":[" x\n"]}`, 2},
	{"literal keep trailing spaces eof", "a: |+\n  x\n\n  ", true, `{"a":"x\n\n"}`, 1},
	{"literal short blank line", "a: |\n  x\n \n  y\n", true, `{"a":"x\n\ny\n"}`, 1},
	{"literal then less indented key", "b:\n  a: |\n     \n  x: 1\n", true, `{"b":{"a":"","x":1}}`, 4},
	{"literal blank more indented then text", "a: |\n     \n  x\n", false, "", 0},
	{"literal first line deeper", "a: |\n    x\n  y\nb: 1\n", false, "", 0},
	{"dup via escapes", "\"\\b\": 1\n\"\\x08\": 2\n", false, "", 0},
	{"dup plain and escaped", "é: 1\n\"\\u00e9\": 2\n", false, "", 0},
	{"dup nested ok", "a:\n  x: 1\nb:\n  x: 2\nx: 3\n", true, `{"a":{"x":1},"b":{"x":2},"x":3}`, 5},
	{"dup in seq items ok", "a:\n- x: 1\n- x: 2\n", true, `{"a":[{"x":1},{"x":2}]}`, 3},
	{"many keys", manyKeys(100, false), true, "", 100},
	{"many keys dup", manyKeys(100, true), false, "", 0},
	{"many keys at the switch", manyKeys(linearKeys+1, false), true, "", linearKeys + 1},
	{"many keys dup at the switch", manyKeys(linearKeys+1, true), false, "", 0},
	{"many keys dup after the switch", manyKeys(linearKeys+2, true), false, "", 0},
	{"seq entry null then deeper map", "a:\n-\n\n  b: 1\n", true, `{"a":[{"b":1}]}`, 4},
	{"empty value then deeper seq", "a:\n\n  - 1\n", true, `{"a":[1]}`, 3},

	// Bail-outs.
	{"comment line", "# c\na: 1\n", false, "", 0},
	{"comment after value", "a: 1 # c\n", false, "", 0},
	{"comment after key", "a: # c\n  b: 1\n", false, "", 0},
	{"comment after quoted", "a: 'x' # c\n", false, "", 0},
	{"comment indented", "a:\n  # c\n  b: 1\n", false, "", 0},
	{"anchor", "a: &x 1\nb: *x\n", false, "", 0},
	{"alias", "a: *x\n", false, "", 0},
	{"tag", "a: !!str 1\n", false, "", 0},
	{"local tag", "a: !foo 1\n", false, "", 0},
	{"doc start", "---\na: 1\n", false, "", 0},
	{"doc start later", "a: 1\n---\nb: 2\n", false, "", 0},
	{"doc end", "a: 1\n...\n", false, "", 0},
	{"directive", "%YAML 1.2\n---\na: 1\n", false, "", 0},
	{"folded", "a: >\n  x\n  y\n", false, "", 0},
	{"folded strip", "a: >-\n  x\n", false, "", 0},
	{"flow map", "a: {b: 1}\n", false, "", 0},
	{"flow seq", "a: [1, 2]\n", false, "", 0},
	{"flow empty with space", "a: { }\n", false, "", 0},
	{"multi-line plain", "a: x\n  y\n", false, "", 0},
	{"multi-line plain in seq", "a:\n- x\n  y\n", false, "", 0},
	{"plain on next line", "a:\n  x\n", false, "", 0},
	{"multi-line single", "a: 'x\n  y'\n", false, "", 0},
	{"multi-line double", "a: \"x\n  y\"\n", false, "", 0},
	{"escaped line break", "a: \"x\\\n  y\"\n", false, "", 0},
	{"slash escape", `a: "x\/y"` + "\n", false, "", 0},
	{"unknown escape", `a: "\q"` + "\n", false, "", 0},
	{"surrogate escape", `a: "\ud800"` + "\n", false, "", 0},
	{"bad hex escape", `a: "\x4"` + "\n", false, "", 0},
	{"tab indent", "a:\n\tb: 1\n", false, "", 0},
	{"tab after colon", "a:\t1\n", false, "", 0},
	{"tab in plain", "a: x\ty\n", false, "", 0},
	{"tab after dash", "a:\n-\tx\n", false, "", 0},
	{"tab in literal indent", "a: |\n \tx\n", false, "", 0},
	{"duplicate keys", "a: 1\nb: 2\na: 3\n", false, "", 0},
	{"duplicate quoted keys", "a: 1\n'a': 2\n", false, "", 0},
	{"duplicate escaped keys", "a: 1\n\"\\x61\": 2\n", false, "", 0},
	{"complex key", "? a\n: 1\n", false, "", 0},
	{"merge key", "a: 1\n<<: {}\n", false, "", 0},
	{"merge value", "a: <<\n", false, "", 0},
	{"crlf", "a: 1\r\nb: 2\r\n", false, "", 0},
	{"nested value on key line", "a: b: c\n", false, "", 0},
	{"plain ends with colon", "a: b:\n", false, "", 0},
	{"seq on key line", "a: - x\n", false, "", 0},
	{"seq after scalar", "a: 1\n- x\n", false, "", 0},
	{"bad indent", "a:\n    b: 1\n  c: 2\n", false, "", 0},
	{"deeper after scalar", "a: 1\n  b: 2\n", false, "", 0},
	{"indented top", "  a: 1\n", false, "", 0},
	{"top is a sequence", "- a\n", false, "", 0},
	{"top is a scalar", "hello\n", false, "", 0},
	{"empty", "", false, "", 0},
	{"blank only", "\n  \n", false, "", 0},
	{"control char", "a: x\x01y\n", false, "", 0},
	{"DEL", "a: x\x7fy\n", false, "", 0},
	{"NEL", "a: x\u0085y\n", false, "", 0},
	{"line separator", "a: x\u2028y\n", false, "", 0},
	{"BOM", "\ufeffa: 1\n", false, "", 0},
	{"invalid utf8", "a: x\xffy\n", false, "", 0},
	{"invalid utf8 quoted", "a: 'x\xc3'\n", false, "", 0},
	{"reserved start", "a: @x\n", false, "", 0},
	{"backquote start", "a: `x`\n", false, "", 0},
	{"percent start", "a: %x\n", false, "", 0},
	{"question key", "? x\n", false, "", 0},
	{"quoted key no space", "\"a\":b\n", false, "", 0},
	{"quoted key spaced colon", "\"a\" : b\n", false, "", 0},
	{"garbage after quoted", "a: 'x'y\n", false, "", 0},
	{"literal comment header", "a: | # c\n  x\n", false, "", 0},
	{"literal zero indent", "a: |0\n  x\n", false, "", 0},
	{"literal bad header", "a: |+-\n  x\n", false, "", 0},
	{"literal less indented text", "a:\n  b: |\n    x\n   c: 1\n", false, "", 0},
	{"unterminated quote", "a: 'x\n", false, "", 0},
	{"long key", string(make([]byte, 0)) + longKey() + ": 1\n", false, "", 0},
	{"scalar key only", "a\n", false, "", 0},
}

func manyKeys(n int, dup bool) string {
	var b []byte
	for i := 0; i < n; i++ {
		k := i
		if dup && i == n-1 {
			k = 40
		}
		b = append(b, fmt.Sprintf("key%d: %d\n", k, i)...)
	}
	return string(b)
}

func longKey() string {
	b := make([]byte, 1100)
	for i := range b {
		b[i] = 'k'
	}
	return string(b)
}

func TestConvertCases(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, line, ok := Convert(nil, []byte(c.in))
			if ok != c.ok {
				_, _, _, _, err := reference([]byte(c.in))
				t.Fatalf("ok = %v, want %v (out %s; yaml.v3 err %v)", ok, c.ok, out, err)
			}
			if !ok {
				return
			}
			if c.json != "" && string(out) != c.json {
				t.Errorf("got  %s\nwant %s", out, c.json)
			}
			if c.line != 0 && line != c.line {
				t.Errorf("lastLine = %d, want %d", line, c.line)
			}
			if _, problem := checkAgainstReference([]byte(c.in)); problem != "" {
				t.Error(problem)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	for _, c := range []struct{ in, api, kind string }{
		{"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n", "v1", "Pod"},
		{"kind: 'Pod'\nmetadata:\n  kind: x\napiVersion: \"apps/v1\"\n", "apps/v1", "Pod"},
		{"metadata:\n  kind: x\n", "", ""},
		{"kind:\n  a: 1\napiVersion: 1\n", "1", ""},
		{"kind: ~\napiVersion:\n", "", "~"},
		{"kind: |\n  Pod\n", "", "Pod\n"},
		{"'kind': Pod\n", "", "Pod"},
	} {
		a, k := Header([]byte(c.in))
		if a != c.api || k != c.kind {
			t.Errorf("Header(%q) = %q, %q; want %q, %q", c.in, a, k, c.api, c.kind)
		}
		if _, problem := checkAgainstReference([]byte(c.in)); problem != "" {
			t.Errorf("%q: %s", c.in, problem)
		}
	}
}

// TestAppendsToDst checks Convert appends to dst and leaves it alone when it bails.
func TestAppendsToDst(t *testing.T) {
	dst := []byte("[")
	out, _, ok := Convert(dst, []byte("a: 1\n"))
	if !ok || string(out) != `[{"a":1}` {
		t.Fatalf("got %q, %v", out, ok)
	}
	out, _, ok = Convert(out, []byte("a: &x 1\n"))
	if ok || string(out) != `[{"a":1}` {
		t.Fatalf("got %q, %v", out, ok)
	}
}

// TestManyKeysLinear checks a mapping with very many keys does not take quadratic time.
func TestManyKeysLinear(t *testing.T) {
	doc := []byte(manyKeys(200_000, false))
	start := time.Now()
	if _, _, ok := Convert(nil, doc); !ok {
		t.Fatal("not ok")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%v for 200k keys", d)
	}
	if _, _, ok := Convert(nil, []byte(manyKeys(200_000, true))); ok {
		t.Fatal("duplicate missed")
	}
}

func TestDepthLimit(t *testing.T) {
	var b []byte
	for i := 0; i < maxDepth+10; i++ {
		for j := 0; j < i; j++ {
			b = append(b, ' ')
		}
		b = append(b, "k:\n"...)
	}
	if _, _, ok := Convert(nil, b); ok {
		t.Fatal("ok for nesting beyond the limit")
	}
}
