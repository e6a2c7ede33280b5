package cmdline

import (
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	tests := []struct {
		name, in string
		program  string
		flag     string
		value    string
		form     Form
		line     int
		ok       bool
	}{
		{"nul equals", "/usr/bin/kubelet\x00--hairpin-mode=hairpin-veth\x00", "/usr/bin/kubelet", "hairpin-mode", "hairpin-veth", FormEquals, 1, true},
		{"nul keeps spaces", "kube-proxy\x00--cluster-cidr\x0010.244.0.0/16\x00--hostname-override=a b\x00\n", "kube-proxy", "hostname-override", "a b", FormEquals, 1, true},
		{"nul separate", "kube-proxy\x00--cluster-cidr\x0010.244.0.0/16\x00", "kube-proxy", "cluster-cidr", "10.244.0.0/16", FormSeparate, 1, true},
		{"spaces", "kubelet --cluster-dns=10.96.0.10 --network-plugin cni\n", "kubelet", "network-plugin", "cni", FormSeparate, 1, true},
		{"continuation lines", "kube-proxy \\\n  --proxy-mode=ipvs \\\n  --v 2\n", "kube-proxy", "v", "2", FormSeparate, 3, true},
		{"quotes", `kubelet --node-labels="a=b,c=d" --x 'y z'`, "kubelet", "x", "y z", FormSeparate, 1, true},
		{"bare before flag", "kubelet --enable-debugging-handlers --v=4", "kubelet", "enable-debugging-handlers", "", FormBare, 1, true},
		{"single dash", "kube-apiserver -v=4", "kube-apiserver", "v", "4", FormEquals, 1, true},
		{"last wins", "kubelet --v=2 --v=4", "kubelet", "v", "4", FormEquals, 1, true},
		{"after --", "tool -- --not-a-flag", "tool", "not-a-flag", "", "", 0, false},
		{"no program", "--config=/x", "", "config", "/x", FormEquals, 1, true},
	}
	for _, tt := range tests {
		c, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if c.Program != tt.program {
			t.Errorf("%s: program %q, want %q", tt.name, c.Program, tt.program)
		}
		f, ok := c.Get(tt.flag)
		if ok != tt.ok || f.Value != tt.value || f.Form != tt.form || f.Line != tt.line {
			t.Errorf("%s: Get(%s) = %+v %v", tt.name, tt.flag, f, ok)
		}
	}
}

func TestListBoolWarnings(t *testing.T) {
	c, _ := Parse(strings.NewReader("kubelet --cluster-dns=10.96.0.10,fd00::a --cluster-dns 169.254.20.10 --allow-privileged true --fail-swap-on=false --x=notbool ---bad --=v 'unterminated"))
	if got := strings.Join(c.List("cluster-dns"), " "); got != "10.96.0.10 fd00::a 169.254.20.10" {
		t.Errorf("List = %q", got)
	}
	bools := []struct {
		name     string
		want, ok bool
	}{
		{"allow-privileged", true, true},
		{"fail-swap-on", false, true},
		{"x", false, false},
		{"absent", false, false},
	}
	for _, b := range bools {
		if v, _, ok := c.Bool(b.name); v != b.want || ok != b.ok {
			t.Errorf("Bool(%s) = %v %v", b.name, v, ok)
		}
	}
	if len(c.Warnings) != 3 {
		t.Errorf("warnings = %+v (want ---bad, --=v, unterminated quote)", c.Warnings)
	}
}
