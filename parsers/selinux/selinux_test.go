package selinux

import (
	"strings"
	"testing"
)

func TestMode(t *testing.T) {
	tests := []struct {
		name, in     string
		mode, source string
		line, warns  int
	}{
		{"getenforce", "Enforcing\n", Enforcing, "getenforce", 1, 0},
		{"sestatus wins over getenforce", "Permissive\nSELinux status:                 enabled\nCurrent mode:                   enforcing\n", Enforcing, "sestatus", 3, 1},
		{"sestatus disabled", "SELinux status:                 disabled\n", Disabled, "sestatus", 1, 0},
		{"config only", "# comment\nSELINUX=permissive\nSELINUXTYPE=targeted\n", Permissive, "config", 2, 0},
		{"quoted config", "SELINUX=\"enforcing\"\n", Enforcing, "config", 1, 0},
		{"runtime beats config", "SELINUX=enforcing\nDisabled\n", Disabled, "getenforce", 2, 0},
		{"bad config value", "SELINUX=maybe\n", "", "", 0, 1},
		{"nothing", "getenforce: command not found\n", "", "", 0, 0},
		{"garbage", "what is this\n", "", "", 0, 1},
	}
	for _, tt := range tests {
		st, err := Parse(strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode != tt.mode || st.Source != tt.source || st.Line != tt.line || len(st.Warnings) != tt.warns {
			t.Errorf("%s: mode %q source %q line %d warnings %+v", tt.name, st.Mode, st.Source, st.Line, st.Warnings)
		}
		if st.Enforcing() != (tt.mode == Enforcing) {
			t.Errorf("%s: Enforcing() = %v", tt.name, st.Enforcing())
		}
	}
}
