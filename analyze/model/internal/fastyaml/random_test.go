package fastyaml

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Scalars that stress resolution, quoting and escaping.
var randScalars = []string{
	"1", "0", "-0", "+1", "0755", "08", "1_000", "0x1F", "0X1f", "-0b1", "0b101", "0o17", "0o", "0b", "0x",
	"1e3", "1E+3", ".5", "-.5", "1.", "1_0.5", "1e400", "-1e400", "0x_1", "1__0", "9223372036854775807",
	"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
	".inf", "-.Inf", "+.INF", ".nan", ".NaN", ".", "+", "-1", "1-2", "2024-01-02T03:04:05Z", "2001-12-14",
	"2001-12-14 21:59:43.10", "1234-", "true", "True", "TRUE", "tRUE", "false", "yes", "No", "on", "OFF",
	"null", "Null", "NULL", "~", "nil", "100m", "10.0.0.1", "::1", "fe80::1%eth0", "-x", "--flag=1", "?x", ":x",
	"a b", "a#b", "a:b", "a  b", "http://x/y?z=1&w=2", "<<", "<x>", "é✓𝄞", `a "q" \ b`, "x,y", "a[0]", "{a", "]",
	"'it''s'", "''", `""`, `"a\tb\u00e9\x41\\\"\/"`, `"\0\a\e\N\_\L\P\ "`, `"\U0001F600"`, `"\ud800"`, "'q: x'",
	`"q: x"`, "'a #b'", "{}", "[]", "{ }", "[1]", "&a x", "*a", "!t x", "|x", ">x", "%x", "@x", "`x`", "x # c",
	"x\ty", "'x\ty'", "\"x\ty\"", "a: b", "a:", "- x", "-", "---", "...", "#", "'unterminated",
}

var randKeys = []string{
	"a", "b", "name", "app.kubernetes.io/name", "1", "true", "null", "~", "-k", "?k", ":k", "k:k", "<<", "é",
	"'q'", "'it''s'", `"d"`, `"\x61"`, `"\t"`, `"k: v"`, "'a'", "k k", "'<<'", "k#k", "[k]", "{k}", "&k", "*k",
	"!k", "? k", "'k'x", `"k" `, "k ",
}

// outside lists the pool entries that take Convert off the fast path.
var outside = map[string]bool{}

func init() {
	for _, v := range append(append([]string{}, randScalars...), randKeys...) {
		if _, _, ok := Convert(nil, []byte("k: "+v+"\n")); !ok {
			if _, _, ok := Convert(nil, []byte(v+": 1\n")); !ok {
				outside[v] = true
			}
		}
	}
}

type gen struct {
	r   *rand.Rand
	b   strings.Builder
	bad bool // allow constructs outside the subset
}

func (g *gen) pick(s []string) string {
	if !g.bad {
		// Mostly stay in the subset: only the first, well-formed part of the lists.
		for {
			v := s[g.r.IntN(len(s))]
			if !outside[v] || g.r.IntN(20) == 0 {
				return v
			}
		}
	}
	return s[g.r.IntN(len(s))]
}

func (g *gen) spaces(n int) { g.b.WriteString(strings.Repeat(" ", n)) }

func (g *gen) nl() {
	if g.r.IntN(12) == 0 {
		g.spaces(g.r.IntN(3)) // trailing spaces
	}
	g.b.WriteByte('\n')
	if g.r.IntN(15) == 0 {
		g.spaces(g.r.IntN(6)) // a blank line
		g.b.WriteByte('\n')
	}
}

// literal writes a literal block scalar for a node in the collection at column col.
func (g *gen) literal(col int) {
	headers := []string{"|", "|-", "|+", "|1", "|2", "|-1", "|2+", "|+1", "|0", "| ", "|- #c"}
	h := headers[g.r.IntN(len(headers))]
	g.b.WriteString(h)
	g.b.WriteByte('\n')
	ind := col + 1 + g.r.IntN(3)
	n := g.r.IntN(4)
	for i := 0; i < n; i++ {
		switch g.r.IntN(6) {
		case 0:
			g.spaces(g.r.IntN(ind + 3))
		case 1:
			g.spaces(ind + 1 + g.r.IntN(2))
			g.b.WriteString("deeper")
		default:
			g.spaces(ind)
			g.b.WriteString([]string{"text", "a: b", "- x", "# c", "\"q\"", "t\tab", "", "é"}[g.r.IntN(8)])
		}
		g.b.WriteByte('\n')
	}
}

// value writes the value of a key of the mapping at column col, after "key:".
func (g *gen) value(col, depth int) {
	switch k := g.r.IntN(10); {
	case k < 4 || depth > 5:
		g.b.WriteString(" ")
		g.b.WriteString(g.pick(randScalars))
		g.nl()
	case k == 4:
		g.b.WriteString(" ")
		g.literal(col)
	case k == 5:
		g.nl() // empty: null
	case k == 6:
		g.nl()
		g.mapping(col+1+g.r.IntN(3), depth+1)
	case k == 7:
		g.nl()
		g.sequence(col, depth+1) // kubectl style, same column
	default:
		g.nl()
		g.sequence(col+1+g.r.IntN(3), depth+1)
	}
}

func (g *gen) mapping(col, depth int) {
	n := 1 + g.r.IntN(4)
	used := map[string]bool{}
	for i := 0; i < n; i++ {
		g.spaces(col)
		g.key(used)
		g.value(col, depth)
	}
}

// key writes a key, different from the used ones of its mapping unless duplicates are allowed.
func (g *gen) key(used map[string]bool) {
	k := g.pick(randKeys)
	for tries := 0; used[k] && !g.bad && tries < 10; tries++ {
		k = g.pick(randKeys)
	}
	used[k] = true
	g.b.WriteString(k)
	g.b.WriteByte(':')
}

// sequence writes a block sequence whose '-' are at column col.
func (g *gen) sequence(col, depth int) {
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		g.spaces(col)
		g.b.WriteByte('-')
		switch k := g.r.IntN(9); {
		case k < 3 || depth > 5:
			g.b.WriteString(" ")
			g.b.WriteString(g.pick(randScalars))
			g.nl()
		case k == 3:
			g.b.WriteString(" ")
			g.literal(col)
		case k == 4:
			g.nl() // empty entry, or a block on the next lines
			if g.r.IntN(2) == 0 {
				g.mapping(col+1+g.r.IntN(3), depth+1)
			}
		case k == 5:
			// compact nested sequence
			extra := 1 + g.r.IntN(2)
			g.spaces(extra)
			g.compactSeq(col+1+extra, depth+1)
		default:
			// compact mapping
			extra := 1 + g.r.IntN(2)
			if g.r.IntN(10) == 0 {
				extra = 0
			}
			g.spaces(extra)
			used := map[string]bool{}
			g.key(used)
			g.value(col+1+extra, depth+1)
			for j := g.r.IntN(3); j > 0; j-- {
				g.spaces(col + 1 + extra)
				g.key(used)
				g.value(col+1+extra, depth+1)
			}
		}
	}
}

// compactSeq continues a line after "- " with a sequence at column col.
func (g *gen) compactSeq(col, depth int) {
	g.b.WriteString("- ")
	g.b.WriteString(g.pick(randScalars))
	g.nl()
	for j := g.r.IntN(3); j > 0; j-- {
		g.spaces(col)
		g.b.WriteString("- ")
		g.b.WriteString(g.pick(randScalars))
		g.nl()
	}
}

// TestRandomDocuments compares Convert with yaml.v3 on generated kubectl-like documents, with
// tricky scalars and indentation, and sometimes constructs outside the subset or a corrupted
// byte.
func TestRandomDocuments(t *testing.T) {
	n := 50000
	if testing.Short() {
		n = 3000
	}
	r := rand.New(rand.NewPCG(1, 2))
	var fast int
	for i := 0; i < n; i++ {
		g := &gen{r: r, bad: i%4 == 0}
		g.mapping(0, 0)
		doc := []byte(g.b.String())
		if r.IntN(10) == 0 && len(doc) > 0 {
			doc[r.IntN(len(doc))] = " \n\t:-'\"#|x"[r.IntN(10)]
		}
		ok, problem := checkAgainstReference(doc)
		if problem != "" {
			t.Fatalf("document %d: %s\ninput:\n%s\n%q", i, problem, doc, doc)
		}
		if ok {
			fast++
		}
	}
	t.Logf("%d documents, %d on the fast path", n, fast)
	if fast < n/10 {
		t.Errorf("only %d of %d generated documents on the fast path: the generator drifted", fast, n)
	}
}
