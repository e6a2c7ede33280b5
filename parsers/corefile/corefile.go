// Package corefile parses a CoreDNS Corefile: server blocks (`.:53 {`), their plugins with
// arguments and sub-blocks, snippets and imports, each with its line; it lists the forwarders and
// the NodeLocal DNS `__PILLAR__` placeholders left in the text.
package corefile

import (
	"io"
	"regexp"
	"strings"

	"github.com/netsift/netsift/parsers/diag"
)

// Directive is a plugin line in a server block, or a line inside a plugin's block.
type Directive struct {
	Name  string      `json:"name"`
	Args  []string    `json:"args,omitempty"`
	Line  int         `json:"line"`
	Block []Directive `json:"block,omitempty"`
}

// Server is a server block (or a snippet: Keys = ["(name)"], Snippet true).
type Server struct {
	Keys    []string    `json:"keys"`
	Line    int         `json:"line"`
	EndLine int         `json:"end_line,omitempty"`
	Snippet bool        `json:"snippet,omitempty"`
	Plugins []Directive `json:"plugins"`
}

// Placeholder is a `__PILLAR__...__` token. NodeLocal DNS's node-cache substitutes
// __PILLAR__CLUSTER__DNS__ and __PILLAR__UPSTREAM__SERVERS__ itself at start-up (Runtime); the
// others must have been replaced when the manifest was installed.
type Placeholder struct {
	Text    string `json:"text"`
	Line    int    `json:"line"`
	Runtime bool   `json:"runtime,omitempty"`
}

// Corefile is a parsed Corefile.
type Corefile struct {
	Servers      []Server       `json:"servers"`
	Imports      []Directive    `json:"imports,omitempty"` // top-level import lines
	Placeholders []Placeholder  `json:"placeholders,omitempty"`
	Warnings     []diag.Warning `json:"warnings,omitempty"`
}

type token struct {
	text   string
	line   int
	quoted bool
	nl     bool // first token on its line
}

var pillarRE = regexp.MustCompile(`__PILLAR__[A-Z0-9_]*__`)

// lex splits the Corefile the way Caddy's lexer does: blank-separated words, "quoted words",
// `#` comments to the end of line, backslash-newline continuing a line.
func lex(src string, warn func(diag.Warning)) []token {
	var toks []token
	line := 1
	lastLine := 0
	var cur strings.Builder
	in, quoted := false, false
	var start int
	emit := func() {
		if in {
			toks = append(toks, token{text: cur.String(), line: start, quoted: quoted, nl: start != lastLine})
			lastLine = start
			cur.Reset()
			in, quoted = false, false
		}
	}
	rs := []rune(src)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quoted:
			if r == '\\' && i+1 < len(rs) && rs[i+1] == '"' {
				cur.WriteRune('"')
				i++
				continue
			}
			if r == '"' {
				emit()
				continue
			}
			if r == '\n' {
				line++
			}
			cur.WriteRune(r)
		case r == '\\' && i+1 < len(rs) && rs[i+1] == '\n':
			i++
			line++
			emit()
			lastLine = line // a continued line is the same logical line
		case r == '\n':
			emit()
			line++
		case r == ' ' || r == '\t' || r == '\r':
			emit()
		case r == '#' && !in:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			i--
		case r == '"' && !in:
			in, quoted, start = true, true, line
		default:
			if !in {
				in, start = true, line
			}
			cur.WriteRune(r)
		}
	}
	if quoted {
		warn(diag.Warnf(start, "unterminated quoted string"))
	}
	emit()
	return toks
}

// Parse reads a Corefile.
func Parse(r io.Reader) (*Corefile, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cf := &Corefile{Servers: []Server{}}
	warn := func(w diag.Warning) { cf.Warnings = append(cf.Warnings, w) }
	toks := lex(strings.ToValidUTF8(string(data), "\uFFFD"), warn)
	for _, t := range toks {
		for _, m := range pillarRE.FindAllString(t.text, -1) {
			cf.Placeholders = append(cf.Placeholders, Placeholder{Text: m, Line: t.line,
				Runtime: m == "__PILLAR__CLUSTER__DNS__" || m == "__PILLAR__UPSTREAM__SERVERS__"})
		}
	}
	p := &parser{toks: toks, warn: warn}
	for p.more() {
		t := p.peek()
		if !t.quoted && (t.text == "}" || t.text == "{") {
			warn(diag.Warnf(t.line, "unexpected %q at the top level", t.text))
			p.i++
			continue
		}
		if !t.quoted && t.text == "import" {
			d := p.directive(0)
			cf.Imports = append(cf.Imports, d)
			continue
		}
		srv := Server{Line: t.line, Plugins: []Directive{}}
		// keys: words up to "{" (possibly spread over lines, comma-separated too)
		for p.more() {
			t := p.peek()
			if !t.quoted && t.text == "{" {
				break
			}
			if !t.quoted && t.text == "}" {
				break
			}
			if len(srv.Keys) > 0 && t.nl && !strings.HasSuffix(srv.Keys[len(srv.Keys)-1], ",") {
				break
			}
			for k := range strings.SplitSeq(t.text, ",") {
				if k != "" {
					srv.Keys = append(srv.Keys, k)
				}
			}
			p.i++
		}
		srv.Snippet = len(srv.Keys) == 1 && strings.HasPrefix(srv.Keys[0], "(") && strings.HasSuffix(srv.Keys[0], ")")
		if !p.more() || p.peek().text != "{" || p.peek().quoted {
			// A Corefile of one server block may omit the braces only when it has one key and
			// the directives follow; CoreDNS users never write that, so call it malformed.
			warn(diag.Warnf(srv.Line, "server block %s has no opening brace", strings.Join(srv.Keys, " ")))
			continue
		}
		p.i++
		srv.Plugins, srv.EndLine = p.block(1)
		cf.Servers = append(cf.Servers, srv)
	}
	return cf, nil
}

type parser struct {
	toks []token
	i    int
	warn func(diag.Warning)
}

func (p *parser) more() bool   { return p.i < len(p.toks) }
func (p *parser) peek() token  { return p.toks[p.i] }
func (p *parser) isOpen() bool { t := p.peek(); return !t.quoted && t.text == "{" }

// block reads directives up to the matching "}" and returns them with that brace's line.
func (p *parser) block(depth int) ([]Directive, int) {
	out := []Directive{}
	openLine := 0
	if p.i > 0 {
		openLine = p.toks[p.i-1].line
	}
	for p.more() {
		t := p.peek()
		if !t.quoted && t.text == "}" {
			p.i++
			return out, t.line
		}
		if !t.quoted && t.text == "{" {
			p.warn(diag.Warnf(t.line, "unexpected \"{\""))
			p.i++
			continue
		}
		out = append(out, p.directive(depth))
	}
	p.warn(diag.Warnf(openLine, "block opened here is never closed"))
	return out, 0
}

// directive reads a name and its arguments to the end of the line, then an optional block.
func (p *parser) directive(depth int) Directive {
	t := p.peek()
	d := Directive{Name: t.text, Line: t.line}
	p.i++
	for p.more() {
		n := p.peek()
		if n.nl || (!n.quoted && n.text == "}") {
			break
		}
		if p.isOpen() {
			p.i++
			if depth > 32 {
				p.warn(diag.Warnf(n.line, "blocks nested too deep"))
			}
			d.Block, _ = p.block(depth + 1)
			return d
		}
		d.Args = append(d.Args, n.text)
		p.i++
	}
	return d
}

// Forward is a forward (or legacy proxy) plugin of a server block.
type Forward struct {
	Server []string `json:"server"` // the server block's keys
	Plugin string   `json:"plugin"` // forward or proxy
	From   string   `json:"from"`
	To     []string `json:"to"`
	Line   int      `json:"line"`
}

// Forwarders lists every forward/proxy plugin with its zone and upstreams (`/etc/resolv.conf`
// means the upstreams of the pod's resolv.conf, i.e. the node's, with dnsPolicy Default).
func (cf *Corefile) Forwarders() []Forward {
	if cf == nil {
		return nil
	}
	var out []Forward
	for _, s := range cf.Servers {
		if s.Snippet {
			continue
		}
		for _, d := range s.Plugins {
			if (d.Name != "forward" && d.Name != "proxy") || len(d.Args) == 0 {
				continue
			}
			f := Forward{Server: s.Keys, Plugin: d.Name, From: d.Args[0], To: d.Args[1:], Line: d.Line}
			if f.To == nil {
				f.To = []string{}
			}
			out = append(out, f)
		}
	}
	return out
}

// Plugin returns the first plugin named name in server s.
func (s Server) Plugin(name string) (Directive, bool) {
	for _, d := range s.Plugins {
		if d.Name == name {
			return d, true
		}
	}
	return Directive{}, false
}

// UnreplacedPlaceholders returns the placeholders an installer should have replaced.
func (cf *Corefile) UnreplacedPlaceholders() []Placeholder {
	if cf == nil {
		return nil
	}
	var out []Placeholder
	for _, p := range cf.Placeholders {
		if !p.Runtime {
			out = append(out, p)
		}
	}
	return out
}
