package report

import (
	"reflect"
	"testing"

	"github.com/netsift/netsift/analyze/finding"
	"github.com/netsift/netsift/analyze/rules"
)

func TestNoteLinesFoldsNodes(t *testing.T) {
	r := &Report{Rules: []rules.Outcome{
		{ID: "a.rule", Notes: []string{
			"node w-1 not checked: nodes/w-1/sysctl.txt (not in the bundle)",
			"node w-2 not checked: nodes/w-2/sysctl.txt (not in the bundle)",
			"node w-3: kubelet clusterDNS not checked",
			"kube-proxy runs in iptables mode",
			"node w-9 not checked: nodes/w-9/sysctl.txt (not in the bundle)",
		}},
		{ID: "b.rule", Notes: []string{"node w-1 not checked: nodes/w-1/sysctl.txt (not in the bundle)"}},
	}}
	want := []noteLine{
		{"a.rule", "3 nodes (w-1, w-2, w-9) not checked: nodes/<node>/sysctl.txt (not in the bundle)"},
		{"a.rule", "node w-3: kubelet clusterDNS not checked"},
		{"a.rule", "kube-proxy runs in iptables mode"},
		{"b.rule", "node w-1 not checked: nodes/w-1/sysctl.txt (not in the bundle)"},
	}
	if got := noteLines(r); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestWithBundlePath(t *testing.T) {
	fs := []finding.Finding{{Remediation: "# follow it\nnetsift trace BUNDLE --from a/b --to svc/x/y:53\nnetsift policy BUNDLE --from 'ns/*'"}}
	got := withBundlePath(fs, []string{"cases/my bundle.tgz"})
	want := "# follow it\nnetsift trace 'cases/my bundle.tgz' --from a/b --to svc/x/y:53\nnetsift policy 'cases/my bundle.tgz' --from 'ns/*'"
	if got[0].Remediation != want {
		t.Errorf("got %q\nwant %q", got[0].Remediation, want)
	}
	if fs[0].Remediation == want {
		t.Error("the rules' findings were modified")
	}
	if got := withBundlePath(fs, []string{"a.tgz", "node.tgz"}); got[0].Remediation != fs[0].Remediation {
		t.Errorf("two sources: %q", got[0].Remediation)
	}
	if s := shellWord("fixtures/demo.tgz"); s != "fixtures/demo.tgz" {
		t.Errorf("plain path quoted: %s", s)
	}
	if s := shellWord("it's"); s != `'it'\''s'` {
		t.Errorf("quote: %s", s)
	}
}
