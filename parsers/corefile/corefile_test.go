package corefile

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `# comment line
.:53 {
    errors
    health {
        lameduck 5s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . 8.8.8.8 1.1.1.1 { # upstreams
        max_concurrent 1000
    }
    cache 30
    loop
}
cluster.local:53 in-addr.arpa:53 {
    bind 169.254.20.10 __PILLAR__DNS__SERVER__
    forward . __PILLAR__CLUSTER__DNS__ {
        force_tcp
    }
    log "a # not a comment"
}
`
	cf, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Servers) != 2 || len(cf.Warnings) != 0 {
		t.Fatalf("servers %+v warnings %+v", cf.Servers, cf.Warnings)
	}
	s := cf.Servers[0]
	if strings.Join(s.Keys, " ") != ".:53" || s.Line != 2 || s.EndLine != 17 || len(s.Plugins) != 6 {
		t.Errorf("server 0 = keys %v line %d end %d plugins %d", s.Keys, s.Line, s.EndLine, len(s.Plugins))
	}
	k, ok := s.Plugin("kubernetes")
	if !ok || k.Line != 7 || strings.Join(k.Args, " ") != "cluster.local in-addr.arpa ip6.arpa" || len(k.Block) != 3 || k.Block[2].Name != "ttl" || k.Block[2].Line != 10 {
		t.Errorf("kubernetes = %+v", k)
	}
	if c, _ := s.Plugin("cache"); strings.Join(c.Args, " ") != "30" || c.Line != 15 {
		t.Errorf("cache = %+v", c)
	}
	if l, ok := s.Plugin("loop"); !ok || len(l.Args) != 0 {
		t.Errorf("loop = %+v", l)
	}
	fw := cf.Forwarders()
	if len(fw) != 2 || fw[0].From != "." || strings.Join(fw[0].To, " ") != "8.8.8.8 1.1.1.1" || fw[0].Line != 12 || fw[1].To[0] != "__PILLAR__CLUSTER__DNS__" {
		t.Errorf("forwarders = %+v", fw)
	}
	if got := strings.Join(cf.Servers[1].Keys, " "); got != "cluster.local:53 in-addr.arpa:53" {
		t.Errorf("keys = %q", got)
	}
	if lg, _ := cf.Servers[1].Plugin("log"); len(lg.Args) != 1 || lg.Args[0] != "a # not a comment" {
		t.Errorf("quoted arg = %+v", lg)
	}
	if len(cf.Placeholders) != 2 || cf.Placeholders[0].Line != 19 || cf.Placeholders[0].Runtime || !cf.Placeholders[1].Runtime {
		t.Errorf("placeholders = %+v", cf.Placeholders)
	}
	if u := cf.UnreplacedPlaceholders(); len(u) != 1 || u[0].Text != "__PILLAR__DNS__SERVER__" {
		t.Errorf("unreplaced = %+v", u)
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		servers  int
		warnLine int
	}{
		{"unclosed server", ".:53 {\n  errors\n", 1, 1},
		{"unclosed plugin block", ".:53 {\n  health {\n    lameduck 5s\n}\n", 1, 1},
		{"stray close", "}\n.:53 {\n}\n", 1, 1},
		{"no brace", ".:53\n", 0, 1},
		{"unterminated quote", ".:53 {\n log \"abc\n}\n", 1, 2},
	}
	for _, tt := range tests {
		cf, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if len(cf.Servers) != tt.servers || len(cf.Warnings) == 0 || cf.Warnings[0].Line != tt.warnLine {
			t.Errorf("%s: servers %d warnings %+v", tt.name, len(cf.Servers), cf.Warnings)
		}
	}
}

func TestImportsAndSnippets(t *testing.T) {
	cf, _ := Parse(strings.NewReader("(common) {\n  errors\n}\n.:53 {\n  import common\n  proxy . /etc/resolv.conf\n}\nimport /etc/coredns/custom/*.server\n"))
	if len(cf.Servers) != 2 || !cf.Servers[0].Snippet || cf.Servers[1].Snippet {
		t.Fatalf("servers = %+v", cf.Servers)
	}
	if len(cf.Imports) != 1 || cf.Imports[0].Line != 8 {
		t.Errorf("imports = %+v", cf.Imports)
	}
	if fw := cf.Forwarders(); len(fw) != 1 || fw[0].Plugin != "proxy" || fw[0].To[0] != "/etc/resolv.conf" {
		t.Errorf("forwarders = %+v", fw)
	}
}
