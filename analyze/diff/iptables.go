package diff

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/netsift/netsift/parsers/iptables"
)

// hashedChains are kube-proxy's per-Service chains, named by a hash of the Service port (and
// endpoint): the same Service recreated, or a kube-proxy upgrade, renames them with no change
// of meaning. They are compared by the Service port and endpoint they stand for.
var hashedChains = []struct{ prefix, kind string }{
	{"KUBE-SVC-", "SVC"}, {"KUBE-SEP-", "SEP"}, {"KUBE-EXT-", "EXT"},
	{"KUBE-FW-", "FW"}, {"KUBE-SVL-", "SVL"}, {"KUBE-XLB-", "XLB"},
}

func hashedKind(chain string) string {
	for _, h := range hashedChains {
		if strings.HasPrefix(chain, h.prefix) {
			return h.kind
		}
	}
	return ""
}

// servicePortRE is kube-proxy's "namespace/name" or "namespace/name:port" in a rule comment.
var servicePortRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[A-Za-z0-9_.-]+)?$`)

// serviceIn returns the first Service port a kube-proxy comment names, or "".
func serviceIn(comment string) string {
	for _, w := range strings.Fields(comment) {
		ns, _, _ := strings.Cut(w, "/")
		if servicePortRE.MatchString(w) && strings.IndexFunc(ns, unicode.IsLetter) >= 0 {
			return w
		}
	}
	return ""
}

// meaning is what a hashed chain stands for.
type meaning struct {
	text    string // "SVC(shop/web:http)", "SEP(shop/web:http → 10.244.1.5:8080)"
	service string // "shop/web:http"; "" when the chain could not be resolved
}

// chainMeanings maps each hashed chain of a table to its meaning: the Service port from its own
// rules' comments (else from the comments of rules that jump to it, else from the chain it jumps
// to), and for an endpoint chain the DNAT destination. A chain nothing names keeps its name.
func chainMeanings(t *iptables.Table) map[string]meaning {
	out := map[string]meaning{}
	jumpsTo := map[string][]iptables.Rule{}
	for _, c := range t.Chains() {
		for _, r := range c.Rules() {
			if hashedKind(r.Target.Name) != "" {
				jumpsTo[r.Target.Name] = append(jumpsTo[r.Target.Name], r)
			}
		}
	}
	svc := map[string]string{}
	for _, c := range t.Chains() {
		if hashedKind(c.Name) == "" {
			continue
		}
		s := ""
		for _, r := range c.Rules() {
			if s = serviceIn(r.Comment()); s != "" {
				break
			}
		}
		if s == "" {
			for _, r := range jumpsTo[c.Name] {
				if s = serviceIn(r.Comment()); s != "" {
					break
				}
			}
		}
		svc[c.Name] = s
	}
	// A chain that only jumps on (KUBE-EXT- → KUBE-SVC-) takes its target's Service.
	for _, c := range t.Chains() {
		if svc[c.Name] != "" || hashedKind(c.Name) == "" {
			continue
		}
		for _, r := range c.Rules() {
			if s := svc[r.Target.Name]; s != "" {
				svc[c.Name] = s
				break
			}
		}
	}
	for _, c := range t.Chains() {
		kind := hashedKind(c.Name)
		if kind == "" {
			continue
		}
		s := svc[c.Name]
		if s == "" {
			out[c.Name] = meaning{text: c.Name}
			continue
		}
		m := meaning{text: kind + "(" + s + ")", service: s}
		if kind == "SEP" {
			for _, r := range c.Rules() {
				if r.Target.Name == "DNAT" {
					if v, ok := r.Target.Option("--to-destination"); ok && len(v) == 1 {
						m.text = kind + "(" + s + " → " + v[0] + ")"
						break
					}
				}
			}
		}
		out[c.Name] = m
	}
	return out
}

// normalizeRule is a rule without its counters and its '-A CHAIN', with every hashed chain name
// replaced by its meaning: the same rule reads the same in both bundles. It works on the raw
// text (iptables-save prints single spaces) because it runs for every rule of every node.
func normalizeRule(r iptables.Rule, meanings map[string]meaning) string {
	raw := strings.TrimSpace(r.Raw())
	if strings.HasPrefix(raw, "[") {
		if i := strings.IndexByte(raw, ']'); i >= 0 {
			raw = strings.TrimLeft(raw[i+1:], " ")
		}
	}
	for _, a := range []string{"-A ", "--append "} {
		if rest, ok := strings.CutPrefix(raw, a); ok {
			if i := strings.IndexByte(rest, ' '); i >= 0 {
				raw = rest[i+1:]
			} else {
				raw = ""
			}
			break
		}
	}
	if !strings.Contains(raw, "KUBE-") {
		return raw
	}
	var b strings.Builder
	for {
		i := strings.Index(raw, "KUBE-")
		if i < 0 {
			break
		}
		j := i
		for j < len(raw) && raw[j] != ' ' && raw[j] != '"' {
			j++
		}
		if m, ok := meanings[raw[i:j]]; ok && (i == 0 || raw[i-1] == ' ') {
			b.WriteString(raw[:i])
			b.WriteString(m.text)
		} else {
			b.WriteString(raw[:j])
		}
		raw = raw[j:]
	}
	b.WriteString(raw)
	return b.String()
}

func chainName(name string, meanings map[string]meaning) string {
	if m, ok := meanings[name]; ok {
		return m.text
	}
	return name
}

// drops reports whether a rule's target discards packets.
func drops(r iptables.Rule) bool {
	return r.Target.Name == "DROP" || r.Target.Name == "REJECT"
}

type ruleSet struct {
	byChain  map[string]map[string][]iptables.Rule // chain meaning → normalized rule → rules
	service  map[string]string                     // chain meaning → Service port
	chains   map[string]*iptables.Chain            // chain meaning → chain
	meanings map[string]meaning
}

func rulesOf(t *iptables.Table) ruleSet {
	rs := ruleSet{byChain: map[string]map[string][]iptables.Rule{}, service: map[string]string{}, chains: map[string]*iptables.Chain{}}
	if t == nil {
		return rs
	}
	rs.meanings = chainMeanings(t)
	for _, c := range t.Chains() {
		c := &c
		name := chainName(c.Name, rs.meanings)
		rs.chains[name] = c
		rs.service[name] = rs.meanings[c.Name].service
		if rs.byChain[name] == nil {
			rs.byChain[name] = map[string][]iptables.Rule{}
		}
		for _, r := range c.Rules() {
			k := normalizeRule(r, rs.meanings)
			rs.byChain[name][k] = append(rs.byChain[name][k], r)
		}
	}
	return rs
}

func tableNames(a, b *iptables.Dump) []string {
	set := map[string]*iptables.Table{}
	for _, d := range []*iptables.Dump{a, b} {
		if d == nil {
			continue
		}
		for _, t := range d.Tables {
			set[t.Name] = t
		}
	}
	return keyedUnion(set, map[string]bool{})
}

func table(d *iptables.Dump, name string) *iptables.Table {
	if d == nil {
		return nil
	}
	return d.Table(name)
}

// compareDump diffs two iptables dumps of one node: builtin chain policies, user chains
// declared or dropped, rules as multisets per table and chain meaning, and the packet counters
// of DROP/REJECT rules (and DROP policies) that grew.
func compareDump(label string, od, nd *iptables.Dump, elapsed float64) []Change {
	var out []Change
	for _, tn := range tableNames(od, nd) {
		ot, nt := rulesOf(table(od, tn)), rulesOf(table(nd, tn))
		for _, cn := range keyedUnion(ot.chains, nt.chains) {
			oc, nc := ot.chains[cn], nt.chains[cn]
			subject := label + " " + tn + " " + cn
			switch {
			case oc != nil && nc != nil && (oc.Builtin() || nc.Builtin()):
				if oc.Policy != nc.Policy {
					out = append(out, Change{Kind: "iptables", Subject: subject, Op: Changed, Field: "policy", Old: oc.Policy, New: nc.Policy, Rank: 0})
				} else if op, _ := oc.Counters(); oc.Policy == "DROP" {
					if np, _ := nc.Counters(); np > op {
						out = append(out, grew("iptables", subject, "policy DROP", op, np, elapsed, 1))
					}
				}
			case oc == nil && hashedKind(nc.Name) == "":
				out = append(out, Change{Kind: "iptables-chain", Subject: subject, Op: Added, Field: "chain", Rank: 4})
			case nc == nil && hashedKind(oc.Name) == "":
				out = append(out, Change{Kind: "iptables-chain", Subject: subject, Op: Removed, Field: "chain", Rank: 4})
			}
			orules, nrules := ot.byChain[cn], nt.byChain[cn]
			service := ot.service[cn]
			if service == "" {
				service = nt.service[cn]
			}
			// A rule that jumps into a Service's chains (KUBE-SERVICES → KUBE-SVC-) is part of
			// that Service's rules too.
			serviceOf := func(r iptables.Rule, rs ruleSet) string {
				if service != "" {
					return service
				}
				return rs.meanings[r.Target.Name].service
			}
			for _, body := range keyedUnion(orules, nrules) {
				o, n := orules[body], nrules[body]
				for i := len(o); i < len(n); i++ {
					out = append(out, ruleChange(tn, subject, Added, body, n[i], serviceOf(n[i], nt)))
				}
				for i := len(n); i < len(o); i++ {
					out = append(out, ruleChange(tn, subject, Removed, body, o[i], serviceOf(o[i], ot)))
				}
				for i := 0; i < len(o) && i < len(n); i++ {
					if drops(n[i]) && o[i].Counters && n[i].Counters && n[i].Packets > o[i].Packets {
						out = append(out, grew("iptables", subject, body, o[i].Packets, n[i].Packets, elapsed, 1))
					}
				}
			}
		}
	}
	return out
}

func ruleChange(table, subject string, op Op, body string, r iptables.Rule, service string) Change {
	c := Change{Kind: "iptables", Subject: subject, Op: op, Field: "rule", Service: service, Rank: 4}
	switch {
	case drops(r):
		c.Rank = 2
	case op == Removed && table == "filter" && r.Target.Name == "ACCEPT":
		// An ACCEPT gone from the filter table lets the packet fall through to a DROP.
		c.Rank = 3
	}
	if op == Added {
		c.New = body
	} else {
		c.Old = body
	}
	return c
}

func grew(kind, subject, field string, old, new uint64, elapsed float64, rank int) Change {
	c := Change{Kind: kind, Subject: subject, Op: Grew, Field: field, Delta: new - old, Rank: rank}
	c.Old, c.New = uitoa(old), uitoa(new)
	if elapsed > 0 {
		c.PerSecond = float64(c.Delta) / elapsed
	}
	return c
}
